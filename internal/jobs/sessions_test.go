package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// farQueue is a fleet's queue whose jobs go to other processes, which
// serve every capability: it takes pushes and never hands anything to
// this one.
type farQueue struct {
	mu     sync.Mutex
	pushed []string
}

func (q *farQueue) Push(_ context.Context, _, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushed = append(q.pushed, id)
	return nil
}

func (q *farQueue) Pop(ctx context.Context, _ []string) (airlock.Lease, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *farQueue) Len(context.Context) (int, error) { return 0, nil }

func (q *farQueue) Announce(context.Context, string, []string, time.Duration) error { return nil }

func (q *farQueue) Served(context.Context, string) (bool, error) { return true, nil }

// Oldest dates the queue's entries as a fleet's queue does: it holds none.
func (q *farQueue) Oldest(context.Context) (time.Time, error) { return time.Time{}, nil }

// quietSession is a live client that sends and sees nothing.
func quietSession() *engine.Session {
	return &engine.Session{Stdin: make(chan []byte), Signals: make(chan syscall.Signal), Output: func(string, string, []byte) {}, Stage: func(string) {}, Exit: func(string, airlock.Step) {}}
}

// In a fleet, the job of a live session runs in the process its client is
// connected to, never through the shared queue; a node that runs no jobs
// refuses the session rather than leave its client without output.
func TestSessionRunsHere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		queue := &farQueue{}
		svc := func(workers int) *env {
			return newEnvWith(t, t.TempDir(), jobs.Options{Workers: workers, Distributed: true}, func(d *jobs.Deps) { d.Queue = queue })
		}
		stdin := make(chan []byte, 1)
		stdin <- []byte("live\n")
		var mu sync.Mutex
		var out strings.Builder
		session := &engine.Session{
			Stdin: stdin, Signals: make(chan syscall.Signal),
			Output: func(_, _ string, data []byte) { mu.Lock(); out.Write(data); mu.Unlock() },
			Stage:  func(string) {}, Exit: func(string, airlock.Step) {},
		}

		here := svc(1)
		here.run(t)
		j, err := here.svc.Submit(t.Context(), req("upper"), jobs.Meta{Session: session})
		if err != nil {
			t.Fatal(err)
		}
		final, err := here.svc.Wait(t.Context(), j.ID)
		if err != nil || final.Status != airlock.StatusOK {
			t.Fatalf("session job: %+v, %v", final, err)
		}
		mu.Lock()
		if out.String() != "LIVE\n" {
			t.Errorf("the session saw %q, want LIVE", out.String())
		}
		mu.Unlock()
		if len(queue.pushed) != 0 {
			t.Errorf("the session's job went to the shared queue: %v", queue.pushed)
		}

		_, err = svc(-1).svc.Submit(t.Context(), req("upper"), jobs.Meta{Session: session})
		if !errors.Is(err, airlock.ErrUnavailable) || !strings.Contains(err.Error(), "runs no jobs") {
			t.Errorf("a session on an API-only node: %v, want ErrUnavailable saying why", err)
		}
	})
}

// A live session's job that outlives the process its client was connected
// to is cancelled after the restart, never run without its client.
func TestSessionNeverRunsUnattended(t *testing.T) {
	dir := t.TempDir()
	j, err := newEnv(t, dir, jobs.Options{Workers: 1}).svc.Submit(t.Context(), req("out ran"), jobs.Meta{Session: quietSession()})
	if err != nil {
		t.Fatal(err)
	}
	plain := newEnv(t, dir, jobs.Options{Workers: 1}).submit(t, "out ran")

	after := newEnv(t, dir, jobs.Options{Workers: 1})
	after.run(t)
	after.wait(t, plain.ID, "ran\n")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	final, err := after.svc.Wait(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != airlock.StatusCancelled || final.Result == nil || len(final.Result.Stdout) != 0 || !strings.Contains(final.Result.Message, "live client is gone") {
		t.Errorf("the session's job after a restart: %s %+v, want cancelled without running", final.Status, final.Result)
	}
}

// In a fleet, a live session's job left running by a process that died
// (outside the queue, so no lease brings it back) is cancelled once it has
// run longer than it could; a queue's job is left to its lease.
func TestAbandonedSessionCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		died := newEnv(t, dir, jobs.Options{Workers: 1})
		live, err := died.svc.Submit(t.Context(), req("out ran"), jobs.Meta{Session: quietSession()})
		if err != nil {
			t.Fatal(err)
		}
		recent, err := died.svc.Submit(t.Context(), req("out ran"), jobs.Meta{Session: quietSession()})
		if err != nil {
			t.Fatal(err)
		}
		queued := died.submit(t, "out ran")
		long := time.Now().Add(-time.Hour)
		for id, at := range map[string]time.Time{live.ID: long, queued.ID: long, recent.ID: time.Now()} {
			if _, err := died.store.Start(t.Context(), id, at, false); err != nil {
				t.Fatal(err)
			}
		}

		api := newEnvWith(t, dir, jobs.Options{Workers: -1, Distributed: true, LostAfter: 20 * time.Millisecond, LeaseTime: time.Second}, func(d *jobs.Deps) {
			exec := newFakeExec(t)
			exec.policy.Max.Wall = 10 * time.Minute
			d.Queue, d.Engine = &farQueue{}, exec
		})
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		go api.svc.SweepLost(ctx)
		final, err := api.svc.Wait(t.Context(), live.ID)
		if err != nil {
			t.Fatal(err)
		}
		if final.Status != airlock.StatusCancelled || final.Result == nil || !strings.Contains(final.Result.Message, "live client is gone") {
			t.Errorf("the abandoned session's job: %s %+v, want cancelled", final.Status, final.Result)
		}
		for id, what := range map[string]string{queued.ID: "a queue's job", recent.ID: "a session that may still run"} {
			if j := api.row(t, id); j.Status != airlock.StatusRunning {
				t.Errorf("%s was swept too: %s", what, j.Status)
			}
		}
	})
}
