package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/bench"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// beamCalculation is a function-mode calculation of the kind the
// engineering platforms run: a cantilever beam's tip deflection and
// largest bending stress under a tip load, with numpy.
const beamCalculation = `import numpy as np

def calculate(inputs):
    L, P, E, I, c = (inputs[k] for k in ("length", "load", "E", "I", "c"))
    x = np.linspace(0.0, L, 101)
    deflection = P * x**2 * (3 * L - x) / (6 * E * I)
    moment = P * (L - x)
    return {"tip_deflection": float(deflection[-1]), "max_stress": float(np.max(np.abs(moment)) * c / I)}
`

// beamInputs is a steel beam, 2 m long, 1 kN at its tip.
var beamInputs = json.RawMessage(`{"length": 2.0, "load": 1000.0, "E": 2.0e11, "I": 8.0e-6, "c": 0.05}`)

// benchEnvironments times what environments cost: the first build of an
// npm requirement (the registry must be reachable), a run with the
// environment cached against a run with none, and a preloaded numpy
// calculation in function mode against a bare `python3 -c "import numpy"`.
func benchEnvironments(ctx context.Context, out io.Writer, runner sandbox.Runner, catalog *lang.Catalog, n int, requirement string) error {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("/var/tmp", "airlock-bench-envs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	if err := os.Chmod(cache, 0o755); err != nil {
		return err
	}
	cfg.EnvsDir = cache
	envs, err := app.OpenEnvironments(cfg, runner, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	cold := engine.New(runner, catalog, engine.Options{Environments: envs})
	warm := engine.New(runner, catalog, engine.Options{})
	if err := warm.StartPools(map[string]engine.PoolConfig{"python": {Size: 2, Preload: []string{"numpy"}}}, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	defer warm.Close()

	js := `console.log(typeof require("` + requirementName(requirement) + `"))` + "\n"
	withEnv := airlock.Request{Language: "javascript", Files: []airlock.File{{Name: "main.js", Content: []byte(js)}}, Requirements: []string{requirement}}
	without := airlock.Request{Language: "javascript", Files: []airlock.File{{Name: "main.js", Content: []byte(`console.log("function")` + "\n")}}}
	beam := airlock.Request{Language: "python", Mode: airlock.ModeFunction, Files: []airlock.File{{Name: "main.py", Content: []byte(beamCalculation)}}, Inputs: beamInputs}

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "environments\tn\tp50 ms\tp95 ms\tp50 ÷ base\tbase\t")
	start := time.Now()
	if err := expect(ctx, cold, withEnv, "function\n"); err != nil {
		return fmt.Errorf("first build of %s: %w", requirement, err)
	}
	fmt.Fprintf(w, "first build of %s\t1\t%.1f\t-\t-\t-\t\n", requirement, millis(time.Since(start)))
	base, err := bench.Measure(ctx, n, 1, func(ctx context.Context) error { return expect(ctx, cold, without, "function\n") })
	if err != nil {
		return err
	}
	s, err := bench.Measure(ctx, n, 1, func(ctx context.Context) error { return expect(ctx, cold, withEnv, "function\n") })
	if err != nil {
		return err
	}
	row(w, "node run, environment cached", s, base, "node run, no environment")
	bare, err := bench.Measure(ctx, n, 1, func(ctx context.Context) error {
		return exec.CommandContext(ctx, "/usr/bin/python3", "-c", "import numpy").Run()
	})
	if err != nil {
		return fmt.Errorf("bare python3 -c 'import numpy' (is python3-numpy installed?): %w", err)
	}
	s, err = bench.Measure(ctx, n, 1, func(ctx context.Context) error { return expectOutput(ctx, cold, beam) })
	if err != nil {
		return err
	}
	row(w, "numpy beam calculation, cold sandbox", s, bare, `bare python3 -c "import numpy"`)
	// Each call once the pool is full again: a request that finds a
	// sandbox waiting, the case the pool is for.
	pool := func() (poolCounts, error) {
		st := warm.PoolStats()["python"]
		return poolCounts{float64(st.Hits), float64(st.Misses), st.Ready == st.Size}, nil
	}
	s, err = bench.MeasurePaced(ctx, n, func(ctx context.Context) error {
		_, err := waitPoolFull(ctx, pool)
		return err
	}, func(ctx context.Context) error { return expectOutput(ctx, warm, beam) })
	if err != nil {
		return err
	}
	row(w, "numpy beam calculation, preloaded pool", s, bare, `bare python3 -c "import numpy"`)
	return w.Flush()
}

func row(w io.Writer, name string, s, base bench.Stats, baseName string) {
	fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.2f\t%s\t\n", name, s.N, millis(s.P50), millis(s.P95), float64(s.P50)/float64(base.P50), baseName)
}

// requirementName is the package an npm spec names.
func requirementName(spec string) string {
	for i := len(spec) - 1; i > 0; i-- {
		if spec[i] == '@' {
			return spec[:i]
		}
	}
	return spec
}

func expect(ctx context.Context, e *engine.Engine, req airlock.Request, stdout string) error {
	res, err := e.Execute(ctx, req)
	if err == nil && (res.Status != airlock.StatusOK || string(res.Stdout) != stdout) {
		err = fmt.Errorf("%s: %s %q", res.Status, res.Message, res.Stderr)
	}
	return err
}

// expectOutput runs a function-mode request and checks it returned.
func expectOutput(ctx context.Context, e *engine.Engine, req airlock.Request) error {
	res, err := e.Execute(ctx, req)
	if err == nil && (res.Status != airlock.StatusOK || len(res.Output) == 0) {
		err = fmt.Errorf("%s: %s %q", res.Status, res.Message, res.Stderr)
	}
	return err
}
