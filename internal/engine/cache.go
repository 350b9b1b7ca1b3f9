package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	for _, e := range out.Tree.Entries {
		rel, ok := strings.CutPrefix(e.Name, cacheDir+"/")
		if e.Name == cacheDir+"/" {
			continue
		}
		if !ok || !filepath.IsLocal(strings.TrimSuffix(rel, "/")) {
			return fmt.Errorf("warm-up compile left %q", e.Name)
		}
		path := filepath.Join(c.Path, rel)
		if strings.HasSuffix(e.Name, "/") {
			err = os.MkdirAll(path, 0o755)
		} else {
			err = writeAtomically(path, out.Tree.Open(e), os.FileMode(e.Mode)&0o755|0o444)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeAtomically makes path appear whole or not at all, for sandboxes
// that read the cache meanwhile.
func writeAtomically(path string, data io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
