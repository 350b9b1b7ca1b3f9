package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// slowVersion answers every run as a version command would, slowly, and
// counts the runs.
type slowVersion struct{ runs atomic.Int32 }

func (r *slowVersion) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	r.runs.Add(1)
	time.Sleep(50 * time.Millisecond)
	return sandbox.Result{Status: airlock.StatusOK, Stdout: []byte("Python 3.11.2\n")}, nil
}

// A burst of first submissions of a language starts one version
// detection, not one sandbox each (a hundred at once stalled a service
// for half a minute), and a caller that gives up does not fail the
// others.
func TestVersionDetectedOnce(t *testing.T) {
	catalog, err := lang.Load("")
	if err != nil {
		t.Fatal(err)
	}
	l, err := catalog.Lookup("python")
	if err != nil {
		t.Fatal(err)
	}
	runner := &slowVersion{}
	e := New(runner, catalog, Options{})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Version(gone, l); err == nil {
		t.Error("a caller whose context ended got a version")
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if v, err := e.Version(context.Background(), l); err != nil || v != "3.11.2" {
				t.Errorf("version %q, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := runner.runs.Load(); n != 1 {
		t.Errorf("%d version runs, want 1", n)
	}
}
