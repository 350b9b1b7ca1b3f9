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

// TestPoolRefillsAndCloses: one builder at a time, so the order sandboxes
// are made in is the order they get ready in, oldest first.
func TestPoolRefillsAndCloses(t *testing.T) {
	var mu sync.Mutex
	var made []*fake
	p := New(3, 1, func(context.Context) (sandbox.Prepared, error) {
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
	first := p.Get(context.Background())
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
		taken[p.Get(context.Background())] = true
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
	if p.Get(context.Background()) != nil {
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

// TestPoolWaitsForOneStarting: with nothing ready, a caller takes a
// sandbox being prepared that nobody else waits for; a second caller runs
// cold at once; a caller that gives up leaves the sandbox to the pool.
func TestPoolWaitsForOneStarting(t *testing.T) {
	release := make(chan struct{})
	p := New(1, 1, func(ctx context.Context) (sandbox.Prepared, error) {
		select {
		case <-release:
			return &fake{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, slog.New(slog.DiscardHandler))
	defer p.Close()
	waitFor(t, "a preparation under way", func() bool { return starting(p) == 1 })
	got := make(chan sandbox.Prepared)
	go func() { got <- p.Get(context.Background()) }()
	waitFor(t, "a waiter", func() bool { return waiting(p) == 1 })
	start := time.Now()
	if p.Get(context.Background()) != nil || time.Since(start) > 100*time.Millisecond {
		t.Error("a second caller waited for the same sandbox")
	}
	release <- struct{}{}
	if <-got == nil {
		t.Fatal("the waiter got nothing")
	}
	// Next preparation: the caller gives up, the sandbox stays for later.
	waitFor(t, "the next preparation", func() bool { return starting(p) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if p.Get(ctx) != nil {
		t.Error("a caller whose context ended got a sandbox")
	}
	release <- struct{}{}
	waitFor(t, "the sandbox ready", func() bool { return p.Stats().Ready == 1 })
	if s := p.Stats(); s.Hits != 1 || s.Misses != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestPoolWaiterOfAFailure runs cold when the preparation it waited for
// fails.
func TestPoolWaiterOfAFailure(t *testing.T) {
	fail := make(chan struct{})
	p := New(1, 1, func(ctx context.Context) (sandbox.Prepared, error) {
		select {
		case <-fail:
		case <-ctx.Done():
		}
		return nil, errors.New("no")
	}, slog.New(slog.DiscardHandler))
	defer p.Close()
	waitFor(t, "a preparation under way", func() bool { return starting(p) == 1 })
	got := make(chan sandbox.Prepared)
	go func() { got <- p.Get(context.Background()) }()
	waitFor(t, "a waiter", func() bool { return waiting(p) == 1 })
	close(fail)
	if <-got != nil {
		t.Error("a failed preparation handed out a sandbox")
	}
}

// starting and waiting read how many sandboxes are being prepared and how
// many callers wait for them.
func starting(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starting
}

func waiting(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}
