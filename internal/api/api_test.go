package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	servicetest.Close()
	os.Exit(code)
}

// env is a running service and a client of it.
type env struct{ *servicetest.Env }

func newEnv(t *testing.T, opt api.Options, jopt jobs.Options) env {
	return env{servicetest.Start(t, servicetest.Options{API: opt, Jobs: jopt})}
}

type response struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e env) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &out.body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(path, "/metrics") {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return out
}

func (e env) await(t *testing.T, id string) response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.do(t, "GET", "/v1/executions/"+id, "")
		if s := r.body["status"]; s != "queued" && s != "running" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %v", id, r.body["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t, api.Options{}, jobs.Options{Workers: 2})
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])","stdin":"abc","args":["x"]}`)
	if r.code != 200 || r.body["status"] != "ok" || r.body["stdout"] != "ABC ['x']\n" || r.body["id"] == "" || r.body["created_at"] == nil {
		t.Fatalf("wait: %d %s", r.code, r.raw)
	}
	r = e.do(t, "POST", "/v1/executions", `{"language":"c","files":[{"name":"main.c","content":"#include <stdio.h>\nint main(void){puts(\"hi\");return 3;}"}]}`)
	if r.code != 202 || r.body["status"] != "queued" {
		t.Fatalf("async: %d %s", r.code, r.raw)
	}
	r = e.await(t, r.body["id"].(string))
	compile, _ := r.body["compile"].(map[string]any)
	if r.body["status"] != "runtime_error" || r.body["exit_code"] != 3.0 || r.body["stdout"] != "hi\n" || compile["status"] != "ok" {
		t.Fatalf("get: %s", r.raw)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"javascript","mode":"function","inputs":{"a":[1,2]},"code":"exports.calculate = (x) => ({sum: x.a[0] + x.a[1]})"}`)
	if out, _ := r.body["output"].(map[string]any); r.code != 200 || out["sum"] != 3.0 {
		t.Fatalf("function: %s", r.raw)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(3)","expected_output":"4"}`)
	if r.body["status"] != "wrong_answer" {
		t.Fatalf("expected output: %s", r.raw)
	}
	r = e.do(t, "GET", "/v1/languages", "")
	var langs []map[string]any
	json.Unmarshal([]byte(r.raw), &langs)
	if r.code != 200 || len(langs) < 7 {
		t.Fatalf("languages: %d %s", r.code, r.raw)
	}
	if r = e.do(t, "GET", "/healthz", ""); r.code != 200 || r.body["status"] != "ok" {
		t.Fatalf("healthz: %s", r.raw)
	}
	r = e.do(t, "GET", "/metrics", "")
	for _, name := range []string{`airlock_executions_total{language="python",status="ok"}`, "airlock_queue_depth", "airlock_sandboxes_running", "airlock_pool_keepers", "airlock_execution_seconds_bucket", "airlock_queue_wait_seconds"} {
		if !strings.Contains(r.raw, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	// Every python job so far started one sandbox, which took some time.
	started := regexp.MustCompile(`airlock_sandbox_start_seconds_(sum|count)\{language="python"\} (\S+)`).FindAllStringSubmatch(r.raw, -1)
	if len(started) != 2 || started[0][2] == "0" || started[1][2] == "0" {
		t.Errorf("sandbox start latency: %q", started)
	}
	lines := e.AuditLines()
	var entry audit.Entry
	if len(lines) < 4 || json.Unmarshal([]byte(lines[0]), &entry) != nil || entry.CodeSHA256 == "" || entry.Language != "python" || strings.Contains(lines[0], "upper") {
		t.Fatalf("audit: %q", lines)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, api.Options{}, jobs.Options{Workers: 1})
	running := e.do(t, "POST", "/v1/executions", `{"language":"python","code":"import time\ntime.sleep(30)"}`).body["id"].(string)
	queued := e.do(t, "POST", "/v1/executions", `{"language":"python","code":"print(1)"}`).body["id"].(string)
	for e.do(t, "GET", "/v1/executions/"+running, "").body["status"] != "running" {
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.do(t, "DELETE", "/v1/executions/"+queued, ""); r.code != 200 || r.body["status"] != "cancelled" {
		t.Fatalf("cancel queued: %s", r.raw)
	}
	start := time.Now()
	if r := e.do(t, "DELETE", "/v1/executions/"+running, ""); r.code != 200 || r.body["status"] != "cancelled" || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel running: %d %s after %v", r.code, r.raw, time.Since(start))
	}
	if r := e.do(t, "GET", "/v1/executions/"+running, ""); r.body["status"] != "cancelled" {
		t.Fatalf("after the cancel: %s", r.raw)
	}
	if r := e.do(t, "DELETE", "/v1/executions/nope", ""); r.code != 404 {
		t.Fatalf("cancel unknown: %d", r.code)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, api.Options{MaxBody: 64 << 10}, jobs.Options{Workers: 1, MaxCode: 1 << 10})
	big := strings.Repeat("x", 70<<10)
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"malformed", "POST", "/v1/executions", `{"language":`, 400, "malformed JSON"},
		{"two values", "POST", "/v1/executions", `{"language":"python","code":"x"} {}`, 400, "after the JSON value"},
		{"unknown field", "POST", "/v1/executions", `{"language":"python","code":"x","colour":"red"}`, 422, "colour: unknown field"},
		{"unknown nested field", "POST", "/v1/executions", `{"language":"python","code":"x","limits":{"wall_ms":1,"colour":1}}`, 422, "limits.colour: unknown field"},
		{"unknown field of a file", "POST", "/v1/executions", `{"language":"python","files":[{"name":"a.py","content":"x"},{"Name":"b","mode":"x"}]}`, 422, "files[1].mode: unknown field"},
		{"wrong type", "POST", "/v1/executions", `{"language":"python","code":"x","args":"a"}`, 422, "args"},
		{"unknown language", "POST", "/v1/executions", `{"language":"cobol","code":"x"}`, 422, "language"},
		{"escaping file", "POST", "/v1/executions", `{"language":"python","files":[{"name":"../x.py","content":"x"}]}`, 422, "files[0].name"},
		{"empty", "POST", "/v1/executions", `{"language":"python"}`, 422, "files"},
		{"limit above max", "POST", "/v1/executions", `{"language":"python","code":"x","limits":{"memory_mb":100000}}`, 422, "limits.memory_mb"},
		{"bad callback", "POST", "/v1/executions", `{"language":"python","code":"x","callback_url":"ftp://x"}`, 422, "callback_url"},
		{"requirements of a wrong type", "POST", "/v1/executions", `{"language":"python","code":"x","requirements":{"numpy":"1"}}`, 422, "requirements: want a list of strings"},
		{"a requirement of a wrong type", "POST", "/v1/executions", `{"language":"python","code":"x","requirements":["numpy",1]}`, 422, "requirements[1]: want a string"},
		{"requirements for bash", "POST", "/v1/executions", `{"language":"bash","code":"x","requirements":"jq\n"}`, 422, "python, javascript and typescript take requirements"},
		{"body too large", "POST", "/v1/executions", `{"language":"python","code":"` + big + `"}`, 413, "request body"},
		{"code too large", "POST", "/v1/executions", `{"language":"python","code":"` + strings.Repeat("x", 2<<10) + `"}`, 413, "bytes of code"},
		{"no such job", "GET", "/v1/executions/0123", "", 404, "no such execution"},
		{"no such path", "GET", "/v2/things", "", 404, "no such endpoint"},
		{"wrong method", "PATCH", "/v1/executions", "", 405, "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, c.body)
			msg, _ := r.body["error"].(string)
			if r.code != c.code || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %q, want %d %q", r.code, r.raw, c.code, c.msg)
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	e := newEnv(t, api.Options{}, jobs.Options{Workers: 1, MaxQueue: 1})
	sleep := `{"language":"python","code":"import time\ntime.sleep(2)"}`
	e.do(t, "POST", "/v1/executions", sleep) // taken by the worker
	time.Sleep(300 * time.Millisecond)
	e.do(t, "POST", "/v1/executions", sleep) // waits in the queue
	r := e.do(t, "POST", "/v1/executions", sleep)
	if r.code != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s", r.code, r.raw)
	}
}

