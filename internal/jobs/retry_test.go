package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// flaky is a job store whose first Start calls fail as a lost server's.
type flaky struct {
	airlock.JobStore
	fails atomic.Int64
}

func (f *flaky) Start(ctx context.Context, id string, at time.Time, retake bool) (*airlock.Job, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("dial tcp: connection refused")
	}
	return f.JobStore.Start(ctx, id, at, retake)
}

// A worker retries the start of a job while the store is lost, backing
// off, and runs it once the store is back.
func TestStartRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flaky{}
		store.fails.Store(3)
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) { store.JobStore = d.Store; d.Store = store })
		e.run(t)
		start := time.Now()
		e.wait(t, e.submit(t, "out hi").ID, "hi\n")
		// Backoff of 100, 200 and 400 ms between the four calls.
		if took := time.Since(start); took != 700*time.Millisecond {
			t.Errorf("the job ran after %v, want 700ms of backoff", took)
		}
	})
}
