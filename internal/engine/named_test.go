package engine

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/deps/depstest"
	"github.com/airlock-dev/airlock/internal/wire"
)

// cantilever is a platform-style calculation: a cantilever beam under a
// point load at its tip, its deflection and bending stress along the
// beam with numpy. preloaded says whether numpy was imported before the
// program started (a warm pool's preload).
const cantilever = `import sys
preloaded = "numpy" in sys.modules
import numpy as np


def calculate(inputs):
    L, P, E, I, c = (np.float64(inputs[k]) for k in ("length", "load", "E", "I", "c"))
    x = np.linspace(0.0, L, 201)
    deflection = P * x**2 * (3 * L - x) / (6 * E * I)
    stress = P * (L - x) * c / I
    return {
        "tip_deflection": float(deflection[-1]),
        "max_stress": float(np.max(np.abs(stress))),
        "preloaded": preloaded,
    }
`

// beamInputs and what they come to: P·L³/(3·E·I) and P·L·c/I.
const beamInputs = `{"length": 2.0, "load": 1000, "E": 200e9, "I": 8e-6, "c": 0.05}`

var wantDeflection, wantStress = 1000 * 8 / (3 * 200e9 * 8e-6), 1000 * 2.0 * 0.05 / 8e-6

type beamResult struct {
	TipDeflection float64 `json:"tip_deflection"`
	MaxStress     float64 `json:"max_stress"`
	Preloaded     bool    `json:"preloaded"`
}

