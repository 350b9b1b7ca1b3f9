// Package memqueue is the embedded Queue: an in-process FIFO of job ids.
// It holds no truth of its own: the store does, and a restart refills the
// queue from the store's unfinished jobs.
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
func (q *Queue) Pop(ctx context.Context) (string, error) {
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
			return id, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Len is the number of waiting ids.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids)
}
