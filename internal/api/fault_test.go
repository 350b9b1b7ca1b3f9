package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/postgres"
	"github.com/airlock-dev/airlock/internal/redis"
	"github.com/airlock-dev/airlock/internal/servicetest"
	"github.com/airlock-dev/airlock/internal/sqlite"
	"github.com/airlock-dev/airlock/internal/testserver"
)

// stuck is a job store that can stop answering: frozen, each call waits
// until its context ends, as a driver's call to a hung server does; timing
// out, each call fails at once with a deadline of the driver's own (a
// connect timeout).
type stuck struct {
	airlock.JobStore
	mu   sync.Mutex
	mode string // "", "frozen" or "timeout"
}

func (s *stuck) set(mode string) {
	s.mu.Lock()
	s.mode = mode
	s.mu.Unlock()
}

func (s *stuck) wait(ctx context.Context) error {
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case "frozen":
		<-ctx.Done()
		return ctx.Err()
	case "timeout":
		return fmt.Errorf("connect: %w", context.DeadlineExceeded)
	}
	return nil
}

func (s *stuck) Create(ctx context.Context, j *airlock.Job) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.JobStore.Create(ctx, j)
}

func (s *stuck) Get(ctx context.Context, id string) (*airlock.Job, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.JobStore.Get(ctx, id)
}

func (s *stuck) Cancel(ctx context.Context, id string, at time.Time) (airlock.Status, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.JobStore.Cancel(ctx, id, at)
}

func (s *stuck) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	if err := s.wait(ctx); err != nil {
		return nil, 0, err
	}
	return s.JobStore.List(ctx, face, offset, limit)
}

// timedClient gives up on an answer after a while: a hang fails the test
// instead of stalling it.
var timedClient = &http.Client{Timeout: 4 * time.Second}

// unavailable checks that a request is answered 503 with Retry-After,
// within the call timeout and some slack.
func unavailable(t *testing.T, e env, method, path, body string, within time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := timedClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: no answer: %v", method, path, err)
		return
	}
	resp.Body.Close()
	took := time.Since(began)
	t.Logf("%s %s: %d after %v", method, path, resp.StatusCode, took.Round(time.Millisecond))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || took > within {
		t.Errorf("%s %s: %d, Retry-After %q, after %v; want 503 with Retry-After within %v",
			method, path, resp.StatusCode, resp.Header.Get("Retry-After"), took.Round(time.Millisecond), within)
	}
}

// A frozen store, or one whose driver times out, is an outage every face
// answers 503 with Retry-After within the call timeout, not a hang nor a
// 500; /healthz says so within a second; all works again once it thaws.
func TestFrozenStore(t *testing.T) {
	var store *stuck
	e := newEnvWith(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1, CallTimeout: 300 * time.Millisecond},
		Deps: func(d *jobs.Deps) { store = &stuck{JobStore: d.Store}; d.Store = store },
	})
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)"}`)
	if r.code != 200 {
		t.Fatalf("before: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	warmJudge0(t, e)
	for _, mode := range []string{"frozen", "timeout"} {
		t.Run(mode, func(t *testing.T) {
			store.set(mode)
			defer store.set("")
			within := 2 * time.Second
			unavailable(t, e, "POST", "/v1/executions", `{"language":"python","code":"print(2)"}`, within)
			unavailable(t, e, "GET", "/v1/executions/"+id, "", within)
			unavailable(t, e, "DELETE", "/v1/executions/"+id, "", within)
			unavailable(t, e, "POST", "/submissions", `{"language_id":71,"source_code":"print(3)"}`, within)
			unavailable(t, e, "GET", "/submissions/"+id, "", within)
			unavailable(t, e, "POST", "/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(4)"}]}`, within)

			began := time.Now()
			h := e.do(t, "GET", "/healthz", "")
			down, _ := h.body["down"].(map[string]any)
			if took := time.Since(began); h.code != 503 || down["store"] == nil || down["queue"] != nil || took > time.Second {
				t.Errorf("healthz with the store %s: %d %s after %v; want 503 naming the store within 1s", mode, h.code, h.raw, took)
			}
		})
	}
	if r := e.do(t, "GET", "/v1/executions/"+id, ""); r.code != 200 {
		t.Errorf("after the thaw: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/healthz", ""); r.code != 200 {
		t.Errorf("healthz after the thaw: %d %s", r.code, r.raw)
	}
}

// A real queue server that stops answering (redis-server under SIGSTOP) is
// an outage, answered 503 with Retry-After within the call timeout, and
// named by /healthz within a second.
func TestFrozenQueue(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	q, err := redis.Open(t.Context(), srv.URL(), redis.Options{Stream: "frozen", Group: "workers"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	e := newEnvWith(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1, CallTimeout: 300 * time.Millisecond},
		Deps: func(d *jobs.Deps) { d.Queue = q },
	})
	if r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)"}`); r.code != 200 {
		t.Fatalf("before: %d %s", r.code, r.raw)
	}
	warmJudge0(t, e)
	pid := srv.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			syscall.Kill(pid, syscall.SIGCONT)
			thawed = true
		}
	}
	defer thaw()
	unavailable(t, e, "POST", "/v1/executions", `{"language":"python","code":"print(2)"}`, 2*time.Second)
	unavailable(t, e, "POST", "/submissions", `{"language_id":71,"source_code":"print(3)"}`, 2*time.Second)
	began := time.Now()
	h := e.do(t, "GET", "/healthz", "")
	down, _ := h.body["down"].(map[string]any)
	if took := time.Since(began); h.code != 503 || down["queue"] == nil || down["store"] != nil || took > time.Second {
		t.Errorf("healthz with the queue frozen: %d %s after %v; want 503 naming the queue within 1s", h.code, h.raw, took)
	}
	thaw()
	if r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(5)"}`); r.code != 200 {
		t.Errorf("after the thaw: %d %s", r.code, r.raw)
	}
}

