package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/localblob"
	"github.com/airlock-dev/airlock/internal/memqueue"
	"github.com/airlock-dev/airlock/internal/sqlite"
)

// blobs is a blob store that remembers the keys put and read.
type blobs struct {
	airlock.BlobStore
	mu         sync.Mutex
	puts, gets []string
}

func (b *blobs) Put(ctx context.Context, key string, data []byte) error {
	b.mu.Lock()
	b.puts = append(b.puts, key)
	b.mu.Unlock()
	return b.BlobStore.Put(ctx, key, data)
}

func (b *blobs) Get(ctx context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	b.gets = append(b.gets, key)
	b.mu.Unlock()
	return b.BlobStore.Get(ctx, key)
}

// seen says which of the keys of a job the blob store was asked to put and
// to read.
func (b *blobs) seen(id string) (puts, gets []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mine := func(keys []string) []string {
		return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !strings.Contains(k, id) })
	}
	return mine(b.puts), mine(b.gets)
}

// reads is a job store that counts the service's reads of jobs.
type reads struct {
	airlock.JobStore
	gets atomic.Int64
}

func (r *reads) Get(ctx context.Context, id string) (*airlock.Job, error) {
	r.gets.Add(1)
	return r.JobStore.Get(ctx, id)
}

// env is a service on a data dir; two envs on one dir are a restart.
type env struct {
	store *sqlite.Store
	exec  *fakeExec
	reads *reads
	blobs *blobs
	svc   *jobs.Service
}

func newEnv(t *testing.T, dir string, opt jobs.Options) *env {
	t.Helper()
	return newEnvWith(t, dir, opt, nil)
}

// newEnvWith is newEnv with what change makes of its dependencies.
func newEnvWith(t *testing.T, dir string, opt jobs.Options, change func(*jobs.Deps)) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	local, err := localblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	exec := newFakeExec(t)
	b, counted := &blobs{BlobStore: local}, &reads{JobStore: store}
	deps := jobs.Deps{Store: counted, Blobs: b, Queue: memqueue.New(), Engine: exec}
	if change != nil {
		change(&deps)
	}
	return &env{store: store, exec: exec, reads: counted, blobs: b, svc: jobs.New(deps, opt)}
}

// req is a request of the fake executor's script (see fakeExec).
func req(script string) airlock.Request {
	return airlock.Request{Language: "python", Files: []airlock.File{{Name: "main.py", Content: []byte(script)}}}
}

// run runs the service's workers until the test ends.
func (e *env) run(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.svc.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

func (e *env) submit(t *testing.T, code string) *airlock.Job {
	t.Helper()
	j, err := e.svc.Submit(t.Context(), req(code), jobs.Meta{})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return j
}

func (e *env) wait(t *testing.T, id, stdout string) *airlock.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	j, err := e.svc.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v", id, err)
	}
	if j.Status != airlock.StatusOK || j.Result == nil || string(j.Result.Stdout) != stdout {
		t.Fatalf("job %s: %s, result %+v; want ok with %d bytes of stdout", id, j.Status, j.Result, len(stdout))
	}
	return j
}

// readBack checks the job reads back whole through the service: its result
// and its request.
func (e *env) readBack(t *testing.T, id, code, stdout string) {
	t.Helper()
	j, err := e.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if j.Result == nil || string(j.Result.Stdout) != stdout {
		t.Errorf("Get(%s): result %+v, want %d bytes of stdout", id, j.Result, len(stdout))
	}
	if err := e.svc.LoadRequest(t.Context(), j); err != nil {
		t.Fatalf("LoadRequest(%s): %v", id, err)
	}
	if len(j.Request.Files) != 1 || string(j.Request.Files[0].Content) != code {
		t.Errorf("LoadRequest(%s): files %+v", id, j.Request.Files)
	}
}

// row is the job as the store keeps it.
func (e *env) row(t *testing.T, id string) *airlock.Job {
	t.Helper()
	j, err := e.store.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("store Get(%s): %v", id, err)
	}
	return j
}

// A hello world, with the default threshold, never touches the blob store:
// its request and result live in the job's row.
func TestSmallPayloadsInline(t *testing.T) {
	e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1})
	e.run(t)
	const code = "out hello"
	j := e.submit(t, code)
	e.wait(t, j.ID, "hello\n")
	e.readBack(t, j.ID, code, "hello\n")
	if puts, gets := e.blobs.seen(j.ID); len(puts)+len(gets) > 0 {
		t.Errorf("blob store used for a small job: put %v, read %v", puts, gets)
	}
	if row := e.row(t, j.ID); row.InlineRequest == nil || row.InlineResult == nil {
		t.Errorf("store row: inline request %d bytes, result %d bytes; want both", len(row.InlineRequest), len(row.InlineResult))
	}
}

