package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// LanguageInfo is a catalog entry as this host has it.
type LanguageInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Aliases    []string `json:"aliases"`
	Extensions []string `json:"extensions"`
	Compiled   bool     `json:"compiled"`
	Function   bool     `json:"function_mode"`
	Installer  string   `json:"installer,omitempty"` // how its requirements are installed (pip, npm); empty: it takes none
	Available  bool     `json:"available"`
	Reason     string   `json:"reason,omitempty"` // why it is not available
}

// Languages lists the catalog with what this host has of it; with all
// false, only the available languages.
func (e *Engine) Languages(ctx context.Context, all bool) []LanguageInfo {
	langs := e.catalog.All()
	infos := make([]LanguageInfo, len(langs))
	var wg sync.WaitGroup
	for i, l := range langs {
		infos[i] = LanguageInfo{
			ID: l.ID, Name: l.Name, Aliases: append([]string{}, l.Aliases...), Extensions: l.Extensions,
			Compiled: len(l.Compile) > 0, Function: len(l.Function) > 0 && harnesses[l.ID] != nil, Installer: l.Installer,
		}
		wg.Go(func() {
			err := l.Available()
			if err == nil {
				infos[i].Version, err = e.Version(ctx, l)
			}
			infos[i].Available = err == nil
			if err != nil {
				infos[i].Reason = err.Error()
			}
		})
	}
	wg.Wait()
	out := []LanguageInfo{}
	for _, info := range infos {
		if all || info.Available {
			out = append(out, info)
		}
	}
	return out
}

// Capabilities are the ids of the catalog's languages whose toolchain
// this host has (lang.Language.Available), and the named environments
// StartEnvironments made ready here: the jobs its workers can run, and
// take from the queue (jobs.Capability).
func (e *Engine) Capabilities() []string {
	var ids []string
	for _, l := range e.catalog.All() {
		if l.Available() == nil {
			ids = append(ids, l.ID)
		}
	}
	if e.namedReady {
		for _, name := range sortedKeys(e.named) {
			ids = append(ids, airlock.EnvironmentCapability(name))
		}
	}
	return ids
}

// versionCache remembers each language's detected version; concurrent
// first asks for one language share one detection, so a burst of first
// submissions starts one sandbox, not one each.
type versionCache struct {
	mu     sync.Mutex
	seen   map[string]string
	flight singleflight.Group
}

var versionPattern = regexp.MustCompile(`\d+(\.\d+)+`)

// Version detects l's version by running its version command in a
// sandbox (the toolchain as programs will see it), once per process.
func (e *Engine) Version(ctx context.Context, l *lang.Language) (string, error) {
	e.versions.mu.Lock()
	v, ok := e.versions.seen[l.ID]
	e.versions.mu.Unlock()
	if ok || len(l.Version) == 0 {
		return v, nil
	}
	// The detection outlives a caller that gives up: the others wait
	// for it too, and it has its own wall limit.
	ch := e.versions.flight.DoChan(l.ID, func() (any, error) {
		return e.detectVersion(context.WithoutCancel(ctx), l)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (e *Engine) detectVersion(ctx context.Context, l *lang.Language) (string, error) {
	out, err := e.runner.Run(ctx, sandbox.Spec{
		Argv:   l.Version,
		Env:    l.Env,
		Limits: airlock.Limits{Wall: 20 * time.Second, CPU: 10 * time.Second, Memory: 512 << 20, Pids: 128},
	})
	if err != nil {
		return "", fmt.Errorf("%s version: %w", l.ID, err)
	}
	v := versionPattern.FindString(string(out.Stdout) + " " + string(out.Stderr))
	if out.Status != airlock.StatusOK || v == "" {
		return "", fmt.Errorf("%s: %s printed no version (%s: %s)", l.ID, strings.Join(l.Version, " "), out.Status, firstLine(out.Stderr))
	}
	e.versions.mu.Lock()
	if e.versions.seen == nil {
		e.versions.seen = map[string]string{}
	}
	e.versions.seen[l.ID] = v
	e.versions.mu.Unlock()
	return v, nil
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}
