package memqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func push(t *testing.T, q *Queue, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := q.Push(t.Context(), id); err != nil {
			t.Fatalf("Push(%s): %v", id, err)
		}
	}
}

func pop(t *testing.T, q *Queue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	id, err := popID(ctx, q)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	return id
}

func TestFIFOAndLen(t *testing.T) {
	q := New()
	if n := length(q); n != 0 {
		t.Fatalf("Len of a new queue = %d", n)
	}
	push(t, q, "a", "b", "c")
	if n := length(q); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if id := pop(t, q); id != "a" {
		t.Fatalf("Pop = %s, want a", id)
	}
	push(t, q, "d", "a") // the same id twice is two entries
	for i, want := range []string{"b", "c", "d", "a"} {
		if n := length(q); n != 4-i {
			t.Errorf("Len = %d, want %d", n, 4-i)
		}
		if id := pop(t, q); id != want {
			t.Fatalf("Pop = %s, want %s", id, want)
		}
	}
	if n := length(q); n != 0 {
		t.Fatalf("Len of a drained queue = %d", n)
	}
}

func TestPopBlocksUntilPush(t *testing.T) {
	q := New()
	got := make(chan string, 1)
	go func() {
		id, err := popID(t.Context(), q)
		if err != nil {
			id = "error: " + err.Error()
		}
		got <- id
	}()
	select {
	case id := <-got:
		t.Fatalf("Pop on an empty queue returned %q", id)
	case <-time.After(50 * time.Millisecond):
	}
	push(t, q, "x")
	select {
	case id := <-got:
		if id != "x" {
			t.Fatalf("Pop = %q, want x", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not return after Push")
	}
	if n := length(q); n != 0 {
		t.Errorf("Len = %d after the waiter took the only id", n)
	}
}

// Several blocked waiters each get one of several pushes: no wake-up is
// lost when pushes come faster than waiters wake.
func TestManyWaiters(t *testing.T) {
	q := New()
	const n = 8
	got := make(chan string, n)
	for range n {
		go func() {
			id, err := popID(t.Context(), q)
			if err != nil {
				id = "error: " + err.Error()
			}
			got <- id
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them block
	for i := range n {
		push(t, q, fmt.Sprint(i))
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-got:
			if seen[id] {
				t.Fatalf("%q popped twice", id)
			}
			seen[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d waiters woke: %v", len(seen), n, seen)
		}
	}
}

func TestPopReturnsOnCancel(t *testing.T) {
	q := New()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := popID(ctx, q)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Pop after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not return after its context ended")
	}

	// A deadline ends the wait too.
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := popID(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop with a deadline: %v, want DeadlineExceeded", err)
	}

	// The abandoned waits took nothing: a later push is there for the next Pop.
	push(t, q, "after")
	if id := pop(t, q); id != "after" {
		t.Fatalf("Pop = %q, want after", id)
	}
}

func TestConcurrentProducersConsumers(t *testing.T) {
	q := New()
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
				id, err := popID(ctx, q)
				if err != nil {
					return
				}
				got[id]++
			}
		})
	}
	var produced sync.WaitGroup
	for p := range producers {
		produced.Go(func() {
			for i := range perProducer {
				if err := q.Push(ctx, fmt.Sprintf("%d-%d", p, i)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	produced.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for length(q) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("consumers stalled with %d ids left", length(q))
		}
		time.Sleep(time.Millisecond)
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
func TestOrderPerProducer(t *testing.T) {
	q := New()
	const producers, perProducer = 4, 200
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				q.Push(t.Context(), fmt.Sprintf("%d %d", p, i))
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

func popID(ctx context.Context, q *Queue) (string, error) {
	l, err := q.Pop(ctx)
	if err != nil {
		return "", err
	}
	return l.JobID(), nil
}

func length(q *Queue) int {
	n, _ := q.Len(context.Background())
	return n
}
