package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
	"github.com/airlock-dev/airlock/internal/wire"
)

// TestOperatorLimits: the server's and a key's defaults and maxima are
// shown by /v1/limits, refused above through each face in its own shape,
// and the defaults are what a job that names no limits runs with.
func TestOperatorLimits(t *testing.T) {
	server := airlock.Policy{
		Default: airlock.Limits{Memory: 200 << 20, OpenFiles: 100},
		Max:     airlock.Limits{Memory: 256 << 20, Wall: 20 * time.Second},
	}
	keys := []auth.Key{
		{ID: "full", SHA256: auth.HashToken("full-token")},
		{ID: "small", SHA256: auth.HashToken("small-token"), Policy: airlock.Policy{
			Default: airlock.Limits{Memory: 64 << 20, OpenFiles: 50},
			Max:     airlock.Limits{Memory: 128 << 20},
		}},
	}
	e := servicetest.Start(t, servicetest.Options{API: api.Options{Keys: keys}, Jobs: jobs.Options{Workers: 1}, Engine: engine.Options{Policy: server}})
	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Auth-Token", token) // Judge0's
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}

	for token, want := range map[string]wire.Policy{
		"full-token": {
			Run: wire.StepPolicy{
				Default: wire.AllLimits{WallMillis: 10000, CPUMillis: 5000, MemoryMB: 200, Pids: 64, OpenFiles: 100, TmpMB: 64, FileSizeMB: 16, OutputKB: 1024, StackMB: 8},
				Max:     wire.AllLimits{WallMillis: 20000, CPUMillis: 30000, MemoryMB: 256, Pids: 256, OpenFiles: 1024, TmpMB: 512, FileSizeMB: 256, OutputKB: 16 << 10, StackMB: 256},
			},
			Compile: wire.StepPolicy{
				Max: wire.AllLimits{WallMillis: 120000, CPUMillis: 60000, MemoryMB: 2048, Pids: 256, OpenFiles: 1024, TmpMB: 1024, FileSizeMB: 512, OutputKB: 16 << 10, StackMB: 256},
			},
		},
		"small-token": {
			Run: wire.StepPolicy{
				Default: wire.AllLimits{WallMillis: 10000, CPUMillis: 5000, MemoryMB: 64, Pids: 64, OpenFiles: 50, TmpMB: 64, FileSizeMB: 16, OutputKB: 1024, StackMB: 8},
				Max:     wire.AllLimits{WallMillis: 20000, CPUMillis: 30000, MemoryMB: 128, Pids: 256, OpenFiles: 1024, TmpMB: 512, FileSizeMB: 256, OutputKB: 16 << 10, StackMB: 256},
			},
			Compile: wire.StepPolicy{
				Max: wire.AllLimits{WallMillis: 120000, CPUMillis: 60000, MemoryMB: 2048, Pids: 256, OpenFiles: 1024, TmpMB: 1024, FileSizeMB: 512, OutputKB: 16 << 10, StackMB: 256},
			},
		},
	} {
		code, raw := call("GET", "/v1/limits", token, "")
		var got wire.Policy
		if err := json.Unmarshal([]byte(raw), &got); code != 200 || err != nil || got != want {
			t.Errorf("/v1/limits for %s: %d %s\nwant %+v", token, code, raw, want)
		}
	}

	// /v1/languages shows each language's: java's 512M default lowered to
	// the maxima in force.
	for token, want := range map[string]map[string][2]int64{
		"full-token":  {"python": {200, 256}, "java": {256, 256}},
		"small-token": {"python": {64, 128}, "java": {128, 128}},
	} {
		code, raw := call("GET", "/v1/languages", token, "")
		var langs []struct {
			ID     string
			Limits wire.Policy
		}
		json.Unmarshal([]byte(raw), &langs)
		seen := 0
		for _, l := range langs {
			if w, ok := want[l.ID]; ok {
				seen++
				if got := l.Limits.Run; got.Default.MemoryMB != w[0] || got.Max.MemoryMB != w[1] {
					t.Errorf("/v1/languages for %s: %s has %+v, want memory_mb %d of %d", token, l.ID, got, w[0], w[1])
				}
			}
		}
		if code != 200 || seen == 0 {
			t.Errorf("/v1/languages for %s: %d %s", token, code, raw)
		}
	}

	refusals := []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{"v1 above the server's", "POST", "/v1/executions", "full-token", `{"language":"python","code":"x","limits":{"memory_mb":300}}`,
			422, `{"error":"limits.memory_mb: at most 256 (this server's maximum)"}`},
		{"v1 above the key's", "POST", "/v1/executions", "small-token", `{"language":"python","code":"x","limits":{"memory_mb":200}}`,
			422, `{"error":"limits.memory_mb: at most 128 (this server's maximum)"}`},
		{"v1 wall", "POST", "/v1/executions", "full-token", `{"language":"python","code":"x","limits":{"wall_ms":30000}}`,
			422, `{"error":"limits.wall_ms: at most 20000 (this server's maximum)"}`},
		{"judge0 above the key's", "POST", "/submissions", "small-token", `{"language_id":71,"source_code":"x","memory_limit":200000,"wall_time_limit":20}`,
			422, `{"memory_limit":["must be less than or equal to 131072"]}`},
		{"judge0 above the server's", "POST", "/submissions", "full-token", `{"language_id":71,"source_code":"x","wall_time_limit":20.5}`,
			422, `{"wall_time_limit":["must be less than or equal to 20.0"]}`},
		{"piston above the key's", "POST", "/api/v2/execute", "small-token", `{"language":"python","version":"*","files":[{"content":"x"}],"run_memory_limit":200000000}`,
			400, `{"message":"run_memory_limit cannot exceed the configured limit of 134217728"}`},
	}
	for _, c := range refusals {
		if code, raw := call(c.method, c.path, c.token, c.body); code != c.code || strings.TrimSpace(raw) != c.want {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, code, raw, c.code, c.want)
		}
	}
	code, raw := call("GET", "/config_info", "full-token", "")
	var info map[string]any
	json.Unmarshal([]byte(raw), &info)
	if code != 200 || info["max_memory_limit"] != float64(256<<10) || info["max_wall_time_limit"] != 20.0 || info["memory_limit"] != float64(128000) {
		t.Errorf("config_info: %d %s", code, raw)
	}

	// A job naming no limits runs with its key's defaults: the open files
	// limit it reads, and memory it may not exceed.
	program, _ := json.Marshal(map[string]string{"language": "python", "code": "import resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE)[0], flush=True)\ns = b'x' * (100 << 20)\nprint(len(s))"})
	for token, want := range map[string]struct{ status, stdout string }{
		"full-token":  {"ok", "100\n104857600\n"},
		"small-token": {"memory_limit", "50\n"},
	} {
		code, raw := call("POST", "/v1/executions?wait=true", token, string(program))
		var got struct{ Status, Stdout string }
		json.Unmarshal([]byte(raw), &got)
		if code != 200 || got.Status != want.status || got.Stdout != want.stdout {
			t.Errorf("default limits of %s: %d %s\nwant %s with stdout %q", token, code, raw, want.status, want.stdout)
		}
	}
}
