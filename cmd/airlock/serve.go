package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/conns"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/playground"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/probe"
	"github.com/airlock-dev/airlock/internal/webhook"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// start runs command, serve or worker, with the settings of its flags,
// the environment and the config file.
func start(command string, flags *config.Flags) int {
	cfg, err := flags.Load(os.Getenv)
	if err != nil {
		return usageErr(err)
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	worker := command == "worker"
	switch {
	case worker && cfg.NoWorkers:
		return usageErr(errors.New("a worker with --no-workers would do nothing"))
	case (worker || cfg.NoWorkers) && cfg.Queue == "":
		return usageErr(errNoFleetQueue)
	case !worker && len(cfg.Keys) == 0 && !cfg.InsecureOpen && !loopback(cfg.Addr):
		return usageErr(config.ErrOpen)
	}
	if err := serve(cfg, log, worker); err != nil {
		log.Error("airlock "+command+" stopped", "err", err)
		return 1
	}
	return 0
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs a process of one of three kinds: the API with workers (the
// embedded default), the API alone (--no-workers), or workers alone.
func serve(cfg *config.Config, log *slog.Logger, worker bool) error {
	catalog, err := lang.Load(cfg.Languages)
	if err != nil {
		return err
	}
	runsJobs := !cfg.NoWorkers
	var runner sandbox.Runner
	keepers := func() float64 { return 0 }
	if runsJobs {
		r, err := newRunner(catalog)
		if err != nil {
			return fmt.Errorf("sandbox: %w (run `airlock doctor`)", err)
		}
		defer r.Close()
		runner, keepers = r, func() float64 { return float64(r.Keepers()) }
	} else {
		runner = probe.New(versionCommands(catalog))
	}
	openCtx, cancelOpen := context.WithTimeout(context.Background(), time.Minute)
	b, err := openBackends(openCtx, cfg, log)
	cancelOpen()
	if err != nil {
		return err
	}
	defer b.Close()
	var auditLog *audit.Log
	switch cfg.Audit {
	case "":
	case "-":
		auditLog = audit.New(os.Stdout)
	default:
		f, err := os.OpenFile(cfg.Audit, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		auditLog = audit.New(f)
	}
	eng := engine.New(runner, catalog, engine.Options{Policy: cfg.Limits})
	if runsJobs {
		if err := eng.StartPools(enginePools(cfg.Pools), log); err != nil {
			return err
		}
	}
	defer eng.Close()
	m := metrics.New(metrics.QueueDepth(b.queue), keepers)
	m.WatchPools(eng.PoolStats)
	workers := cfg.Workers
	if !runsJobs {
		workers = -1
	}
	svc := jobs.New(jobs.Deps{
		Store: b.store, Blobs: b.blobs, Queue: b.queue, Engine: eng,
		Log: log, Audit: auditLog, Metrics: m, Hooks: webhook.New(webhook.Options{AllowLocal: cfg.AllowLocalCallbacks}),
	}, jobs.Options{
		Workers: workers, MaxQueue: cfg.MaxQueue, MaxCode: cfg.MaxCode, Grace: cfg.Grace,
		MaxAttempts: cfg.MaxAttempts, Distributed: b.shared, LeaseTime: cfg.Lease, LostAfter: cfg.LostAfter,
		CallTimeout: cfg.StoreTimeout, Retention: cfg.Retention, DataDir: dataDir(cfg), MinFree: cfg.MinFree,
	})
	var h http.Handler
	if worker {
		h = workerHandler(svc, m)
	} else {
		api, err := apiHandler(svc, cfg, m, log)
		if err != nil {
			return err
		}
		if b.rates != nil {
			api.Keys().ShareRates(b.rates, log)
		}
		h = api
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = conns.DefaultMax()
	}
	limited := conns.Limit(ln, maxConns)
	var handling sync.WaitGroup // requests being served, WebSocket sessions included
	srv := &http.Server{
		Handler: conns.Deadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handling.Add(1)
			defer handling.Done()
			h.ServeHTTP(w, r)
		}), bodyTimeout, writeTimeout),
		ReadHeaderTimeout: headerTimeout, IdleTimeout: idleTimeout, ConnState: limited.ConnState,
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	running, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	workersDone := make(chan error, 1)
	go func() { workersDone <- svc.Run(running) }()
	if !worker {
		go svc.SweepLost(running) // the API nodes look after what they accepted
		go svc.RunRetention(running)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()
	total, _ := svc.Workers()
	log.Info("airlock serving", "addr", ln.Addr().String(), "api", !worker, "open", !worker && len(cfg.Keys) == 0, "workers", total, "max_connections", maxConns,
		"store", kind(cfg.Store, "sqlite"), "queue", kind(cfg.Queue, "embedded"), "blobs", kind(cfg.Blobs, "local"))

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	case err := <-workersDone:
		srv.Close()
		return err
	}
	log.Info("shutting down: no new requests; running jobs finish or go back to the queue")
	// In order: no new connections; running jobs finish within the grace
	// period or go back to the queue, which releases the requests waiting
	// for them; those answer (the result, or the job's id) before the
	// store closes.
	answering, cut := context.WithCancel(context.Background())
	defer cut()
	answered := make(chan error, 1)
	go func() { answered <- srv.Shutdown(answering) }()
	stopWorkers()
	err = <-workersDone
	late := time.After(answerTime)
	select {
	case <-answered:
		// No request can start any more: wait for the WebSocket
		// sessions, which Shutdown does not, to end with their jobs.
		if !waitUntil(late, handling.Wait) {
			log.Warn("shutdown: sessions still open are abandoned")
		}
	case <-late:
		log.Warn("shutdown: requests still being served are cut")
		cut()
		srv.Close()
	}
	log.Info("stopped")
	return err
}

// The bounds on a connection's client (see conns.Deadlines): to send a
// request's headers, its body, to take each write of the response, and
// to keep an idle connection open. Ample for any client that is not
// holding the connection on purpose.
const (
	headerTimeout = 10 * time.Second
	bodyTimeout   = time.Minute
	writeTimeout  = 30 * time.Second
	idleTimeout   = time.Minute
)

// answerTime is how long requests have to answer on shutdown once the
// jobs they wait for have finished or gone back to the queue.
const answerTime = 5 * time.Second

// waitUntil runs wait until it returns or until late; false if late.
func waitUntil(late <-chan time.Time, wait func()) bool {
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-late:
		return false
	}
}

// dataDir is the data directory when an embedded store or blob store
// keeps files there, whose disk /healthz checks; "" when none does.
func dataDir(cfg *config.Config) string {
	if cfg.Store == "" || cfg.Blobs == "" {
		return cfg.Data
	}
	return ""
}

// kind names a backend for the log without its URL, which may hold a
// password.
func kind(url, embedded string) string {
	if url == "" {
		return embedded
	}
	scheme, _, _ := strings.Cut(url, "://")
	return scheme
}

// apiHandler is every API face over svc.
func apiHandler(svc *jobs.Service, cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (*api.Server, error) {
	handler, err := api.New(svc, api.Options{Keys: cfg.Keys, MaxBody: cfg.MaxBody, Metrics: m, Log: log})
	if err != nil {
		return nil, err
	}
	judge0.New(svc, judge0.Options{
		Keys: handler.Keys(), EnableDelete: cfg.Judge0Delete, MaxBody: cfg.MaxBody, MaxQueue: cfg.MaxQueue, Log: log,
	}).Register(handler)
	pistonFace := piston.New(svc, piston.Options{Keys: handler.Keys(), MaxBody: cfg.MaxBody, Log: log})
	pistonFace.Register(handler)
	playground.Register(handler, http.HandlerFunc(pistonFace.Banner))
	return handler, nil
}

// workerHandler is what a worker node serves: its health (the queue and
// the store reachable) and its metrics.
func workerHandler(svc *jobs.Service, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { api.Healthz(w, svc.Health(r.Context())) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// versionCommands are the command lines an API-only node runs, to learn
// the languages' versions.
func versionCommands(catalog *lang.Catalog) [][]string {
	var out [][]string
	for _, l := range catalog.All() {
		if len(l.Version) > 0 {
			out = append(out, l.Version)
		}
	}
	return out
}

// cmdKey makes an API key: a random token to give the client, and the
// config lines that accept it (only its hash is stored).
func cmdKey(id string, out io.Writer) {
	var b [24]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	fmt.Fprintf(out, "token (give it to the client, it is not stored): %s\n\nconfig file:\nkeys:\n  - id: %s\n    sha256: %s\n    rate: 10        # requests per second\n    max_active: 4   # unfinished jobs at once\n", token, id, auth.HashToken(token))
}

func enginePools(pools map[string]config.Pool) map[string]engine.PoolConfig {
	out := map[string]engine.PoolConfig{}
	for name, p := range pools {
		out[name] = engine.PoolConfig{Size: p.Size, Preload: p.Preload}
	}
	return out
}
