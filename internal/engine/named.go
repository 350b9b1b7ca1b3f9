package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/lang"
)

// Named is an operator's named environment (the config file's
// environments): a language with packages, which a job selects by name.
type Named struct {
	Language string // catalog id or alias
	// Requirements are built into the environment at start, like a job's;
	// none: the environment is the host's own packages.
	Requirements []string
	Check        []string   // modules that must import in a sandbox at start
	Judge0ID     int        // the Judge0 language id it is offered under; 0: none
	Pool         PoolConfig // its warm pool, the environment bound and Preload imported
}

// named is a declared environment as the engine keeps it.
type named struct {
	Named
	name         string
	lang         *lang.Language
	requirements []deps.Requirement // parsed; none: the host's packages
	// env is the built environment, held from StartEnvironments to Close
	// so the cache never evicts it; nil when it has no requirements or
	// this node has not started it (a job then gets it from the cache).
	env  *deps.Env
	pool *warmPool // nil: none
}

// modulePattern is a module name a check or preload may give: a Python
// dotted name or an npm package name, never an option.
var modulePattern = regexp.MustCompile(`^[A-Za-z0-9_@][A-Za-z0-9_.@/-]*$`)

// AddEnvironments declares the operator's named environments, by name.
// A name must not be a language's id or alias, the language must be in
// the catalog, the requirements must parse for its installer and the
// checked and preloaded modules must be plain names. Every node declares
// them (an API node checks and lists jobs' choices); StartEnvironments
// makes them ready where jobs run. Call it once, before the first
// Execute.
func (e *Engine) AddEnvironments(envs map[string]Named) error {
	all := map[string]*named{}
	for _, name := range sortedKeys(envs) {
		n := envs[name]
		if l, err := e.catalog.Lookup(name); err == nil {
			return fmt.Errorf("environment %q: the name is taken by the language %s (choose another)", name, l.ID)
		}
		l, err := e.catalog.Lookup(n.Language)
		if err != nil {
			return fmt.Errorf("environment %q: %w", name, err)
		}
		nm := &named{Named: n, name: name, lang: l}
		if len(n.Requirements) > 0 {
			if l.Installer == "" {
				return fmt.Errorf("environment %q: %s takes no requirements (python, javascript and typescript do)", name, l.ID)
			}
			if nm.requirements, err = deps.Parse(l.Installer, n.Requirements); err != nil {
				return fmt.Errorf("environment %q: requirements: %w", name, err)
			}
		}
		for _, m := range append(slices.Clone(n.Check), n.Pool.Preload...) {
			if !modulePattern.MatchString(m) {
				return fmt.Errorf("environment %q: %q is not a module name", name, m)
			}
		}
		if len(n.Check) > 0 && importers[l.Installer] == nil {
			return fmt.Errorf("environment %q: check: %s has no modules to import (python, javascript and typescript do)", name, l.ID)
		}
		if n.Pool.Size < 0 {
			return fmt.Errorf("environment %q: pool size %d is negative", name, n.Pool.Size)
		}
		all[name] = nm
	}
	e.named = all
	return nil
}

// StartEnvironments makes every declared environment ready on this node:
// one with requirements is built (or found in the cache), every module of
// its Check must import in a sandbox, and its warm pool starts. Any
// failure stops it with an error naming the environment, and what it
// started is stopped again. Call it once, after AddEnvironments and
// before the first Execute.
func (e *Engine) StartEnvironments(ctx context.Context, log *slog.Logger) (err error) {
	defer func() {
		if err != nil {
			e.stopEnvironments()
		}
	}()
	for _, name := range sortedKeys(e.named) {
		nm := e.named[name]
		if err := nm.lang.Available(); err != nil {
			return fmt.Errorf("environment %q: %s is not available on this host: %w", name, nm.lang.ID, err)
		}
		version, err := e.Version(ctx, nm.lang)
		if err != nil {
			return fmt.Errorf("environment %q: %w", name, err)
		}
		if len(nm.requirements) > 0 {
			if nm.env, err = e.buildNamed(ctx, nm, version); err != nil {
				return err
			}
		}
		if err := e.checkImports(ctx, nm); err != nil {
			return err
		}
		if nm.Pool.Size > 0 {
			if nm.pool, err = e.newWarmPool(nm.lang, nm.Pool, nm.env, log.With("pool", name)); err != nil {
				return fmt.Errorf("environment %q: pool: %w", name, err)
			}
		}
		log.Info("environment ready", "environment", name, "language", nm.lang.ID, "version", version,
			"requirements", len(nm.requirements), "checked", nm.Check, "pool", nm.Pool.Size)
	}
	e.namedReady = true
	return nil
}

