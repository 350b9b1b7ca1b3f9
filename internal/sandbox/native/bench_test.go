package native

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// BenchmarkOverhead runs bare exec and sandboxed exec of the same program
// alternately and reports their medians, p95s and the ratio, so both come
// from one run on one machine state:
//
//	go test -run '^$' -bench Overhead -benchtime 100x ./internal/sandbox/native/
func BenchmarkOverhead(b *testing.B) {
	programs := []struct {
		name string
		argv []string
	}{
		{"true", []string{"/bin/true"}},
		{"python-hello", []string{"/usr/bin/python3", "-c", "print('hello')"}},
	}
	for _, p := range programs {
		b.Run(p.name, func(b *testing.B) {
			r := runner(b)
			var bare, boxed []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := exec.Command(p.argv[0], p.argv[1:]...).Run(); err != nil {
					b.Fatal(err)
				}
				bare = append(bare, time.Since(t0))
				t0 = time.Now()
				res, err := r.Run(context.Background(), sandbox.Spec{Argv: p.argv, Env: []string{"PATH=/usr/bin"}})
				if err != nil || res.Status != airlock.StatusOK {
					b.Fatalf("%v %s %s", err, res.Status, res.Stderr)
				}
				boxed = append(boxed, time.Since(t0))
			}
			bm, bp := quantiles(bare)
			sm, sp := quantiles(boxed)
			b.ReportMetric(ms(bm), "bare-p50-ms")
			b.ReportMetric(ms(bp), "bare-p95-ms")
			b.ReportMetric(ms(sm), "sandbox-p50-ms")
			b.ReportMetric(ms(sp), "sandbox-p95-ms")
			b.ReportMetric(ms(sm-bm), "overhead-p50-ms")
			b.ReportMetric(float64(sm)/float64(bm), "ratio-p50")
		})
	}
}

func quantiles(d []time.Duration) (p50, p95 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*95/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkColdRun is the first run of a new Runner: starting the keeper
// (a new airlock process with fresh namespaces and root) is included.
func BenchmarkColdRun(b *testing.B) {
	runner(b) // removes stale state once, outside the timing
	var cold []time.Duration
	for b.Loop() {
		t0 := time.Now()
		r, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := r.Run(context.Background(), sandbox.Spec{Argv: []string{"/bin/true"}})
		if err != nil || res.Status != airlock.StatusOK {
			b.Fatalf("%v %s %s", err, res.Status, res.Stderr)
		}
		cold = append(cold, time.Since(t0))
		r.Close()
	}
	p50, p95 := quantiles(cold)
	b.ReportMetric(ms(p50), "cold-p50-ms")
	b.ReportMetric(ms(p95), "cold-p95-ms")
}
