// Package metrics holds the service's Prometheus metrics
// (docs/architecture.md, Audit and metrics).
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/pool"
)

// Metrics are registered on their own registry, served at /metrics.
type Metrics struct {
	Registry   *prometheus.Registry
	Executions *prometheus.CounterVec   // by language and status
	RunSeconds *prometheus.HistogramVec // execution time, by language
	WaitSecs   prometheus.Histogram     // time in the queue before a worker takes the job
	// SandboxStart is what a sandbox costs before its program starts, by language.
	SandboxStart *prometheus.HistogramVec
	Running      prometheus.Gauge       // sandboxes running now
	Requests     *prometheus.CounterVec // HTTP requests by code
	Purged       prometheus.Counter     // finished jobs removed by retention
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
			Name: "airlock_queue_wait_seconds", Help: "Time from acceptance to a worker taking the job.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		SandboxStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_sandbox_start_seconds", Help: "Time from asking for a sandbox (cold or from a warm pool) to its program's start, per step.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"language"}),
		Running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "airlock_sandboxes_running", Help: "Executions running now.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		Purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "airlock_jobs_purged_total", Help: "Finished jobs removed, with their payloads, once past their retention.",
		}),
	}
	m.Registry.MustRegister(m.Executions, m.RunSeconds, m.WaitSecs, m.SandboxStart, m.Running, m.Requests, m.Purged,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "airlock_queue_depth", Help: "Jobs waiting for a worker."}, queueDepth),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "airlock_pool_keepers", Help: "Sandbox slots kept warm (keepers alive)."}, keepers),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// QueueDepth reads a queue's length for the queue-depth gauge, within
// a scrape's patience; an unreachable queue reads as -1.
func QueueDepth(q airlock.Queue) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := q.Len(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}
}

// WatchPools registers the warm pools' gauges and counters, by language;
// stats is read when scraped.
func (m *Metrics) WatchPools(stats func() map[string]pool.Stats) {
	m.Registry.MustRegister(poolCollector(stats))
}

type poolCollector func() map[string]pool.Stats

var poolDescs = struct{ size, ready, hits, misses, memory *prometheus.Desc }{
	size:   prometheus.NewDesc("airlock_pool_size", "Sandboxes a warm pool keeps ready.", []string{"language"}, nil),
	ready:  prometheus.NewDesc("airlock_pool_ready", "Sandboxes ready in a warm pool now.", []string{"language"}, nil),
	hits:   prometheus.NewDesc("airlock_pool_hits_total", "Runs that took a ready sandbox.", []string{"language"}, nil),
	misses: prometheus.NewDesc("airlock_pool_misses_total", "Runs that found none ready and started cold.", []string{"language"}, nil),
	memory: prometheus.NewDesc("airlock_pool_idle_memory_bytes", "Memory held by the ready sandboxes.", []string{"language"}, nil),
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolDescs.size
	ch <- poolDescs.ready
	ch <- poolDescs.hits
	ch <- poolDescs.misses
	ch <- poolDescs.memory
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for lang, s := range c() {
		ch <- prometheus.MustNewConstMetric(poolDescs.size, prometheus.GaugeValue, float64(s.Size), lang)
		ch <- prometheus.MustNewConstMetric(poolDescs.ready, prometheus.GaugeValue, float64(s.Ready), lang)
		ch <- prometheus.MustNewConstMetric(poolDescs.hits, prometheus.CounterValue, float64(s.Hits), lang)
		ch <- prometheus.MustNewConstMetric(poolDescs.misses, prometheus.CounterValue, float64(s.Misses), lang)
		ch <- prometheus.MustNewConstMetric(poolDescs.memory, prometheus.GaugeValue, float64(s.MemoryBytes), lang)
	}
}
