package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/wire"
)

// fakeEnvs hands out one environment, or fails as told, and records what
// it was asked for.
type fakeEnvs struct {
	env *deps.Env
	err error
	mu  sync.Mutex
	got []deps.Spec
}

func (f *fakeEnvs) Get(_ context.Context, spec deps.Spec) (*deps.Env, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, spec)
	return f.env, f.err
}

func (f *fakeEnvs) calls() []deps.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// recordingRunner runs for real and records each spec it ran.
type recordingRunner struct {
	sandbox.Runner
	mu    sync.Mutex
	specs []sandbox.Spec
}

func (r *recordingRunner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	r.mu.Lock()
	r.specs = append(r.specs, spec)
	r.mu.Unlock()
	return r.Runner.Run(ctx, spec)
}

// ran are the specs run that were not a version detection.
func (r *recordingRunner) ran() []sandbox.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(r.specs), func(s sandbox.Spec) bool {
		return slices.Contains(s.Argv, "--version")
	})
}

// envEngine is an engine over the real sandbox whose environments come
// from envs.
func envEngine(t *testing.T, envs Environments) (*Engine, *recordingRunner) {
	t.Helper()
	shared := engine(t)
	runner := &recordingRunner{Runner: testRunner}
	return New(runner, shared.Catalog(), Options{Environments: envs}), runner
}

// fakeEnv is an environment on disk holding one Python module, bound at
// /env and put on PYTHONPATH.
func fakeEnv(t *testing.T) *deps.Env {
	t.Helper()
	dir, err := os.MkdirTemp("", "airlock-env-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The sandbox binds it as an unprivileged uid.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fakemod.py"), []byte("ANSWER = 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &deps.Env{Key: "fake", Mount: sandbox.Mount{Source: dir, Target: "/env"}, Vars: []string{"PYTHONPATH=/env"}}
}

// bound says whether a spec binds env and has its variables.
func bound(spec sandbox.Spec, env *deps.Env) bool {
	return slices.Contains(spec.Mounts, env.Mount) && !slices.ContainsFunc(env.Vars, func(v string) bool { return !slices.Contains(spec.Env, v) })
}

// TestEnvironmentBound: a job with requirements gets its environment,
// asked for with its language, version and parsed requirements, and
// imports from it in every run, in script and function mode; TypeScript's
// compile step has it too.
func TestEnvironmentBound(t *testing.T) {
	env := fakeEnv(t)
	envs := &fakeEnvs{env: env}
	e, runner := envEngine(t, envs)
	ctx := context.Background()

	res, err := e.Execute(ctx, airlock.Request{Language: "python", Requirements: []string{"FakeMod >= 1.0"}, Runs: 2,
		Files: []airlock.File{src("main.py", "import fakemod\nprint(fakemod.ANSWER)\n")}})
	if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "42\n" {
		t.Fatalf("script: %v %s %q %q", err, res.Status, res.Stdout, res.Stderr)
	}
	got := envs.calls()
	if len(got) != 1 || got[0].Language.ID != "python" || got[0].Version != res.Version || len(got[0].Requirements) != 1 ||
		got[0].Requirements[0].Name != "fakemod" {
		t.Fatalf("asked for %+v (version %s)", got, res.Version)
	}
	if ran := runner.ran(); len(ran) != 2 || !bound(ran[0], env) || !bound(ran[1], env) {
		t.Fatalf("runs %+v: want 2, both with the environment", ran)
	}

	res, err = e.Execute(ctx, airlock.Request{Language: "python", Mode: airlock.ModeFunction, Requirements: []string{"fakemod"},
		Inputs: json.RawMessage(`{"x": 1}`), Files: []airlock.File{src("main.py", "import fakemod\ndef calculate(inputs):\n    return fakemod.ANSWER + inputs['x']\n")}})
	if err != nil || res.Status != airlock.StatusOK || string(res.Output) != "43" {
		t.Fatalf("function: %v %s %s %+v", err, res.Status, res.Output, res.Error)
	}

	before := len(runner.ran())
	l, _ := e.Catalog().Lookup("typescript")
	res, err = e.Execute(ctx, airlock.Request{Language: "typescript", Requirements: []string{"left-pad@1.3.0"}, Files: []airlock.File{src(l.File, l.Test)}})
	if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "OK\n" {
		t.Fatalf("typescript: %v %s %q compile %+v", err, res.Status, res.Stdout, res.Compile)
	}
	if ran := runner.ran()[before:]; len(ran) != 2 || !bound(ran[0], env) || !bound(ran[1], env) || ran[0].Argv[0] != "/usr/bin/tsc" {
		t.Fatalf("typescript steps %+v: want compile and run, both with the environment", ran)
	}
}

// TestDependencyError: an environment that cannot be built ends the job
// as dependency_error with the installer's run, nothing else runs, and a
// session is shown the installer's output; any other failure is an
// internal error.
func TestDependencyError(t *testing.T) {
	installer := airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 1,
		Stdout: []byte("Looking in indexes: http://127.0.0.1:1/simple\n"), Stderr: []byte("ERROR: No matching distribution found for nosuch\n")}
	envs := &fakeEnvs{err: &deps.BuildError{Message: "no version of nosuch", Step: installer}}
	e, runner := envEngine(t, envs)
	var events []string
	sess := &Session{
		Stage: func(step string) { events = append(events, "stage "+step) },
		Output: func(step, stream string, data []byte) {
			events = append(events, fmt.Sprintf("%s %s %q", step, stream, data))
		},
		Exit: func(step string, out airlock.Step) {
			events = append(events, fmt.Sprintf("exit %s %s %d", step, out.Status, out.ExitCode))
		},
	}
	res, err := e.ExecuteLive(context.Background(), airlock.Request{Language: "python", Requirements: []string{"nosuch"},
		Files: []airlock.File{src("main.py", "print('ran')\n")}}, sess)
	if err != nil || res.Status != airlock.StatusDependencyError || res.Message != "dependencies: no version of nosuch" {
		t.Fatalf("%v %s %q", err, res.Status, res.Message)
	}
	if d := res.Dependencies; d == nil || string(d.Stderr) != string(installer.Stderr) || string(d.Stdout) != string(installer.Stdout) || d.ExitCode != 1 {
		t.Fatalf("dependencies %+v", res.Dependencies)
	}
	if ran := runner.ran(); len(ran) != 0 || res.Stdout != nil || res.Compile != nil {
		t.Fatalf("something ran: %+v, stdout %q", ran, res.Stdout)
	}
	want := []string{"stage dependencies", `dependencies stdout "Looking in indexes: http://127.0.0.1:1/simple\n"`,
		`dependencies stderr "ERROR: No matching distribution found for nosuch\n"`, "exit dependencies runtime_error 1"}
	if !slices.Equal(events, want) {
		t.Fatalf("session saw %q, want %q", events, want)
	}

	broken := errors.New("cache directory unreadable")
	e, _ = envEngine(t, &fakeEnvs{err: broken})
	if _, err := e.Execute(context.Background(), airlock.Request{Language: "python", Requirements: []string{"x"},
		Files: []airlock.File{src("main.py", "")}}); !errors.Is(err, broken) {
		t.Fatalf("a failing manager: %v, want its error", err)
	}
}

