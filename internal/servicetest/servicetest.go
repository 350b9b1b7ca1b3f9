// Package servicetest runs the whole service for end-to-end tests: the
// real sandbox, a store, blobs and a queue, every API face behind one
// real HTTP server, built and run from a config by internal/app as
// `airlock serve` is.
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
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/testserver"
)

// Options shape a test service. Each field a test sets is mapped onto
// the service's config (see testConfig), from which app.New builds the
// service as `airlock serve` does; a field without a config setting
// fails the test.
type Options struct {
	API    api.Options    // Keys, MaxBody, WaitTimeout
	Jobs   jobs.Options   // Workers, MaxQueue, MaxCode, Grace, CallTimeout
	Judge0 judge0.Options // EnableDelete
	Engine engine.Options // Policy: the server's limits
	// Deps, when set, may change the service's store, blobs and queue
	// (wrap the store in one that freezes, say) before it starts.
	Deps func(*jobs.Deps)
	// Config, when set, changes settings that have no option above (the
	// package indexes of environments, say) once the rest is mapped.
	Config func(*config.Config)
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
		runner, runnerErr = app.NewRunner(catalog)
	})
	if runnerErr != nil {
		t.Fatalf("sandbox unavailable (tests need root and cgroups): %v", runnerErr)
	}
	return runner, catalog
}

// Start runs a service until the test ends, as `airlock serve` runs it
// (app.New, then app.App.Run on a loopback port). Callbacks may reach
// this host.
func Start(t *testing.T, opt Options) *Env {
	t.Helper()
	r, _ := Runner(t)
	e := &Env{}
	e.URL = Serve(t, testConfig(t, opt), app.Options{
		Runner: r, Audit: e, CallbackBackoff: 50 * time.Millisecond, Deps: opt.Deps,
	})
	return e
}

// Serve builds the service cfg describes with the startup serve and
// worker use, and runs it on a loopback port until the test ends; it
// returns the service's URL.
func Serve(t *testing.T, cfg *config.Config, opt app.Options) string {
	t.Helper()
	a, err := app.New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the service did not stop within a minute of its end")
		}
		a.Close()
	})
	return "http://" + ln.Addr().String()
}

// FullQueue, as Options.Deps, makes the service's queue always hold more
// jobs than the service takes.
func FullQueue(d *jobs.Deps) { d.Queue = fullQueue{d.Queue} }

type fullQueue struct{ airlock.Queue }

func (fullQueue) Len(context.Context) (int, error) { return 1 << 20, nil }

// Fleet says whether tests run over a fleet's servers
// (AIRLOCK_TEST_BACKENDS=fleet) rather than the embedded defaults.
func Fleet() bool { return os.Getenv("AIRLOCK_TEST_BACKENDS") == "fleet" }

// testConfig is a server's default config with the test's options, the
// test's own data directory (or, in the fleet lane, the test servers
// with a stream of the test's own), warm pools of one sandbox for Python
// and JavaScript (the faces' tests go through pooled sandboxes whenever
// one is ready), and callbacks allowed to reach this host.
func testConfig(t *testing.T, opt Options) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	// The sandboxes' uids bind the environments' cache from under the
	// data directory: the test's own temporary directory must let them.
	if err := os.Chmod(filepath.Dir(cfg.Data), 0o711); err != nil {
		t.Fatal(err)
	}
	cfg.Pools = map[string]config.Pool{"python": {Size: 1}, "javascript": {Size: 1}}
	cfg.AllowLocalCallbacks = true
	if Fleet() {
		cfg.Store, cfg.Blobs, cfg.Queue = testserver.Postgres(t), testserver.S3(t), testserver.Redis(t)
		// A stream (and rate limits) of the test's own on the shared
		// server: tests run in parallel, and again with -count.
		cfg.Stream = fmt.Sprintf("airlock:%s:%d", t.Name(), streams.Add(1))
	}
	ao, jo, j0, eo := opt.API, opt.Jobs, opt.Judge0, opt.Engine
	cfg.Keys, ao.Keys = ao.Keys, nil
	cfg.NetworkHosts, ao.NetworkHosts = ao.NetworkHosts, nil
	set(&cfg.MaxBody, &ao.MaxBody)
	set(&cfg.WaitTimeout, &ao.WaitTimeout)
	set(&cfg.Workers, &jo.Workers)
	set(&cfg.MaxQueue, &jo.MaxQueue)
	set(&cfg.MaxCode, &jo.MaxCode)
	set(&cfg.Grace, &jo.Grace)
	set(&cfg.StoreTimeout, &jo.CallTimeout)
	set(&cfg.Judge0Delete, &j0.EnableDelete)
	set(&cfg.Limits, &eo.Policy)
	if rest := (Options{API: ao, Jobs: jo, Judge0: j0, Engine: eo}); !reflect.ValueOf(rest).IsZero() {
		t.Fatalf("servicetest: no config setting for %+v", rest)
	}
	if opt.Config != nil {
		opt.Config(cfg)
	}
	return cfg
}

// set moves a test's option, when set, into the config's setting.
func set[T comparable](setting, option *T) {
	var zero T
	if *option != zero {
		*setting, *option = *option, zero
	}
}