// Above the threshold a request and a result go to the blob store, read
// back from there, and go with the job when it is deleted. Below it, in
// the same service, they stay out of it.
func TestLargePayloadsInBlobs(t *testing.T) {
	e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, InlineMax: 2 << 10})
	e.run(t)
	large := "# " + strings.Repeat("a", 3<<10) + "\nout " + strings.Repeat("x", 3000) + "\n"
	bigOut := strings.Repeat("x", 3000) + "\n"
	big := e.submit(t, large)
	e.wait(t, big.ID, bigOut)
	e.readBack(t, big.ID, large, bigOut)
	puts, _ := e.blobs.seen(big.ID)
	if want := []string{"requests/" + big.ID + ".json", "results/" + big.ID + ".json"}; !slices.Equal(puts, want) {
		t.Errorf("blob puts for a large job: %v, want %v", puts, want)
	}
	if row := e.row(t, big.ID); row.InlineRequest != nil || row.InlineResult != nil {
		t.Errorf("store row of a large job: inline request %d bytes, result %d bytes; want none", len(row.InlineRequest), len(row.InlineResult))
	}

	const code = "out hello"
	small := e.submit(t, code)
	e.wait(t, small.ID, "hello\n")
	e.readBack(t, small.ID, code, "hello\n")
	if puts, gets := e.blobs.seen(small.ID); len(puts)+len(gets) > 0 {
		t.Errorf("blob store used for a small job: put %v, read %v", puts, gets)
	}

	if err := e.svc.Delete(t.Context(), big.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, key := range puts {
		if _, err := e.blobs.BlobStore.Get(t.Context(), key); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("blob %s after Delete: %v, want ErrNotFound", key, err)
		}
	}
}

// Jobs accepted by a process that stopped before running them run after a
// restart, their requests read from the store: inline or in the blob store.
func TestRestartReadsRequestsFromStore(t *testing.T) {
	dir := t.TempDir()
	opt := jobs.Options{Workers: 1, InlineMax: 2 << 10}
	before := newEnv(t, dir, opt)
	small := "out small"
	large := "# " + strings.Repeat("a", 3<<10) + "\nout large\n"
	ids := []string{before.submit(t, small).ID, before.submit(t, large).ID}

	after := newEnv(t, dir, opt)
	after.run(t)
	after.wait(t, ids[0], "small\n")
	after.wait(t, ids[1], "large\n")
	if _, gets := after.blobs.seen(ids[1]); !slices.Contains(gets, "requests/"+ids[1]+".json") {
		t.Errorf("the large request was not read from the blob store after the restart: %v", gets)
	}
}

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

// flaky is a job store whose first Start calls fail as a lost server's.
type flaky struct {
	airlock.JobStore
	fails atomic.Int64
}

func (f *flaky) Start(ctx context.Context, id string, at time.Time, retake bool) (*airlock.Job, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("dial tcp: connection refused")
	}
	return f.JobStore.Start(ctx, id, at, retake)
}

// A worker retries the start of a job while the store is lost, backing
// off, and runs it once the store is back.
func TestStartRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flaky{}
		store.fails.Store(3)
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) { store.JobStore = d.Store; d.Store = store })
		e.run(t)
		start := time.Now()
		e.wait(t, e.submit(t, "out hi").ID, "hi\n")
		// Backoff of 100, 200 and 400 ms between the four calls.
		if took := time.Since(start); took != 700*time.Millisecond {
			t.Errorf("the job ran after %v, want 700ms of backoff", took)
		}
	})
}

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

func (q *leases) Pop(ctx context.Context) (airlock.Lease, error) {
	l, err := q.Queue.Pop(ctx)
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

// farQueue is a fleet's queue whose jobs go to other processes: it takes
// pushes and never hands anything to this one.
type farQueue struct {
	mu     sync.Mutex
	pushed []string
}

func (q *farQueue) Push(_ context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushed = append(q.pushed, id)
	return nil
}

func (q *farQueue) Pop(ctx context.Context) (airlock.Lease, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *farQueue) Len(context.Context) (int, error) { return 0, nil }

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

// lostAnswer is a store whose first Finish is recorded but answered with
// an error, as when the connection drops after the commit.
type lostAnswer struct {
	airlock.JobStore
	lost atomic.Bool
}

func (s *lostAnswer) Finish(ctx context.Context, id string, attempt int, status airlock.Status, at time.Time, result []byte) (*airlock.Job, error) {
	j, err := s.JobStore.Finish(ctx, id, attempt, status, at, result)
	if err == nil && s.lost.CompareAndSwap(false, true) {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return j, err
}

// A result recorded by a call whose answer was lost is known for what it
// is when the retry finds the job finished by the same attempt: the job is
// audited once, and its waiters get it.
func TestFinishAnswerLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) {
			d.Store, d.Audit = &lostAnswer{JobStore: d.Store}, audit.New(&log)
		})
		e.run(t)
		j := e.wait(t, e.submit(t, "out once").ID, "once\n")
		if j.Status != airlock.StatusOK {
			t.Fatalf("job: %+v", j)
		}
		if n := strings.Count(log.String(), j.ID); n != 1 {
			t.Errorf("the job is audited %d times, want once:\n%s", n, log.String())
		}
	})
}

// A shutdown waits, within its grace period, for the callbacks of jobs
// that have finished, rather than dropping them.
func TestShutdownDeliversCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHooks()
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) { d.Hooks = h })
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.svc.Run(ctx)
			close(done)
		}()
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
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.svc.Run(ctx)
			close(done)
		}()
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

// TestShutdownReleasesWaiters: on shutdown, a waiter of a job the grace
// period cut short, and one of a job still queued, are told so with the
// job left queued; the job stopped has not used up an attempt.
func TestShutdownReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, Grace: 200 * time.Millisecond})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.svc.Run(ctx)
			close(done)
		}()
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
