package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// cacheState remembers which compiler caches are warm.
type cacheState struct {
	mu   sync.Mutex // one warm-up at a time; others wait for it
	warm map[string]bool
}

// cacheEnv names l's cache for a compile step once it is warm, filling it
// first if need be. A cache that cannot be filled only makes compiles
// slower, so failures are logged, not returned.
func (e *Engine) cacheEnv(ctx context.Context, l *lang.Language) []string {
	c := l.Cache
	if c == nil {
		return nil
	}
	e.caches.mu.Lock()
	defer e.caches.mu.Unlock()
	if !e.caches.warm[l.ID] {
		if err := e.fillCache(ctx, l); err != nil {
			slog.Warn("compiler cache not filled; compiling without it", "language", l.ID, "err", err)
			return nil
		}
		if e.caches.warm == nil {
			e.caches.warm = map[string]bool{}
		}
		e.caches.warm[l.ID] = true
	}
	return []string{c.Env + "=" + c.Path}
}

// cacheDir is where the warm-up compile writes its cache inside the box.
const cacheDir = ".airlock/cache"

// fillCache compiles the warm program in a sandbox with a writable cache
// and copies what it made to the host directory, which every sandbox
// binds read-only. Only our own program is compiled, so the cache holds
// nothing a submission chose.
func (e *Engine) fillCache(ctx context.Context, l *lang.Language) error {
	c := l.Cache
	if ents, err := os.ReadDir(c.Path); err == nil && len(ents) > 0 {
		return nil // filled by an earlier process
	}
	vars := lang.Vars{Entry: l.File, Sources: []string{l.File}}
	out, err := e.runner.Run(ctx, sandbox.Spec{
		Argv:    lang.Expand(l.Compile, vars),
		Env:     append(append([]string{}, l.Env...), c.Env+"="+sandbox.WorkDir+"/"+cacheDir),
		Files:   []sandbox.File{{Name: l.File, Content: []byte(c.Warm)}, {Name: lang.Artifacts + "/"}},
		Limits:  l.CompileLimitsOver(e.policy.CompileDefault.WithDefaults(e.policy.Default)).Within(e.policy.CompileMax),
		Collect: []string{cacheDir},
	})
	if err != nil {
		return err
	}
	defer out.Tree.Close()
	if out.Status != airlock.StatusOK {
		return fmt.Errorf("warm-up compile: %s %s %s", out.Status, out.Message, firstLine(out.Stderr))
	}
	if out.Tree == nil {
		return nil
	}
	if err := out.Tree.Extract(c.Path, cacheDir); err != nil {
		return fmt.Errorf("warm-up compile: %w", err)
	}
	return nil
}
