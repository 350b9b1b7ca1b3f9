package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/memqueue"
)

// in is a request of the fake executor's script in a language.
func in(language, script string) airlock.Request {
	r := req(script)
	r.Language = language
	return r
}

// node is a service of a fleet sharing dir's store and queue q, whose
// workers serve caps (none: an API-only node).
func node(t *testing.T, dir string, q airlock.Queue, caps ...string) *env {
	t.Helper()
	workers := 1
	if len(caps) == 0 {
		workers = -1
	}
	return newEnvWith(t, dir, jobs.Options{Workers: workers, Distributed: true, LeaseTime: time.Second}, func(d *jobs.Deps) {
		d.Queue = q
		d.Engine.(*fakeExec).caps = caps
	})
}

// wantNoWorker checks that a submission is refused as unavailable,
// saying that no live worker serves capability.
func wantNoWorker(t *testing.T, e *env, r airlock.Request, capability string) {
	t.Helper()
	j, err := e.svc.Submit(t.Context(), r, jobs.Meta{})
	if !errors.Is(err, airlock.ErrUnavailable) || !strings.Contains(err.Error(), "no live worker serves "+capability) {
		t.Fatalf("Submit of a %s job: %v, %v; want unavailable: no live worker serves %s", r.Language, j, err, capability)
	}
}

// A job no live worker serves is refused, not queued for ever: on an
// embedded API-only node with no other, and on a node whose own workers
// serve other languages. Nothing is stored.
func TestRefusedWithoutLiveWorker(t *testing.T) {
	dir := t.TempDir()
	q := memqueue.New()
	api := node(t, dir, q)
	wantNoWorker(t, api, req("out 1"), "python")
	js := node(t, dir, q, "javascript")
	wantNoWorker(t, js, req("out 1"), "python")
	if n, err := q.Len(t.Context()); err != nil || n != 0 {
		t.Errorf("queue Len = %d, %v; want nothing queued", n, err)
	}
	if _, n, err := api.store.List(t.Context(), "", 0, 10); err != nil || n != 0 {
		t.Errorf("stored %d jobs (%v)", n, err)
	}
}

// Services sharing one store and one queue each take only the jobs of
// their own capabilities, whichever node accepted them; a capability is
// served while a node that serves it runs, and refused once it stopped.
func TestRoutingBetweenServices(t *testing.T) {
	dir := t.TempDir()
	q := memqueue.New()
	api := node(t, dir, q)
	py, js := node(t, dir, q, "python"), node(t, dir, q, "javascript")
	py.run(t)
	stopJS, jsDone := js.start()
	defer func() {
		stopJS()
		<-jsDone
	}()
	announced := func(capability string) bool {
		ok, err := q.Served(t.Context(), capability)
		return err == nil && ok
	}
	for deadline := time.Now().Add(10 * time.Second); !announced("python") || !announced("javascript"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not announce their workers") // their first heartbeat
		}
	}

	for range 3 {
		for _, lang := range []string{"python", "javascript"} {
			j, err := api.svc.Submit(t.Context(), in(lang, "out "+lang), jobs.Meta{})
			if err != nil {
				t.Fatalf("Submit(%s): %v", lang, err)
			}
			api.wait(t, j.ID, lang+"\n")
		}
	}
	if p, j := py.exec.runs.Load(), js.exec.runs.Load(); p != 3 || j != 3 {
		t.Errorf("the python node ran %d jobs, the javascript one %d; want 3 each", p, j)
	}
	wantNoWorker(t, api, in("bash", "out 1"), "bash")

	stopJS()
	<-jsDone
	wantNoWorker(t, api, in("javascript", "out 1"), "javascript")
	j, err := api.svc.Submit(t.Context(), req("out still"), jobs.Meta{})
	if err != nil {
		t.Fatalf("Submit(python) with its node running: %v", err)
	}
	api.wait(t, j.ID, "still\n")
}

// pushes is a queue that tells each push: "<capability> <id>".
type pushes struct {
	airlock.Queue
	seen chan string
}

func (q *pushes) Push(ctx context.Context, capability, id string) error {
	q.seen <- capability + " " + id
	return q.Queue.Push(ctx, capability, id)
}

// A job a worker takes that it does not serve (from a queue that does not
// route: the Redis stream from before routing) goes on to its
// capability's workers, the attempt not counted.
func TestPassedOnToItsCapability(t *testing.T) {
	dir := t.TempDir()
	q := memqueue.New()
	api := node(t, dir, q)
	py := node(t, dir, q, "python")
	seen := &pushes{Queue: q, seen: make(chan string, 1)}
	js := node(t, dir, seen, "javascript")
	if err := py.svc.Announce(t.Context()); err != nil {
		t.Fatal(err)
	}
	j, err := api.svc.Submit(t.Context(), req("out here"), jobs.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// Misroute it, as a queue before routing would have.
	if l, err := q.Pop(t.Context(), []string{"python"}); err != nil || l.JobID() != j.ID {
		t.Fatalf("Pop: %v %v", l, err)
	}
	if err := q.Push(t.Context(), "javascript", j.ID); err != nil {
		t.Fatal(err)
	}
	js.run(t)
	select {
	case push := <-seen.seen:
		if push != "python "+j.ID {
			t.Fatalf("the javascript node pushed %q, want the job on to python", push)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the javascript node did not pass the job on")
	}
	if n := js.exec.runs.Load(); n != 0 {
		t.Errorf("the javascript node ran the python job")
	}
	if row := api.row(t, j.ID); row.Status != airlock.StatusQueued || row.Attempts != 0 {
		t.Errorf("passed on: %s after %d attempts, want queued after none", row.Status, row.Attempts)
	}
	py.run(t)
	if final := api.wait(t, j.ID, "here\n"); final.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: passing it on is no attempt", final.Attempts)
	}
}

// A job in an operator's named environment is served only by the nodes
// that started it, whatever its language: a pool of numpy workers beside
// plain Python ones behind one API.
func TestRoutedToItsEnvironment(t *testing.T) {
	dir := t.TempDir()
	q := memqueue.New()
	api := node(t, dir, q)
	plain := node(t, dir, q, "python")
	sci := node(t, dir, q, "python", airlock.EnvironmentCapability("scientific"))
	inEnv := req("out sci")
	inEnv.Environment = "scientific"
	wantNoWorker(t, api, inEnv, "env:scientific")
	plain.run(t)
	sci.run(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if ok, err := q.Served(t.Context(), "env:scientific"); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scientific node did not announce its environment")
		}
	}
	for range 3 {
		j, err := api.svc.Submit(t.Context(), inEnv, jobs.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		api.wait(t, j.ID, "sci\n")
	}
	if p, s := plain.exec.runs.Load(), sci.exec.runs.Load(); p != 0 || s != 3 {
		t.Errorf("the plain node ran %d jobs in the environment, the scientific one %d; want 0 and 3", p, s)
	}
}
