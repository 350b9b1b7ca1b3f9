// Package native is the Linux sandbox backend: namespaces, pivot_root into
// a read-only root, a per-slot unprivileged uid, seccomp, rlimits and a
// cgroup per run. One file per isolation concern: mounts.go, stages.go
// (the processes inside), slots.go (uids), limits.go, and the cgroup and
// seccomp packages.
package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
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
}

// DefaultMounts are the host paths every sandbox sees, read-only.
var DefaultMounts = []sandbox.Mount{
	{Source: "/usr"}, {Source: "/bin"}, {Source: "/sbin"}, {Source: "/lib"}, {Source: "/lib64"}, {Source: "/lib32"},
	{Source: "/etc/alternatives"}, {Source: "/etc/ld.so.cache"}, {Source: "/etc/localtime"},
}

// Runner runs Specs in native Linux sandboxes. It is safe for concurrent use.
type Runner struct {
	cfg     Config
	slots   *slots
	cgroups *cgroup.Manager
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
	cfg.Defaults = cfg.Defaults.WithDefaults(airlock.DefaultLimits)
	layout, err := cgroup.Detect()
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	mgr, err := cgroup.NewManager(layout, "airlock")
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
	rootDir := filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(rootDir, 0o700); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, slots: sl, cgroups: mgr, rootDir: rootDir}, nil
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

// killReason records the first limit that ended a run.
type killReason struct{ v atomic.Value }

func (k *killReason) set(s airlock.Status, msg string) {
	k.v.CompareAndSwap(nil, [2]string{string(s), msg})
}

func (k *killReason) get() (airlock.Status, string, bool) {
	v, ok := k.v.Load().([2]string)
	return airlock.Status(v[0]), v[1], ok
}

// Run executes spec and returns what the program did.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if len(spec.Argv) == 0 {
		return sandbox.Result{}, errors.New("empty argv")
	}
	lim := spec.Limits.WithDefaults(r.cfg.Defaults)
	sl, err := r.slots.acquire()
	if err != nil {
		return sandbox.Result{}, err
	}
	defer r.slots.release(sl)
	uid := r.slots.uid(sl)
	cg, err := r.cgroups.Create(fmt.Sprintf("slot-%d", sl.n), cgroup.Limits{MemoryBytes: lim.Memory, Pids: lim.Pids})
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("create cgroup: %w", err)
	}
	defer cg.Destroy()
	filter, err := seccomp.Filter()
	if err != nil {
		return sandbox.Result{}, err
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	cfg := initConfig{
		RootDir:  r.rootDir,
		Binds:    append(append([]sandbox.Mount{}, r.cfg.Mounts...), spec.Mounts...),
		Files:    spec.Files,
		TmpBytes: lim.TmpBytes,
		UID:      uid,
		GID:      uid,
		Exec: execConfig{
			Argv:    spec.Argv,
			Env:     spec.Env,
			Dir:     dir,
			Rlimits: rlimits(lim),
			Seccomp: filter,
		},
	}
	return r.run(ctx, cfg, spec.Stdin, lim, cg)
}

