package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/queuetest"
	"github.com/airlock-dev/airlock/internal/testserver"
	goredis "github.com/redis/go-redis/v9"
)

// The stream of the queue before routing is drained after an upgrade:
// the entries waiting in it, one whose old worker died holding it, and
// one an old API node pushes during a rolling upgrade all go to a new
// worker, whatever it serves. A deployment that never had the stream does
// not get one.
func TestLegacyStreamDrained(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	c := raw(t, url)
	opt := names(t)
	opt.LeaseTime = leaseTime
	ctx := t.Context()
	// The old queue: its group, an entry taken by a worker that died, one
	// waiting.
	if err := c.XGroupCreateMkStream(ctx, opt.Stream, opt.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	oldPush := func(id string) {
		t.Helper()
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: opt.Stream, Values: []any{jobField, id}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	oldPush("old-held")
	if err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: opt.Group, Consumer: "old-worker", Streams: []string{opt.Stream, ">"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	oldPush("old-waiting")

	q := open(t, url, opt)
	if n := queuetest.Len(t, q); n != 1 {
		t.Errorf("Len = %d, want 1 (old-waiting)", n)
	}
	oldPush("old-late") // an old API node, still running
	got := map[string]bool{}
	for range 3 {
		l := queuetest.TakeFrom(t, q, queuetest.Other) // serves something else entirely
		got[l.JobID()] = true
		if err := l.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"old-held", "old-waiting", "old-late"} {
		if !got[id] {
			t.Errorf("%s was not drained: got %v", id, got)
		}
	}
	if n, err := c.XLen(ctx, opt.Stream).Result(); err != nil || n != 0 {
		t.Errorf("XLEN of the old stream = %d, %v; want 0", n, err)
	}

	fresh := names(t)
	f := open(t, url, fresh)
	queuetest.Push(t, f, "new")
	if l := queuetest.Take(t, f); l.JobID() != "new" {
		t.Fatalf("Pop = %s, want new", l.JobID())
	}
	if n, err := c.Exists(ctx, fresh.Stream).Result(); err != nil || n != 0 {
		t.Errorf("a new deployment has the old queue's stream (%d, %v)", n, err)
	}
}

// An entry a read brings beyond the one it takes (COUNT is per stream)
// goes back to its stream for any worker, not held by this one.
func TestExtraEntryGivenBack(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	opt := names(t)
	q, other := open(t, url, opt), open(t, url, opt)
	both := []string{queuetest.Capability, queuetest.Other}
	queuetest.PushFor(t, q, queuetest.Capability, "a")
	queuetest.PushFor(t, q, queuetest.Other, "b")
	streams := q.streams(both)
	if err := q.ensureGroups(t.Context(), streams); err != nil {
		t.Fatal(err)
	}
	l, err := q.readNew(t.Context(), streams)
	if err != nil || l == nil {
		t.Fatalf("readNew: %v %v", l, err)
	}
	want := map[string]string{"a": "b", "b": "a"}[l.JobID()]
	if want == "" {
		t.Fatalf("readNew took %q", l.JobID())
	}
	if n := queuetest.Len(t, q); n != 1 {
		t.Errorf("Len = %d, want 1: the other entry waits again", n)
	}
	again := queuetest.TakeFrom(t, other, both...)
	if again.JobID() != want || again.Retaken() {
		t.Fatalf("the other consumer took %s (retaken %v), want %s at once", again.JobID(), again.Retaken(), want)
	}
	for _, done := range []interface{ Ack(context.Context) error }{l, again} {
		if err := done.Ack(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// A worker serving two capabilities with jobs waiting in both takes from
// each in turn: one capability's backlog does not starve the other.
func TestCapabilitiesTakeTurns(t *testing.T) {
	t.Parallel()
	opt := names(t)
	q := open(t, testserver.Redis(t), opt)
	for i := range 5 {
		queuetest.PushFor(t, q, queuetest.Capability, fmt.Sprint("a", i))
		queuetest.PushFor(t, q, queuetest.Other, fmt.Sprint("b", i))
	}
	seen := map[byte]int{}
	for range 4 {
		l := queuetest.TakeFrom(t, q, queuetest.Capability, queuetest.Other)
		seen[l.JobID()[0]]++
		l.Ack(t.Context())
	}
	if seen['a'] != 2 || seen['b'] != 2 {
		t.Errorf("four takes: %d of a, %d of b; want 2 and 2", seen['a'], seen['b'])
	}
}

// A capability's set of live nodes goes away once no node refreshes it:
// nodes that stopped leave nothing behind.
func TestLiveSetExpires(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	opt := names(t)
	q := open(t, url, opt)
	c := raw(t, url)
	if err := q.Announce(t.Context(), "n", []string{queuetest.Capability}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	key := q.liveKey(queuetest.Capability)
	if ttl, err := c.PTTL(t.Context(), key).Result(); err != nil || ttl <= 0 || ttl > 200*time.Millisecond {
		t.Fatalf("PTTL %s = %v, %v", key, ttl, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, err := c.Exists(t.Context(), key).Result(); err != nil || n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there", key)
		}
	}
}
