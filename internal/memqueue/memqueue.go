// Package memqueue is the embedded Queue: an in-process FIFO of job ids.
// It holds no truth of its own: the store does, and a restart refills the
// queue from the store's unfinished jobs. Its leases never run out: the
// only taker that can die is this process, and the queue dies with it.
package memqueue

import (
	"context"
	"sync"

	"github.com/airlock-dev/airlock"
)

// Queue is a FIFO. Admission control (how many may wait) is the
// service's: recovery must be able to put back every unfinished job.
type Queue struct {
	mu    sync.Mutex
	ids   []string
	ready chan struct{} // signalled when ids grows
}

var _ airlock.Queue = (*Queue)(nil)

// New makes an empty queue.
func New() *Queue {
	return &Queue{ready: make(chan struct{}, 1)}
}

// Push appends id.
func (q *Queue) Push(_ context.Context, id string) error {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	q.signal()
	return nil
}

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Pop takes the oldest id, waiting for one until ctx ends.
func (q *Queue) Pop(ctx context.Context) (airlock.Lease, error) {
	for {
		q.mu.Lock()
		if len(q.ids) > 0 {
			id := q.ids[0]
			q.ids = q.ids[1:]
			more := len(q.ids) > 0
			q.mu.Unlock()
			if more {
				q.signal() // wake the next waiter
			}
			return lease(id), nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Len is the number of waiting ids.
func (q *Queue) Len(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids), nil
}

// lease is a taken id: popping already removed it.
type lease string

func (l lease) JobID() string                { return string(l) }
func (l lease) Extend(context.Context) error { return nil }
func (l lease) Ack(context.Context) error    { return nil }
func (l lease) Retaken() bool                { return false }
