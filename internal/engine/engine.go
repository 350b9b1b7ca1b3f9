// Package engine turns a submission into sandboxed steps: it looks the
// language up in the catalog, validates the files, compiles in one sandbox,
// runs in a fresh one that sees only the artifacts and the submitted files,
// and judges the result (expected output, function mode). It sits between
// the APIs and the sandbox and knows neither HTTP nor storage.
package engine

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Engine executes submissions. It is safe for concurrent use.
type Engine struct {
	runner     sandbox.Runner
	catalog    *lang.Catalog
	policy     airlock.Policy
	versions   versionCache
	caches     cacheState
	pools      map[string]*warmPool // by language id; set before use
	envs       Environments         // nil: jobs with requirements are refused
	named      map[string]*named    // the operator's environments, by name; set before use
	namedReady bool                 // StartEnvironments made them ready here: this node serves them
}

// Options are the operator's settings.
type Options struct {
	Policy airlock.Policy // the server's limits; zero fields: airlock.DefaultPolicy
	// Environments builds the environments of jobs with requirements;
	// without it such jobs are refused.
	Environments Environments
}

// New makes an Engine over a sandbox runner and a catalog. The runner must
// bind the catalog's HostPaths in every sandbox.
func New(runner sandbox.Runner, catalog *lang.Catalog, opt Options) *Engine {
	return &Engine{
		runner:  runner,
		catalog: catalog,
		policy:  opt.Policy.Over(airlock.DefaultPolicy),
		envs:    opt.Environments,
	}
}

// Catalog is the engine's language catalog.
func (e *Engine) Catalog() *lang.Catalog { return e.catalog }

// Policy is the limits policy of a key whose own is own: own's fields
// over the server's, its maxima never above the server's.
func (e *Engine) Policy(own airlock.Policy) airlock.Policy {
	p := own.Over(e.policy)
	p.Max = p.Max.Within(e.policy.Max)
	p.CompileMax = p.CompileMax.Within(e.policy.CompileMax)
	return p
}

// LanguagePolicy is the policy of a job in l from a key whose own is
// own: the language's defaults and maxima over the key's, each default
// lowered to its maximum. Zero fields of CompileDefault are the run's.
func (e *Engine) LanguagePolicy(l *lang.Language, own airlock.Policy) airlock.Policy {
	pol := e.Policy(own)
	most := l.MaxOver(pol.Max)
	return airlock.Policy{
		Default: l.LimitsOver(pol.Default).Within(most), Max: most,
		CompileDefault: l.CompileLimitsOver(pol.CompileDefault).Within(pol.CompileMax), CompileMax: pol.CompileMax,
	}
}

