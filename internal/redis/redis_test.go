package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/queuetest"
	"github.com/airlock-dev/airlock/internal/testserver"
	goredis "github.com/redis/go-redis/v9"
)

// leaseTime is the short lease of the tests of leases running out.
const leaseTime = 300 * time.Millisecond

var seq atomic.Int64

// names gives a test a stream and a group of its own on the shared server.
func names(t *testing.T) Options {
	n := seq.Add(1)
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return Options{
		Stream: fmt.Sprintf("test:%d:%s:queue", n, name),
		Group:  fmt.Sprintf("test:%d:%s:workers", n, name),
	}
}

// served are the capabilities the tests' workers serve.
var served = []string{queuetest.Capability}

// streamOf is the key of the stream of queuetest.Capability's jobs.
func streamOf(opt Options) string { return opt.Stream + ":" + queuetest.Capability }

// open opens a Queue on url, closed when t ends.
func open(t *testing.T, url string, opt Options) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	q, err := Open(ctx, url, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// workers opens n Queues on one stream and group: n worker processes.
func workers(t *testing.T, url string, opt Options, n int) []airlock.Queue {
	qs := make([]airlock.Queue, n)
	for i := range qs {
		qs[i] = open(t, url, opt)
	}
	return qs
}

func TestContract(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	queuetest.Run(t,
		func(t *testing.T) airlock.Queue {
			opt := names(t)
			opt.Block = 200 * time.Millisecond
			return open(t, url, opt) // the default lease, 30 s
		},
		queuetest.Options{Leases: &queuetest.Leases{
			Time: leaseTime,
			Open: func(t *testing.T, n int) []airlock.Queue {
				opt := names(t)
				opt.LeaseTime = leaseTime
				return workers(t, url, opt, n)
			},
		}})
}

func raw(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// A job whose lease ran out goes to the other consumer, which holds it
// now: the dead worker's late Extend fails and takes nothing back, its
// late Ack removes the job (it was done after all).
func TestRedeliveryToAnotherConsumer(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	opt := names(t)
	opt.LeaseTime = leaseTime
	a, b := open(t, url, opt), open(t, url, opt)
	if a.opt.Consumer == b.opt.Consumer {
		t.Fatalf("two Queues share the consumer name %s", a.opt.Consumer)
	}
	queuetest.Push(t, a, "j")
	la := queuetest.Take(t, a)
	lb := queuetest.Take(t, b) // once la ran out
	if lb.JobID() != "j" {
		t.Fatalf("b popped %s, want j", lb.JobID())
	}
	c := raw(t, url)
	owner := func() string {
		p, err := c.XPendingExt(t.Context(), &goredis.XPendingExtArgs{Stream: streamOf(opt), Group: opt.Group, Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(p) != 1 {
			t.Fatalf("XPENDING: %v %v", p, err)
		}
		if p[0].RetryCount != 2 {
			t.Errorf("delivered %d times, want 2", p[0].RetryCount)
		}
		return p[0].Consumer
	}
	if o := owner(); o != b.opt.Consumer {
		t.Fatalf("the job is pending for %s, want b (%s)", o, b.opt.Consumer)
	}
	if err := la.Extend(t.Context()); !errors.Is(err, ErrLeaseLost) || !errors.Is(err, airlock.ErrConflict) {
		t.Fatalf("Extend of a lease that ran out: %v, want ErrLeaseLost", err)
	}
	if o := owner(); o != b.opt.Consumer {
		t.Fatalf("a's Extend took the job back (pending for %s)", o)
	}
	if err := lb.Extend(t.Context()); err != nil {
		t.Fatalf("b's Extend: %v", err)
	}
	if err := la.Ack(t.Context()); err != nil {
		t.Fatalf("a's late Ack: %v", err)
	}
	if n, _ := c.XLen(t.Context(), streamOf(opt)).Result(); n != 0 {
		t.Errorf("XLEN = %d after Ack, want 0", n)
	}
	if err := lb.Ack(t.Context()); err != nil {
		t.Fatalf("Ack of an entry already acked: %v", err)
	}
	if err := lb.Extend(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Extend after Ack: %v, want ErrLeaseLost", err)
	}
}

// Leases that ran out are found behind many live ones: the pass over the
// pending entries goes on past the ten XAUTOCLAIM looks at per call.
func TestExpiredBehindManyLeases(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	opt := names(t)
	opt.LeaseTime = leaseTime
	live, dead, other := open(t, url, opt), open(t, url, opt), open(t, url, opt)
	const nLive, nDead = 45, 3
	for i := range nLive {
		queuetest.Push(t, live, fmt.Sprint("live-", i))
	}
	leases := make([]airlock.Lease, nLive)
	for i := range leases {
		leases[i] = queuetest.Take(t, live)
	}
	defer queuetest.KeepExtending(t, leaseTime/5, leases...)() // the live worker extends all it holds
	for i := range nDead {
		queuetest.Push(t, dead, fmt.Sprint("dead-", i))
	}
	for range nDead {
		queuetest.Take(t, dead) // and die
	}
	got := map[string]bool{}
	for range nDead {
		l := queuetest.Take(t, other)
		if !strings.HasPrefix(l.JobID(), "dead-") || got[l.JobID()] {
			t.Fatalf("popped %s, had %v", l.JobID(), got)
		}
		got[l.JobID()] = true
		if err := l.Ack(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*leaseTime)
	defer cancel()
	if l, err := other.Pop(ctx, served); err == nil {
		t.Fatalf("popped %s, a live lease", l.JobID())
	}
}

// Len is right when the group's lag is not known: after an Ack other than
// of the oldest entry (an XDEL in the middle of the stream).
func TestLenWithoutLag(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	opt := names(t)
	q := open(t, url, opt)
	queuetest.Push(t, q, "a", "b", "c", "d")
	la, lb := queuetest.Take(t, q), queuetest.Take(t, q)
	if err := lb.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
	groups, err := raw(t, url).XInfoGroups(t.Context(), streamOf(opt)).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("XINFO GROUPS: %v %v", groups, err)
	}
	if groups[0].Lag != -1 {
		t.Logf("lag is known (%d): the fallback is not exercised", groups[0].Lag)
	}
	if n := queuetest.Len(t, q); n != 2 {
		t.Fatalf("Len = %d, want 2 (c, d)", n)
	}
	if err := la.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
	queuetest.Take(t, q).Ack(t.Context())
	if n := queuetest.Len(t, q); n != 1 {
		t.Fatalf("Len = %d, want 1 (d)", n)
	}
}

// The zero Options are the production defaults.
func TestDefaults(t *testing.T) {
	t.Parallel()
	s := testserver.StartRedis(t, testserver.RedisOptions{})
	q := open(t, s.URL(), Options{})
	if q.opt.Stream != "airlock:queue" || q.opt.Group != "airlock:workers" || q.opt.LeaseTime != 30*time.Second || q.opt.Block != time.Second {
		t.Fatalf("defaults: %+v", q.opt)
	}
	queuetest.Push(t, q, "x")
	c := raw(t, s.URL())
	if n, err := c.XLen(t.Context(), "airlock:queue:python").Result(); err != nil || n != 1 {
		t.Fatalf("XLEN airlock:queue:python = %d, %v", n, err)
	}
	l := queuetest.Take(t, q)
	consumers, err := c.XInfoConsumers(t.Context(), "airlock:queue:python", "airlock:workers").Result()
	if err != nil || len(consumers) != 1 || consumers[0].Name != q.opt.Consumer || consumers[0].Pending != 1 {
		t.Fatalf("XINFO CONSUMERS: %+v %v", consumers, err)
	}
	l.Ack(t.Context())
}

// Open fails at once, in one line that does not show the password, when
// the URL is wrong, nothing listens, or the password is.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	s := testserver.StartRedis(t, testserver.RedisOptions{Password: "right-pass"})
	port := s.URL()[strings.LastIndexByte(s.URL(), ':')+1 : strings.LastIndexByte(s.URL(), '/')]
	closed := testserver.ClosedPort(t)
	for _, tc := range []struct{ name, url, want string }{
		{"scheme", "http://127.0.0.1:6379/0", "invalid URL scheme"},
		{"unparsable", "redis://:secret-pass@127.0.0.1:port/0", "bad URL"},
		{"database", "redis://127.0.0.1:6379/x", "bad URL"},
		{"refused", "redis://:secret-pass@" + closed + "/0", "connection refused"},
		{"wrong password", "redis://:secret-pass@127.0.0.1:" + port + "/0", "WRONGPASS"},
		{"no password", "redis://127.0.0.1:" + port + "/0", "NOAUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			q, err := Open(t.Context(), tc.url, Options{ConnectTimeout: 3 * time.Second})
			if err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "secret-pass") || strings.Contains(msg, "\n") {
				t.Errorf("error %q shows the password or has several lines", msg)
			}
		})
	}
	// A server that does not answer: the timeout bounds Open.
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0") // accepts (the backlog), never answers
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		start := time.Now()
		q, err := Open(t.Context(), "redis://"+l.Addr().String()+"/0", Options{ConnectTimeout: time.Second})
		if err == nil {
			q.Close()
			t.Fatal("Open succeeded")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Open took %v to fail with a timeout of 1s", d)
		}
		t.Log(err)
	})
	// The right password opens.
	open(t, s.URL(), names(t))
}

