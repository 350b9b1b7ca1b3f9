// Package app builds the service from its config and runs it as a
// process. `airlock serve`, `airlock worker` and the end-to-end test
// harness (servicetest) all go through it, so the tests check the wiring
// production runs.
package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// Options are what a caller injects into the service New builds; the
// zero value is production's.
type Options struct {
	// Worker makes a worker node: workers alone, serving only /healthz
	// and /metrics. Otherwise the API, with workers unless the config's
	// NoWorkers.
	Worker bool
	Log    *slog.Logger // default slog.Default()
	// Runner, when set, is a running sandbox runner that binds the
	// catalog's host paths (see NewRunner), used on any kind of node and
	// left open by Close: a test binary shares one so that its keepers
	// stay warm.
	Runner sandbox.Runner
	// Audit, when set, takes the audit log in place of the config's file.
	Audit io.Writer
	// CallbackBackoff is the wait before a callback's second attempt; 0:
	// webhook's default.
	CallbackBackoff time.Duration
	// Deps, when set, may change the service's dependencies (wrap the
	// store in one that freezes, say) before the service is built.
	Deps func(*jobs.Deps)
}

// App is a service built from a config: its jobs service, the HTTP
// handler of its kind of node, and what Close releases.
type App struct {
	cfg     *config.Config
	opt     Options
	svc     *jobs.Service
	eng     *engine.Engine // the faces list its languages and policies
	handler http.Handler
	closes  []func() // in the order opened
}

// New builds the service cfg describes; Close releases it, also when New
// fails halfway.
func New(cfg *config.Config, opt Options) (_ *App, err error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	a := &App{cfg: cfg, opt: opt}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	catalog, err := lang.Load(cfg.Languages)
	if err != nil {
		return nil, err
	}
	runner, err := a.runner(catalog)
	if err != nil {
		return nil, err
	}
	openCtx, cancelOpen := context.WithTimeout(context.Background(), time.Minute)
	b, err := openBackends(openCtx, cfg, opt.Log)
	cancelOpen()
	if err != nil {
		return nil, err
	}
	a.closes = append(a.closes, b.Close)
	auditLog, err := a.openAudit()
	if err != nil {
		return nil, err
	}
	envs, err := a.environments(runner, b)
	if err != nil {
		return nil, err
	}
	eng := engine.New(runner, catalog, engine.Options{Policy: cfg.Limits, Environments: envs})
	a.eng = eng
	a.closes = append(a.closes, eng.Close)
	if err := declareEnvironments(eng, cfg.Environments); err != nil {
		return nil, err
	}
	if a.runsJobs() {
		if err := eng.StartPools(enginePools(cfg.Pools), opt.Log); err != nil {
			return nil, err
		}
		if err := eng.StartEnvironments(context.Background(), opt.Log); err != nil {
			return nil, err
		}
	}
	m := metrics.New(metrics.QueueDepth(b.queue), keepers(runner))
	m.WatchPools(eng.PoolStats)
	deps := jobs.Deps{
		Store: b.store, Blobs: b.blobs, Queue: b.queue, Engine: eng,
		Log: opt.Log, Audit: auditLog, Metrics: m,
		Hooks: webhook.New(webhook.Options{AllowLocal: cfg.AllowLocalCallbacks, Backoff: opt.CallbackBackoff}),
	}
	if opt.Deps != nil {
		opt.Deps(&deps)
	}
	a.svc = jobs.New(deps, jobsOptions(cfg, a.runsJobs(), b.shared))
	if a.handler, err = a.newHandler(m, b); err != nil {
		return nil, err
	}
	return a, nil
}

// Close releases what New opened, the last opened first: the engine's
// pools, the audit file, the store, queue and blobs, the sandbox.
func (a *App) Close() {
	for i := len(a.closes) - 1; i >= 0; i-- {
		a.closes[i]()
	}
	a.closes = nil
}

// environments is the node's environments for the engine; nil, when the
// default cache cannot be reached by the sandboxes (the data directory
// under a private home, say), leaves the server without any, with a
// warning, rather than stopping it: an envs_dir the operator set must
// work.
func (a *App) environments(runner sandbox.Runner, b *backends) (engine.Environments, error) {
	var shared airlock.BlobStore
	if a.cfg.Blobs != "" {
		shared = b.blobs // on one machine the cache is already shared
	}
	m, err := OpenEnvironments(a.cfg, runner, shared, a.opt.Log)
	switch {
	case err == nil:
		return m, nil
	case a.cfg.EnvsDir != "":
		return nil, err
	}
	a.opt.Log.Warn("jobs with requirements are refused: no environments", "err", err)
	return nil, nil
}

// runsJobs says whether this node has workers.
func (a *App) runsJobs() bool { return !a.cfg.NoWorkers }
