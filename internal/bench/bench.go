// Package bench measures how long an operation takes and how many of it
// run per second at a given concurrency: the numbers `airlock bench`
// prints side by side for bare exec, the sandbox and the HTTP service.
package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Stats summarise n timed calls.
type Stats struct {
	N             int
	P50, P95, P99 time.Duration
	PerSecond     float64 // completed calls per second of wall time
}

// Measure calls op n times, concurrency calls at a time, and summarises
// the latencies. The first error stops it; ctx bounds it.
func Measure(ctx context.Context, n, concurrency int, op func(context.Context) error) (Stats, error) {
	if n <= 0 || concurrency <= 0 {
		return Stats{}, fmt.Errorf("bench: n %d and concurrency %d must be positive", n, concurrency)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	latencies := make([]time.Duration, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	start := time.Now()
	for range min(concurrency, n) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := op(ctx)
				latencies[i] = time.Since(t0)
				if err != nil {
					once.Do(func() { firstErr = err })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Stats{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	s := summarize(latencies)
	s.PerSecond = float64(n) / elapsed.Seconds()
	return s, nil
}

// MeasurePaced calls op n times, one at a time, each once ready has
// returned, and summarises the latencies of op alone: what a call costs
// when it finds the system ready for it. The rate is set by the pacing,
// so PerSecond is zero.
func MeasurePaced(ctx context.Context, n int, ready, op func(context.Context) error) (Stats, error) {
	if n <= 0 {
		return Stats{}, fmt.Errorf("bench: n %d must be positive", n)
	}
	latencies := make([]time.Duration, n)
	for i := range latencies {
		if err := ready(ctx); err != nil {
			return Stats{}, err
		}
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return Stats{}, err
		}
		latencies[i] = time.Since(t0)
	}
	return summarize(latencies), nil
}

func summarize(latencies []time.Duration) Stats {
	n := len(latencies)
	slices.Sort(latencies)
	at := func(q float64) time.Duration { return latencies[min(int(q*float64(n)), n-1)] }
	return Stats{N: n, P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}