func newEnvWith(t *testing.T, opt servicetest.Options) env {
	return env{servicetest.Start(t, opt)}
}

// SQLite held under an exclusive lock by another process (a backup tool,
// an operator's sqlite3 shell) stops taking writes: submissions are
// answered 503 with Retry-After within the call timeout, not after
// SQLite's busy timeout, and reads go on.
func TestLockedSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	store, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnvWith(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1, CallTimeout: 300 * time.Millisecond},
		Deps: func(d *jobs.Deps) { d.Store = store },
	})
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)"}`)
	if r.code != 200 {
		t.Fatalf("before: %d %s", r.code, r.raw)
	}
	warmJudge0(t, e)
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	unavailable(t, e, "POST", "/v1/executions", `{"language":"python","code":"print(2)"}`, 2*time.Second)
	unavailable(t, e, "POST", "/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(4)"}]}`, 2*time.Second)
	if r := e.do(t, "GET", "/v1/executions/"+r.body["id"].(string), ""); r.code != 200 {
		t.Errorf("GET under the lock: %d %s", r.code, r.raw)
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(5)"}`); r.code != 200 {
		t.Errorf("after the lock: %d %s", r.code, r.raw)
	}
}

// Behind a frozen store, concurrent submissions of a key with max_active
// (which the service admits one at a time) are each answered within the
// call timeout and a wait for their turn as long, not one after another.
func TestFrozenStoreAdmission(t *testing.T) {
	var store *stuck
	e := newEnvWith(t, servicetest.Options{
		API:  api.Options{Keys: []auth.Key{{ID: "alice", SHA256: auth.HashToken("alice-token"), MaxActive: 100}}},
		Jobs: jobs.Options{Workers: 1, CallTimeout: 300 * time.Millisecond},
		Deps: func(d *jobs.Deps) { store = &stuck{JobStore: d.Store}; d.Store = store },
	})
	store.set("frozen")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.URL+"/v1/executions", strings.NewReader(`{"language":"python","code":"print(1)"}`))
			req.Header.Set("Authorization", "Bearer alice-token")
			began := time.Now()
			resp, err := timedClient.Do(req)
			if err != nil {
				t.Errorf("no answer: %v", err)
				return
			}
			resp.Body.Close()
			if took := time.Since(began); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || took > 1500*time.Millisecond {
				t.Errorf("POST: %d, Retry-After %q, after %v; want 503 with Retry-After within 1.5s", resp.StatusCode, resp.Header.Get("Retry-After"), took)
			}
		}()
	}
	wg.Wait()
	store.set("")
}

// warmJudge0 makes a first Judge0 submission, which learns the languages'
// versions (seconds) for every face, so that later requests are timed on
// the store alone.
func warmJudge0(t *testing.T, e env) {
	t.Helper()
	resp, err := http.Post(e.URL+"/submissions?wait=true", "application/json", strings.NewReader(`{"language_id":71,"source_code":"print(1)"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("judge0 submission: %d", resp.StatusCode)
	}
}

// A real PostgreSQL server that stops answering (its postmaster and
// backends under SIGSTOP) is an outage every request sees as 503 with
// Retry-After within the call timeout, and /healthz names the store
// within a second; all works again once it thaws.
func TestFrozenPostgres(t *testing.T) {
	store, err := postgres.Open(t.Context(), testserver.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnvWith(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1, CallTimeout: 300 * time.Millisecond},
		Deps: func(d *jobs.Deps) { d.Store = store },
	})
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)"}`)
	if r.code != 200 {
		t.Fatalf("before: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	warmJudge0(t, e)
	thaw := testserver.FreezePostgres(t)
	unavailable(t, e, "POST", "/v1/executions", `{"language":"python","code":"print(2)"}`, 2*time.Second)
	unavailable(t, e, "GET", "/v1/executions/"+id, "", 2*time.Second)
	unavailable(t, e, "POST", "/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(4)"}]}`, 2*time.Second)
	began := time.Now()
	h := e.do(t, "GET", "/healthz", "")
	down, _ := h.body["down"].(map[string]any)
	if took := time.Since(began); h.code != 503 || down["store"] == nil || took > time.Second {
		t.Errorf("healthz with PostgreSQL frozen: %d %s after %v; want 503 naming the store within 1s", h.code, h.raw, took)
	}
	thaw()
	if r := e.do(t, "GET", "/v1/executions/"+id, ""); r.code != 200 {
		t.Errorf("after the thaw: %d %s", r.code, r.raw)
	}
}