// TestRequirementsRefused: requirements a job cannot have are refused
// before anything runs, naming the field.
func TestRequirementsRefused(t *testing.T) {
	envs := &fakeEnvs{env: fakeEnv(t)}
	e, _ := envEngine(t, envs)
	py := []airlock.File{src("main.py", "")}
	cases := []struct {
		name  string
		e     *Engine
		req   airlock.Request
		field string
		words string
	}{
		{"no installer", e, airlock.Request{Language: "bash", Requirements: []string{"jq"}, Files: []airlock.File{src("main.sh", "")}},
			"requirements", "python, javascript and typescript take requirements"},
		{"too many", e, airlock.Request{Language: "python", Requirements: make([]string, deps.MaxRequirements+1), Files: py},
			"requirements", fmt.Sprintf("at most %d", deps.MaxRequirements)},
		{"no environments", engine(t), airlock.Request{Language: "python", Requirements: []string{"numpy"}, Files: py},
			"requirements", "this server builds no environments"},
		{"an option", e, airlock.Request{Language: "python", Requirements: []string{"numpy", "--index-url=http://evil/"}, Files: py},
			"requirements[1]", `"--index-url=http://evil/"`},
		{"a URL", e, airlock.Request{Language: "javascript", Requirements: []string{"https://evil/x.tgz"}, Files: []airlock.File{src("main.js", "")}},
			"requirements[0]", `"https://evil/x.tgz"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.e.Check(context.Background(), c.req)
			var bad *InvalidError
			if !errors.As(err, &bad) || bad.Field != c.field || !strings.Contains(bad.Problem, c.words) {
				t.Fatalf("got %v, want an InvalidError for %s saying %s", err, c.field, c.words)
			}
		})
	}
	if got := envs.calls(); len(got) != 0 {
		t.Fatalf("environments asked for: %+v", got)
	}
}

// TestSubmissionRequirements: /v1's requirements, a list or a file's
// text, reach the request; a wrong type names the field.
func TestSubmissionRequirements(t *testing.T) {
	e := engine(t)
	for body, want := range map[string][]string{
		`["numpy==1.24.0", "scipy"]`:                     {"numpy==1.24.0", "scipy"},
		`"# pinned\nnumpy==1.24.0\n\nscipy  # latest\n"`: {"numpy==1.24.0", "scipy"},
		`null`: nil,
	} {
		req, err := e.Request(wire.Submission{Language: "python", Code: "x", Requirements: json.RawMessage(body)})
		if err != nil || !slices.Equal(req.Requirements, want) {
			t.Errorf("%s: %q %v, want %q", body, req.Requirements, err, want)
		}
	}
	for body, field := range map[string]string{`{"numpy": "1.24"}`: "requirements", `["numpy", 3]`: "requirements[1]", `7`: "requirements"} {
		_, err := e.Request(wire.Submission{Language: "python", Code: "x", Requirements: json.RawMessage(body)})
		var bad *InvalidError
		if !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: got %v, want an InvalidError for %s", body, err, field)
		}
	}
}
