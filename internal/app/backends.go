package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/localblob"
	"github.com/airlock-dev/airlock/internal/memqueue"
	"github.com/airlock-dev/airlock/internal/postgres"
	"github.com/airlock-dev/airlock/internal/redis"
	"github.com/airlock-dev/airlock/internal/s3"
	"github.com/airlock-dev/airlock/internal/sqlite"
)

// backends are the store, queue and blob store a process runs on: each
// the embedded default under the data directory, or a fleet's server.
type backends struct {
	store  airlock.JobStore
	queue  airlock.Queue
	blobs  airlock.BlobStore
	shared bool           // the queue is a fleet's, shared with other processes
	rates  auth.RateStore // the fleet's keys' rate limits; nil: each process its own
	closes []func() error
}

// Close closes them, the last opened first.
func (b *backends) Close() {
	for i := len(b.closes) - 1; i >= 0; i-- {
		b.closes[i]()
	}
}

// openBackends opens what cfg names. Each server's client fails within
// its connect timeout (5 s) when the server cannot be reached or refuses
// the credentials, with an error that names the server and never the
// password.
func openBackends(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *backends, err error) {
	b := &backends{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if cfg.Store == "" || cfg.Blobs == "" {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return nil, err
		}
	}
	if cfg.Store == "" {
		s, err := sqlite.Open(filepath.Join(cfg.Data, "airlock.db"))
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		b.store, b.closes = s, append(b.closes, s.Close)
	} else {
		s, err := postgres.Open(ctx, cfg.Store)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		b.store, b.closes = s, append(b.closes, s.Close)
	}
	if cfg.Queue == "" {
		b.queue = memqueue.New()
	} else {
		q, err := redis.Open(ctx, cfg.Queue, redis.Options{Stream: cfg.Stream, LeaseTime: cfg.Lease})
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		b.queue, b.closes, b.shared, b.rates = q, append(b.closes, q.Close), true, q.Rates()
	}
	if cfg.Blobs == "" {
		s, err := localblob.Open(filepath.Join(cfg.Data, "blobs"))
		if err != nil {
			return nil, fmt.Errorf("blobs: %w", err)
		}
		b.blobs = s
		if cfg.Queue != "" {
			log.Warn("payloads above 64 KiB are kept in the local data directory: workers on other hosts cannot read them (use --blobs s3://…)", "data", cfg.Data)
		}
	} else {
		s, err := s3.Open(ctx, cfg.Blobs)
		if err != nil {
			return nil, fmt.Errorf("blobs: %w", err)
		}
		b.blobs = s
	}
	return b, nil
}
