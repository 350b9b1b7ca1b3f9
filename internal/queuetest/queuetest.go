// Package queuetest is the contract every airlock.Queue must keep, written
// once so that each implementation (the embedded memqueue, the Redis
// queue) runs the same checks. It tests what the jobs service relies on:
// order, blocking, waking, cancellation, delivery to one worker at a time,
// leases, routing by capability and the announcements of live workers;
// not how a queue keeps its ids.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

// Options say what a queue does beyond what every queue must.
type Options struct {
	// Leases, when set, says that the queue's leases run out, and runs the
	// subtests of that. Nil for a queue whose leases never run out
	// (memqueue: its only taker is its own process, which it dies with).
	Leases *Leases
}

// Leases describe a queue whose leases run out.
type Leases struct {
	// Time is the lease time of the queues Open returns: short (a few
	// hundred milliseconds), as the subtests wait for leases to run out.
	Time time.Duration
	// Open returns n handles on one new, empty queue with leases of Time,
	// each as a separate worker process would have it (a consumer of its
	// own), so a lease held by one is not the others'.
	Open func(t *testing.T, n int) []airlock.Queue
}

// Run runs the Queue contract as subtests of t. open is called once per
// subtest and must return a new, empty queue, whose leases (if they run
// out) last far longer than a subtest: the general subtests must not see
// a job come back because a busy machine was slow to ack it.
func Run(t *testing.T, open func(t *testing.T) airlock.Queue, opt Options) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, q airlock.Queue)
	}{
		{"FIFOAndLen", testFIFOAndLen},
		{"PopBlocksUntilPush", testPopBlocksUntilPush},
		{"ManyWaiters", testManyWaiters},
		{"PopReturnsOnCancel", testPopReturnsOnCancel},
		{"ConcurrentProducersConsumers", testConcurrentProducersConsumers},
		{"OrderPerProducer", testOrderPerProducer},
		{"LeaseHeld", testLeaseHeld},
		{"AckRemoves", testAckRemoves},
		{"RoutesByCapability", testRoutesByCapability},
		{"WaitersByCapability", testWaitersByCapability},
		{"OrderPerCapability", testOrderPerCapability},
		{"Announce", testAnnounce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
	if l := opt.Leases; l != nil {
		leaseTests := []struct {
			name string
			fn   func(t *testing.T, l *Leases)
		}{
			{"LeaseRunsOut", testLeaseRunsOut},
			{"ExtendKeepsLease", testExtendKeepsLease},
			{"AckedNeverComesBack", testAckedNeverComesBack},
			{"DeadWorkerJobsAllComeBack", testDeadWorkerJobsAllComeBack},
			{"ExpiredStaysWithItsCapability", testExpiredStaysWithItsCapability},
		}
		for _, tc := range leaseTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, l)
			})
		}
	}
}

// wait bounds every wait for something that should happen: generous, so
// a loaded machine does not fail a test, and reached only when it fails.
const wait = 10 * time.Second

// Capability is the capability of the jobs that Push pushes and Take
// takes: a language's id, as the service's are.
const Capability = "python"

// Other is a second capability, for the subtests of routing.
const Other = "env:other"

// served are the capabilities of a consumer that serves only Capability.
var served = []string{Capability}

// Push pushes ids for Capability, failing t on an error.
func Push(t *testing.T, q airlock.Queue, ids ...string) {
	t.Helper()
	PushFor(t, q, Capability, ids...)
}

// PushFor pushes ids for a capability, failing t on an error.
func PushFor(t *testing.T, q airlock.Queue, capability string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := q.Push(t.Context(), capability, id); err != nil {
			t.Fatalf("Push(%s, %s): %v", capability, id, err)
		}
	}
}

// Take pops a lease of Capability, failing t if none comes within a
// generous wait.
func Take(t *testing.T, q airlock.Queue) airlock.Lease {
	t.Helper()
	return TakeFrom(t, q, served...)
}

// TakeFrom pops a lease of one of capabilities, failing t if none comes
// within a generous wait.
func TakeFrom(t *testing.T, q airlock.Queue, capabilities ...string) airlock.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	l, err := q.Pop(ctx, capabilities)
	if err != nil {
		t.Fatalf("Pop(%v): %v", capabilities, err)
	}
	return l
}

// pop pops an id and acks it.
func pop(t *testing.T, q airlock.Queue) string {
	t.Helper()
	l := Take(t, q)
	ack(t, l)
	return l.JobID()
}

