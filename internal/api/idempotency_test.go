package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/servicetest"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// A retry of POST /v1/executions with the same Idempotency-Key and body is
// answered with the first job, however often and however concurrently it
// comes; another body with the key is 422; keys are per API key; a bad
// key is 400.
func TestIdempotencyKey(t *testing.T) {
	created := &creates{}
	e := newEnvWith(t, servicetest.Options{
		API: api.Options{Keys: []auth.Key{
			{ID: "alice", SHA256: auth.HashToken("alice-token")},
			{ID: "bob", SHA256: auth.HashToken("bob-token")},
		}},
		Jobs: jobs.Options{Workers: 1},
		Deps: func(d *jobs.Deps) { created.JobStore = d.Store; d.Store = created },
	})
	alice := []string{"Authorization", "Bearer alice-token"}
	with := func(key string, who ...string) []string { return append([]string{"Idempotency-Key", key}, who...) }
	body := `{"language":"python","code":"print(6*7)"}`

	first := e.do(t, "POST", "/v1/executions", body, with("k1", alice...)...)
	if first.code != 202 {
		t.Fatalf("first: %d %s", first.code, first.raw)
	}
	id := first.body["id"]
	again := e.do(t, "POST", "/v1/executions", body, with("k1", alice...)...)
	if again.code != 202 || again.body["id"] != id {
		t.Errorf("retry: %d %s, want 202 with job %v", again.code, again.raw, id)
	}
	waited := e.do(t, "POST", "/v1/executions?wait=true", body, with("k1", alice...)...)
	if waited.code != 200 || waited.body["id"] != id || waited.body["stdout"] != "42\n" {
		t.Errorf("retry with wait: %d %s, want the first job finished", waited.code, waited.raw)
	}
	if r := e.do(t, "POST", "/v1/executions", `{"language":"python","code":"print(7)"}`, with("k1", alice...)...); r.code != 422 {
		t.Errorf("another body with the key: %d %s, want 422", r.code, r.raw)
	}
	if r := e.do(t, "POST", "/v1/executions", body, with("k1", "Authorization", "Bearer bob-token")...); r.code != 202 || r.body["id"] == id {
		t.Errorf("another API key's k1: %d %s, want a job of its own", r.code, r.raw)
	}
	for _, bad := range []string{strings.Repeat("x", 256), "a b", "é"} {
		if r := e.do(t, "POST", "/v1/executions", body, with(bad, alice...)...); r.code != 400 {
			t.Errorf("key %q: %d %s, want 400", bad, r.code, r.raw)
		}
	}

	// A client retrying on many connections at once gets one job.
	const n = 12
	ids := make([]any, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.URL+"/v1/executions", strings.NewReader(`{"language":"python","code":"print('race')"}`))
			req.Header.Set("Idempotency-Key", "race")
			req.Header.Set("Authorization", "Bearer alice-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			codes[i] = resp.StatusCode
			if err := json.NewDecoder(resp.Body).Decode(&out); err == nil {
				ids[i] = out["id"]
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 202 || ids[i] == nil || ids[i] != ids[0] {
			t.Fatalf("concurrent retries: codes %v, ids %v; want one job for all", codes, ids)
		}
	}
	// k1 (once), bob's k1 and the race (once each).
	if got := created.n.Load(); got != 3 {
		t.Errorf("%d jobs created, want 3", got)
	}
}

// creates is a job store that counts the jobs it created.
type creates struct {
	airlock.JobStore
	n atomic.Int64
}

func (c *creates) Create(ctx context.Context, j *airlock.Job) error {
	err := c.JobStore.Create(ctx, j)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

// Judge0's single create and Piston's execute take Idempotency-Key too:
// a retry makes no second job; Judge0's batch refuses the header.
func TestIdempotencyKeyFaces(t *testing.T) {
	created := &creates{}
	e := newEnvWith(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1},
		Deps: func(d *jobs.Deps) { created.JobStore = d.Store; d.Store = created },
	})
	post := func(path, body, key string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	judge := `{"language_id":71,"source_code":"print(1)"}`
	code, first := post("/submissions", judge, "j")
	if code != 201 || first["token"] == nil {
		t.Fatalf("judge0 create: %d %v", code, first)
	}
	if code, again := post("/submissions", judge, "j"); code != 201 || again["token"] != first["token"] {
		t.Errorf("judge0 retry: %d %v, want token %v", code, again, first["token"])
	}
	if code, out := post("/submissions", `{"language_id":71,"source_code":"print(2)"}`, "j"); code != 422 {
		t.Errorf("judge0 create of another body with the key: %d %v, want 422", code, out)
	}
	if code, out := post("/submissions/batch", `{"submissions":[`+judge+`]}`, "b"); code != 400 {
		t.Errorf("judge0 batch with a key: %d %v, want 400", code, out)
	}

	piston := `{"language":"python","version":"*","files":[{"content":"print(3)"}]}`
	for range 2 {
		if code, out := post("/api/v2/execute", piston, "p"); code != 200 || out["run"] == nil {
			t.Fatalf("piston execute: %d %v", code, out)
		}
	}
	if code, out := post("/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(4)"}]}`, "p"); code != 422 {
		t.Errorf("piston execute of another body with the key: %d %v, want 422", code, out)
	}
	if got := created.n.Load(); got != 2 {
		t.Errorf("%d jobs created, want 2 (one per face)", got)
	}
}