// namedEngine is an engine over the shared sandbox with the environments
// envs declared and started, its pools full.
func namedEngine(t *testing.T, envs Environments, named map[string]Named) *Engine {
	t.Helper()
	shared := engine(t)
	e := New(testRunner, shared.Catalog(), Options{Environments: envs})
	t.Cleanup(e.Close)
	if err := e.AddEnvironments(named); err != nil {
		t.Fatal(err)
	}
	if err := e.StartEnvironments(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitFull(t, e)
	return e
}

func scientific(size int) map[string]Named {
	return map[string]Named{"scientific": {
		Language: "python", Check: []string{"numpy", "scipy"},
		Pool: PoolConfig{Size: size, Preload: []string{"numpy"}},
	}}
}

func beam(t *testing.T, e *Engine) beamResult {
	t.Helper()
	res, err := e.Execute(context.Background(), airlock.Request{
		Environment: "scientific", Mode: airlock.ModeFunction, Inputs: []byte(beamInputs),
		Files: []airlock.File{src("main.py", cantilever)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != airlock.StatusOK || res.Language != "python" {
		t.Fatalf("%s %s: %s %+v %s", res.Language, res.Status, res.Message, res.Error, res.Stderr)
	}
	var got beamResult
	if err := json.Unmarshal(res.Output, &got); err != nil {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	if math.Abs(got.TipDeflection-wantDeflection) > 1e-12 || math.Abs(got.MaxStress-wantStress) > 1e-3 {
		t.Fatalf("deflection %g, stress %g; want %g, %g", got.TipDeflection, got.MaxStress, wantDeflection, wantStress)
	}
	t.Logf("answered in %d ms wall", res.Usage.WallMillis)
	return got
}

// TestNamedEnvironmentCantilever: a function-mode numpy calculation in an
// environment of the host's packages answers the same cold and through
// the environment's pool, which really served it with numpy preloaded.
func TestNamedEnvironmentCantilever(t *testing.T) {
	t.Run("cold", func(t *testing.T) {
		e := namedEngine(t, nil, scientific(0))
		if got := beam(t, e); got.Preloaded {
			t.Fatal("numpy was imported before a cold program started")
		}
		if _, ok := e.PoolStats()["scientific"]; ok {
			t.Fatalf("a pool of size 0 started: %+v", e.PoolStats())
		}
	})
	t.Run("pooled", func(t *testing.T) {
		e := namedEngine(t, nil, scientific(1))
		hits := e.PoolStats()["scientific"].Hits
		if got := beam(t, e); !got.Preloaded {
			t.Fatal("the pooled program did not find numpy preloaded")
		}
		if e.PoolStats()["scientific"].Hits != hits+1 {
			t.Fatalf("the run did not take the environment's pooled sandbox: %+v", e.PoolStats())
		}
	})
}

// TestNamedEnvironmentCheck: a module of check that does not import stops
// the start, naming it and the environment.
func TestNamedEnvironmentCheck(t *testing.T) {
	e := New(testRunner, engine(t).Catalog(), Options{})
	defer e.Close()
	if err := e.AddEnvironments(map[string]Named{"sci": {Language: "py", Check: []string{"numpy", "airlock_no_such_module"}}}); err != nil {
		t.Fatal(err)
	}
	err := e.StartEnvironments(context.Background(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `environment "sci": module "airlock_no_such_module" does not import: ModuleNotFoundError`) {
		t.Fatalf("got %v", err)
	}
}

// TestNamedEnvironmentDeclare: names, languages, requirements and module
// names an environment cannot have.
func TestNamedEnvironmentDeclare(t *testing.T) {
	cases := map[string]struct {
		env  Named
		name string
		want string
	}{
		"a language's id":     {Named{Language: "python"}, "javascript", `environment "javascript": the name is taken by the language javascript`},
		"a language's alias":  {Named{Language: "python"}, "python3", `taken by the language python`},
		"unknown language":    {Named{Language: "cobol"}, "old", `environment "old": `},
		"requirements":        {Named{Language: "bash", Requirements: []string{"jq"}}, "scripts", `bash takes no requirements`},
		"a bad requirement":   {Named{Language: "python", Requirements: []string{"--index-url=http://x"}}, "sci", `environment "sci": requirements: `},
		"an option as module": {Named{Language: "python", Check: []string{"-c"}}, "sci", `"-c" is not a module name`},
		"a preload option":    {Named{Language: "python", Pool: PoolConfig{Size: 1, Preload: []string{"--x"}}}, "sci", `"--x" is not a module name`},
		"check in C":          {Named{Language: "c", Check: []string{"math"}}, "sci", `c has no modules to import`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := New(testRunner, engine(t).Catalog(), Options{})
			err := e.AddEnvironments(map[string]Named{c.name: c.env})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestNamedEnvironmentRequests: what a job may ask of an environment.
func TestNamedEnvironmentRequests(t *testing.T) {
	e := New(testRunner, engine(t).Catalog(), Options{})
	if err := e.AddEnvironments(map[string]Named{"scientific": {Language: "python"}, "tools": {Language: "js"}}); err != nil {
		t.Fatal(err)
	}
	py := []airlock.File{src("main.py", "print(1)")}
	cases := map[string]struct {
		req   airlock.Request
		field string
		want  string
	}{
		"unknown":           {airlock.Request{Environment: "nope", Files: py}, "environment", `unknown environment "nope" (this server has scientific, tools)`},
		"another language":  {airlock.Request{Environment: "scientific", Language: "javascript", Files: py}, "language", `javascript does not match environment "scientific", which is python`},
		"with requirements": {airlock.Request{Environment: "scientific", Requirements: []string{"numpy"}, Files: py}, "requirements", `give requirements or an environment, not both`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := e.Check(context.Background(), c.req)
			var bad *InvalidError
			if !errors.As(err, &bad) || bad.Field != c.field || !strings.Contains(bad.Problem, c.want) {
				t.Fatalf("got %v, want %s: %q", err, c.field, c.want)
			}
		})
	}
	if err := e.Check(context.Background(), airlock.Request{Environment: "scientific", Language: "python3", Files: py}); err != nil {
		t.Fatalf("an alias of the environment's language: %v", err)
	}
	// Through the native API's shape: the language comes from the
	// environment, and so does the name of code's file.
	req, err := e.Request(wire.Submission{Environment: "tools", Code: "console.log(1)"})
	if err != nil || req.Language != "javascript" || req.Environment != "tools" || req.Files[0].Name != "main.js" {
		t.Fatalf("got %+v, %v", req, err)
	}
	if _, err := e.Request(wire.Submission{Code: "x"}); err == nil || !strings.Contains(err.Error(), "name a language or an environment") {
		t.Fatalf("neither language nor environment: %v", err)
	}
}

// TestNamedEnvironmentRequirements: an environment with requirements is
// built at start from the operator's index; a job selecting it imports
// them, cold and through its pool (in function mode, the preload
// imported while waiting); a build that fails stops the start, naming
// the environment and the package.
func TestNamedEnvironmentRequirements(t *testing.T) {
	idx := depstest.Index(t, depstest.Package{Name: "beam-tools", Version: "1.2", Files: map[string]string{
		"beamtools/__init__.py": "def tip(P, L, E, I):\n    return P * L**3 / (3 * E * I)\n",
	}})
	m, err := deps.New(deps.Options{Dir: depstest.CacheDir(t), Runner: testRunner, PythonIndexes: []string{idx.URL()}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := namedEngine(t, m, map[string]Named{"tools": {
		Language: "python", Requirements: []string{"beam-tools==1.2"}, Check: []string{"beamtools"},
		Pool: PoolConfig{Size: 1, Preload: []string{"beamtools"}},
	}})
	code := "import sys\npre = 'beamtools' in sys.modules\nimport beamtools\n\ndef calculate(inputs):\n    return [pre, beamtools.tip(**inputs)]\n"
	hits := e.PoolStats()["tools"].Hits
	res, err := e.Execute(context.Background(), airlock.Request{
		Environment: "tools", Mode: airlock.ModeFunction, Inputs: []byte(`{"P": 3, "L": 1, "E": 2, "I": 1}`),
		Files: []airlock.File{src("main.py", code)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != airlock.StatusOK || strings.ReplaceAll(string(res.Output), " ", "") != `[true,0.5]` {
		t.Fatalf("%s %s %+v %s, want [true, 0.5]", res.Status, res.Output, res.Error, res.Stderr)
	}
	if e.PoolStats()["tools"].Hits != hits+1 {
		t.Fatalf("the run did not take the environment's pooled sandbox: %+v", e.PoolStats())
	}
	// Merged streams fit no pool: this one runs cold, the environment
	// bound all the same.
	res, err = e.Execute(context.Background(), airlock.Request{
		Environment: "tools", MergeStderr: true,
		Files: []airlock.File{src("main.py", "import sys, beamtools\nprint('beamtools' in sys.modules, beamtools.tip(3, 1, 2, 1))\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != airlock.StatusOK || string(res.Stdout) != "True 0.5\n" {
		t.Fatalf("cold: %s %q", res.Status, res.Stdout)
	}

	broken := New(testRunner, engine(t).Catalog(), Options{Environments: m})
	defer broken.Close()
	if err := broken.AddEnvironments(map[string]Named{"broken": {Language: "python", Requirements: []string{"airlock-missing-package"}}}); err != nil {
		t.Fatal(err)
	}
	err = broken.StartEnvironments(context.Background(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `environment "broken": its requirements could not be installed`) ||
		!strings.Contains(err.Error(), "airlock-missing-package") {
		t.Fatalf("got %v", err)
	}
}
