package jobs_test

import (
	"testing"
	"testing/synctest"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// Cancel ends a queued job at once, and stops a running one: its waiters
// get it cancelled, and the one running never finishes its run.
func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1})
		e.run(t)
		running := e.submit(t, "block")
		queued := e.submit(t, "out queued")
		synctest.Wait()
		if j := e.row(t, running.ID); j.Status != airlock.StatusRunning {
			t.Fatalf("the first job is %s, want running", j.Status)
		}
		for _, id := range []string{queued.ID, running.ID} {
			if _, err := e.svc.Cancel(t.Context(), id); err != nil {
				t.Fatalf("Cancel(%s): %v", id, err)
			}
			j, err := e.svc.Wait(t.Context(), id)
			if err != nil || j.Status != airlock.StatusCancelled {
				t.Errorf("job %s after Cancel: %+v, %v; want cancelled", id, j, err)
			}
		}
		if n := e.exec.runs.Load(); n != 1 {
			t.Errorf("%d runs, want only the first job's", n)
		}
		synctest.Wait() // the worker is back in the queue
		if total, busy := e.svc.Workers(); total != 1 || busy != 0 {
			t.Errorf("Workers() = %d, %d busy; want 1, none busy", total, busy)
		}
	})
}