func TestAuth(t *testing.T) {
	keys := []auth.Key{
		{ID: "alice", SHA256: auth.HashToken("alice-token"), Rate: 2, Burst: 2},
		{ID: "bob", SHA256: auth.HashToken("bob-token"), MaxActive: 1},
	}
	e := newEnv(t, api.Options{Keys: keys}, jobs.Options{Workers: 1})
	hello := `{"language":"python","code":"print(1)"}`
	if r := e.do(t, "POST", "/v1/executions", hello); r.code != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no key: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "POST", "/v1/executions", hello, "Authorization", "Bearer wrong"); r.code != 403 {
		t.Fatalf("bad key: %d %s", r.code, r.raw)
	}
	r := e.do(t, "POST", "/v1/executions?wait=true", hello, "X-Auth-Token", "alice-token")
	if r.code != 200 || r.body["status"] != "ok" {
		t.Fatalf("X-Auth-Token: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	if r := e.do(t, "GET", "/v1/executions/"+id, "", "Authorization", "Bearer bob-token"); r.code != 404 {
		t.Fatalf("bob sees alice's job: %d", r.code)
	}
	if r := e.do(t, "GET", "/healthz", ""); r.code != 200 {
		t.Fatalf("healthz needs no key: %d", r.code)
	}
	limited := false
	for range 5 {
		r := e.do(t, "GET", "/v1/executions/"+id, "", "Authorization", "Bearer alice-token")
		if r.code == 429 {
			limited = r.header.Get("Retry-After") != ""
			break
		}
	}
	if !limited {
		t.Fatal("alice was not rate limited with Retry-After")
	}
	sleep := `{"language":"python","code":"import time\ntime.sleep(1)"}`
	if r := e.do(t, "POST", "/v1/executions", sleep, "Authorization", "Bearer bob-token"); r.code != 202 {
		t.Fatalf("bob's first job: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "POST", "/v1/executions", sleep, "Authorization", "Bearer bob-token"); r.code != 429 {
		t.Fatalf("bob's second unfinished job: %d %s", r.code, r.raw)
	}
}

func TestCallback(t *testing.T) {
	got := make(chan map[string]any, 4)
	calls := 0
	var mu sync.Mutex
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.WriteHeader(500) // the retry must come
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	defer receiver.Close()
	e := newEnv(t, api.Options{}, jobs.Options{Workers: 1})
	r := e.do(t, "POST", "/v1/executions", fmt.Sprintf(`{"language":"python","code":"print('cb')","callback_url":%q}`, receiver.URL+"/hook"))
	select {
	case body := <-got:
		if body["id"] != r.body["id"] || body["stdout"] != "cb\n" || body["status"] != "ok" {
			t.Fatalf("callback body %v", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no callback")
	}
}

// TestLoad: 100 concurrent hello worlds, then 100 concurrent ~50 ms CPU
// loops, all answered correctly; prints throughput and latency quantiles.
func TestLoad(t *testing.T) {
	// A load this size on two CPUs under -race keeps SQLite's single
	// writer busy for longer than store_timeout: that deadline is for a
	// store that hangs (TestFrozenStore), this test for throughput.
	e := newEnv(t, api.Options{}, jobs.Options{CallTimeout: time.Minute})
	for _, round := range []struct {
		name string
		code string // prints its argument
	}{
		{"hello world", "print(%d)"},
		{"50 ms CPU loop", "import time\nend = time.process_time() + 0.05\nwhile time.process_time() < end: pass\nprint(%d)"},
	} {
		t.Run(round.name, func(t *testing.T) { loadRound(t, e.URL, round.code) })
	}
}

// loadRound sends 100 concurrent submissions of code and checks each
// result; -v prints the throughput and latencies.
func loadRound(t *testing.T, url, code string) {
	const n = 100
	lat := make([]time.Duration, n)
	errs := make([]string, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			want := fmt.Sprintf("%d\n", i)
			body, _ := json.Marshal(map[string]string{"language": "python", "code": fmt.Sprintf(code, i)})
			t0 := time.Now()
			resp, err := http.Post(url+"/v1/executions?wait=true", "application/json", bytes.NewReader(body))
			lat[i] = time.Since(t0)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != 200 || out["status"] != "ok" || out["stdout"] != want {
				errs[i] = fmt.Sprintf("%d %v", resp.StatusCode, out)
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	for i, e := range errs {
		if e != "" {
			t.Errorf("submission %d: %s", i, e)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d concurrent submissions in %v: %.1f/s; latency p50 %v p95 %v p99 %v", n, total.Round(time.Millisecond), n/total.Seconds(),
		lat[n/2].Round(time.Millisecond), lat[n*95/100].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond))
}

// stalledReads is a store whose reads of jobs hang until their caller
// gives up, once armed.
type stalledReads struct {
	airlock.JobStore
	armed atomic.Bool
}

func (s *stalledReads) Get(ctx context.Context, id string) (*airlock.Job, error) {
	if s.armed.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.JobStore.Get(ctx, id)
}

// TestWaitDeadlineDuringRead: the wait of ?wait=true runs out while the
// store is being read; the job was accepted, so the answer is 202 with
// its id (not a 500), and the job runs.
func TestWaitDeadlineDuringRead(t *testing.T) {
	store := &stalledReads{}
	e := env{servicetest.Start(t, servicetest.Options{
		API:  api.Options{WaitTimeout: 300 * time.Millisecond},
		Jobs: jobs.Options{Workers: 1},
		Deps: func(d *jobs.Deps) { store.JobStore = d.Store; d.Store = store },
	})}
	store.armed.Store(true)
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)"}`)
	id, _ := r.body["id"].(string)
	if r.code != http.StatusAccepted || id == "" {
		t.Fatalf("wait ran out during a read: %d %s", r.code, r.raw)
	}
	store.armed.Store(false)
	if done := e.await(t, id); done.body["status"] != "ok" {
		t.Fatalf("the accepted job: %s", done.raw)
	}
}

// TestFacesApart: each API face sees only its own jobs, even with the
// key that submitted them: a Judge0 token is no /v1 execution, to read
// or to cancel.
func TestFacesApart(t *testing.T) {
	keys := []auth.Key{{ID: "alice", SHA256: auth.HashToken("alice-token")}}
	e := newEnv(t, api.Options{Keys: keys}, jobs.Options{Workers: 1})
	req, _ := http.NewRequest("POST", e.URL+"/submissions?wait=true", strings.NewReader(`{"language_id":71,"source_code":"print(1)"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", "alice-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || sub.Token == "" {
		t.Fatalf("Judge0 submission: %d %+v", resp.StatusCode, sub)
	}
	for _, method := range []string{"GET", "DELETE"} {
		if r := e.do(t, method, "/v1/executions/"+sub.Token, "", "X-Auth-Token", "alice-token"); r.code != http.StatusNotFound {
			t.Errorf("%s of a Judge0 token through /v1 by its key: %d %s", method, r.code, r.raw)
		}
	}
	own := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(2)"}`, "X-Auth-Token", "alice-token")
	if r := e.do(t, "GET", "/v1/executions/"+own.body["id"].(string), "", "X-Auth-Token", "alice-token"); r.code != http.StatusOK {
		t.Errorf("GET of its own /v1 job: %d %s", r.code, r.raw)
	}
}
