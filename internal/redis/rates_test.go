package redis

import (
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testserver"
)

// Two processes (two Queues) take from one budget per key: the burst at
// once, then one per interval, whichever asks.
func TestRatesShared(t *testing.T) {
	t.Parallel()
	url, opt := testserver.Redis(t), names(t)
	a, b := open(t, url, opt).Rates(), open(t, url, opt).Rates()
	const rate, burst = 5, 3 // one per 200 ms
	take := func(r *Rates, id string) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := r.Take(t.Context(), id, rate, burst)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return ok, wait
	}
	for i, r := range []*Rates{a, b, a} {
		if ok, _ := take(r, "alice"); !ok {
			t.Fatalf("request %d of a burst of %d refused", i+1, burst)
		}
	}
	ok, wait := take(b, "alice")
	if ok || wait <= 0 || wait > 200*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %v (want a refusal and at most 200 ms to wait)", ok, wait)
	}
	if ok, _ := take(a, "bob"); !ok {
		t.Error("another key's budget was taken by alice")
	}
	time.Sleep(wait)
	if ok, _ := take(b, "alice"); !ok {
		t.Error("refused again after waiting as told")
	}
	if ok, _ := take(a, "alice"); ok {
		t.Error("a second request in the same interval was let in")
	}
}

func TestRatesRefusesNoRate(t *testing.T) {
	t.Parallel()
	r := open(t, testserver.Redis(t), names(t)).Rates()
	if _, _, err := r.Take(t.Context(), "alice", 0, 1); err == nil {
		t.Error("a rate of 0 was taken")
	}
}
