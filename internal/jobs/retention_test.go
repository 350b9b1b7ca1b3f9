package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/localblob"
	"github.com/airlock-dev/airlock/internal/metrics"
)

// purges is a job store that records the size of each Purge.
type purges struct {
	airlock.JobStore
	mu    sync.Mutex
	sizes []int
}

func (p *purges) Purge(ctx context.Context, ids []string) (int, error) {
	p.mu.Lock()
	p.sizes = append(p.sizes, len(ids))
	p.mu.Unlock()
	return p.JobStore.Purge(ctx, ids)
}

// Purge removes the jobs that finished before the cutoff with their
// payloads (in the blob store here), counts them in the metric, and keeps
// later and unfinished jobs.
func TestPurgeExpired(t *testing.T) {
	dir := t.TempDir()
	m := metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	e := newEnvWith(t, dir, jobs.Options{Workers: 1, InlineMax: -1}, func(d *jobs.Deps) { d.Metrics = m })
	e.run(t)
	old := e.wait(t, e.submit(t, "out old").ID, "old\n")
	recent := e.wait(t, e.submit(t, "out recent").ID, "recent\n")
	unfinished := &airlock.Job{ID: "unfinished", Status: airlock.StatusQueued, Language: "python", CreatedAt: time.Unix(0, 0)}
	if err := e.store.Create(t.Context(), unfinished); err != nil {
		t.Fatal(err)
	}
	blobs, err := localblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	payloads := func(id string) (n int) {
		for _, key := range []string{"requests/" + id + ".json", "results/" + id + ".json"} {
			if _, err := blobs.Get(t.Context(), key); err == nil {
				n++
			}
		}
		return n
	}
	if payloads(old.ID) != 2 {
		t.Fatalf("the old job's payloads are not in the blob store")
	}

	n, err := e.svc.Purge(t.Context(), e.row(t, recent.ID).FinishedAt)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want the old job", n, err)
	}
	if _, err := e.svc.Get(t.Context(), old.ID); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get of a purged job: %v, want ErrNotFound", err)
	}
	if left := payloads(old.ID); left != 0 {
		t.Errorf("%d payloads of the purged job left in the blob store", left)
	}
	e.readBack(t, recent.ID, "out recent", "recent\n")
	if got := value(m.Purged); got != 1 {
		t.Errorf("airlock_jobs_purged_total = %v, want 1", got)
	}

	if n, err := e.svc.Purge(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("Purge of everything finished = %d, %v; want the recent job", n, err)
	}
	if j := e.row(t, unfinished.ID); j.Status != airlock.StatusQueued {
		t.Errorf("the unfinished job is %s", j.Status)
	}
	if got := value(m.Purged); got != 2 {
		t.Errorf("airlock_jobs_purged_total = %v, want 2", got)
	}
}

// However many jobs have expired, each purge step takes a bounded batch.
func TestPurgeInBatches(t *testing.T) {
	p := &purges{}
	e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) { p.JobStore = d.Store; d.Store = p })
	const total = 450
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range total {
		j := &airlock.Job{ID: "job-" + string(rune('a'+i%26)) + time.Duration(i).String(), Status: airlock.StatusQueued, Language: "python", CreatedAt: at}
		if err := e.store.Create(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Cancel(t.Context(), j.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.svc.Purge(t.Context(), at.Add(time.Second))
	if err != nil || n != total {
		t.Fatalf("Purge = %d, %v; want %d", n, err, total)
	}
	for _, size := range p.sizes {
		if size > 200 {
			t.Errorf("a purge step of %d jobs: %v", size, p.sizes)
		}
	}
	if len(p.sizes) < 3 {
		t.Errorf("purge steps %v, want batches", p.sizes)
	}
}

// RunRetention purges what is past the retention as it starts, and with
// a retention of 0 keeps everything and returns at once.
func TestRunRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		keep := newEnv(t, dir, jobs.Options{Workers: 1})
		keep.run(t)
		j := keep.wait(t, keep.submit(t, "out 1").ID, "1\n")
		keep.svc.RunRetention(t.Context()) // returns: nothing to do
		keep.row(t, j.ID)

		time.Sleep(time.Second) // past the retention, on the bubble's clock
		purge := newEnv(t, dir, jobs.Options{Workers: 1, Retention: time.Nanosecond})
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			purge.svc.RunRetention(ctx)
			close(done)
		}()
		defer func() {
			stop()
			<-done
		}()
		synctest.Wait()
		if _, err := purge.store.Get(t.Context(), j.ID); !errors.Is(err, airlock.ErrNotFound) {
			t.Fatalf("RunRetention did not purge a job past its retention: %v", err)
		}
	})
}

// An idempotency key holds across a restart: it lives in the store.
func TestIdempotencyAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	req := airlock.Request{Language: "python", Files: []airlock.File{{Name: "main.py", Content: []byte(`print(1)`)}}}
	meta := jobs.Meta{KeyID: "alice", IdempotencyKey: "k"}
	first, err := newEnv(t, dir, jobs.Options{Workers: 1}).svc.Submit(t.Context(), req, meta)
	if err != nil {
		t.Fatal(err)
	}
	after := newEnv(t, dir, jobs.Options{Workers: 1})
	again, err := after.svc.Submit(t.Context(), req, meta)
	if err != nil || again.ID != first.ID {
		t.Errorf("retry after a restart: %v, %v; want job %s", again, err, first.ID)
	}
	req.Files[0].Content = []byte(`print(2)`)
	if _, err := after.svc.Submit(t.Context(), req, meta); !errors.Is(err, jobs.ErrIdempotencyMismatch) {
		t.Errorf("another request with the key after a restart: %v, want ErrIdempotencyMismatch", err)
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
