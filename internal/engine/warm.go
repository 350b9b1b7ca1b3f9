package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/pool"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// PoolConfig is one language's warm pool.
type PoolConfig struct {
	Size    int      // sandboxes kept ready; 0 disables the pool
	Preload []string // modules the waiting interpreter imports, when installed
}

// bootstrap is how a language's interpreter starts in a pooled sandbox:
// the flag that runs a program given on the command line, and the program
// (see the bootstrap directory), which waits for the job on sandbox.JobFD.
type bootstrap struct {
	flag    string
	program string
}

var bootstraps = map[string]bootstrap{
	"python":     {"-c", string(mustRead("bootstrap/python.py"))},
	"javascript": {"-e", string(mustRead("bootstrap/javascript.js"))},
}

// warmPool is a language's pool and the spec its sandboxes were prepared
// with, which a run must match to use one.
type warmPool struct {
	*pool.Pool
	spec sandbox.Spec
}

// StartPools starts the warm pools of cfg (by language id or alias). It
// fails on a language without a bootstrap, and when the sandbox cannot
// prepare; a language this host lacks gets no pool and a warning. Call it
// once, before the first Execute.
func (e *Engine) StartPools(cfg map[string]PoolConfig, log *slog.Logger) (err error) {
	pools := map[string]*warmPool{}
	defer func() {
		if err != nil {
			for _, p := range pools {
				p.Close()
			}
		}
	}()
	for name, c := range cfg {
		l, err := e.catalog.Lookup(name)
		if err != nil {
			return fmt.Errorf("pool %q: %w", name, err)
		}
		switch {
		case c.Size < 0:
			return fmt.Errorf("pool %q: size %d is negative", name, c.Size)
		case c.Size == 0:
			continue
		case pools[l.ID] != nil:
			return fmt.Errorf("pool %q: %s has a pool already", name, l.ID)
		}
		if err := l.Available(); err != nil {
			if _, ok := bootstraps[l.ID]; ok {
				log.Warn("no warm pool: language not available", "language", l.ID, "err", err)
				continue
			}
		}
		wp, err := e.newWarmPool(l, c, nil, log.With("pool", l.ID))
		if err != nil {
			return fmt.Errorf("pool %q: %w", name, err)
		}
		pools[l.ID] = wp
	}
	e.pools = pools
	return nil
}

// newWarmPool starts a pool of c.Size sandboxes of l's interpreter, with
// env bound when it is not nil.
func (e *Engine) newWarmPool(l *lang.Language, c PoolConfig, env *deps.Env, log *slog.Logger) (*warmPool, error) {
	boot, ok := bootstraps[l.ID]
	if !ok {
		return nil, fmt.Errorf("no warm pool for %s (python and javascript have one)", l.ID)
	}
	preparer, ok := e.runner.(sandbox.Preparer)
	if !ok {
		return nil, errors.New("this sandbox backend cannot keep a warm pool")
	}
	// Prepared with the most a job may ask, so that any job fits (the
	// sandbox lowers them to the job's); only the size of the writable
	// space is set at the start.
	limits := l.MaxOver(e.policy.Max)
	limits.TmpBytes = l.LimitsOver(e.policy.Default).Within(limits).TmpBytes
	spec := sandbox.Spec{
		Argv:    append([]string{l.Run[0], boot.flag, boot.program}, c.Preload...),
		Env:     l.Env,
		Limits:  limits,
		Collect: []string{resultFile},
	}
	withEnv(&spec, env) // the preloads import from it
	prepare := func(ctx context.Context) (sandbox.Prepared, error) { return preparer.Prepare(ctx, spec) }
	return &warmPool{Pool: pool.New(c.Size, min(c.Size, runtime.NumCPU()), prepare, log), spec: spec}, nil
}

// PoolStats reads each warm pool's counters, by language id, and each
// named environment's, by its name (never a language's, see
// AddEnvironments).
func (e *Engine) PoolStats() map[string]pool.Stats {
	stats := map[string]pool.Stats{}
	for id, p := range e.pools {
		stats[id] = p.Stats()
	}
	for name, nm := range e.named {
		if nm.pool != nil {
			stats[name] = nm.pool.Stats()
		}
	}
	return stats
}

// Close stops the warm pools, destroys their waiting sandboxes and lets
// the named environments' cache evict them.
func (e *Engine) Close() {
	for _, p := range e.pools {
		p.Close()
	}
	e.stopEnvironments()
}

// poolsFor are the pools a run of l may take a sandbox from, the named
// environment's first; fits decides whether one suits the run.
func (e *Engine) poolsFor(l *lang.Language, nm *named) []*warmPool {
	var pools []*warmPool
	if nm != nil && nm.pool != nil {
		pools = append(pools, nm.pool)
	}
	if wp := e.pools[l.ID]; wp != nil {
		pools = append(pools, wp)
	}
	return pools
}

// run runs spec in a sandbox of the first of pools that fits and has one
// ready, else in a new one.
func (e *Engine) run(ctx context.Context, pools []*warmPool, spec sandbox.Spec) (sandbox.Result, error) {
	for _, wp := range pools {
		if !wp.fits(spec) {
			continue
		}
		if s := wp.Get(ctx); s != nil {
			out, err := s.Run(ctx, sandbox.Job{
				Input: jobInput(spec), Stdin: spec.Stdin, Limits: spec.Limits, Interleave: spec.Interleave,
				Collect: spec.Collect, Live: spec.Live,
			})
			if !errors.Is(err, sandbox.ErrStale) {
				return out, err
			}
		}
	}
	return e.runner.Run(ctx, spec)
}

// fits says whether spec can run in one of the pool's sandboxes: the same
// interpreter running a script, with what the sandbox was prepared with
// (the same environment bound, or none).
func (wp *warmPool) fits(spec sandbox.Spec) bool {
	return len(spec.Argv) >= 2 && spec.Argv[0] == wp.spec.Argv[0] && !strings.HasPrefix(spec.Argv[1], "-") &&
		!spec.MergeStderr && spec.Dir == "" && slices.Equal(spec.Mounts, wp.spec.Mounts) && spec.Tree == nil && spec.Egress == nil &&
		slices.Equal(spec.Env, wp.spec.Env) && sandbox.Fits(spec.Limits, wp.spec.Limits) &&
		!slices.ContainsFunc(spec.Collect, func(c string) bool { return !slices.Contains(wp.spec.Collect, c) })
}

// jobInput is the job a bootstrap waits for, in a form it can read
// without importing anything: NUL-terminated fields — the number of
// arguments, the command line it stands for, the number of files, then
// each file's name, mode and size — then the files' contents back to
// back. Neither arguments nor names hold a NUL (see plan).
func jobInput(spec sandbox.Spec) []byte {
	size := 0
	for _, f := range spec.Files {
		size += len(f.Name) + len(f.Content) + 24
	}
	input := make([]byte, 0, size+64*(len(spec.Argv)+1))
	field := func(s string) { input = append(append(input, s...), 0) }
	field(strconv.Itoa(len(spec.Argv)))
	for _, a := range spec.Argv {
		field(a)
	}
	field(strconv.Itoa(len(spec.Files)))
	for _, f := range spec.Files {
		field(f.Name)
		field(strconv.FormatUint(uint64(f.Mode), 10))
		field(strconv.Itoa(len(f.Content)))
	}
	for _, f := range spec.Files {
		input = append(input, f.Content...)
	}
	return input
}
