package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/deps/depstest"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// cantilever is a platform-style function: a cantilever beam's tip
// deflection P·L³/(3·E·I) and its largest bending stress P·L·c/I, with
// numpy, inputs and outputs as JSON.
const cantilever = `import numpy as np


def calculate(inputs):
    L, P, E, I, c = (np.float64(inputs[k]) for k in ("length", "load", "E", "I", "c"))
    x = np.linspace(0.0, L, 201)
    deflection = P * x**2 * (3 * L - x) / (6 * E * I)
    stress = P * (L - x) * c / I
    return {"tip_deflection": float(deflection[-1]), "max_stress": float(np.max(np.abs(stress)))}
`

// environmentsService serves a config with two named environments: the
// host's numpy and scipy (pooled, numpy preloaded, offered to Judge0
// clients under id 1001), and a package built at start from an index on
// loopback.
func environmentsService(t *testing.T) env {
	t.Helper()
	idx := depstest.Index(t, depstest.Package{Name: "beam-tools", Version: "1.2", Files: map[string]string{
		"beamtools/__init__.py": "def tip(P, L, E, I):\n    return P * L**3 / (3 * E * I)\n",
	}})
	r, _ := servicetest.Runner(t)
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Pools = nil
	cfg.EnvsDir = depstest.CacheDir(t)
	cfg.PythonIndexes = []string{idx.URL()}
	cfg.Environments = map[string]config.Environment{
		"scientific": {Language: "python", Check: []string{"numpy", "scipy"}, Judge0ID: 1001, Pool: config.Pool{Size: 1, Preload: []string{"numpy"}}},
		"tools":      {Language: "python", Requirements: []string{"beam-tools==1.2"}, Check: []string{"beamtools"}},
	}
	url := servicetest.Serve(t, cfg, app.Options{Runner: r, Log: slog.New(slog.DiscardHandler)})
	return env{&servicetest.Env{URL: url}}
}