func ack(t *testing.T, l airlock.Lease) {
	t.Helper()
	if err := l.Ack(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("Ack(%s): %v", l.JobID(), err)
	}
}

// popNothing checks that no Pop of Capability returns within d.
func popNothing(t *testing.T, q airlock.Queue, d time.Duration) {
	t.Helper()
	popNothingFrom(t, q, served, d)
}

// popNothingFrom checks that no Pop of capabilities returns within d.
func popNothingFrom(t *testing.T, q airlock.Queue, capabilities []string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	l, err := q.Pop(ctx, capabilities)
	if err == nil {
		t.Fatalf("Pop(%v) returned %s, want nothing within %v", capabilities, l.JobID(), d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop(%v): %v, want DeadlineExceeded", capabilities, err)
	}
}

// KeepExtending extends leases every period, as a live worker does, until
// the returned func is called; it returns once the extending has stopped.
func KeepExtending(t *testing.T, every time.Duration, leases ...airlock.Lease) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				for _, l := range leases {
					if err := l.Extend(t.Context()); err != nil {
						t.Errorf("Extend(%s): %v", l.JobID(), err)
					}
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// Len reads the queue's length, failing t on an error.
func Len(t *testing.T, q airlock.Queue) int {
	t.Helper()
	n, err := q.Len(t.Context())
	if err != nil {
		t.Fatalf("Len: %v", err)
	}
	return n
}

func testFIFOAndLen(t *testing.T, q airlock.Queue) {
	if n := Len(t, q); n != 0 {
		t.Fatalf("Len of a new queue = %d", n)
	}
	Push(t, q, "a", "b", "c")
	if n := Len(t, q); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if id := pop(t, q); id != "a" {
		t.Fatalf("Pop = %s, want a", id)
	}
	Push(t, q, "d", "a") // the same id twice is two entries
	for i, want := range []string{"b", "c", "d", "a"} {
		if n := Len(t, q); n != 4-i {
			t.Errorf("Len = %d, want %d", n, 4-i)
		}
		if id := pop(t, q); id != want {
			t.Fatalf("Pop = %s, want %s", id, want)
		}
	}
	if n := Len(t, q); n != 0 {
		t.Fatalf("Len of a drained queue = %d", n)
	}
}

func testPopBlocksUntilPush(t *testing.T, q airlock.Queue) {
	got := make(chan string, 1)
	go func() {
		l, err := q.Pop(t.Context(), served)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		l.Ack(context.WithoutCancel(t.Context()))
		got <- l.JobID()
	}()
	select {
	case id := <-got:
		t.Fatalf("Pop on an empty queue returned %q", id)
	case <-time.After(100 * time.Millisecond):
	}
	Push(t, q, "x")
	select {
	case id := <-got:
		if id != "x" {
			t.Fatalf("Pop = %q, want x", id)
		}
	case <-time.After(wait):
		t.Fatal("Pop did not return after Push")
	}
	if n := Len(t, q); n != 0 {
		t.Errorf("Len = %d after the waiter took the only id", n)
	}
}

// Several blocked waiters each get one of several pushes: no wake-up is
// lost when pushes come faster than waiters wake.
func testManyWaiters(t *testing.T, q airlock.Queue) {
	const n = 8
	got := make(chan string, n)
	for range n {
		go func() {
			l, err := q.Pop(t.Context(), served)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			l.Ack(context.WithoutCancel(t.Context()))
			got <- l.JobID()
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them block
	for i := range n {
		Push(t, q, fmt.Sprint(i))
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-got:
			if seen[id] {
				t.Fatalf("%q popped twice", id)
			}
			seen[id] = true
		case <-time.After(wait):
			t.Fatalf("only %d of %d waiters woke: %v", len(seen), n, seen)
		}
	}
	for i := range n {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("%d was not popped: %v", i, seen)
		}
	}
}

func testPopReturnsOnCancel(t *testing.T, q airlock.Queue) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := q.Pop(ctx, served)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Pop after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("Pop did not return after its context ended")
	}

	// A deadline ends the wait too, and on time.
	start := time.Now()
	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := q.Pop(ctx, served); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop with a deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Pop with a deadline of 100ms returned after %v", d)
	}

	// An ended context does not wait at all.
	if _, err := q.Pop(ctx, served); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop with an expired context: %v, want DeadlineExceeded", err)
	}

	// The abandoned waits took nothing: a later push is there for the next
	// Pop, and counted until then.
	Push(t, q, "after")
	if n := Len(t, q); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	if id := pop(t, q); id != "after" {
		t.Fatalf("Pop = %q, want after", id)
	}
}

