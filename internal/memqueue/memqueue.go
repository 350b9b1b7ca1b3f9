// Package memqueue is the embedded Queue: in-process FIFOs of job ids,
// one per capability. It holds no truth of its own: the store does, and a
// restart refills the queue from the store's unfinished jobs. Its leases
// never run out: the only taker that can die is this process, and the
// queue dies with it.
package memqueue

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
)

// Queue is a FIFO per capability; a Pop serving several takes the oldest
// of their heads, so a worker serving every capability sees one FIFO.
// Admission control (how many may wait) is the service's: recovery must
// be able to put back every unfinished job.
type Queue struct {
	mu      sync.Mutex
	waiting map[string][]entry // by capability
	pushed  uint64             // entries pushed so far: the next one's place
	// changed is closed and replaced on every push: each waiting Pop
	// looks again, since only it knows whether it serves the capability.
	changed chan struct{}
	nodes   map[string]announcement // by node
}

// entry is a job id and its place in the order of pushes.
type entry struct {
	id    string
	place uint64
}

// announcement is what a node serves, and until when.
type announcement struct {
	capabilities []string
	until        time.Time
}

var _ airlock.Queue = (*Queue)(nil)

// New makes an empty queue.
func New() *Queue {
	return &Queue{waiting: map[string][]entry{}, changed: make(chan struct{}), nodes: map[string]announcement{}}
}

// Push appends id to capability's FIFO.
func (q *Queue) Push(_ context.Context, capability, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting[capability] = append(q.waiting[capability], entry{id, q.pushed})
	q.pushed++
	close(q.changed)
	q.changed = make(chan struct{})
	return nil
}

// Pop takes the oldest id of the capabilities given, waiting for one
// until ctx ends.
func (q *Queue) Pop(ctx context.Context, capabilities []string) (airlock.Lease, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if id, ok := q.takeOldest(capabilities); ok {
			q.mu.Unlock()
			return lease(id), nil
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// takeOldest removes the oldest id at the head of the capabilities'
// FIFOs; q.mu is held.
func (q *Queue) takeOldest(capabilities []string) (string, bool) {
	from := ""
	for _, c := range capabilities {
		if list := q.waiting[c]; len(list) > 0 && (from == "" || list[0].place < q.waiting[from][0].place) {
			from = c
		}
	}
	if from == "" {
		return "", false
	}
	list := q.waiting[from]
	if len(list) == 1 {
		delete(q.waiting, from)
	} else {
		q.waiting[from] = list[1:]
	}
	return list[0].id, true
}

// Len is the number of waiting ids, of every capability.
func (q *Queue) Len(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, list := range q.waiting {
		n += len(list)
	}
	return n, nil
}

// Announce records what node serves until ttl from now; a ttl of 0
// withdraws capabilities from what it serves.
func (q *Queue) Announce(_ context.Context, node string, capabilities []string, ttl time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ttl > 0 {
		q.nodes[node] = announcement{slices.Clone(capabilities), time.Now().Add(ttl)}
		return nil
	}
	a := q.nodes[node]
	a.capabilities = slices.DeleteFunc(a.capabilities, func(c string) bool { return slices.Contains(capabilities, c) })
	if len(a.capabilities) == 0 {
		delete(q.nodes, node)
	} else {
		q.nodes[node] = a
	}
	return nil
}

// Served says whether a node whose announcement has not run out serves
// capability; it forgets the nodes whose announcement has.
func (q *Queue) Served(_ context.Context, capability string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	served := false
	for node, a := range q.nodes {
		if !now.Before(a.until) {
			delete(q.nodes, node)
			continue
		}
		served = served || slices.Contains(a.capabilities, capability)
	}
	return served, nil
}

// lease is a taken id: popping already removed it.
type lease string

func (l lease) JobID() string                { return string(l) }
func (l lease) Extend(context.Context) error { return nil }
func (l lease) Ack(context.Context) error    { return nil }
func (l lease) Retaken() bool                { return false }
