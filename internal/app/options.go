package app

import (
	"io"
	"os"

	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// jobsOptions are the job service's options from the config; shared says
// the queue is a fleet's.
func jobsOptions(cfg *config.Config, runsJobs, shared bool) jobs.Options {
	workers := cfg.Workers
	if !runsJobs {
		workers = -1
	}
	return jobs.Options{
		Workers: workers, MaxQueue: cfg.MaxQueue, MaxCode: cfg.MaxCode, Grace: cfg.Grace,
		MaxAttempts: cfg.MaxAttempts, Distributed: shared, LeaseTime: cfg.Lease, LostAfter: cfg.LostAfter,
		CallTimeout: cfg.StoreTimeout, Retention: cfg.Retention, DataDir: dataDir(cfg), MinFree: cfg.MinFree,
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

func enginePools(pools map[string]config.Pool) map[string]engine.PoolConfig {
	out := map[string]engine.PoolConfig{}
	for name, p := range pools {
		out[name] = engine.PoolConfig{Size: p.Size, Preload: p.Preload}
	}
	return out
}

// openAudit is the audit log: the injected writer, or the config's file
// ("-": stdout), or none.
func (a *App) openAudit() (*audit.Log, error) {
	var w io.Writer = a.opt.Audit
	switch {
	case w != nil:
	case a.cfg.Audit == "":
		return nil, nil
	case a.cfg.Audit == "-":
		w = os.Stdout
	default:
		f, err := os.OpenFile(a.cfg.Audit, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		a.closes = append(a.closes, func() { f.Close() })
		w = f
	}
	return audit.New(w), nil
}
