package app

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// OpenEnvironments is the cache and builder of the jobs' dependency
// environments: in cfg.EnvsDir, else envs in the data directory, which
// then becomes searchable (not listable) by all, since the sandboxes'
// uids bind the environments from there. blobs, when set, shares them
// with a fleet. A cache the sandboxes could not reach is an error saying
// which directory is in the way.
func OpenEnvironments(cfg *config.Config, runner sandbox.Runner, blobs airlock.BlobStore, log *slog.Logger) (*deps.Manager, error) {
	dir := cfg.EnvsDir
	if dir == "" {
		dir = filepath.Join(cfg.Data, "envs")
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chmod(cfg.Data, 0o711); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if blocked := unsearchable(filepath.Dir(abs)); blocked != "" {
		return nil, fmt.Errorf("environments: the sandboxes cannot reach %s: %s is not searchable by others (chmod o+x it, or set envs_dir elsewhere)", abs, blocked)
	}
	return deps.New(deps.Options{
		Dir: abs, MaxBytes: cfg.EnvsMaxSize, Runner: runner, PythonIndexes: cfg.PythonIndexes,
		NPMRegistry: cfg.NPMRegistry, CABundle: cfg.CABundle, Blobs: blobs, Log: log,
	})
}

// unsearchable is the first directory from the root down to dir that
// others may not search, or "" when there is none.
func unsearchable(dir string) string {
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if fi, err := os.Stat(chain[i]); err == nil && fi.Mode().Perm()&0o001 == 0 {
			return chain[i]
		}
	}
	return ""
}

// declareEnvironments gives the engine the operator's named environments
// and checks that each API face can offer them under their names and
// Judge0 ids.
func declareEnvironments(eng *engine.Engine, envs map[string]config.Environment) error {
	named := map[string]engine.Named{}
	for name, e := range envs {
		named[name] = engine.Named{
			Language: e.Language, Requirements: e.Requirements, Check: e.Check, Judge0ID: e.Judge0ID,
			Pool: engine.PoolConfig{Size: e.Pool.Size, Preload: e.Pool.Preload},
		}
	}
	if err := eng.AddEnvironments(named); err != nil {
		return err
	}
	if err := judge0.CheckEnvironments(named); err != nil {
		return err
	}
	return piston.CheckEnvironments(named)
}
