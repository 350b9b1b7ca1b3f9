// Package native is the Linux sandbox backend: namespaces, pivot_root into
// a read-only root, a per-slot unprivileged uid, seccomp, rlimits and a
// cgroup per run. One file per isolation concern: mounts.go, keeper.go
// (the slot's namespaces, parent side), stages.go (the keeper process and
// how it forks programs), slots.go (uids), limits.go, config.go (what
// crosses between them), and the cgroup and seccomp packages.
package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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

// booted is a sandbox whose program has been started: its slot, keeper,
// cgroup and pipes until release.
type booted struct {
	r     *Runner
	sl    *slot
	k     *keeper
	cg    cgroup.Group
	pipes *stdio
	lim   airlock.Limits
	merge bool
}

// boot takes a slot, makes sure it has a keeper with spec's binds, creates
// the run's cgroup and starts spec's program in it; withJob gives the
// program the job channel on sandbox.JobFD.
func (r *Runner) boot(spec sandbox.Spec, withJob bool) (_ *booted, err error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	b := &booted{r: r, lim: spec.Limits.WithDefaults(r.cfg.Defaults), merge: spec.MergeStderr}
	binds := append(append([]sandbox.Mount{}, r.cfg.Mounts...), spec.Mounts...)
	if b.sl, err = r.slots.acquire(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.release()
		}
	}()
	if b.k, err = r.keeperFor(b.sl, binds); err != nil {
		return nil, err
	}
	b.cg, err = r.cgroups.Create(fmt.Sprintf("slot-%d", b.sl.n), cgroup.Limits{
		MemoryBytes: b.lim.Memory,
		Pids:        b.lim.Pids,
		CPUQuota:    r.cfg.CPUQuota,
	})
	if err != nil {
		b.cg = nil
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if b.pipes, err = newStdio(withJob); err != nil {
		return nil, err
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	req := &runRequest{
		Files:    spec.Files,
		TmpBytes: b.lim.TmpBytes,
		Argv:     spec.Argv,
		Env:      spec.Env,
		Dir:      dir,
		Rlimits:  rlimits(b.lim),
		Collect:  spec.Collect,
	}
	var tree *os.File
	if spec.Tree != nil && len(spec.Tree.Entries) > 0 {
		req.Tree, tree = toWire(spec.Tree.Entries), spec.Tree.Data()
	}
	if err := b.start(req, tree); err != nil {
		return nil, err
	}
	return b, nil
}

// keeperFor returns sl's keeper, started anew when it has none, died, or
// holds other binds.
func (r *Runner) keeperFor(sl *slot, binds []sandbox.Mount) (*keeper, error) {
	if sl.keeper != nil && (sl.keeper.gone() || !slices.Equal(sl.keeper.binds, binds)) {
		sl.keeper.close()
		sl.keeper = nil
	}
	if sl.keeper == nil {
		k, err := r.startKeeper(sl, binds)
		if err != nil {
			return nil, err
		}
		sl.keeper = k
	}
	return sl.keeper, nil
}

// start sends req with the program's ends of the pipes, the data of its
// Tree (if any) and the cgroup's files to the keeper, which forks the
// program.
func (b *booted) start(req *runRequest, tree *os.File) error {
	join, err := b.cg.OpenJoin()
	if err != nil {
		return err
	}
	defer closeFiles(join)
	program := b.pipes.programEnds(b.merge)
	req.Inherit = len(program)
	attached := program
	if tree != nil {
		attached = append(attached, tree)
	}
	fds := fdsOf(append(attached, join...))
	if err := b.k.start(req, fds); err != nil {
		return err
	}
	b.pipes.closeProgramEnds()
	return b.k.spawned()
}

// release gives back what boot took; the run, if any, has returned.
func (b *booted) release() {
	if b.pipes != nil {
		b.pipes.close()
	}
	if b.cg != nil {
		b.cg.Destroy()
	}
	if b.k != nil && b.k.broken {
		b.k.close()
		b.sl.keeper = nil
	}
	b.r.slots.release(b.sl)
}

// stdio holds a run's pipes: the program's ends go to the keeper. A
// prepared program also gets one end of a socket pair, its job channel.
type stdio struct {
	inR, inW, outR, outW, errR, errW, jobR *os.File
	job                                    *net.UnixConn
}

func newStdio(withJob bool) (*stdio, error) {
	var s stdio
	for _, p := range [][2]**os.File{{&s.inR, &s.inW}, {&s.outR, &s.outW}, {&s.errR, &s.errW}} {
		var err error
		if *p[0], *p[1], err = os.Pipe(); err != nil {
			s.close()
			return nil, err
		}
	}
	if withJob {
		if err := s.jobChannel(); err != nil {
			s.close()
			return nil, err
		}
	}
	return &s, nil
}

func (s *stdio) jobChannel() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.jobR = os.NewFile(uintptr(pair[1]), "job")
	ours := os.NewFile(uintptr(pair[0]), "job")
	defer ours.Close()
	conn, err := net.FileConn(ours)
	if err != nil {
		return err
	}
	s.job = conn.(*net.UnixConn)
	return nil
}