// A Redis that goes away fails Push, Pop and Len with ErrUnavailable,
// promptly; when it is back (empty: no persistence) the same Queue works
// again, group recreated, without being reopened.
func TestRestart(t *testing.T) {
	t.Parallel()
	s := testserver.StartRedis(t, testserver.RedisOptions{})
	opt := names(t)
	opt.Block = 200 * time.Millisecond
	q := open(t, s.URL(), opt)
	queuetest.Push(t, q, "before-1", "before-2")
	held := queuetest.Take(t, q)

	// A Pop waiting when the server dies returns an error.
	w := open(t, s.URL(), opt)
	queuetest.Take(t, w) // before-2
	popErr := make(chan error, 1)
	go func() {
		_, err := w.Pop(t.Context(), served)
		popErr <- err
	}()
	time.Sleep(50 * time.Millisecond)

	s.Stop(t)
	select {
	case err := <-popErr:
		if !errors.Is(err, airlock.ErrUnavailable) {
			t.Errorf("a waiting Pop when the server died: %v, want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting Pop did not return when the server died")
	}
	for name, call := range map[string]func(ctx context.Context) error{
		"Push": func(ctx context.Context) error { return q.Push(ctx, queuetest.Capability, "lost") },
		"Pop":  func(ctx context.Context) error { _, err := q.Pop(ctx, served); return err },
		"Len":  func(ctx context.Context) error { _, err := q.Len(ctx); return err },
	} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := call(ctx)
		cancel()
		if !errors.Is(err, airlock.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}

	s.Start(t)
	// The stream, its group and the lease are gone with the data.
	if err := held.Extend(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Extend of a lease the server lost: %v, want ErrLeaseLost", err)
	}
	if err := held.Ack(t.Context()); err != nil {
		t.Errorf("Ack of a lease the server lost: %v", err)
	}
	if n := queuetest.Len(t, q); n != 0 {
		t.Errorf("Len after a restart = %d, want 0", n)
	}
	queuetest.Push(t, q, "after-1")
	if l := queuetest.Take(t, w); l.JobID() != "after-1" {
		t.Fatalf("Pop after a restart = %s, want after-1", l.JobID())
	} else if err := l.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Again with the group missing when Pop comes first.
	s.Restart(t)
	got := make(chan string, 1)
	go func() {
		for {
			l, err := w.Pop(t.Context(), served)
			if err == nil {
				l.Ack(t.Context())
				got <- l.JobID()
				return
			}
			if t.Context().Err() != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	queuetest.Push(t, q, "after-2")
	select {
	case id := <-got:
		if id != "after-2" {
			t.Fatalf("Pop = %s, want after-2", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Pop after the second restart")
	}
}

// Workers that keep popping (and retry after errors, as the service's do)
// while producers keep pushing through an outage of Redis: every job
// pushed once Redis is back is delivered, exactly once. Of the jobs pushed
// before, those not yet taken are lost with Redis's data (no persistence
// here), and one pushed as Redis died may come twice (go-redis retries an
// XADD whose answer it did not get).
func TestRestartUnderLoad(t *testing.T) {
	t.Parallel()
	s := testserver.StartRedis(t, testserver.RedisOptions{})
	opt := names(t)
	opt.Block = 100 * time.Millisecond
	ws := workers(t, s.URL(), opt, 4)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		popErrs   atomic.Int64
		wg        sync.WaitGroup
	)
	for _, w := range ws {
		wg.Go(func() {
			for ctx.Err() == nil {
				l, err := w.Pop(ctx, served)
				if err != nil {
					if ctx.Err() == nil {
						if !errors.Is(err, airlock.ErrUnavailable) {
							t.Errorf("Pop: %v, want ErrUnavailable", err)
						}
						popErrs.Add(1)
						time.Sleep(20 * time.Millisecond)
					}
					continue
				}
				mu.Lock()
				delivered[l.JobID()]++
				mu.Unlock()
				l.Ack(context.WithoutCancel(ctx))
			}
		})
	}
	var (
		back      atomic.Bool // Redis is up again
		afterMu   sync.Mutex
		after     []string // pushed, with success, once Redis was back
		pushErrs  atomic.Int64
		producers sync.WaitGroup
	)
	produce := func(prefix string, n int) {
		for i := range n {
			id := fmt.Sprint(prefix, i)
			wasBack := back.Load()
			if err := ws[i%len(ws)].Push(ctx, queuetest.Capability, id); err != nil {
				pushErrs.Add(1) // down: the service would answer 503
				continue
			}
			if wasBack {
				afterMu.Lock()
				after = append(after, id)
				afterMu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	}
	producers.Go(func() { produce("a-", 500) })
	producers.Go(func() { produce("b-", 500) })
	time.Sleep(100 * time.Millisecond)
	s.Stop(t)
	time.Sleep(300 * time.Millisecond)
	s.Start(t)
	back.Store(true)
	producers.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, id := range after {
			if delivered[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs pushed after the restart were never delivered", missing, len(after))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if len(after) < 100 {
		t.Errorf("only %d pushes after the restart", len(after))
	}
	for _, id := range after {
		if n := delivered[id]; n != 1 {
			t.Errorf("%s, pushed after the restart, delivered %d times", id, n)
		}
	}
	if popErrs.Load() == 0 || pushErrs.Load() == 0 {
		t.Errorf("%d Pop and %d Push errors while Redis was down: the outage was not seen", popErrs.Load(), pushErrs.Load())
	}
	t.Logf("%d jobs delivered, %d pushed after the restart; %d Pop and %d Push errors while Redis was down",
		len(delivered), len(after), popErrs.Load(), pushErrs.Load())
}

// Pop honours its context within Options.Block, however long it is.
func TestPopCancelWithinBlock(t *testing.T) {
	t.Parallel()
	opt := names(t)
	opt.Block = 300 * time.Millisecond
	q := open(t, testserver.Redis(t), opt)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan time.Time, 1)
	go func() {
		q.Pop(ctx, served)
		done <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	select {
	case at := <-done:
		if d := at.Sub(cancelled); d > opt.Block+200*time.Millisecond {
			t.Errorf("Pop returned %v after its context was cancelled, Block %v", d, opt.Block)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not return")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@host:6379/0":      "redis://:xxxxx@host:6379/0",
		"redis://user:pw@host/0":       "redis://user:xxxxx@host/0",
		"redis://host:6379/0":          "redis://host:6379/0",
		"redis://:p w@host:port/0":     "redis://:xxxxx@host:port/0",
		"redis://us er:pw@h@host:x/0":  "redis://us er:xxxxx@host:x/0",
		"not a url with : pw@ or ://x": "not a url with : pw@ or ://x",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// consumers are the names of the group's consumers.
func consumers(t *testing.T, c *goredis.Client, opt Options) []string {
	t.Helper()
	list, err := c.XInfoConsumers(t.Context(), streamOf(opt), opt.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	return names
}

// Consumers do not pile up: Close removes its own when it holds no job,
// and Open removes those a crashed process left idle, but never one that
// holds a job, whose lease must still run out for it to be taken again.
func TestForgetConsumers(t *testing.T) {
	t.Parallel()
	url := testserver.Redis(t)
	c := raw(t, url)
	opt := names(t)

	crashed := opt
	crashed.Consumer = "crashed-idle"
	q := open(t, url, crashed)
	queuetest.Push(t, q, "done")
	if err := queuetest.Take(t, q).Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
	holding := opt
	holding.Consumer = "crashed-holding"
	h := open(t, url, holding)
	queuetest.Push(t, h, "held")
	queuetest.Take(t, h) // and never acked
	closing := opt
	closing.Consumer = "closing"
	cl := open(t, url, closing)
	queuetest.Push(t, cl, "x")
	if err := queuetest.Take(t, cl).Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if got := consumers(t, c, opt); strings.Join(got, ",") != "crashed-holding,crashed-idle" {
		t.Fatalf("after a Close: consumers %v, want the two others", got)
	}

	time.Sleep(20 * time.Millisecond)
	later := opt
	later.ForgetAfter = 10 * time.Millisecond
	open(t, url, later)
	if got := consumers(t, c, opt); strings.Join(got, ",") != "crashed-holding" {
		t.Fatalf("after an Open: consumers %v, want only the one holding a job", got)
	}
}
