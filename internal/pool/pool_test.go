package pool

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

type fake struct {
	closed atomic.Bool
}

func (f *fake) Run(context.Context, sandbox.Job) (sandbox.Result, error) {
	return sandbox.Result{}, nil
}
func (f *fake) Close()             { f.closed.Store(true) }
func (f *fake) MemoryBytes() int64 { return 1000 }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolRefillsAndCloses(t *testing.T) {
	var mu sync.Mutex
	var made []*fake
	p := New(3, 2, func(context.Context) (sandbox.Prepared, error) {
		f := &fake{}
		mu.Lock()
		made = append(made, f)
		mu.Unlock()
		return f, nil
	}, slog.New(slog.DiscardHandler))
	waitFor(t, "full", func() bool { return p.Stats().Ready == 3 })
	if s := p.Stats(); s.MemoryBytes != 3000 || s.Size != 3 {
		t.Errorf("stats %+v", s)
	}
	first := p.Get()
	if first == nil {
		t.Fatal("a full pool gave nothing")
	}
	mu.Lock()
	oldest := made[0]
	mu.Unlock()
	if first != oldest {
		t.Error("not the oldest first")
	}
	waitFor(t, "refilled", func() bool { return p.Stats().Ready == 3 })
	taken := map[sandbox.Prepared]bool{first: true}
	for range 3 {
		taken[p.Get()] = true
	}
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	for i, f := range made {
		if f.closed.Load() == taken[f] {
			t.Errorf("sandbox %d (handed out: %v) closed: %v", i, taken[f], f.closed.Load())
		}
	}
	if s := p.Stats(); s.Hits != 4 || s.Ready != 0 {
		t.Errorf("stats after close %+v", s)
	}
}

func TestPoolClosesIdle(t *testing.T) {
	var made []*fake
	var mu sync.Mutex
	p := New(2, 1, func(context.Context) (sandbox.Prepared, error) {
		f := &fake{}
		mu.Lock()
		made = append(made, f)
		mu.Unlock()
		return f, nil
	}, slog.New(slog.DiscardHandler))
	waitFor(t, "full", func() bool { return p.Stats().Ready == 2 })
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	for i, f := range made {
		if !f.closed.Load() {
			t.Errorf("idle sandbox %d left open", i)
		}
	}
}

func TestPoolMissesAndBacksOff(t *testing.T) {
	var calls atomic.Int64
	p := New(1, 1, func(context.Context) (sandbox.Prepared, error) {
		calls.Add(1)
		return nil, errors.New("no")
	}, slog.New(slog.DiscardHandler))
	defer p.Close()
	if p.Get() != nil {
		t.Fatal("a failing pool gave a sandbox")
	}
	time.Sleep(350 * time.Millisecond)
	// 100 ms, then 200 ms: about three tries, not hundreds.
	if n := calls.Load(); n < 2 || n > 4 {
		t.Errorf("%d tries in 350 ms", n)
	}
	if s := p.Stats(); s.Misses != 1 {
		t.Errorf("stats %+v", s)
	}
}
