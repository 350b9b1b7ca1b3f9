package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// downQueue is a queue whose server cannot be reached.
type downQueue struct{ airlock.Queue }

func (downQueue) Len(context.Context) (int, error) {
	return 0, errors.New("dial tcp: connection refused")
}

// TestQueueUnavailable: a queue that cannot be reached refuses the job as
// unavailable (the APIs answer 503 with the reason) and stores nothing.
func TestQueueUnavailable(t *testing.T) {
	e := newEnvWith(t, t.TempDir(), jobs.Options{}, func(d *jobs.Deps) { d.Queue = downQueue{d.Queue} })
	_, err := e.svc.Submit(t.Context(), req("out 1"), jobs.Meta{})
	if !errors.Is(err, airlock.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Submit: %v", err)
	}
	if list, n, err := e.store.List(t.Context(), "", 0, 10); err != nil || n != 0 || len(list) != 0 {
		t.Errorf("stored %d jobs (%v)", n, err)
	}
}

// Concurrent submissions never put more than max_queue jobs in the queue.
func TestQueueBoundUnderConcurrency(t *testing.T) {
	const bound = 5
	e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, MaxQueue: bound}) // not run: nothing leaves the queue
	var accepted, full atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := e.svc.Submit(t.Context(), req("out 1"), jobs.Meta{})
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, airlock.ErrQueueFull):
				full.Add(1)
			default:
				t.Errorf("Submit: %v", err)
			}
		})
	}
	wg.Wait()
	if accepted.Load() > bound || accepted.Load()+full.Load() != 40 {
		t.Fatalf("%d accepted and %d refused as full, want at most %d accepted", accepted.Load(), full.Load(), bound)
	}
	// A race may refuse one early (counted both in the queue and on its
	// way there), never for good: the bound is reached one at a time.
	for accepted.Load() < bound {
		e.submit(t, "out 1")
		accepted.Add(1)
	}
	if _, err := e.svc.Submit(t.Context(), req("out 1"), jobs.Meta{}); !errors.Is(err, airlock.ErrQueueFull) {
		t.Errorf("submission over the bound: %v", err)
	}
}