func (r *Runner) run(ctx context.Context, cfg initConfig, stdin []byte, lim airlock.Limits, cg *cgroup.Group) (sandbox.Result, error) {
	// Pdeathsig fires when the forking *thread* exits (golang/go#27505):
	// keep this goroutine on its thread until the sandbox is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var res sandbox.Result
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return res, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		return res, err
	}
	defer stR.Close()
	defer stW.Close()
	var reason killReason
	stdout := &cappedBuffer{limit: lim.Output}
	stderr := &cappedBuffer{limit: lim.Output}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArg0},
		Env:        []string{},
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{cfgR, stW},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	stdinW, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start sandbox: %w", err)
	}
	cfgR.Close()
	stW.Close()
	kill := func(s airlock.Status, msg string) {
		reason.set(s, msg)
		cmd.Process.Kill() // PID 1 of the namespace: the kernel kills every process in it
		cg.Kill()
	}
	stdout.onLimit = func() { kill(airlock.StatusOutputLimit, "stdout exceeded the output limit") }
	stderr.onLimit = func() { kill(airlock.StatusOutputLimit, "stderr exceeded the output limit") }
	if err := cg.AddProc(cmd.Process.Pid); err != nil {
		kill(airlock.StatusInternalError, "")
		cmd.Wait()
		return res, fmt.Errorf("join cgroup: %w", err)
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		kill(airlock.StatusInternalError, "")
		cmd.Wait()
		return res, fmt.Errorf("send config: %w", err)
	}
	cfgW.Close()
	go func() {
		stdinW.Write(stdin)
		stdinW.Close()
	}()

	done := make(chan struct{})
	go watch(ctx, done, lim, cg, kill)
	waitErr := cmd.Wait()
	close(done)
	res.Usage.WallMillis = time.Since(start).Milliseconds()
	var rep report
	if data, _ := io.ReadAll(stR); len(data) > 0 {
		if err := json.Unmarshal(data, &rep); err != nil {
			return res, fmt.Errorf("sandbox report: %w", err)
		}
	}
	stats, statsErr := cg.Stats()
	res.Stdout, res.StdoutTruncated = stdout.bytes()
	res.Stderr, res.StderrTruncated = stderr.bytes()
	res.Usage.CPUMillis = stats.CPU.Milliseconds()
	res.Usage.MemoryKB = stats.MemoryPeak / 1024
	if err := cg.Destroy(); err != nil {
		return res, fmt.Errorf("remove cgroup: %w", err)
	}

	status, msg, killed := reason.get()
	switch {
	case killed && status == airlock.StatusCancelled:
		return res, ctx.Err()
	case killed && status == airlock.StatusInternalError:
		return res, errors.New(msg)
	case killed:
		res.Status, res.Message = status, msg
	case rep.Error != "":
		return res, errors.New(rep.Error)
	case statsErr == nil && stats.OOMKills > 0:
		res.Status, res.Message = airlock.StatusMemoryLimit, "memory limit exceeded"
	case stats.CPU > lim.CPU:
		res.Status, res.Message = airlock.StatusTimeLimit, "CPU time limit exceeded"
	case waitErr != nil && rep.Signal == 0 && !rep.Exited:
		return res, fmt.Errorf("sandbox init: %v", waitErr)
	case rep.Signal != 0:
		res.Status = airlock.StatusRuntimeError
	case rep.ExitCode != 0:
		res.Status = airlock.StatusRuntimeError
	default:
		res.Status = airlock.StatusOK
	}
	switch {
	case rep.Signal != 0:
		res.Signal = signalName(syscall.Signal(rep.Signal))
		res.ExitCode = 128 + rep.Signal
	case rep.Exited:
		res.ExitCode = rep.ExitCode
	default: // we killed the sandbox before the program ended
		res.Signal = signalName(syscall.SIGKILL)
		res.ExitCode = 128 + int(syscall.SIGKILL)
	}
	if res.Status == airlock.StatusRuntimeError && res.Signal == "SIGXFSZ" {
		res.Message = "file size limit exceeded"
	}
	if stats.PidsLimitHit > 0 && res.Message == "" {
		res.Message = "process limit reached"
	}
	return res, nil
}

// watch enforces wall time, CPU time summed over the cgroup, and ctx.
func watch(ctx context.Context, done <-chan struct{}, lim airlock.Limits, cg *cgroup.Group, kill func(airlock.Status, string)) {
	wall := time.NewTimer(lim.Wall)
	defer wall.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			kill(airlock.StatusCancelled, "cancelled")
			return
		case <-wall.C:
			kill(airlock.StatusTimeLimit, "wall time limit exceeded")
			return
		case <-tick.C:
			if cpu, err := cg.CPU(); err == nil && cpu > lim.CPU {
				kill(airlock.StatusTimeLimit, "CPU time limit exceeded")
				return
			}
		}
	}
}
