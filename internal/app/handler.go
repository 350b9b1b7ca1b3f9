package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/playground"
)

// newHandler is what the node serves: every API face, or a worker node's
// health and metrics.
func (a *App) newHandler(m *metrics.Metrics, b *backends) (http.Handler, error) {
	if a.opt.Worker {
		return a.workerHandler(m), nil
	}
	h, err := a.apiHandler(m)
	if err != nil {
		return nil, err
	}
	if b.rates != nil {
		h.Keys().ShareRates(b.rates, a.opt.Log)
	}
	return h, nil
}

// apiHandler is every API face over the service, each with its options
// from the config.
func (a *App) apiHandler(m *metrics.Metrics) (*api.Server, error) {
	cfg, log := a.cfg, a.opt.Log
	handler, err := api.New(a.svc, api.Options{Keys: cfg.Keys, MaxBody: cfg.MaxBody, WaitTimeout: cfg.WaitTimeout, Metrics: m, Log: log, Engine: a.eng, NetworkHosts: cfg.NetworkHosts})
	if err != nil {
		return nil, err
	}
	judge0.New(a.svc, judge0.Options{
		Keys: handler.Keys(), EnableDelete: cfg.Judge0Delete, MaxBody: cfg.MaxBody, MaxQueue: cfg.MaxQueue,
		WaitTimeout: cfg.WaitTimeout, Log: log, Engine: a.eng,
	}).Register(handler)
	pistonFace := piston.New(a.svc, piston.Options{Keys: handler.Keys(), MaxBody: cfg.MaxBody, Log: log, Engine: a.eng})
	pistonFace.Register(handler)
	playground.Register(handler, http.HandlerFunc(pistonFace.Banner))
	return handler, nil
}

// workerHandler is what a worker node serves: its health (the queue and
// the store reachable) and its metrics.
func (a *App) workerHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { api.Healthz(w, a.svc.Health(r.Context())) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}