// InvalidError is a submission the engine refuses, naming the field.
type InvalidError struct {
	Field   string
	Problem string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Problem }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Session is a client attached to an execution while it runs (Piston's
// interactive connect): each step is announced, its streams are live, and
// its end is reported. Stdin and Signals serve whichever step runs.
type Session struct {
	Stdin   <-chan []byte
	Signals <-chan syscall.Signal
	Output  func(step, stream string, data []byte)
	Stage   func(step string)                   // a step starts: "dependencies" (a failed build only), "compile" or "run"
	Exit    func(step string, out airlock.Step) // it ended
}

// live connects one step to the session.
func (s *Session) live(step string) *sandbox.Live {
	if s == nil {
		return nil
	}
	s.Stage(step)
	return &sandbox.Live{Stdin: s.Stdin, Signals: s.Signals, Output: func(stream string, data []byte) {
		s.Output(step, stream, data)
	}}
}

func (s *Session) exit(step string, out airlock.Step) {
	if s != nil {
		s.Exit(step, out)
	}
}

// replay shows the session a step that ran elsewhere, whole: its start,
// its output, its end.
func (s *Session) replay(step string, out airlock.Step) {
	if s == nil {
		return
	}
	s.Stage(step)
	for _, o := range []struct {
		stream string
		data   []byte
	}{{"stdout", out.Stdout}, {"stderr", out.Stderr}} {
		if len(o.data) > 0 {
			s.Output(step, o.stream, o.data)
		}
	}
	s.Exit(step, out)
}

// Execute runs a submission. Bad input is an *InvalidError and nothing
// runs; any other error is the sandbox failing (internal error); what the
// program did is in the Result. A job whose requirements cannot be
// installed ends as airlock.StatusDependencyError, the installer's run in
// Result.Dependencies, and nothing of it runs.
func (e *Engine) Execute(ctx context.Context, req airlock.Request) (airlock.Result, error) {
	return e.ExecuteLive(ctx, req, nil)
}

// ExecuteLive is Execute with a client attached to the steps as they run;
// sess may be nil. Every callback of sess has run when it returns.
func (e *Engine) ExecuteLive(ctx context.Context, req airlock.Request, sess *Session) (airlock.Result, error) {
	var res airlock.Result
	l, p, err := e.prepare(ctx, &req)
	if err != nil {
		return res, err
	}
	res.Language, res.Version = l.ID, p.version
	var env *deps.Env
	switch {
	case p.named != nil && p.named.env != nil:
		env = p.named.env // built at start, held by the engine
	case len(p.requirements) > 0:
		env, err = e.environment(ctx, l, p, &res, sess)
		if err != nil || res.Status == airlock.StatusDependencyError {
			return res, err
		}
		defer env.Release() // the cache may evict it once the steps are done
	}
	files, tree := p.files, (*sandbox.Tree)(nil)
	defer func() { tree.Close() }()
	if l.Compiles(req.Files) {
		compileVars := p.vars
		compileVars.Args = nil // the program's, not the compiler's
		keep, made := lang.Artifacts, []sandbox.File{{Name: lang.Artifacts + "/"}}
		if l.KeepWorkDir {
			keep, made = ".", nil
		}
		compile := sandbox.Spec{
			Argv:       lang.Expand(l.Compile, compileVars),
			Env:        append(slices.Clone(l.Env), e.cacheEnv(ctx, l)...),
			Files:      append(slices.Clone(files), made...),
			Limits:     p.compileLimits,
			Collect:    []string{keep},
			Interleave: req.Interleave,
		}
		withEnv(&compile, env) // TypeScript's compiler reads the packages' types
		compile.Live = sess.live("compile")
		out, err := e.runner.Run(ctx, compile)
		if err != nil {
			return res, fmt.Errorf("compile: %w", err)
		}
		// What the build left is handed to the run step as it is, on
		// disk: never read into memory here.
		tree = out.Tree
		step := out.Step()
		sess.exit("compile", step)
		res.Compile = &step
		if out.Status != airlock.StatusOK {
			res.Step = step
			res.Status = airlock.StatusCompileError
			if res.Message == "" {
				res.Message = "compilation failed"
			} else {
				res.Message = "compilation failed: " + res.Message
			}
			return res, nil
		}
		if l.KeepWorkDir {
			files = nil // the tree has them as the build left them
		}
	}
	spec := sandbox.Spec{
		Argv:        lang.Expand(l.Run, p.vars),
		Env:         l.Env,
		Files:       files,
		Tree:        tree,
		Stdin:       req.Stdin,
		Limits:      p.limits,
		MergeStderr: req.MergeStderr,
		Interleave:  req.Interleave,
	}
	// With an environment bound, only a pool prepared with it fits (see
	// fits): a named environment's.
	withEnv(&spec, env)
	if err := withNetwork(&spec, req.Network); err != nil {
		return res, fmt.Errorf("network: %w", err)
	}
	if req.Mode == airlock.ModeFunction {
		if err := withHarness(&spec, l, p.vars, req.Inputs); err != nil {
			return res, err
		}
	}
	pools := e.poolsFor(l, p.named)
	var total airlock.Usage
	runs := max(req.Runs, 1)
	for i := range runs {
		spec.Live = sess.live("run")
		if err := e.runOnce(ctx, pools, &res, spec, req); err != nil {
			return res, err
		}
		sess.exit("run", res.Step)
		total.CPUMillis += res.Usage.CPUMillis
		total.WallMillis += res.Usage.WallMillis
		total.MemoryKB += res.Usage.MemoryKB
		if res.Status != airlock.StatusOK || i == runs-1 {
			n := int64(i + 1)
			res.Usage = airlock.Usage{CPUMillis: total.CPUMillis / n, WallMillis: total.WallMillis / n, MemoryKB: total.MemoryKB / n}
			break
		}
	}
	return res, nil
}

// runOnce runs the program and judges what it did into res.
func (e *Engine) runOnce(ctx context.Context, pools []*warmPool, res *airlock.Result, spec sandbox.Spec, req airlock.Request) error {
	out, err := e.run(ctx, pools, spec)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer out.Tree.Close()
	res.Step = out.Step()
	if req.Mode == airlock.ModeFunction {
		judgeFunction(res, out, spec.Limits.Output)
	}
	if req.ExpectedOutput != nil && res.Status == airlock.StatusOK && !sameOutput(res.Stdout, req.ExpectedOutput) {
		res.Status = airlock.StatusWrongAnswer
		res.Message = "output differs from the expected output"
	}
	return nil
}

// Check validates a submission without running it: the errors Execute
// would return for bad input, so a service can refuse a job before
// accepting it.
func (e *Engine) Check(ctx context.Context, req airlock.Request) error {
	_, _, err := e.prepare(ctx, &req)
	return err
}

func (e *Engine) prepare(ctx context.Context, req *airlock.Request) (*lang.Language, *plan, error) {
	var nm *named
	if req.Environment != "" {
		var err error
		if nm, err = e.namedFor(req.Environment, req.Language, req.Requirements); err != nil {
			return nil, nil, err
		}
		req.Language = nm.lang.ID
	}
	l, err := e.catalog.Lookup(req.Language)
	if err != nil {
		return nil, nil, invalid("language", "%v", err)
	}
	if err := l.Available(); err != nil {
		return nil, nil, invalid("language", "%s is not available on this host: %v", l.ID, err)
	}
	version, err := e.Version(ctx, l)
	if err != nil {
		return nil, nil, err
	}
	if req.Version != "" && req.Version != version && !strings.HasPrefix(version, req.Version+".") {
		return nil, nil, invalid("version", "%s %s is not installed (this host has %s)", l.ID, req.Version, version)
	}
	p, err := e.plan(l, req)
	if err != nil {
		return nil, nil, err
	}
	p.version = version
	if nm != nil {
		p.named, p.requirements = nm, nm.requirements
	}
	return l, p, nil
}

// plan is a validated submission, ready to run.
type plan struct {
	version               string
	requirements          []deps.Requirement // checked; none: no environment
	named                 *named             // the operator's environment the job runs in; nil: none
	files                 []sandbox.File
	vars                  lang.Vars
	compileLimits, limits airlock.Limits
}

func (e *Engine) plan(l *lang.Language, req *airlock.Request) (*plan, error) {
	p := &plan{}
	if err := checkFiles(req.Files, l.Compiles(req.Files) && !l.KeepWorkDir); err != nil {
		return nil, err
	}
	entry := req.Entry
	if entry == "" {
		entry = req.Files[0].Name
	} else if !slices.ContainsFunc(req.Files, func(f airlock.File) bool { return f.Name == entry }) {
		return nil, invalid("entry", "%q is not one of the submitted files", entry)
	}
	for i, list := range [][]string{req.Args, req.CompileOptions} {
		for _, a := range list {
			if strings.ContainsRune(a, 0) {
				return nil, invalid([]string{"args", "compile_options"}[i], "an argument contains a NUL byte")
			}
		}
	}
	switch req.Mode {
	case "", airlock.ModeScript:
		req.Mode = airlock.ModeScript
	case airlock.ModeFunction:
		if len(l.Function) == 0 || harnesses[l.ID] == nil {
			return nil, invalid("mode", "function mode is not available for %s (it is for python and javascript)", l.ID)
		}
	default:
		return nil, invalid("mode", "unknown mode %q (want script or function)", req.Mode)
	}
	// The one place limits are enforced: a request above a maximum is
	// refused.
	pol := e.LanguagePolicy(l, req.Policy)
	if field, m := req.Limits.Exceeding(pol.Max); field != "" {
		return nil, invalid("limits."+field, "at most %d (this server's maximum)", m)
	}
	p.limits = req.Limits.WithDefaults(pol.Default)
	if field, m := req.CompileLimits.Exceeding(pol.CompileMax); field != "" {
		return nil, invalid("compile_limits."+field, "at most %d (this server's maximum)", m)
	}
	p.compileLimits = req.CompileLimits.WithDefaults(pol.CompileDefault.WithDefaults(p.limits)).Within(pol.CompileMax)
	if req.Runs < 0 || req.Runs > MaxRuns {
		return nil, invalid("runs", "%d: want 1 to %d", req.Runs, MaxRuns)
	}
	reqs, err := e.checkRequirements(l, req.Requirements)
	if err != nil {
		return nil, err
	}
	p.requirements = reqs
	if err := checkNetwork(req.Network); err != nil {
		return nil, err
	}
	p.vars = lang.Vars{Entry: entry, Options: req.CompileOptions, Args: req.Args, Harness: harnessFile}
	for _, f := range req.Files {
		p.files = append(p.files, sandbox.File{Name: f.Name, Content: f.Content})
		if slices.Contains(l.Extensions, strings.ToLower(path.Ext(f.Name))) {
			p.vars.Sources = append(p.vars.Sources, f.Name)
		}
	}
	return p, nil
}

// Bounds on a submission.
const (
	MaxRuns      = 20
	MaxFiles     = 256
	MaxNameBytes = 255
	MaxPathBytes = 1024
	MaxFileBytes = 16 << 20
	MaxAllBytes  = 32 << 20
)

// reserved are top-level names the engine writes itself.
var reserved = []string{".airlock"}

func checkFiles(files []airlock.File, artifacts bool) error {
	if len(files) == 0 {
		return invalid("files", "no file submitted")
	}
	if len(files) > MaxFiles {
		return invalid("files", "%d files, at most %d allowed", len(files), MaxFiles)
	}
	seen := map[string]bool{}
	total := 0
	for i, f := range files {
		field := fmt.Sprintf("files[%d].name", i)
		if err := checkName(f.Name); err != "" {
			return invalid(field, "%q %s", f.Name, err)
		}
		top, _, _ := strings.Cut(f.Name, "/")
		if slices.Contains(reserved, top) || (artifacts && top == lang.Artifacts) {
			return invalid(field, "%q is reserved for the build", top)
		}
		if seen[f.Name] {
			return invalid(field, "%q is submitted twice", f.Name)
		}
		seen[f.Name] = true
		if len(f.Content) > MaxFileBytes {
			return invalid(fmt.Sprintf("files[%d].content", i), "%d bytes, at most %d allowed", len(f.Content), MaxFileBytes)
		}
		total += len(f.Content)
	}
	if total > MaxAllBytes {
		return invalid("files", "%d bytes in all, at most %d allowed", total, MaxAllBytes)
	}
	return nil
}

// checkName says what is wrong with a file name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxPathBytes:
		return fmt.Sprintf("is longer than %d bytes", MaxPathBytes)
	case strings.ContainsRune(name, 0):
		return "contains a NUL byte"
	case strings.HasPrefix(name, "/"):
		return "is absolute"
	case strings.Contains(name, "\\"):
		return "contains a backslash"
	case path.Clean(name) != name:
		return "is not a clean relative path (no ., .., // or trailing /)"
	case name == "." || name == ".." || strings.HasPrefix(name, "../"):
		return "escapes the work directory"
	}
	for _, part := range strings.Split(name, "/") {
		if len(part) > MaxNameBytes {
			return fmt.Sprintf("has a component longer than %d bytes", MaxNameBytes)
		}
	}
	return ""
}

// sameOutput compares as Judge0 does: trailing whitespace of each line and
// trailing newlines do not count.
func sameOutput(got, want []byte) bool {
	return bytes.Equal(normalize(got), normalize(want))
}

func normalize(b []byte) []byte {
	lines := bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"))
	for i, line := range lines {
		lines[i] = bytes.TrimRight(line, " \t\r")
	}
	return bytes.TrimRight(bytes.Join(lines, []byte("\n")), "\n")
}
