package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
	goredis "github.com/redis/go-redis/v9"
)

// Push adds id at the end of capability's stream.
func (q *Queue) Push(ctx context.Context, capability, id string) error {
	if capability == "" {
		return fmt.Errorf("redis queue: push %s: no capability", id)
	}
	pipe := q.rdb.TxPipeline()
	pipe.SAdd(ctx, q.capabilitiesKey(), capability)
	pipe.XAdd(ctx, &goredis.XAddArgs{Stream: q.streamOf(capability), Values: []any{jobField, id}})
	if _, err := pipe.Exec(ctx); err != nil {
		return q.fail(ctx, "push", err)
	}
	return nil
}

// Pop takes a job of one of capabilities whose lease ran out if there is
// one, else the oldest job not yet taken of one of their streams, waiting
// for one until ctx ends. A job handed over is returned even if ctx ended
// meanwhile: it is leased to this consumer now, and would otherwise wait
// for its lease to run out.
func (q *Queue) Pop(ctx context.Context, capabilities []string) (airlock.Lease, error) {
	streams := q.streams(capabilities)
	if len(streams) == 0 {
		<-ctx.Done() // nothing to serve
		return nil, ctx.Err()
	}
	recreated := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := q.next(ctx, streams)
		if l != nil {
			return l, nil
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if noGroup(err) && !recreated {
			recreated = true
			q.forgetGroups()
			continue
		}
		return nil, q.fail(ctx, "pop", err)
	}
}

// next looks once for a job of streams: an expired lease, a new entry,
// then a wait of at most Options.Block for one. Nothing is nil, nil.
func (q *Queue) next(ctx context.Context, streams []string) (*lease, error) {
	if err := q.ensureGroups(ctx, streams); err != nil {
		return nil, err
	}
	if l, err := q.claimExpired(ctx, streams); l != nil || err != nil {
		return l, err
	}
	if l, err := q.takeNew(ctx, streams); l != nil || err != nil {
		return l, err
	}
	return q.readNew(ctx, streams)
}

// sweepEvery is how often a process looks for leases that ran out: the
// job of a dead worker then waits at most a quarter more than a lease
// time, and a pass over the PELs is rare next to the Pops.
func (q *Queue) sweepEvery() time.Duration {
	return q.opt.LeaseTime / 4
}

// claimExpired takes over one entry of streams whose lease ran out, if a
// pass over their PELs is due or under way and no other Pop of this Queue
// is making it. XAUTOCLAIM resets the entry's idle time as it claims it,
// so of two workers sweeping at once only one gets it.
func (q *Queue) claimExpired(ctx context.Context, streams []string) (*lease, error) {
	q.mu.Lock()
	if q.sweeping || !q.passing && time.Now().Before(q.nextSweep) {
		q.mu.Unlock()
		return nil, nil
	}
	q.sweeping, q.passing = true, true
	q.mu.Unlock()
	// Only the Pop that set sweeping touches swept and cursors until it
	// clears it, under q.mu.
	defer func() {
		q.mu.Lock()
		q.sweeping = false
		q.mu.Unlock()
	}()
	steps := 0
	for _, s := range streams {
		if q.swept[s] {
			continue
		}
		cursor := q.cursors[s]
		if cursor == "" {
			cursor = "0-0"
		}
		for {
			if steps == maxSweepSteps {
				q.cursors[s] = cursor // the next Pop goes on from here
				return nil, nil
			}
			steps++
			msgs, next, err := q.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
				Stream:   s,
				Group:    q.opt.Group,
				Consumer: q.opt.Consumer,
				MinIdle:  q.opt.LeaseTime,
				Start:    cursor,
				Count:    1,
			}).Result()
			if err != nil {
				delete(q.cursors, s) // start over once it works again
				return nil, err
			}
			cursor = next
			q.cursors[s] = cursor
			q.swept[s] = cursor == "0-0"
			for _, m := range msgs {
				if l := q.leaseOf(ctx, s, m, true); l != nil {
					return l, nil
				}
			}
			if cursor == "0-0" {
				break
			}
		}
	}
	// Every stream's PEL walked to its end: the pass is over.
	q.mu.Lock()
	q.passing = false
	clear(q.swept)
	clear(q.cursors)
	q.nextSweep = time.Now().Add(q.sweepEvery())
	q.mu.Unlock()
	return nil, nil
}

// takeNewScript hands consumer ARGV[2] of group ARGV[1] one new entry of the
// first of the streams KEYS that has one, as {stream, id, fields}; false
// when none has.
var takeNewScript = goredis.NewScript(`
for _, s in ipairs(KEYS) do
	local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', s, '>')
	if type(r) == 'table' and r.err then
		return r
	end
	if r then
		local m = r[1][2][1]
		return {s, m[1], m[2]}
	end
end
return false
`)

// takeNew takes one entry not yet delivered to the group, if there is
// one, from the streams in turn: each call starts with the next stream,
// so that jobs of one capability do not keep a worker from another's.
func (q *Queue) takeNew(ctx context.Context, streams []string) (*lease, error) {
	q.mu.Lock()
	first := q.turn % len(streams)
	q.turn++
	q.mu.Unlock()
	order := append(append([]string{}, streams[first:]...), streams[:first]...)
	got, err := takeNewScript.Run(ctx, q.rdb, order, q.opt.Group, q.opt.Consumer).Slice()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(got) != 3 {
		return nil, fmt.Errorf("take: unexpected reply %v", got)
	}
	stream, _ := got[0].(string)
	m := goredis.XMessage{Values: map[string]any{}}
	m.ID, _ = got[1].(string)
	fields, _ := got[2].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if k, ok := fields[i].(string); ok {
			m.Values[k] = fields[i+1]
		}
	}
	return q.leaseOf(ctx, stream, m, false), nil
}