// TestNamedEnvironments: the operator's environments end to end, through
// every face: listed, selected by name (with or without the language),
// refused with the reason, a numpy calculation answered through the
// environment's pool.
func TestNamedEnvironments(t *testing.T) {
	e := environmentsService(t)

	r := e.do(t, "GET", "/v1/environments", "")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.raw), &listed); err != nil || r.code != 200 || len(listed) != 2 {
		t.Fatalf("GET /v1/environments: %d %s", r.code, r.raw)
	}
	sci, tools := listed[0], listed[1]
	if sci["name"] != "scientific" || sci["language"] != "python" || sci["version"] == "" || sci["pool_size"] != 1.0 ||
		sci["judge0_id"] != 1001.0 || len(sci["packages_checked"].([]any)) != 2 ||
		tools["name"] != "tools" || tools["requirements"].([]any)[0] != "beam-tools==1.2" {
		t.Fatalf("GET /v1/environments: %s", r.raw)
	}

	t.Run("v1 function mode", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{
			"environment": "scientific", "mode": "function", "code": cantilever,
			"inputs": map[string]float64{"length": 2, "load": 1000, "E": 200e9, "I": 8e-6, "c": 0.05},
		})
		r := e.do(t, "POST", "/v1/executions?wait=true", string(body))
		out, _ := r.body["output"].(map[string]any)
		if r.code != 200 || r.body["status"] != "ok" || r.body["language"] != "python" || out == nil {
			t.Fatalf("%d %s", r.code, r.raw)
		}
		if d, s := out["tip_deflection"].(float64), out["max_stress"].(float64); math.Abs(d-1000*8/(3*200e9*8e-6)) > 1e-12 || math.Abs(s-12.5e6) > 1e-3 {
			t.Fatalf("deflection %g, stress %g", d, s)
		}
		// The environment's pool served it (the only job so far).
		if r := e.do(t, "GET", "/metrics", ""); !regexp.MustCompile(`airlock_pool_hits_total\{language="scientific"\} [1-9]`).MatchString(r.raw) {
			t.Fatalf("the environment's pool served nothing:\n%s", r.raw)
		}
	})
	t.Run("v1 requirements built at start", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","environment":"tools","code":"import beamtools\nprint(beamtools.tip(3, 1, 2, 1))"}`)
		if r.code != 200 || r.body["stdout"] != "0.5\n" {
			t.Fatalf("%d %s", r.code, r.raw)
		}
	})
	t.Run("v1 refusals", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"environment":"nope","code":"x"}`:                                      `unknown environment "nope" (this server has scientific, tools)`,
			`{"language":"javascript","environment":"scientific","code":"x"}`:        `javascript does not match environment "scientific", which is python`,
			`{"environment":"scientific","code":"x","requirements":["numpy"]}`:       `give requirements or an environment, not both`,
			`{"language":"python","environment":"scientific","code":"x","files":[]}`: "", // a valid one, for contrast
			`{"code":"x"}`: "name a language or an environment",
			`{"environment":"scientific","code":"x","requirements":"numpy==1.24.0"}`: `give requirements or an environment, not both`,
		} {
			r := e.do(t, "POST", "/v1/executions", body)
			if want == "" {
				if r.code != 202 {
					t.Errorf("%s: %d %s", body, r.code, r.raw)
				}
				continue
			}
			if msg, _ := r.body["error"].(string); r.code != 422 || !strings.Contains(msg, want) {
				t.Errorf("%s: %d %s, want 422 %q", body, r.code, r.raw, want)
			}
		}
	})
	t.Run("judge0", func(t *testing.T) {
		code, raw := call(t, e, "GET", "/languages", "", nil)
		if code != 200 || !strings.Contains(raw, `{"id":1001,"name":"Python (scientific)"}`) {
			t.Fatalf("GET /languages: %d %s", code, raw)
		}
		var sub struct {
			Stdout   string `json:"stdout"`
			Language struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
			} `json:"language"`
		}
		code, raw = call(t, e, "POST", "/submissions?wait=true&fields=stdout,language", `{"language_id":1001,"source_code":"import numpy, scipy\nprint(numpy.array([1, 2, 3]).sum())"}`, &sub)
		if code != 201 || sub.Stdout != "6\n" || sub.Language.ID != 1001 || sub.Language.Name != "Python (scientific)" {
			t.Fatalf("POST /submissions: %d %s", code, raw)
		}
		var lang struct {
			SourceFile string `json:"source_file"`
		}
		if code, raw = call(t, e, "GET", "/languages/1001", "", &lang); code != 200 || lang.SourceFile != "script.py" {
			t.Fatalf("GET /languages/1001: %d %s", code, raw)
		}
	})
	t.Run("piston", func(t *testing.T) {
		var runtimes []map[string]any
		code, raw := call(t, e, "GET", "/api/v2/runtimes", "", &runtimes)
		version := ""
		for _, rt := range runtimes {
			if rt["language"] == "scientific" {
				version, _ = rt["version"].(string)
			}
		}
		if version == "" || version != sci["version"] {
			t.Fatalf("GET /api/v2/runtimes: no scientific runtime at %v: %d %s", sci["version"], code, raw)
		}
		var ran struct {
			Language, Version string
			Run               struct{ Stdout string }
		}
		code, raw = call(t, e, "POST", "/api/v2/execute", `{"language":"scientific","version":"*","files":[{"content":"import scipy.special\nprint(scipy.special.factorial(5, exact=True))"}]}`, &ran)
		if code != 200 || ran.Language != "scientific" || ran.Version != version || ran.Run.Stdout != "120\n" {
			t.Fatalf("POST /api/v2/execute: %d %s", code, raw)
		}
	})
}

// call sends a JSON request to another face and decodes its answer into
// out (when not nil).
func call(t *testing.T, e env, method, path, body string, out any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}