// Every id pushed by concurrent producers is delivered to exactly one of
// concurrent consumers, which ack it at once.
func testConcurrentProducersConsumers(t *testing.T, q airlock.Queue) {
	const producers, consumers, perProducer = 8, 8, 500
	ctx, stop := context.WithCancel(t.Context())
	defer stop()

	var consumed sync.WaitGroup
	results := make(chan map[string]int, consumers)
	for range consumers {
		consumed.Go(func() {
			got := map[string]int{}
			defer func() { results <- got }()
			for {
				l, err := q.Pop(ctx, served)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("Pop: %v", err)
					}
					return
				}
				got[l.JobID()]++
				if err := l.Ack(context.WithoutCancel(ctx)); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		})
	}
	var produced sync.WaitGroup
	for p := range producers {
		produced.Go(func() {
			for i := range perProducer {
				if err := q.Push(ctx, Capability, fmt.Sprintf("%d-%d", p, i)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	produced.Wait()
	deadline := time.Now().Add(wait)
	for Len(t, q) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("consumers stalled with %d ids left", Len(t, q))
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Len is 0, but the last Pops may not have been counted yet; ending
	// ctx only stops consumers waiting on an empty queue.
	stop()
	consumed.Wait()
	close(results)

	total := map[string]int{}
	for got := range results {
		for id, n := range got {
			total[id] += n
		}
	}
	for p := range producers {
		for i := range perProducer {
			id := fmt.Sprintf("%d-%d", p, i)
			if total[id] != 1 {
				t.Errorf("%s popped %d times, want 1", id, total[id])
			}
		}
	}
	if len(total) != producers*perProducer {
		t.Errorf("%d distinct ids popped, want %d", len(total), producers*perProducer)
	}
}

// Per producer, ids come out in the order they went in.
func testOrderPerProducer(t *testing.T, q airlock.Queue) {
	const producers, perProducer = 4, 200
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				if err := q.Push(t.Context(), Capability, fmt.Sprintf("%d %d", p, i)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make([]int, producers)
	for range producers * perProducer {
		var p, i int
		if _, err := fmt.Sscanf(pop(t, q), "%d %d", &p, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got item %d, want %d", p, i, next[p])
		}
		next[p]++
	}
}

// A job taken is not waiting any more, and is no one else's while its
// lease is held; Extend keeps it.
func testLeaseHeld(t *testing.T, q airlock.Queue) {
	Push(t, q, "held", "next")
	l := Take(t, q)
	if l.JobID() != "held" {
		t.Fatalf("Pop = %s, want held", l.JobID())
	}
	if l.Retaken() {
		t.Errorf("a job taken for the first time says Retaken")
	}
	if n := Len(t, q); n != 1 {
		t.Errorf("Len = %d with one job taken of two, want 1", n)
	}
	for range 3 {
		if err := l.Extend(t.Context()); err != nil {
			t.Fatalf("Extend: %v", err)
		}
	}
	if id := pop(t, q); id != "next" {
		t.Fatalf("Pop = %s, want next: the held job is leased", id)
	}
	popNothing(t, q, 200*time.Millisecond)
	ack(t, l)
	if n := Len(t, q); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

// An acked job is gone: not counted, not popped again.
func testAckRemoves(t *testing.T, q airlock.Queue) {
	Push(t, q, "x")
	if id := pop(t, q); id != "x" { // acked
		t.Fatalf("Pop = %s, want x", id)
	}
	if n := Len(t, q); n != 0 {
		t.Errorf("Len = %d after the only job was acked", n)
	}
	popNothing(t, q, 200*time.Millisecond)
	Push(t, q, "y")
	if id := pop(t, q); id != "y" {
		t.Fatalf("Pop = %s, want y", id)
	}
}

// A job taken by a worker that dies (never acks nor extends) comes back to
// another, once its lease ran out and not before.
func testLeaseRunsOut(t *testing.T, l *Leases) {
	w := l.Open(t, 2)
	Push(t, w[0], "j")
	dead := Take(t, w[0])
	taken := time.Now()
	if dead.JobID() != "j" {
		t.Fatalf("Pop = %s, want j", dead.JobID())
	}
	if dead.Retaken() {
		t.Errorf("the first delivery of j says Retaken")
	}
	popNothing(t, w[1], l.Time/2) // not before the lease ran out
	again := Take(t, w[1])
	if again.JobID() != "j" {
		t.Fatalf("Pop = %s, want j again", again.JobID())
	}
	if !again.Retaken() {
		t.Errorf("j taken again after its lease ran out does not say Retaken")
	}
	// Measured here, from after the delivery's reply: a little less than
	// the server's idle time.
	if d := time.Since(taken); d < l.Time*9/10 {
		t.Fatalf("j came back after %v, before its lease of %v ran out", d, l.Time)
	}
	if n := Len(t, w[1]); n != 0 {
		t.Errorf("Len = %d with the job taken again, want 0", n)
	}
	ack(t, again)
	popNothing(t, w[0], 3*l.Time/2) // time enough to come back, were it not acked
}

// A lease extended in time does not run out, however long the job runs;
// it runs out once its worker stops extending it.
func testExtendKeepsLease(t *testing.T, l *Leases) {
	w := l.Open(t, 2)
	Push(t, w[0], "long")
	held := Take(t, w[0])
	stop := KeepExtending(t, l.Time/5, held)
	popNothing(t, w[1], 3*l.Time)
	stop()
	stoppedAt := time.Now()
	again := Take(t, w[1])
	if again.JobID() != "long" {
		t.Fatalf("Pop = %s, want long", again.JobID())
	}
	if d := time.Since(stoppedAt); d < l.Time/2 {
		t.Errorf("the job came back %v after its last extension, lease time %v", d, l.Time)
	}
	ack(t, again)
}

// An acked job stays gone after its lease time, for every worker.
func testAckedNeverComesBack(t *testing.T, l *Leases) {
	w := l.Open(t, 2)
	Push(t, w[0], "done")
	ack(t, Take(t, w[0]))
	ctx, cancel := context.WithTimeout(t.Context(), 2*l.Time)
	defer cancel()
	var wg sync.WaitGroup
	for _, q := range w {
		wg.Go(func() {
			if l, err := q.Pop(ctx, served); err == nil {
				t.Errorf("Pop returned %s, acked before", l.JobID())
			}
		})
	}
	wg.Wait()
	if n := Len(t, w[0]); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

// Every job of a worker that died holding several of two capabilities
// comes back, each once, and with the jobs pushed since, to the workers
// that live.
func testDeadWorkerJobsAllComeBack(t *testing.T, l *Leases) {
	w := l.Open(t, 3)
	const held = 6
	both := []string{Capability, Other}
	for i := range held {
		PushFor(t, w[0], both[i%2], fmt.Sprint("dead-", i))
	}
	for range held {
		TakeFrom(t, w[0], both...) // and die
	}
	for i := range held {
		PushFor(t, w[0], both[i%2], fmt.Sprint("new-", i))
	}
	var (
		mu  sync.Mutex
		got = map[string]int{}
		wg  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for _, q := range w[1:] {
		wg.Go(func() {
			for {
				mu.Lock()
				done := len(got) == 2*held
				mu.Unlock()
				if done {
					return
				}
				// Short waits, so a worker sees when the other got the last.
				pctx, pcancel := context.WithTimeout(ctx, l.Time)
				lease, err := q.Pop(pctx, both)
				pcancel()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Pop: %v", err)
						return
					}
					continue
				}
				mu.Lock()
				got[lease.JobID()]++
				mu.Unlock()
				if err := lease.Ack(ctx); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for _, prefix := range []string{"dead-", "new-"} {
		for i := range held {
			if id := fmt.Sprint(prefix, i); got[id] != 1 {
				t.Errorf("%s popped %d times, want 1", id, got[id])
			}
		}
	}
}

// A job whose lease ran out comes back only to a worker that serves its
// capability.
func testExpiredStaysWithItsCapability(t *testing.T, l *Leases) {
	w := l.Open(t, 3)
	PushFor(t, w[0], Other, "j")
	TakeFrom(t, w[0], Other) // and die
	popNothing(t, w[1], 2*l.Time)
	again := TakeFrom(t, w[2], Capability, Other)
	if again.JobID() != "j" || !again.Retaken() {
		t.Fatalf("Pop = %s (retaken %v), want j again", again.JobID(), again.Retaken())
	}
	ack(t, again)
}

// A job goes only to a consumer that serves its capability; Len counts
// the jobs of every capability.
func testRoutesByCapability(t *testing.T, q airlock.Queue) {
	PushFor(t, q, Capability, "a1")
	PushFor(t, q, Other, "b1")
	if n := Len(t, q); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	popNothingFrom(t, q, []string{"nobody's"}, 200*time.Millisecond)
	if l := TakeFrom(t, q, Other); l.JobID() != "b1" {
		t.Fatalf("Pop(%s) = %s, want b1", Other, l.JobID())
	} else {
		ack(t, l)
	}
	popNothingFrom(t, q, []string{Other}, 200*time.Millisecond) // a1 is not Other's
	if n := Len(t, q); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	if l := TakeFrom(t, q, Other, Capability); l.JobID() != "a1" {
		t.Fatalf("Pop(%s, %s) = %s, want a1", Other, Capability, l.JobID())
	} else {
		ack(t, l)
	}
	if n := Len(t, q); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

// A push wakes a waiter that serves its capability, not one that does
// not, whose wait goes on for a push of its own.
func testWaitersByCapability(t *testing.T, q airlock.Queue) {
	waiter := func(capabilities ...string) <-chan string {
		got := make(chan string, 1)
		go func() {
			l, err := q.Pop(t.Context(), capabilities)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			l.Ack(context.WithoutCancel(t.Context()))
			got <- l.JobID()
		}()
		return got
	}
	otherOnly, both := waiter(Other), waiter(Capability, Other)
	time.Sleep(50 * time.Millisecond) // let them block
	PushFor(t, q, Capability, "x")
	select {
	case id := <-both:
		if id != "x" {
			t.Fatalf("the waiter serving both got %q, want x", id)
		}
	case <-time.After(wait):
		t.Fatal("the waiter serving both did not wake")
	}
	select {
	case id := <-otherOnly:
		t.Fatalf("the waiter serving only %s got %q", Other, id)
	case <-time.After(200 * time.Millisecond):
	}
	PushFor(t, q, Other, "y")
	select {
	case id := <-otherOnly:
		if id != "y" {
			t.Fatalf("the waiter serving only %s got %q, want y", Other, id)
		}
	case <-time.After(wait):
		t.Fatalf("the waiter serving only %s did not wake", Other)
	}
}

// A consumer serving two capabilities takes each one's jobs in the order
// they were pushed.
func testOrderPerCapability(t *testing.T, q airlock.Queue) {
	const n = 20
	for i := range n {
		PushFor(t, q, Capability, fmt.Sprint("a ", i))
		PushFor(t, q, Other, fmt.Sprint("b ", i))
	}
	next := map[string]int{}
	for range 2 * n {
		l := TakeFrom(t, q, Capability, Other)
		ack(t, l)
		var c string
		var i int
		if _, err := fmt.Sscanf(l.JobID(), "%s %d", &c, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[c] {
			t.Fatalf("%s: got item %d, want %d", c, i, next[c])
		}
		next[c]++
	}
}

// servedNow says what Served says of a capability, failing t on an error.
func servedNow(t *testing.T, q airlock.Queue, capability string) bool {
	t.Helper()
	ok, err := q.Served(t.Context(), capability)
	if err != nil {
		t.Fatalf("Served(%s): %v", capability, err)
	}
	return ok
}

func announce(t *testing.T, q airlock.Queue, node string, ttl time.Duration, capabilities ...string) {
	t.Helper()
	if err := q.Announce(t.Context(), node, capabilities, ttl); err != nil {
		t.Fatalf("Announce(%s, %v, %v): %v", node, capabilities, ttl, err)
	}
}

// A capability is served while a node's announcement of it lasts: until
// the node withdraws it or its time runs out.
func testAnnounce(t *testing.T, q airlock.Queue) {
	if servedNow(t, q, Capability) {
		t.Fatalf("%s served before any announcement", Capability)
	}
	announce(t, q, "n1", wait, Capability, Other)
	announce(t, q, "n2", wait, Other)
	for c, want := range map[string]bool{Capability: true, Other: true, "nobody's": false} {
		if got := servedNow(t, q, c); got != want {
			t.Errorf("Served(%s) = %v, want %v", c, got, want)
		}
	}
	announce(t, q, "n1", 0, Capability, Other)
	if servedNow(t, q, Capability) || !servedNow(t, q, Other) {
		t.Errorf("after n1 withdrew: Served(%s) = %v, Served(%s) = %v; want false, true",
			Capability, servedNow(t, q, Capability), Other, servedNow(t, q, Other))
	}
	const ttl = 300 * time.Millisecond
	start := time.Now()
	announce(t, q, "n3", ttl, Capability)
	for servedNow(t, q, Capability) {
		if time.Since(start) > wait {
			t.Fatalf("%s still served %v after an announcement of %v", Capability, wait, ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d < ttl*9/10 {
		t.Errorf("an announcement of %v ran out after %v", ttl, d)
	}
	if !servedNow(t, q, Other) {
		t.Errorf("n2's announcement ran out with n3's")
	}
}
