package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/localblob"
	"github.com/airlock-dev/airlock/internal/memqueue"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/sqlite"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// cmdServe runs the API and the workers on the embedded store and queue
// until SIGTERM or SIGINT, then drains and exits 0.
func cmdServe(args []string) int {
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return usageErr(err)
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	if len(cfg.Keys) == 0 && !cfg.InsecureOpen && !loopback(cfg.Addr) {
		return usageErr(config.ErrOpen)
	}
	if err := serve(cfg, log); err != nil {
		log.Error("serve", "err", err)
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

func serve(cfg *config.Config, log *slog.Logger) error {
	catalog, err := lang.Load(cfg.Languages)
	if err != nil {
		return err
	}
	runner, err := newRunner(catalog)
	if err != nil {
		return fmt.Errorf("sandbox: %w (run `airlock doctor`)", err)
	}
	defer runner.Close()
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	store, err := sqlite.Open(filepath.Join(cfg.Data, "airlock.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	blobs, err := localblob.Open(filepath.Join(cfg.Data, "blobs"))
	if err != nil {
		return err
	}
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
	eng := engine.New(runner, catalog, engine.Options{})
	if err := eng.StartPools(enginePools(cfg.Pools), log); err != nil {
		return err
	}
	defer eng.Close()
	queue := memqueue.New()
	m := metrics.New(metrics.QueueDepth(queue), func() float64 { return float64(runner.Keepers()) })
	m.WatchPools(eng.PoolStats)
	svc := jobs.New(jobs.Deps{
		Store: store, Blobs: blobs, Queue: queue, Engine: eng,
		Log: log, Audit: auditLog, Metrics: m, Hooks: webhook.New(webhook.Options{AllowLocal: cfg.AllowLocalCallbacks}),
	}, jobs.Options{Workers: cfg.Workers, MaxQueue: cfg.MaxQueue, MaxCode: cfg.MaxCode, Grace: cfg.Grace})
	handler, err := api.New(svc, api.Options{Keys: cfg.Keys, MaxBody: cfg.MaxBody, Metrics: m, Log: log})
	if err != nil {
		return err
	}
	judge0.New(svc, judge0.Options{
		Keys: handler.Keys(), EnableDelete: cfg.Judge0Delete, MaxBody: cfg.MaxBody, MaxQueue: cfg.MaxQueue, Log: log,
	}).Register(handler)
	piston.New(svc, piston.Options{Keys: handler.Keys(), MaxBody: cfg.MaxBody, Log: log}).Register(handler)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	workers, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	workersDone := make(chan error, 1)
	go func() { workersDone <- svc.Run(workers) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("airlock serving", "addr", ln.Addr().String(), "data", cfg.Data, "workers", cfg.Workers, "open", handler.Open())

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	case err := <-workersDone:
		srv.Close()
		return err
	}
	log.Info("shutting down: no new requests; running jobs finish or go back to the queue")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	stopWorkers()
	err = <-workersDone
	log.Info("stopped")
	return err
}

// cmdKey makes an API key: a random token to give the client, and the
// config lines that accept it (only its hash is stored).
func cmdKey(args []string, out io.Writer) int {
	if len(args) != 2 || args[0] != "new" {
		return usageErr(fmt.Errorf("usage: airlock key new ID"))
	}
	var b [24]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	fmt.Fprintf(out, "token (give it to the client, it is not stored): %s\n\nconfig file:\nkeys:\n  - id: %s\n    sha256: %s\n    rate: 10        # requests per second\n    max_active: 4   # unfinished jobs at once\n", token, args[1], auth.HashToken(token))
	return 0
}

func enginePools(pools map[string]config.Pool) map[string]engine.PoolConfig {
	out := map[string]engine.PoolConfig{}
	for name, p := range pools {
		out[name] = engine.PoolConfig{Size: p.Size, Preload: p.Preload}
	}
	return out
}
