package jobs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
)

// waiters are the callers of Wait, by job id, each with a channel of one
// slot that is handed the finished job, or nil when it must read the job
// from the store (not recorded here, or cancelled while queued).
type waiters struct {
	mu   sync.Mutex
	byID map[string][]chan *airlock.Job
}

func newWaiters() *waiters { return &waiters{byID: map[string][]chan *airlock.Job{}} }

// add registers a waiter for a job.
func (w *waiters) add(id string) chan *airlock.Job {
	ch := make(chan *airlock.Job, 1)
	w.mu.Lock()
	w.byID[id] = append(w.byID[id], ch)
	w.mu.Unlock()
	return ch
}

// remove unregisters a waiter that stops waiting before it is notified.
func (w *waiters) remove(id string, ch chan *airlock.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byID[id]
	for i, c := range list {
		if c == ch {
			w.byID[id] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(w.byID[id]) == 0 {
		delete(w.byID, id)
	}
}

// notify wakes the waiters of a job, handing each its own copy of the
// finished job (what one caller fills in is not another's), or nil when
// they must read it from the store.
func (w *waiters) notify(id string, final *airlock.Job) {
	w.mu.Lock()
	list := w.byID[id]
	delete(w.byID, id)
	w.mu.Unlock()
	for _, ch := range list {
		if final == nil {
			ch <- nil
			continue
		}
		c := *final
		ch <- &c
	}
}

// ErrShuttingDown ends a Wait for a job that will not finish in this
// process, which is shutting down: it stays queued, and runs after the
// restart or on another node.
var ErrShuttingDown = errors.New("shutting down: the job runs after the restart")

// Wait returns the job once finished, with its result. It returns sooner
// in three cases, each with an error and the job as Wait last read it
// from the store (so its status is queued or running as of that read,
// which may be stale by the time the caller looks):
//   - ctx ends: ctx's error, and nil for the job if ctx ended during the
//     first read;
//   - this process is shutting down and the job has not finished (read
//     once more after the workers stopped): ErrShuttingDown;
//   - a read fails: its error, and no job.
func (s *Service) Wait(ctx context.Context, id string) (*airlock.Job, error) {
	// A job run here wakes its waiters; one run by another process of a
	// fleet is seen by reading the store, soon after a short job ends
	// and rarely for a long one.
	poll := time.Second
	if s.opt.Distributed {
		poll = 20 * time.Millisecond
	}
	for {
		ch := s.waiters.add(id)
		j, err := s.Get(ctx, id)
		if err != nil || j.Status.Finished() {
			s.waiters.remove(id, ch)
			return j, err
		}
		select {
		case final := <-ch:
			if final != nil {
				return final, nil // finished here: no need to read it back
			}
		case <-time.After(poll):
			s.waiters.remove(id, ch)
			poll = min(2*poll, time.Second)
		case <-ctx.Done():
			s.waiters.remove(id, ch)
			return j, ctx.Err()
		case <-s.workers.drained:
			s.waiters.remove(id, ch)
			if j, err = s.Get(ctx, id); err != nil || j.Status.Finished() {
				return j, err
			}
			return j, ErrShuttingDown
		}
	}
}
