package jobs_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// A shutdown waits, within its grace period, for the callbacks of jobs
// that have finished, rather than dropping them.
func TestShutdownDeliversCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHooks()
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) { d.Hooks = h })
		stop, done := e.start()
		j, err := e.svc.Submit(t.Context(), req("out hi"), jobs.Meta{CallbackURL: "http://receiver.example/"})
		if err != nil {
			t.Fatal(err)
		}
		e.wait(t, j.ID, "hi\n")
		<-h.entered // still delivering when the shutdown starts
		stop()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Run returned before the finished job's callback was delivered")
		default:
		}
		close(h.release)
		<-done
		if h.done.Load() != 1 {
			t.Error("the callback was not delivered")
		}
	})
}

// A shutdown gives a callback no more than what is left of the grace
// period.
func TestShutdownAbandonsLateCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHooks()
		defer close(h.release)
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1, Grace: time.Minute}, func(d *jobs.Deps) { d.Hooks = h })
		stop, done := e.start()
		j, err := e.svc.Submit(t.Context(), req("out hi"), jobs.Meta{CallbackURL: "http://receiver.example/"})
		if err != nil {
			t.Fatal(err)
		}
		e.wait(t, j.ID, "hi\n")
		<-h.entered
		start := time.Now()
		stop()
		<-done
		if took := time.Since(start); took != time.Minute {
			t.Errorf("Run returned %v after the shutdown began, want the grace period", took)
		}
	})
}

// TestShutdownReleasesWaiters: on shutdown, a waiter of a job the grace
// period cut short, and one of a job still queued, are told so with the
// job left queued; the job stopped has not used up an attempt.
func TestShutdownReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, Grace: 200 * time.Millisecond})
		stop, done := e.start()
		running := e.submit(t, "block")
		queued := e.submit(t, "out queued")
		synctest.Wait()
		if j := e.row(t, running.ID); j.Status != airlock.StatusRunning {
			t.Fatalf("the job did not start: %s", j.Status)
		}
		type waited struct {
			j   *airlock.Job
			err error
		}
		results := map[string]chan waited{}
		for _, id := range []string{running.ID, queued.ID} {
			ch := make(chan waited, 1)
			results[id] = ch
			go func() {
				j, err := e.svc.Wait(context.Background(), id)
				ch <- waited{j, err}
			}()
		}
		synctest.Wait()
		stop()
		<-done
		for id, ch := range results {
			w := <-ch
			if !errors.Is(w.err, jobs.ErrShuttingDown) || w.j == nil || w.j.Status != airlock.StatusQueued {
				t.Errorf("wait for %s after the shutdown: %+v, %v; want the job queued and ErrShuttingDown", id, w.j, w.err)
			}
		}
		if j := e.row(t, running.ID); j.Status != airlock.StatusQueued || j.Attempts != 0 {
			t.Errorf("the job the shutdown stopped: %s after %d attempts, want queued after 0", j.Status, j.Attempts)
		}
	})
}
