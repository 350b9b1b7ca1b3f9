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
	if _, err := recv(controlFD, &cfg); err != nil {
		return 1
	}
	sp, err := setupKeeper(&cfg)
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

func setupKeeper(cfg *keeperConfig) (*spawner, error) {
	lastPid, err := setupRoot(cfg)
	if err != nil {
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
	sp := &spawner{lastPid: lastPid, reqs: make(chan func())}
	ready := make(chan error)
	go sp.loop(filter, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return sp, nil
}

// spawner forks programs from one OS thread that carries the program's
// own confinement — no_new_privs, the seccomp filter and its own cgroup
// namespace — so a child inherits all of it at birth, and has only its
// cgroup, credentials, descriptors and rlimits left to set before its
// exec (see forkExec). Nothing else ever runs on that
// thread: LockOSThread also makes the runtime start new threads from a
// clean template thread instead.
type spawner struct {
	lastPid int // /proc/sys/kernel/ns_last_pid, open for writing
	reqs    chan func()
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
	// The first answer comes once the program has exec'd, in its cgroup
	// and under its limits, or the run ended before: nothing the parent
	// does to the program's processes races the keeper's own.
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
	defer closeAll(append([]int{parts.tree}, parts.join...))
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

// spawn runs on the confined thread, so the child inherits its seccomp
// filter, no_new_privs and cgroup namespace; the child joins the run's
// cgroup and takes its credentials and hard rlimits itself, before its
// exec (see forkExec). The keeper never enters the run's cgroup, so
// pids.max is the program's own from the start. The PID namespace's last
// pid is reset first: the program's pids, and /proc/sys/kernel/ns_last_pid,
// then say nothing of how many processes the slot's earlier runs made.
func (s *spawner) spawn(req *runRequest, fds runFDs) (int, error) {
	if _, err := unix.Pwrite(s.lastPid, []byte("1"), 0); err != nil {
		return 0, fmt.Errorf("reset ns_last_pid: %w", err)
	}
	c, err := newChild(req.Argv, req.Env, req.Dir, fds.join, fds.program, req.Rlimits, innerID)
	if err != nil {
		return 0, err
	}
	pid, err := forkExec(c)
	var failed childError
	if errors.As(err, &failed) && failed.step == stepExec {
		return 0, execError{failed.errno}
	}
	return pid, err
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
