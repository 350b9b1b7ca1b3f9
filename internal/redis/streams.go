package redis

import (
	"context"
	"slices"
	"strings"
)

// The keys of a queue, all named after Options.Stream (S):
//
//	S:<capability>        the stream of a capability's jobs
//	S#capabilities        a set: the capabilities that have a stream
//	S#live:<capability>   a sorted set: the nodes serving it, by when their announcement runs out
//	S                     the one stream of the queue before routing, drained by every worker
//	S:rate:<key id>       an API key's rate limit (rates.go)
//
// '#' never appears in a capability's stream, so no capability's stream
// is one of the other keys.

// streamOf is the key of a capability's stream.
func (q *Queue) streamOf(capability string) string { return q.opt.Stream + ":" + capability }

// capabilitiesKey is the set of the capabilities that have a stream, so
// that Len and Oldest, which every API node calls whatever it serves, see
// all of them.
func (q *Queue) capabilitiesKey() string { return q.opt.Stream + "#capabilities" }

// liveKey is the sorted set of the nodes serving a capability.
func (q *Queue) liveKey(capability string) string { return q.opt.Stream + "#live:" + capability }

// streams are the keys a Pop of capabilities reads: their streams, and
// the stream from before routing while there is one.
func (q *Queue) streams(capabilities []string) []string {
	keys := make([]string, 0, len(capabilities)+1)
	for _, c := range capabilities {
		keys = append(keys, q.streamOf(c))
	}
	if q.legacy {
		keys = append(keys, q.opt.Stream)
	}
	return keys
}

// allStreams are the streams of every capability pushed to, and the one
// from before routing.
func (q *Queue) allStreams(ctx context.Context) ([]string, error) {
	capabilities, err := q.rdb.SMembers(ctx, q.capabilitiesKey()).Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(capabilities)
	keys := []string{q.opt.Stream}
	for _, c := range capabilities {
		keys = append(keys, q.streamOf(c))
	}
	return keys, nil
}

// ensureGroups creates the group of each stream this Queue has not seen
// with one yet.
func (q *Queue) ensureGroups(ctx context.Context, streams []string) error {
	for _, s := range streams {
		q.mu.Lock()
		done := q.grouped[s]
		q.mu.Unlock()
		if done {
			continue
		}
		if err := q.createGroup(ctx, s); err != nil {
			return err
		}
		q.mu.Lock()
		q.grouped[s] = true
		q.mu.Unlock()
	}
	return nil
}

// forgetGroups makes the next Pop create the groups again: Redis lost
// them (restarted without its data).
func (q *Queue) forgetGroups() {
	q.mu.Lock()
	clear(q.grouped)
	q.mu.Unlock()
}

// createGroup creates the group of a stream, reading it from its start:
// an entry pushed before the group existed (by an API node, before any
// worker of its capability started, or after a Redis restart emptied
// everything) is a job too.
func (q *Queue) createGroup(ctx context.Context, stream string) error {
	err := q.rdb.XGroupCreateMkStream(ctx, stream, q.opt.Group, "0").Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil // there is one
	}
	return err
}