// programEnds are the program's descriptors 0, 1, 2 (and JobFD), in order.
func (s *stdio) programEnds(mergeStderr bool) []*os.File {
	stderr := s.errW
	if mergeStderr {
		stderr = s.outW
	}
	ends := []*os.File{s.inR, s.outW, stderr}
	if s.jobR != nil {
		ends = append(ends, s.jobR)
	}
	return ends
}

func (s *stdio) closeProgramEnds() { closeFiles(nonNil(s.inR, s.outW, s.errW, s.jobR)) }

func (s *stdio) close() {
	closeFiles(nonNil(s.inR, s.inW, s.outR, s.outW, s.errR, s.errW, s.jobR))
	if s.job != nil {
		s.job.Close()
	}
}

func nonNil(files ...*os.File) []*os.File {
	return slices.DeleteFunc(files, func(f *os.File) bool { return f == nil })
}

// runParams is what a run needs once its program has started.
type runParams struct {
	began      time.Time // when the run was asked for
	input      []byte    // the prepared program's job, written to JobFD
	stdin      []byte
	live       *sandbox.Live
	interleave bool
	lim        airlock.Limits // Wall, CPU and Output count here
}

// finish runs the started program to its end under p's limits, counted
// from now, and reports what it did.
func (b *booted) finish(ctx context.Context, p runParams) (sandbox.Result, error) {
	var res sandbox.Result
	cg, k, pipes, lim := b.cg, b.k, b.pipes, p.lim
	var reason killReason
	stdout := &cappedBuffer{limit: lim.Output}
	stderr := &cappedBuffer{limit: lim.Output}
	kill := func(s airlock.Status, msg string) {
		reason.set(s, msg)
		cg.Kill()
	}
	stdout.onLimit = func() { kill(airlock.StatusOutputLimit, "stdout exceeded the output limit") }
	stderr.onLimit = func() { kill(airlock.StatusOutputLimit, "stderr exceeded the output limit") }

	// A prepared program spent CPU starting up before its job: that is not
	// the job's.
	var cpuBefore time.Duration
	if pipes.job != nil {
		var err error
		if cpuBefore, err = cg.CPU(); err != nil {
			k.broken = true // its report of this program is never read
			return res, err
		}
	}
	start := time.Now()
	res.Startup = start.Sub(p.began)
	if pipes.job != nil {
		go func() {
			pipes.job.Write(p.input)
			pipes.job.CloseWrite()
		}()
	}
	var toStdout, toStderr io.Writer = stdout, stderr
	both := &cappedBuffer{limit: 2 * lim.Output}
	if p.interleave {
		toStdout, toStderr = io.MultiWriter(stdout, both), io.MultiWriter(stderr, both)
	}
	if live := p.live; live != nil && live.Output != nil {
		stdout.tee = func(b []byte) { live.Output("stdout", b) }
		stderr.tee = func(b []byte) { live.Output("stderr", b) }
	}
	var output sync.WaitGroup
	output.Go(func() { io.Copy(toStdout, pipes.outR) })
	output.Go(func() { io.Copy(toStderr, pipes.errR) })
	done, watched := make(chan struct{}), make(chan struct{})
	// A feed blocked on a program that does not read ends when the pipe
	// is closed under it, on return.
	go feed(pipes.inW, p.stdin, p.live, done)
	var signals sync.WaitGroup
	if p.live != nil && p.live.Signals != nil {
		signals.Go(func() { forwardSignals(p.live.Signals, cg, k.proc.Pid, done) })
	}
	go func() {
		watch(ctx, done, lim, cpuBefore, cg, &reason, kill, k)
		close(watched)
	}()
	var rep report
	waitErr := k.wait(&rep)
	defer func() {
		if res.Tree == nil {
			rep.data.Close()
		}
	}()
	close(done)
	<-watched // the next run of this slot reuses the group's name
	signals.Wait()
	res.Usage.WallMillis = time.Since(start).Milliseconds()
	killErr := cg.Kill() // whatever the program left running
	output.Wait()
	stats, statsErr := cg.Stats()
	stats.CPU -= cpuBefore
	res.Stdout, res.StdoutTruncated = stdout.bytes()
	res.Stderr, res.StderrTruncated = stderr.bytes()
	if p.interleave {
		res.Interleaved, _ = both.bytes()
	}
	res.Usage.CPUMillis = stats.CPU.Milliseconds()
	res.Usage.MemoryKB = stats.MemoryPeak / 1024
	if killErr != nil {
		return res, killErr
	}
	if err := cg.Destroy(); err != nil {
		return res, fmt.Errorf("remove cgroup: %w", err)
	}
	b.cg = nil

	status, msg, killed := reason.get()
	switch {
	case killed && status == airlock.StatusCancelled:
		return res, ctx.Err()
	case killed:
		res.Status, res.Message = status, msg
	case waitErr != nil:
		return res, waitErr
	case rep.Error != "":
		return res, errors.New(rep.Error)
	case statsErr == nil && stats.OOMKills > 0:
		res.Status, res.Message = airlock.StatusMemoryLimit, "memory limit exceeded"
	case stats.CPU > lim.CPU:
		res.Status, res.Message = airlock.StatusTimeLimit, "CPU time limit exceeded"
	case rep.Refused != "":
		res.Status, res.Message = airlock.StatusOutputLimit, rep.Refused
	case rep.Signal != 0 || rep.ExitCode != 0:
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
	case rep.Refused != "": // its files were refused: it never started
	default: // the program's end was never reported
		res.Signal = signalName(syscall.SIGKILL)
		res.ExitCode = 128 + int(syscall.SIGKILL)
	}
	if res.Status == airlock.StatusRuntimeError && res.Signal == "SIGXFSZ" {
		res.Message = "file size limit exceeded"
	}
	if stats.PidsLimitHit > 0 && res.Message == "" {
		res.Message = "process limit reached"
	}
	if rep.data != nil {
		res.Tree = sandbox.NewTree(rep.data, fromWire(rep.Files))
	}
	return res, nil
}

