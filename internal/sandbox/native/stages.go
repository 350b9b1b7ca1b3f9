package native

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/seccomp"
)

// innerID is the uid and gid the program has inside its user namespace.
// The keeper itself is uid 0 there, mapped to an unprivileged host uid.
const innerID = 1000

// Stage runs the slot keeper when this process was started as one, and
// never returns in that case. Every binary that uses the native backend
// (airlock itself, test binaries) calls it first thing in main or TestMain.
func Stage() {
	if os.Args[0] == keeperArg0 {
		os.Exit(keeperMain())
	}
}

// keeperMain is PID 1 of a slot's namespaces (user, mount, PID, network,
// IPC, UTS, cgroup). It builds the read-only root once, then serves runs:
// for each it mounts a fresh tmpfs for /box, /tmp and /dev/shm, forks the
// program from its sandboxed spawner thread, reaps, reports and unmounts.
// Its exit (or its parent's) tears every namespace down.
func keeperMain() int {
	// Non-dumpable: the program can neither ptrace us nor open our /proc files.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// No descriptor of ours may reach a program (runc CVE-2024-21626). They
	// are marked close-on-exec rather than closed: the Go runtime may
	// already own some (its netpoller's).
	if err := unix.CloseRange(controlFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 1
	}
	var cfg keeperConfig
	home, err := recv(controlFD, &cfg)
	if err != nil {
		return 1
	}
	sp, err := setupKeeper(&cfg, home)
	if err != nil {
		send(controlFD, report{Error: err.Error()}, nil)
		return 1
	}
	if err := send(controlFD, report{}, nil); err != nil {
		return 1
	}
	for {
		var req runRequest
		fds, err := recv(controlFD, &req)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			return 1
		}
		rep := sp.serve(&req, fds, func() { send(controlFD, report{}, nil) })
		err = rep.send()
		// Off the caller's path: the next request waits for this anyway.
		clearBox()
		if err != nil {
			return 1
		}
	}
}

func setupKeeper(cfg *keeperConfig, home []int) (*spawner, error) {
	if err := setupRoot(cfg); err != nil {
		return nil, fmt.Errorf("sandbox root: %w", err)
	}
	if err := unix.Sethostname([]byte("airlock")); err != nil {
		return nil, err
	}
	// Process-wide backstops that never vary per run.
	for _, r := range []int{unix.RLIMIT_CORE, unix.RLIMIT_MEMLOCK, unix.RLIMIT_MSGQUEUE} {
		if err := unix.Setrlimit(r, &unix.Rlimit{}); err != nil {
			return nil, fmt.Errorf("rlimit %d: %w", r, err)
		}
	}
	filter, err := seccomp.Filter()
	if err != nil {
		return nil, err
	}
	sp := &spawner{home: home, reqs: make(chan func())}
	ready := make(chan error)
	go sp.loop(filter, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return sp, nil
}

// spawner forks programs from one OS thread that carries the program's
// own confinement — no_new_privs, the seccomp filter and its own cgroup
// namespace — so a child inherits all of it at birth and the exec is the
// only thing left to do in the child. Nothing else ever runs on that
// thread: LockOSThread also makes the runtime start new threads from a
// clean template thread instead.
type spawner struct {
	home []int // join the keepers' cgroup
	reqs chan func()
}

func (s *spawner) loop(filter []unix.SockFilter, ready chan<- error) {
	runtime.LockOSThread() // for good: the thread's confinement cannot be undone
	// The parent put us in the keeper group first, so the program's cgroup
	// namespace is rooted there and it sees no host cgroup paths.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		ready <- fmt.Errorf("cgroup namespace: %w", err)
		return
	}
	if err := seccomp.InstallThread(filter); err != nil {
		ready <- fmt.Errorf("seccomp: %w", err)
		return
	}
	ready <- nil
	for f := range s.reqs {
		f()
	}
}

// serve runs one request, says when its program has started (spawned),
// and reports how it ended.
func (s *spawner) serve(req *runRequest, fds []int, spawned func()) report {
	// The first answer comes once the fork is over and the keeper is out
	// of the run's group with the program's limits set, or the run ended
	// before: nothing the parent does to the program's processes races the
	// keeper's own.
	announced := false
	announce := func() {
		if !announced {
			announced = true
			spawned()
		}
	}
	defer announce()
	parts, err := req.split(fds)
	if err != nil {
		closeAll(fds)
		return report{Error: err.Error()}
	}
	stdio := parts.program
	defer closeAll(append([]int{parts.pidsMax, parts.tree}, parts.join...))
	defer func() { closeAll(stdio) }()
	var refused *refusal
	if err := freshBox(req, parts.tree); errors.As(err, &refused) {
		return report{Refused: refused.msg}
	} else if err != nil {
		return report{Error: err.Error()}
	}
	var pid int
	done := make(chan struct{})
	s.reqs <- func() {
		pid, err = s.spawn(req, parts)
		close(done)
	}
	<-done
	announce()
	var notStarted execError
	if errors.As(err, &notStarted) {
		// Say so on the program's stderr and end the way a shell does.
		unix.Write(stdio[2], fmt.Appendf(nil, "airlock: exec %s: %v\n", req.Argv[0], notStarted))
		return report{Exited: true, ExitCode: 127}
	}
	if err != nil {
		return report{Error: err.Error()}
	}
	// Our copies must go before the wait, or the parent never sees EOF.
	closeAll(stdio)
	stdio = nil
	ws, err := reap(pid)
	if err != nil {
		return report{Error: err.Error()}
	}
	r := report{Exited: ws.Exited(), ExitCode: ws.ExitStatus()}
	if ws.Signaled() {
		r.Signal = int(ws.Signal())
	}
	var files []sandbox.Entry
	r.data, files, err = collect(req.Collect)
	r.Files = toWire(files)
	switch {
	case errors.As(err, &refused):
		r.Refused = refused.msg
	case err != nil:
		return report{Error: fmt.Sprintf("collect: %v", err)}
	}
	return r
}