// buildNamed builds a named environment's requirements.
func (e *Engine) buildNamed(ctx context.Context, nm *named, version string) (*deps.Env, error) {
	if e.envs == nil {
		return nil, fmt.Errorf("environment %q: it has requirements, and this server builds no environments (see envs_dir)", nm.name)
	}
	env, err := e.envs.Get(ctx, deps.Spec{Language: nm.lang, Version: version, Requirements: nm.requirements})
	var failed *deps.BuildError
	switch {
	case errors.As(err, &failed):
		msg := fmt.Sprintf("environment %q: its requirements could not be installed: %s", nm.name, failed.Message)
		if tail := lastLines(failed.Step.Stderr, 5); tail != "" {
			msg += "\n" + tail
		}
		return nil, errors.New(msg)
	case err != nil:
		return nil, fmt.Errorf("environment %q: %w", nm.name, err)
	}
	return env, nil
}

// stopEnvironments stops the named environments' pools and releases
// their built environments.
func (e *Engine) stopEnvironments() {
	for _, nm := range e.named {
		if nm.pool != nil {
			nm.pool.Close()
			nm.pool = nil
		}
		nm.env.Release()
		nm.env = nil
	}
}

// namedFor resolves a request's environment: its language becomes the
// request's when it names none, and must be the same when it does. A job
// gives requirements or an environment, not both.
func (e *Engine) namedFor(name, language string, requirements []string) (*named, error) {
	nm := e.named[name]
	switch {
	case nm == nil && len(e.named) == 0:
		return nil, invalid("environment", "unknown environment %q: this server has none", name)
	case nm == nil:
		return nil, invalid("environment", "unknown environment %q (this server has %s)", name, strings.Join(sortedKeys(e.named), ", "))
	case len(requirements) > 0:
		return nil, invalid("requirements", "environment %q brings its own packages: give requirements or an environment, not both", name)
	}
	if language != "" {
		l, err := e.catalog.Lookup(language)
		if err != nil {
			return nil, invalid("language", "%v", err)
		}
		if l.ID != nm.lang.ID {
			return nil, invalid("language", "%s does not match environment %q, which is %s", l.ID, name, nm.lang.ID)
		}
	}
	return nm, nil
}

// EnvironmentInfo is a named environment as this host has it.
type EnvironmentInfo struct {
	Name         string   `json:"name"`
	Language     string   `json:"language"` // catalog id
	Version      string   `json:"version"`  // the language's, as detected
	Requirements []string `json:"requirements"`
	Checked      []string `json:"packages_checked"` // modules that imported at start
	Judge0ID     int      `json:"judge0_id,omitempty"`
	Pool         int      `json:"pool_size"`
}

// NamedEnvironments lists the named environments, sorted by name. A
// language whose version cannot be detected shows none.
func (e *Engine) NamedEnvironments(ctx context.Context) []EnvironmentInfo {
	out := []EnvironmentInfo{}
	for _, name := range sortedKeys(e.named) {
		nm := e.named[name]
		version := ""
		if nm.lang.Available() == nil {
			version, _ = e.Version(ctx, nm.lang)
		}
		out = append(out, EnvironmentInfo{
			Name: name, Language: nm.lang.ID, Version: version,
			Requirements: append([]string{}, nm.Named.Requirements...), Checked: append([]string{}, nm.Check...),
			Judge0ID: nm.Judge0ID, Pool: nm.Pool.Size,
		})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lastLines is the last n lines of b, trimmed.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