// feed writes the program's stdin: the submitted bytes, then a live
// client's chunks until it closes the channel or the run ends.
func feed(w *os.File, stdin []byte, live *sandbox.Live, done <-chan struct{}) {
	defer w.Close()
	if _, err := w.Write(stdin); err != nil || live == nil || live.Stdin == nil {
		return
	}
	for {
		// A run that has ended takes no more input, even when some is
		// waiting: it belongs to the session's next step.
		select {
		case <-done:
			return
		default:
		}
		select {
		case chunk, ok := <-live.Stdin:
			if !ok {
				return
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		case <-done:
			return
		}
	}
}

// forwardSignals sends a live client's signals to the run's processes,
// never to the keeper, which passes through the group while it forks.
func forwardSignals(signals <-chan syscall.Signal, cg cgroup.Group, keeper int, done <-chan struct{}) {
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				return
			}
			cg.Signal(sig, keeper)
		case <-done:
			return
		}
	}
}

// keeperGrace is how long a keeper may take to report after its run was
// killed before it is deemed hung and killed too.
const keeperGrace = 5 * time.Second

// watch enforces wall time, CPU time summed over the cgroup since
// cpuBefore, and ctx. A
// kill repeats until the keeper reports: one that raced the fork found the
// group still empty.
func watch(ctx context.Context, done <-chan struct{}, lim airlock.Limits, cpuBefore time.Duration, cg cgroup.Group, reason *killReason, kill func(airlock.Status, string), k *keeper) {
	wall := time.NewTimer(lim.Wall)
	defer wall.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	cancelled := ctx.Done()
	var killedAt time.Time
	for {
		select {
		case <-done:
			return
		case <-cancelled:
			cancelled = nil
			kill(airlock.StatusCancelled, "cancelled")
		case <-wall.C:
			kill(airlock.StatusTimeLimit, "wall time limit exceeded")
		case now := <-tick.C:
			_, _, killed := reason.get()
			switch {
			case killed && killedAt.IsZero():
				killedAt = now
			case killed && now.Sub(killedAt) > keeperGrace:
				k.proc.Kill()
			case killed:
				cg.Kill()
			default:
				if cpu, err := cg.CPU(); err == nil && cpu-cpuBefore > lim.CPU {
					kill(airlock.StatusTimeLimit, "CPU time limit exceeded")
				}
			}
		}
	}
}
