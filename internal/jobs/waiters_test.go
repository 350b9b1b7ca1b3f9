package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// Waiters in the process that ran a job are handed it, each their own
// copy, instead of reading it back: one read each, the one that found the
// job still running.
func TestWaitersHandedTheJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1})
		e.run(t)
		j := e.submit(t, "sleep 500ms\nout hello")
		got := make([]*airlock.Job, 3)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				var err error
				if got[i], err = e.svc.Wait(t.Context(), j.ID); err != nil {
					t.Errorf("Wait: %v", err)
				}
			})
		}
		wg.Wait()
		for i, w := range got {
			if w == nil || w.Status != airlock.StatusOK || w.Result == nil || string(w.Result.Stdout) != "hello\n" {
				t.Fatalf("waiter %d: %+v", i, w)
			}
			for _, other := range got[:i] {
				if w == other {
					t.Errorf("waiters share one *Job")
				}
			}
		}
		if n := e.reads.gets.Load(); n != int64(len(got)) {
			t.Errorf("%d waiters read the job %d times, want once each", len(got), n)
		}
	})
}

// A Wait cut short by its context returns the job as it last read it,
// with the context's error; one whose context ended before its first read
// returns no job.
func TestWaitReturnsLastRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1}) // not run: the job stays queued
		j := e.submit(t, "out never")
		ctx, cancel := context.WithTimeout(t.Context(), 3500*time.Millisecond)
		defer cancel()
		got, err := e.svc.Wait(ctx, j.ID)
		if !errors.Is(err, context.DeadlineExceeded) || got == nil || got.ID != j.ID || got.Status != airlock.StatusQueued {
			t.Errorf("Wait past its deadline: %+v, %v; want the queued job and DeadlineExceeded", got, err)
		}
		if n := e.reads.gets.Load(); n < 3 {
			t.Errorf("the job was read %d times in 3.5 s, want once a second", n)
		}
		done, cancel := context.WithCancel(t.Context())
		cancel()
		if got, err := e.svc.Wait(done, j.ID); !errors.Is(err, context.Canceled) || got != nil {
			t.Errorf("Wait with an ended context: %+v, %v; want no job and Canceled", got, err)
		}
	})
}