// execError is a program that could not be started (no such file, not
// executable): the program's failure, not the sandbox's.
type execError struct{ errno syscall.Errno }

func (e execError) Error() string { return e.errno.Error() }

// spawn runs on the confined thread. The keeper joins the run's cgroup
// only for the fork, so the child is born inside it; the parent set
// pids.max with room for our threads meanwhile, and the real limit is
// written once we are out.
//
// Rlimits are inherited the same way, but raising a hard limit again needs
// CAP_SYS_RESOURCE on the host, which a keeper lacks: the keeper lowers
// only its soft limits around the fork, and the child's hard limits follow
// right after. Go's handlers make the keeper ignore SIGXFSZ and SIGXCPU
// meanwhile; the exec resets them for the program. RLIMIT_STACK keeps the
// keeper's hard limit: the exec writes back the stack limit it started
// with, undoing a hard limit set meanwhile, and nobody here may raise one
// (not even root lacking CAP_SYS_RESOURCE, as on some hosts). The program
// could raise its soft stack limit; the memory cgroup bounds it anyway.
func (s *spawner) spawn(req *runRequest, fds runFDs) (int, error) {
	saved := make([]unix.Rlimit, len(req.Rlimits))
	for i, rl := range req.Rlimits {
		if err := unix.Getrlimit(rl.Resource, &saved[i]); err != nil {
			return 0, fmt.Errorf("rlimit %d: %w", rl.Resource, err)
		}
		soft := saved[i]
		soft.Cur = min(rl.Cur, soft.Max)
		if err := setrlimit(rl.Resource, &soft); err != nil {
			restoreRlimits(req.Rlimits, saved[:i])
			return 0, fmt.Errorf("rlimit %d: %w", rl.Resource, err)
		}
	}
	if err := moveSelf(fds.join); err != nil {
		restoreRlimits(req.Rlimits, saved)
		return 0, fmt.Errorf("join run cgroup: %w", err)
	}
	files := make([]uintptr, len(fds.program))
	for i, fd := range fds.program {
		files[i] = uintptr(fd)
	}
	pid, forkErr := syscall.ForkExec(req.Argv[0], req.Argv, &syscall.ProcAttr{
		Dir:   req.Dir,
		Env:   req.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: &syscall.Credential{Uid: innerID, Gid: innerID},
		},
	})
	homeErr := moveSelf(s.home)
	restoreRlimits(req.Rlimits, saved)
	if homeErr != nil {
		// Still in the run group, this keeper would die with the program.
		return 0, fmt.Errorf("leave run cgroup: %w", homeErr)
	}
	if errno, ok := forkErr.(syscall.Errno); ok {
		return 0, execError{errno}
	}
	if forkErr != nil {
		return 0, forkErr
	}
	// The child may be gone already: then there is nothing to limit.
	for _, rl := range req.Rlimits {
		if rl.Resource != unix.RLIMIT_STACK {
			unix.Prlimit(pid, rl.Resource, &unix.Rlimit{Cur: rl.Cur, Max: rl.Max}, nil)
		}
	}
	if _, err := unix.Pwrite(fds.pidsMax, []byte(fmt.Sprint(req.Pids)), 0); err != nil {
		return 0, fmt.Errorf("set pids.max: %w", err)
	}
	return pid, nil
}

// moveSelf writes "0" to join files: see cgroup.Group.OpenJoin.
func moveSelf(join []int) error {
	zero := []byte("0")
	for _, fd := range join {
		if _, err := unix.Write(fd, zero); err != nil {
			return err
		}
	}
	return nil
}

func restoreRlimits(set []rlimit, saved []unix.Rlimit) {
	for i, old := range saved {
		setrlimit(set[i].Resource, &old)
	}
}

// setrlimit goes through package syscall, which then forgets the soft
// RLIMIT_NOFILE the Go runtime found at start: otherwise ForkExec would
// restore that one in the child, undoing ours until the prlimit lands.
func setrlimit(resource int, rl *unix.Rlimit) error {
	return syscall.Setrlimit(resource, &syscall.Rlimit{Cur: rl.Cur, Max: rl.Max})
}

// reap waits for pid, then kills and reaps everything it left behind —
// daemons, orphans, a fork bomb — so the run ends with our namespace empty
// but for us. kill(-1) from PID 1 reaches every other process of the
// namespace, and a process caught mid-fork has the kill pending, so its
// child is never born.
func reap(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		var st unix.WaitStatus
		got, err := unix.Wait4(-1, &st, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, fmt.Errorf("wait for the program: %w", err)
		}
		if got == pid && (st.Exited() || st.Signaled()) {
			ws = st
			break
		}
	}
	unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, unix.WALL, nil)
		if err == unix.ECHILD {
			return ws, nil
		}
		if err != nil && err != unix.EINTR {
			return ws, fmt.Errorf("reap leftovers: %w", err)
		}
	}
}
