// Package metrics holds the service's Prometheus metrics (DESIGN §7).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are registered on their own registry, served at /metrics.
type Metrics struct {
	Registry   *prometheus.Registry
	Executions *prometheus.CounterVec   // by language and status
	RunSeconds *prometheus.HistogramVec // execution time, by language
	WaitSecs   prometheus.Histogram     // time in the queue before a sandbox starts
	Running    prometheus.Gauge         // sandboxes running now
	Requests   *prometheus.CounterVec   // HTTP requests by code
}

// New makes and registers the metrics; queueDepth and keepers are read
// when scraped.
func New(queueDepth, keepers func() float64) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_executions_total", Help: "Finished executions by language and status.",
		}, []string{"language", "status"}),
		RunSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_execution_seconds", Help: "Time from a job's start to its result, compile included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"language"}),
		WaitSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "airlock_queue_wait_seconds", Help: "Time from acceptance to the start of the sandbox.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		Running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "airlock_sandboxes_running", Help: "Executions running now.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
	}
	m.Registry.MustRegister(m.Executions, m.RunSeconds, m.WaitSecs, m.Running, m.Requests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "airlock_queue_depth", Help: "Jobs waiting for a worker."}, queueDepth),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "airlock_pool_keepers", Help: "Sandbox slots kept warm (keepers alive)."}, keepers),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
