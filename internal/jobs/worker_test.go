package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// A job whose every run ended its worker is given up after MaxAttempts,
// without running again.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, MaxAttempts: 2})
		j := e.submit(t, "out never")
		for range 2 { // two workers died running it
			if _, err := e.store.Start(t.Context(), j.ID, time.Now(), false); err != nil {
				t.Fatal(err)
			}
			if err := e.store.Requeue(t.Context(), j.ID, e.row(t, j.ID).Attempts); err != nil {
				t.Fatal(err)
			}
		}
		e.run(t)
		final, err := e.svc.Wait(t.Context(), j.ID)
		if err != nil || final.Status != airlock.StatusInternalError || !strings.Contains(final.Result.Message, "given up after 2 attempts") {
			t.Errorf("the job: %+v, %v; want given up", final, err)
		}
		if n := e.exec.runs.Load(); n != 0 {
			t.Errorf("the job ran %d times more", n)
		}
	})
}

// leases is a queue whose leases count their extensions, and whose
// extension, once lost is set, answers that the lease ran out.
type leases struct {
	airlock.Queue
	extended, acked atomic.Int64
	lost            func() bool
}

func (q *leases) Pop(ctx context.Context, capabilities []string) (airlock.Lease, error) {
	l, err := q.Queue.Pop(ctx, capabilities)
	if err != nil {
		return nil, err
	}
	return &lease{Lease: l, q: q}, nil
}

type lease struct {
	airlock.Lease
	q *leases
}

func (l *lease) Extend(ctx context.Context) error {
	l.q.extended.Add(1)
	if l.q.lost != nil && l.q.lost() {
		return fmt.Errorf("%w: lease ran out", airlock.ErrConflict)
	}
	return l.Lease.Extend(ctx)
}

func (l *lease) Ack(ctx context.Context) error {
	l.q.acked.Add(1)
	return l.Lease.Ack(ctx)
}

// A running job's lease is extended three times per lease time, and the
// job acked once it has finished.
func TestLeaseExtended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &leases{}
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1, LeaseTime: 3 * time.Second}, func(d *jobs.Deps) { q.Queue = d.Queue; d.Queue = q })
		e.run(t)
		synctest.Wait() // recovered: the job is pushed once
		e.wait(t, e.submit(t, "sleep 10500ms\nout done").ID, "done\n")
		synctest.Wait()
		if n := q.extended.Load(); n != 10 {
			t.Errorf("the lease was extended %d times in 10.5 s, want every second: 10", n)
		}
		if n := q.acked.Load(); n != 1 {
			t.Errorf("the lease was acked %d times, want once", n)
		}
	})
}

// A worker whose lease ran out while another took the job over stops its
// run, records nothing and leaves the job to the other; a lease the queue
// forgot while no one else took the job is run on without one.
func TestLeaseLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e *env
		var id atomic.Value // the job's id, read by the queue's goroutines
		q := &leases{}
		var taken atomic.Bool
		q.lost = func() bool {
			if taken.CompareAndSwap(false, true) { // another worker takes it over
				if _, err := e.store.Start(context.Background(), id.Load().(string), time.Now(), true); err != nil {
					t.Errorf("take over: %v", err)
				}
			}
			return true
		}
		e = newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1, LeaseTime: 3 * time.Second}, func(d *jobs.Deps) { q.Queue = d.Queue; d.Queue = q })
		e.run(t)
		synctest.Wait() // recovered: the job is pushed once
		e.exec.stopped = make(chan error, 1)
		j := e.submit(t, "block")
		id.Store(j.ID)
		if err := <-e.exec.stopped; !strings.Contains(err.Error(), "another worker took it over") {
			t.Errorf("the run stopped: %v, want for the lost lease", err)
		}
		synctest.Wait()
		if j := e.row(t, j.ID); j.Status != airlock.StatusRunning || j.Attempts != 2 || j.InlineResult != nil {
			t.Errorf("the job taken over: %s after %d attempts; want running the second, no result", j.Status, j.Attempts)
		}
		if total, busy := e.svc.Workers(); busy != 0 {
			t.Errorf("Workers() = %d, %d busy; want the run stopped", total, busy)
		}
		if n := q.acked.Load(); n != 0 {
			t.Errorf("the lost lease was acked")
		}
	})
}
