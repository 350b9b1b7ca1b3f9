package jobs_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
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
	stop, done := e.start()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

// start runs the service until stop; done is closed when Run returns.
func (e *env) start() (stop func(), done <-chan struct{}) {
	ctx, stop := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		e.svc.Run(ctx)
		close(ended)
	}()
	return stop, ended
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
