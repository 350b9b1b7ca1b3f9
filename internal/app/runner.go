package app

import (
	"fmt"
	"slices"

	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/sandbox/probe"
)

// NewRunner makes the native sandbox with every path the catalog's
// languages need bound, so all languages share the slots' keepers. The
// engine needs exactly this of its runner.
func NewRunner(catalog *lang.Catalog) (*native.Runner, error) {
	paths, err := catalog.HostPaths()
	if err != nil {
		return nil, err
	}
	mounts := slices.Clone(native.DefaultMounts)
	for _, p := range paths {
		mounts = append(mounts, sandbox.Mount{Source: p})
	}
	return native.New(native.Config{Mounts: mounts})
}

// runner is the node's sandbox runner: the injected one, the native
// sandbox of a node with workers (closed by Close), or the probe of an
// API-only node, which runs the version commands only.
func (a *App) runner(catalog *lang.Catalog) (sandbox.Runner, error) {
	switch {
	case a.opt.Runner != nil:
		return a.opt.Runner, nil
	case !a.runsJobs():
		return probe.New(versionCommands(catalog)), nil
	}
	r, err := NewRunner(catalog)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w (run `airlock doctor`)", err)
	}
	a.closes = append(a.closes, func() { r.Close() })
	return r, nil
}

// keepers is the metrics' gauge of the runner's warm slots; 0 for a
// runner that keeps none.
func keepers(r sandbox.Runner) func() float64 {
	k, ok := r.(interface{ Keepers() int })
	if !ok {
		return func() float64 { return 0 }
	}
	return func() float64 { return float64(k.Keepers()) }
}

// versionCommands are the command lines an API-only node runs, to learn
// the languages' versions.
func versionCommands(catalog *lang.Catalog) [][]string {
	var out [][]string
	for _, l := range catalog.All() {
		if len(l.Version) > 0 {
			out = append(out, l.Version)
		}
	}
	return out
}
