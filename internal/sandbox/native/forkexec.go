package native

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The runtime's fork hooks, as package syscall uses them: signals blocked
// and the stack guard poisoned around the fork, signal handlers reset in
// the child. The runtime keeps these names for outside users
// (go.dev/issue/67401).
//
//go:linkname beforeFork syscall.runtime_BeforeFork
func beforeFork()

//go:linkname afterFork syscall.runtime_AfterFork
func afterFork()

//go:linkname afterForkInChild syscall.runtime_AfterForkInChild
func afterForkInChild()

// child is a program to start, prepared in the parent: between fork and
// exec the child may only make raw system calls, so nothing in it is
// built there.
type child struct {
	argv0   *byte
	argv    []*byte // nil-terminated
	envv    []*byte // nil-terminated
	dir     *byte
	join    []int // cgroup.procs files: writing "0" moves the writer in
	fds     []int // become the program's descriptors 0, 1, 2, …
	rlimits []childRlimit
	id      uintptr // uid and gid
}

type childRlimit struct {
	resource uintptr
	lim      unix.Rlimit
}

// Steps of the child, to say which one failed.
const (
	stepJoin uint32 = iota + 1
	stepSetsid
	stepCreds
	stepChdir
	stepFDs
	stepRlimit
	stepExec
)

var stepNames = map[uint32]string{
	stepJoin: "join the run's cgroup", stepSetsid: "setsid", stepCreds: "set credentials",
	stepChdir: "chdir", stepFDs: "set up descriptors", stepRlimit: "set rlimits", stepExec: "exec",
}

// childError is a child that failed before its program started.
type childError struct {
	step  uint32
	errno syscall.Errno
}

func (e childError) Error() string {
	return fmt.Sprintf("%s: %v", stepNames[e.step], e.errno)
}

// newChild prepares argv, env, dir and the rest for forkExec. The hard
// rlimits asked for are capped at the caller's own, which an unprivileged
// process cannot exceed.
func newChild(argv, env []string, dir string, join, fds []int, rlimits []rlimit, id int) (*child, error) {
	c := &child{join: join, fds: append([]int(nil), fds...), id: uintptr(id)}
	var err error
	if c.argv0, err = syscall.BytePtrFromString(argv[0]); err != nil {
		return nil, err
	}
	if c.argv, err = syscall.SlicePtrFromStrings(argv); err != nil {
		return nil, err
	}
	if c.envv, err = syscall.SlicePtrFromStrings(env); err != nil {
		return nil, err
	}
	if c.dir, err = syscall.BytePtrFromString(dir); err != nil {
		return nil, err
	}
	for _, rl := range rlimits {
		var own unix.Rlimit
		if err := unix.Getrlimit(rl.Resource, &own); err != nil {
			return nil, fmt.Errorf("rlimit %d: %w", rl.Resource, err)
		}
		lim := unix.Rlimit{Cur: min(rl.Cur, own.Max), Max: min(rl.Max, own.Max)}
		c.rlimits = append(c.rlimits, childRlimit{uintptr(rl.Resource), lim})
	}
	return c, nil
}

