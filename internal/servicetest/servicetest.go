// Package servicetest runs the whole service for end-to-end tests: the
// real sandbox, a store, blobs and a queue, every API face behind one
// real HTTP server, as `airlock serve` wires them.
//
// The store, blobs and queue are the embedded ones (SQLite, local files,
// in-process), or with AIRLOCK_TEST_BACKENDS=fleet a fleet's (PostgreSQL,
// S3, Redis: real servers from testserver) with the service in
// distributed mode, so that the same tests of every API face run over
// both.
package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/localblob"
	"github.com/airlock-dev/airlock/internal/memqueue"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/playground"
	"github.com/airlock-dev/airlock/internal/postgres"
	"github.com/airlock-dev/airlock/internal/redis"
	"github.com/airlock-dev/airlock/internal/s3"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/sqlite"
	"github.com/airlock-dev/airlock/internal/testserver"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// Options shape a test service.
type Options struct {
	API    api.Options
	Jobs   jobs.Options
	Judge0 judge0.Options // Keys come from the API's keyring
	Engine engine.Options // the server's limits
	// Deps, when set, may change the service's store, blobs and queue
	// (wrap the store in one that freezes, say) before it starts.
	Deps func(*jobs.Deps)
}

// Env is a running service.
type Env struct {
	URL string
	mu  sync.Mutex
	log bytes.Buffer
}

// AuditLines are the audit log's lines so far.
func (e *Env) AuditLines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Split(strings.TrimSpace(e.log.String()), "\n")
}

func (e *Env) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.Write(p)
}

var (
	runner    *native.Runner
	catalog   *lang.Catalog
	runnerErr error
	once      sync.Once

	streams atomic.Int64 // numbers the tests' Redis streams
)

// Close stops the shared sandbox runner and the test servers; call it
// from TestMain after m.Run.
func Close() {
	if runner != nil {
		runner.Close()
	}
	testserver.Cleanup()
}

// Runner is the sandbox runner every Env of the test binary shares (its
// keepers stay warm between tests). The test binary's TestMain must call
// native.Stage first.
func Runner(t testing.TB) (*native.Runner, *lang.Catalog) {
	t.Helper()
	once.Do(func() {
		if catalog, runnerErr = lang.Load(""); runnerErr != nil {
			return
		}
		paths, err := catalog.HostPaths()
		if err != nil {
			runnerErr = err
			return
		}
		mounts := slices.Clone(native.DefaultMounts)
		for _, p := range paths {
			mounts = append(mounts, sandbox.Mount{Source: p})
		}
		runner, runnerErr = native.New(native.Config{Mounts: mounts})
	})
	if runnerErr != nil {
		t.Fatalf("sandbox unavailable (tests need root and cgroups): %v", runnerErr)
	}
	return runner, catalog
}

// Start runs a service until the test ends. Callbacks may reach this host.
func Start(t *testing.T, opt Options) *Env {
	t.Helper()
	r, catalog := Runner(t)
	store, blobs, queue := backends(t, &opt.Jobs)
	e := &Env{}
	m := metrics.New(metrics.QueueDepth(queue), func() float64 { return float64(r.Keepers()) })
	// Warm pools on, as a server runs by default: the faces' tests go
	// through pooled sandboxes whenever one is ready.
	eng := engine.New(r, catalog, opt.Engine)
	if err := eng.StartPools(map[string]engine.PoolConfig{"python": {Size: 1}, "javascript": {Size: 1}}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	deps := jobs.Deps{
		Store: store, Blobs: blobs, Queue: queue, Engine: eng,
		Audit: audit.New(io.Writer(e)), Metrics: m,
		Hooks: webhook.New(webhook.Options{AllowLocal: true, Backoff: 50 * time.Millisecond}),
	}
	if opt.Deps != nil {
		opt.Deps(&deps)
	}
	svc := jobs.New(deps, opt.Jobs)
	opt.API.Metrics, opt.API.Engine, opt.Judge0.Engine = m, eng, eng
	handler, err := api.New(svc, opt.API)
	if err != nil {
		t.Fatal(err)
	}
	if q, ok := queue.(*redis.Queue); ok {
		handler.Keys().ShareRates(q.Rates(), slog.Default()) // as serve does in a fleet
	}
	opt.Judge0.Keys = handler.Keys()
	if opt.Judge0.MaxQueue == 0 {
		opt.Judge0.MaxQueue = opt.Jobs.MaxQueue
	}
	judge0.New(svc, opt.Judge0).Register(handler)
	pistonFace := piston.New(svc, piston.Options{Keys: handler.Keys(), Engine: eng})
	pistonFace.Register(handler)
	playground.Register(handler, http.HandlerFunc(pistonFace.Banner))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		svc.Run(ctx)
		close(done)
	}()
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		eng.Close()
	})
	e.URL = srv.URL
	return e
}

// Fleet says whether tests run over a fleet's servers
// (AIRLOCK_TEST_BACKENDS=fleet) rather than the embedded defaults.
func Fleet() bool { return os.Getenv("AIRLOCK_TEST_BACKENDS") == "fleet" }

// backends opens the store, blobs and queue of a test service, closed when
// t ends, and sets the jobs options they need.
func backends(t *testing.T, opt *jobs.Options) (airlock.JobStore, airlock.BlobStore, airlock.Queue) {
	t.Helper()
	if !Fleet() {
		dir := t.TempDir()
		store, err := sqlite.Open(filepath.Join(dir, "db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		blobs, err := localblob.Open(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return store, blobs, memqueue.New()
	}
	store, err := postgres.Open(t.Context(), testserver.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := s3.Open(t.Context(), testserver.S3(t))
	if err != nil {
		t.Fatal(err)
	}
	// A stream (and rate limits) of the test's own on the shared server:
	// tests run in parallel, and again with -count.
	stream := fmt.Sprintf("airlock:%s:%d", t.Name(), streams.Add(1))
	queue, err := redis.Open(t.Context(), testserver.Redis(t), redis.Options{Stream: stream, Group: "workers"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Close() })
	opt.Distributed = true
	return store, blobs, queue
}