// readNew waits for an entry not yet delivered to the group in one of
// streams, for at most Options.Block, less if a sweep or ctx's deadline
// comes sooner. No entry is nil, nil.
func (q *Queue) readNew(ctx context.Context, streams []string) (*lease, error) {
	block := q.opt.Block
	q.mu.Lock()
	if wait := time.Until(q.nextSweep); wait < block {
		block = wait
	}
	q.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		if wait := time.Until(dl); wait < block {
			block = wait
		}
	}
	block = max(block.Truncate(time.Millisecond), time.Millisecond) // BLOCK 0 is for ever
	args := append(append([]string{}, streams...), make([]string, len(streams))...)
	for i := range streams {
		args[len(streams)+i] = ">"
	}
	// Not ctx's deadline as the read's: it would end the read about when
	// the server answers, and an entry the server handed over as the
	// client gave up would wait for its lease to run out. The read is
	// bounded by block (plus go-redis's margin for blocking commands).
	read, err := q.rdb.XReadGroup(context.WithoutCancel(ctx), &goredis.XReadGroupArgs{
		Group:    q.opt.Group,
		Consumer: q.opt.Consumer,
		Streams:  args,
		Count:    1,
		Block:    block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil // nothing within block
	}
	if err != nil {
		return nil, err
	}
	var taken *lease
	for _, s := range read {
		for _, m := range s.Messages {
			if taken == nil {
				taken = q.leaseOf(ctx, s.Stream, m, false)
				continue
			}
			q.giveBack(context.WithoutCancel(ctx), s.Stream, m)
		}
	}
	return taken, nil
}

// giveBack puts an entry a read brought beyond the one it takes at the
// end of its stream again, for any worker: COUNT is per stream, and this
// Pop takes one job. Should it fail, the entry stays pending here and
// comes back when its lease runs out.
func (q *Queue) giveBack(ctx context.Context, stream string, m goredis.XMessage) {
	pipe := q.rdb.TxPipeline()
	if id, ok := m.Values[jobField].(string); ok && id != "" {
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{jobField, id}})
	}
	pipe.XAck(ctx, stream, q.opt.Group, m.ID)
	pipe.XDel(ctx, stream, m.ID)
	pipe.Exec(ctx)
}

// leaseOf makes a lease of an entry of stream taken; nil for an entry
// without a job id (not airlock's, or deleted under the group), which is
// dropped so that it is not taken again and again.
func (q *Queue) leaseOf(ctx context.Context, stream string, m goredis.XMessage, retaken bool) *lease {
	l := &lease{q: q, stream: stream, entry: m.ID, retaken: retaken}
	if id, ok := m.Values[jobField].(string); ok && id != "" {
		l.job = id
		return l
	}
	l.Ack(ctx)
	return nil
}

// Oldest is when the oldest entry still in a stream (waiting or taken)
// was pushed, by the server's clock; the zero time when there is none.
func (q *Queue) Oldest(ctx context.Context) (time.Time, error) {
	streams, err := q.allStreams(ctx)
	if err != nil {
		return time.Time{}, q.fail(ctx, "oldest", err)
	}
	pipe := q.rdb.Pipeline()
	firsts := make([]*goredis.XMessageSliceCmd, len(streams))
	for i, s := range streams {
		firsts[i] = pipe.XRangeN(ctx, s, "-", "+", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, q.fail(ctx, "oldest", err)
	}
	var oldest time.Time
	for _, first := range firsts {
		msgs := first.Val()
		if len(msgs) == 0 {
			continue
		}
		ms, _, _ := strings.Cut(msgs[0].ID, "-")
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("redis queue: entry id %q: %w", msgs[0].ID, err)
		}
		if at := time.UnixMilli(n); oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest, nil
}

// lenScript counts the entries not yet delivered to group ARGV[1] of the
// stream KEYS[2] and of the streams named ARGV[2]<capability> for each
// capability of the set KEYS[1].
var lenScript = goredis.NewScript(`
local streams = {KEYS[2]}
for _, c in ipairs(redis.call('SMEMBERS', KEYS[1])) do
	table.insert(streams, ARGV[2] .. c)
end
local n = 0
for _, s in ipairs(streams) do
	local size = redis.call('XLEN', s)
	if size > 0 then
		local p = redis.pcall('XPENDING', s, ARGV[1])
		if type(p) == 'table' and not p.err then
			size = size - p[1]
		end
		n = n + size
	end
end
return n
`)

// Len counts the entries not yet delivered to the group, of every
// stream: the jobs waiting for a worker. Jobs taken and not acked are not
// counted, those whose lease ran out included (few, and taken again
// soon).
//
// A stream's count is its XLEN minus the size of its PEL: every entry in
// a stream is either not yet delivered or pending, since an entry leaves
// the PEL and the stream together, in Ack. (The group's "lag" of XINFO
// GROUPS would say it too, but not once entries were deleted between the
// oldest one and the last one delivered, which every Ack but the oldest's
// does.) One script reads them all, so the sum is of one instant.
func (q *Queue) Len(ctx context.Context) (int, error) {
	n, err := lenScript.Run(ctx, q.rdb, []string{q.capabilitiesKey(), q.opt.Stream}, q.opt.Group, q.opt.Stream+":").Int()
	if err != nil {
		return 0, q.fail(ctx, "len", err)
	}
	return n, nil
}
