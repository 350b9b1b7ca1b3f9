package native

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/seccomp"
)

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
		// Say so on the program's stderr and end the way a shell does. A
		// stderr its reader has closed takes no message; the exit still
		// says 127.
		_, _ = unix.Write(stdio[2], fmt.Appendf(nil, "airlock: exec %s: %v\n", req.Argv[0], notStarted))
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
	r.data, files, err = collect(req.Collect, req.Bounds)
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
	// ESRCH: nothing was left to kill.
	if err := unix.Kill(-1, unix.SIGKILL); err != nil && err != unix.ESRCH {
		return ws, fmt.Errorf("kill leftovers: %w", err)
	}
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
