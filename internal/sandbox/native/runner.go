package native

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/seccomp"
)

// Config sets up a Runner.
type Config struct {
	// StateDir holds the slot locks and the root mount point. Every airlock
	// process on a host must share it: the locks keep their uids apart.
	StateDir string // default /run/airlock
	UIDBase  int    // first host uid/gid of the slot range; default 1_000_000
	Slots    int    // maximum concurrent sandboxes; default 256
	Mounts   []sandbox.Mount
	Defaults airlock.Limits
	// CPUQuota caps each sandbox at this many CPUs' worth of time per
	// scheduler period, so one run cannot starve the others; default 1.
	CPUQuota float64
}

// DefaultMounts are the host paths every sandbox sees, read-only.
var DefaultMounts = []sandbox.Mount{
	{Source: "/usr"}, {Source: "/bin"}, {Source: "/sbin"}, {Source: "/lib"}, {Source: "/lib64"}, {Source: "/lib32"},
	{Source: "/etc/alternatives"}, {Source: "/etc/ld.so.cache"}, {Source: "/etc/localtime"},
}

// Runner runs Specs in native Linux sandboxes. It is safe for concurrent
// use; Close stops its keepers.
type Runner struct {
	cfg     Config
	slots   *slots
	cgroups *cgroup.Manager
	keepers cgroup.Group // where idle keepers live, outside every run's limits
	starter *starter
	rootDir string
}

// New checks the host and prepares the shared state. It fails, rather than
// run anything unconfined, when a control cannot be put in place.
func New(cfg Config) (*Runner, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the native sandbox needs root (it creates namespaces and cgroups)")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "/run/airlock"
	}
	if cfg.UIDBase == 0 {
		cfg.UIDBase = 1_000_000
	}
	if cfg.Slots == 0 {
		cfg.Slots = 256
	}
	if cfg.Mounts == nil {
		cfg.Mounts = DefaultMounts
	}
	if cfg.CPUQuota == 0 {
		cfg.CPUQuota = 1
	}
	cfg.Defaults = cfg.Defaults.WithDefaults(airlock.DefaultLimits)
	own, err := cgroup.Detect()
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	mgr, err := cgroup.NewManager(own, "airlock")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	if _, err := seccomp.Filter(); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	sl, err := newSlots(filepath.Join(cfg.StateDir, "slots"), cfg.UIDBase, cfg.Slots)
	if err != nil {
		return nil, err
	}
	if err := removeStale(mgr, sl); err != nil {
		return nil, err
	}
	keepers, err := mgr.Open("keepers")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	// Keepers run as unprivileged host uids: they must reach the (empty)
	// mount point of their root, and nothing else here.
	rootDir := filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.StateDir, rootDir} {
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, err
		}
	}
	return &Runner{cfg: cfg, slots: sl, cgroups: mgr, keepers: keepers, starter: newStarter(), rootDir: rootDir}, nil
}

// Keepers is the number of slots kept warm: keepers alive.
func (r *Runner) Keepers() int {
	r.slots.mu.Lock()
	defer r.slots.mu.Unlock()
	n := 0
	for _, sl := range r.slots.all {
		if sl.keeper != nil {
			n++
		}
	}
	return n
}

// Close stops every keeper; runs must have returned.
func (r *Runner) Close() error {
	r.slots.closeAll()
	r.starter.stop()
	return nil
}

// removeStale deletes the cgroups a crashed airlock left behind: those of
// slots no live process holds. Their processes died with their init
// (Pdeathsig), but the groups stay until removed.
func removeStale(mgr *cgroup.Manager, sl *slots) error {
	ids, err := mgr.Groups()
	if err != nil {
		return err
	}
	for _, id := range ids {
		var n int
		if _, err := fmt.Sscanf(id, "slot-%d", &n); err != nil {
			continue
		}
		lock, err := sl.tryLock(n)
		if err != nil {
			return err
		}
		if lock == nil {
			continue // a live sandbox of another airlock process
		}
		err = mgr.Remove(id)
		lock.Close()
		if err != nil {
			return fmt.Errorf("remove stale cgroup %s: %w", id, err)
		}
	}
	return nil
}

// Run executes spec and returns what the program did.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, err
	}
	began := time.Now()
	b, err := r.boot(spec, false)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer b.release()
	return b.finish(ctx, runParams{began: began, stdin: spec.Stdin, live: spec.Live, interleave: spec.Interleave, lim: b.lim})
}
