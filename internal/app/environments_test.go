package app_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/sandbox/probe"
)

// Named environments a server refuses to start with, saying which and
// why, before anything runs.
func TestNamedEnvironmentStartErrors(t *testing.T) {
	py := func(judge0 int) config.Environment { return config.Environment{Language: "python", Judge0ID: judge0} }
	cases := map[string]struct {
		envs map[string]config.Environment
		want string
	}{
		"a language's alias":    {map[string]config.Environment{"python3": py(0)}, `environment "python3": the name is taken by the language python`},
		"an unknown language":   {map[string]config.Environment{"old": {Language: "cobol"}}, `environment "old": unknown language "cobol"`},
		"a Judge0 built-in id":  {map[string]config.Environment{"sci": py(71)}, `environment "sci": judge0_id 71 is taken by the built-in python`},
		"a Judge0 id twice":     {map[string]config.Environment{"a": py(1001), "b": py(1001)}, `environment "b": judge0_id 1001 is taken by environment "a"`},
		"a Piston alias":        {map[string]config.Environment{"py3": py(0)}, `environment "py3": Piston clients know the name as python`},
		"Piston's python alias": {map[string]config.Environment{"python3.11": py(0)}, `environment "python3.11": Piston clients know the name as python`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := embedded(t)
			cfg.Environments = c.envs
			a, err := app.New(cfg, app.Options{Runner: probe.New(nil), Log: slog.New(slog.DiscardHandler)})
			if err == nil {
				a.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
