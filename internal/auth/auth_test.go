package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeRates answers Take as told and records what it was asked.
type fakeRates struct {
	ok    bool
	err   error
	asked []string
}

func (f *fakeRates) Take(_ context.Context, id string, rate float64, burst int) (bool, time.Duration, error) {
	f.asked = append(f.asked, id)
	if rate != 2 || burst != 3 {
		return false, 0, errors.New("wrong budget")
	}
	return f.ok, time.Second, f.err
}

func TestSharedRates(t *testing.T) {
	ring, err := NewKeyring([]Key{
		{ID: "limited", SHA256: HashToken("a"), Rate: 2, Burst: 3},
		{ID: "free", SHA256: HashToken("b")},
	})
	if err != nil {
		t.Fatal(err)
	}
	shared := &fakeRates{ok: false}
	var log bytes.Buffer
	ring.ShareRates(shared, slog.New(slog.NewTextHandler(&log, nil)))
	limited, free := &ring.keys[0], &ring.keys[1]
	if ok, wait := ring.Allow(t.Context(), limited); ok || wait != time.Second {
		t.Errorf("the shared store's refusal: ok %v, wait %v", ok, wait)
	}
	if ok, _ := ring.Allow(t.Context(), free); !ok || len(shared.asked) != 1 {
		t.Errorf("a key without a rate: ok %v, store asked %v", ok, shared.asked)
	}
	// The store fails: this process limits alone, its burst of 3 first.
	shared.err = errors.New("connection refused")
	for i := range 4 {
		if ok, _ := ring.Allow(t.Context(), limited); ok != (i < 3) {
			t.Errorf("request %d with the store down: ok %v", i+1, ok)
		}
	}
	if n := strings.Count(log.String(), "unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log.String())
	}
	shared.err, shared.ok = nil, true
	if ok, _ := ring.Allow(t.Context(), limited); !ok || !strings.Contains(log.String(), "are back") {
		t.Errorf("store back: ok %v, log:\n%s", ok, log.String())
	}
}
