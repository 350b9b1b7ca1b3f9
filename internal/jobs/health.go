package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock"
)

// DefaultMinFree is the free space of the data directory below which
// Health reports the disk full: SQLite, its journal and the blobs need
// room for a job before they fail, and a checkpoint needs more.
const DefaultMinFree = 64 << 20

// HealthTimeout bounds Health as a whole: a check without an answer by
// then is reported down, so the answer comes within a second whatever
// hangs.
const HealthTimeout = 800 * time.Millisecond

// Health is what the service depends on and whether it works.
type Health struct {
	Queued int // jobs waiting, when the queue answered
	// Checks maps each dependency (queue, store, blobs and, when there
	// is a data directory, disk) to "ok" or what is wrong with it.
	Checks map[string]string
}

// OK says whether every check passed.
func (h *Health) OK() bool {
	for _, v := range h.Checks {
		if v != "ok" {
			return false
		}
	}
	return true
}

// Down is the checks that failed, with what is wrong.
func (h *Health) Down() map[string]string {
	down := map[string]string{}
	for k, v := range h.Checks {
		if v != "ok" {
			down[k] = v
		}
	}
	return down
}

// Health checks the queue, the store, the blobs and the data directory's
// disk at once, and answers within HealthTimeout.
func (s *Service) Health(ctx context.Context) *Health {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	h := &Health{Checks: map[string]string{}}
	var mu sync.Mutex // guards h: a late check may still write to it
	checks := map[string]func(context.Context) error{
		"queue": func(ctx context.Context) error {
			n, err := s.queue.Len(ctx)
			mu.Lock()
			h.Queued = n
			mu.Unlock()
			return err
		},
		"store": func(ctx context.Context) error {
			_, err := s.store.Get(ctx, "healthz")
			return err
		},
		"blobs": func(ctx context.Context) error {
			_, err := s.blobs.Get(ctx, "healthz")
			return err
		},
	}
	if s.opt.DataDir != "" {
		checks["disk"] = func(context.Context) error { return diskRoom(s.opt.DataDir, s.opt.MinFree) }
	}
	done := make(chan struct{}, len(checks))
	for name, check := range checks {
		mu.Lock()
		h.Checks[name] = fmt.Sprintf("no answer within %v", HealthTimeout)
		mu.Unlock()
		go func() {
			// A check whose call outlives the deadline (a driver blind to
			// it) is left to finish on its own.
			err := check(ctx)
			mu.Lock()
			if err == nil || errors.Is(err, airlock.ErrNotFound) {
				h.Checks[name] = "ok"
			} else if ctx.Err() == nil {
				h.Checks[name] = err.Error()
			}
			mu.Unlock()
			done <- struct{}{}
		}()
	}
	for range checks {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	mu.Lock()
	defer mu.Unlock()
	out := &Health{Queued: h.Queued, Checks: map[string]string{}}
	for k, v := range h.Checks {
		out.Checks[k] = v
	}
	return out
}

// diskRoom says whether dir's file system has minFree bytes free and
// takes a write: a full disk fails every submission, and a read-only or
// broken one too.
func diskRoom(dir string, minFree int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	if free := int64(st.Bavail) * st.Bsize; free < minFree {
		return fmt.Errorf("full: %d bytes free in %s, below %d", free, dir, minFree)
	}
	f, err := os.CreateTemp(dir, ".healthz-*")
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}