// forkExec starts c's program and returns its pid once it has exec'd.
// Everything that confines the program is done by the child itself before
// the exec — joining the run's cgroup, its credentials, its hard rlimits —
// so the program's first instruction already runs under all of it, and
// the parent never enters the run's cgroup. Package syscall's ForkExec
// cannot set rlimits or join a cgroup on cgroup v1 in the child, which
// left a window where the program could raise its soft limits to ours or
// fork past pids.max. A childError says which step failed; at stepExec the
// program itself could not be started (no such file, not executable).
func forkExec(c *child) (int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	defer unix.Close(p[0])
	pid, err := forkExecChild(c, p[1])
	unix.Close(p[1])
	if err != nil {
		return 0, err
	}
	// The read ends when the exec closes the child's copy of the pipe, or
	// with the child's report of its failure.
	var report [2]uint32
	for {
		n, err := unix.Read(p[0], (*[8]byte)(unsafe.Pointer(&report))[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return pid, nil
		}
		break
	}
	// The child has exited or is about to: the wait only reaps it, and the
	// child's own report is the error to return whatever the wait says.
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	return 0, childError{step: report[0], errno: syscall.Errno(report[1])}
}

// forkExecChild forks; the child runs nothing but raw system calls up to
// its exec (the runtime poisons its stack guard, so any call that could
// grow the stack crashes it instead), and reports a failure on pipe as
// two uint32s: the step and the errno. As in package syscall, the child
// shares the parent's memory (CLONE_VM: no page tables to copy, which
// cost about 3 ms a run here) and the parent waits until it has exec'd
// or exited (CLONE_VFORK); so the child writes only to c.fds (a copy)
// and to locals the parent no longer reads.
//
//go:norace
//go:noinline
func forkExecChild(c *child, pipe int) (int, error) {
	var (
		r1     uintptr
		errno  syscall.Errno
		step   uint32
		i      int
		nextfd int
		zero   = [1]byte{'0'}
		report [2]uint32
	)
	for _, fd := range c.fds {
		nextfd = max(nextfd, fd)
	}
	nextfd = max(nextfd, len(c.fds)) + 1

	beforeFork()
	r1, errno = vfork()
	if errno != 0 || r1 != 0 {
		afterFork()
		if errno != 0 {
			return 0, errno
		}
		return int(r1), nil
	}

	// The child.
	afterForkInChild()
	step = stepJoin
	for i = 0; i < len(c.join); i++ {
		if _, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.join[i]), uintptr(unsafe.Pointer(&zero[0])), 1); errno != 0 {
			goto fail
		}
	}
	step = stepSetsid
	if _, _, errno = syscall.RawSyscall(syscall.SYS_SETSID, 0, 0, 0); errno != 0 {
		goto fail
	}
	step = stepCreds
	if _, _, errno = syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); errno != 0 {
		goto fail
	}
	if _, _, errno = syscall.RawSyscall(syscall.SYS_SETRESGID, c.id, c.id, c.id); errno != 0 {
		goto fail
	}
	if _, _, errno = syscall.RawSyscall(syscall.SYS_SETRESUID, c.id, c.id, c.id); errno != 0 {
		goto fail
	}
	step = stepChdir
	if _, _, errno = syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(c.dir)), 0, 0); errno != 0 {
		goto fail
	}
	// Descriptors: first move any that a later dup would overwrite out of
	// the way (the pipe among them), then put each in its place.
	step = stepFDs
	if pipe < nextfd {
		if _, _, errno = syscall.RawSyscall(syscall.SYS_DUP3, uintptr(pipe), uintptr(nextfd), unix.O_CLOEXEC); errno != 0 {
			goto fail
		}
		pipe = nextfd
		nextfd++
	}
	for i = 0; i < len(c.fds); i++ {
		if c.fds[i] < i {
			if _, _, errno = syscall.RawSyscall(syscall.SYS_DUP3, uintptr(c.fds[i]), uintptr(nextfd), unix.O_CLOEXEC); errno != 0 {
				goto fail
			}
			c.fds[i] = nextfd
			nextfd++
		}
	}
	for i = 0; i < len(c.fds); i++ {
		if c.fds[i] == i {
			_, _, errno = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(i), syscall.F_SETFD, 0)
		} else {
			_, _, errno = syscall.RawSyscall(syscall.SYS_DUP3, uintptr(c.fds[i]), uintptr(i), 0)
		}
		if errno != 0 {
			goto fail
		}
	}
	// Last, so that nothing above runs into them (a low RLIMIT_NOFILE and
	// the dups), and before the exec, which keeps the stack limit it
	// starts with.
	step = stepRlimit
	for i = 0; i < len(c.rlimits); i++ {
		if _, _, errno = syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, c.rlimits[i].resource, uintptr(unsafe.Pointer(&c.rlimits[i].lim)), 0, 0, 0); errno != 0 {
			goto fail
		}
	}
	step = stepExec
	_, _, errno = syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(c.argv0)), uintptr(unsafe.Pointer(&c.argv[0])), uintptr(unsafe.Pointer(&c.envv[0])))

fail:
	// Should the report not get through, the parent reads EOF and takes
	// the child for started: its exit status, 253, then tells the failure.
	// exit_group does not return; the loop is for the compiler.
	report[0] = step
	report[1] = uint32(errno)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(pipe), uintptr(unsafe.Pointer(&report[0])), unsafe.Sizeof(report))
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 253, 0, 0)
	}
}
