package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	var calls, running, most atomic.Int64
	op := func(context.Context) error {
		n := calls.Add(1)
		cur := running.Add(1)
		defer running.Add(-1)
		for old := most.Load(); cur > old && !most.CompareAndSwap(old, cur); old = most.Load() {
		}
		if n == 100 {
			time.Sleep(50 * time.Millisecond) // one slow call: only p99 sees it
		} else {
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	s, err := Measure(context.Background(), 100, 4, op)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 100 || s.N != 100 || most.Load() != 4 {
		t.Fatalf("calls %d, n %d, most at once %d", calls.Load(), s.N, most.Load())
	}
	if s.P50 >= 20*time.Millisecond || s.P95 >= 20*time.Millisecond || s.P99 < 50*time.Millisecond {
		t.Errorf("quantiles %v %v %v", s.P50, s.P95, s.P99)
	}
	// 100 calls of ≥2 ms, 4 at a time: at most ~2000 per second.
	if s.PerSecond <= 0 || s.PerSecond > 2000 {
		t.Errorf("throughput %.0f/s", s.PerSecond)
	}
}

func TestMeasureStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	_, err := Measure(context.Background(), 1000, 2, func(context.Context) error {
		if calls.Add(1) == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 10 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	if _, err := Measure(context.Background(), 0, 1, nil); err == nil {
		t.Fatal("n 0 accepted")
	}
}

func TestMeasurePaced(t *testing.T) {
	var readies, calls atomic.Int64
	ready := func(context.Context) error {
		readies.Add(1)
		time.Sleep(5 * time.Millisecond) // not counted
		return nil
	}
	op := func(context.Context) error {
		if calls.Add(1) != readies.Load() {
			t.Error("a call did not wait for ready")
		}
		time.Sleep(time.Millisecond)
		return nil
	}
	s, err := MeasurePaced(context.Background(), 20, ready, op)
	if err != nil || s.N != 20 || calls.Load() != 20 || s.PerSecond != 0 {
		t.Fatalf("%v %+v calls %d", err, s, calls.Load())
	}
	if s.P50 < time.Millisecond || s.P50 >= 5*time.Millisecond {
		t.Errorf("p50 %v counts the waits", s.P50)
	}
	boom := errors.New("boom")
	if _, err := MeasurePaced(context.Background(), 5, func(context.Context) error { return boom }, op); !errors.Is(err, boom) {
		t.Errorf("ready's error: %v", err)
	}
}
