// Package seccomp holds the sandbox's system-call allow-list, modelled on
// Docker's default profile and further denying namespace creation, mount,
// ptrace, bpf, keyctl, userfaultfd, io_uring, perf events, kernel modules,
// clock changes and every socket a program without network has no use
// for. Denied calls fail with an errno (EPERM, or what a kernel without
// the feature answers) so programs degrade rather than die.
package seccomp

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// allowed are the calls ordinary programs, interpreters, JITs and
// compilers make. Anything absent is refused with EPERM.
var allowed = []string{
	"accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset",
	"chdir", "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close",
	"close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
	"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2",
	"execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate",
	"fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr",
	"flistxattr", "flock", "fork", "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv",
	"getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
	"getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
	"getrandom", "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname",
	"getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
	"inotify_init", "inotify_init1", "inotify_rm_watch", "ioctl", "kill", "lchown", "lgetxattr",
	"link", "linkat", "listen", "listxattr", "llistxattr", "lseek", "lstat", "madvise",
	"membarrier", "memfd_create", "mincore", "mkdir", "mkdirat", "mlock", "mlock2", "mlockall",
	"mmap", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "nanosleep",
	"newfstatat", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
	"pipe2", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "pselect6",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
	"recvfrom", "recvmmsg", "recvmsg", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_yield", "select",
	"sendfile", "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_tid_address",
	"setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority",
	"setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid", "setsockopt",
	"setuid", "shutdown", "sigaltstack", "splice", "stat", "statfs",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
	"tgkill", "tkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime",
	"times", "truncate", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes",
	"vfork", "wait4", "waitid", "write", "writev",
}

// namespaceFlags may not appear in clone's flags: a program must not make
// namespaces of its own.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// denied are calls the policy must refuse; tests and doctor check them.
var denied = []string{
	"unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
	"process_vm_writev", "bpf", "keyctl", "add_key", "request_key", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "perf_event_open", "init_module",
	"finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
	"swapoff", "acct", "quotactl", "clock_settime", "settimeofday", "adjtimex", "clock_adjtime",
	"sethostname", "setdomainname", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
	"move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
	// Docker allows these only with a capability the program lacks.
	"kcmp", "pidfd_getfd", "process_madvise", "iopl", "ioperm", "syslog", "lookup_dcookie",
	"vhangup", "quotactl_fd",
}

// Denied lists the calls the policy refuses (a sample that matters, not
// every absent call).
func Denied() []string { return append([]string(nil), denied...) }

// The sockets a sandbox without network uses: AF_UNIX; TCP and UDP over
// AF_INET and AF_INET6, which reach nothing (the namespace's only
// interface, lo, is down) but which compilers and runtimes make anyway
// (javac probes both at start, Node's HTTP server listens on AF_INET6);
// and netlink's NETLINK_ROUTE, which lists interfaces (getifaddrs, Go's
// net.Interfaces). Network namespaces do not cover every family — vsock
// reaches the host or hypervisor from any of them — and other families and
// protocols load kernel modules on first use, so the rest is refused.
var (
	ipFamilies = []uint64{unix.AF_INET, unix.AF_INET6}
	// ipTypes are the only bits an AF_INET or AF_INET6 socket's type may
	// have: SOCK_STREAM, SOCK_DGRAM or SOCK_RAW (which the kernel keeps
	// for CAP_NET_RAW), and the two flags.
	ipTypes     uint64 = unix.SOCK_STREAM | unix.SOCK_DGRAM | unix.SOCK_RAW | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	ipProtocols        = []uint64{0, unix.IPPROTO_TCP, unix.IPPROTO_UDP}
)

const retAllow = unix.SECCOMP_RET_ALLOW

// retErrno fails a call with e.
func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// A cond holds when argument arg, masked, equals value. All 64 bits are
// compared: a kernel that reads an int ignores the high half, so a rule
// that allows refuses garbage there instead.
type cond struct {
	arg         int
	mask, value uint64
}

func is(arg int, v uint64) cond         { return cond{arg, ^uint64(0), v} }
func hasNone(arg int, bits uint64) cond { return cond{arg, bits, 0} }

// A rule answers ret when all its conds hold.
type rule struct {
	when []cond
	ret  uint32
}

// argRules decide a call by its arguments: the first rule that holds
// answers, otherwise otherwise does.
type argRules struct {
	name      string
	rules     []rule
	otherwise uint32
}

func byArguments() []argRules {
	// A refused family answers as a kernel without it would (EAFNOSUPPORT,
	// as systemd's RestrictAddressFamilies= does), and so does a refused
	// protocol of an allowed family (EPROTONOSUPPORT): programs take those
	// as "not there", where other errnos are failures to report or retry
	// (libaudit; Go's MPTCP probe, which would try again on every Listen).
	sockets := argRules{name: "socket", otherwise: retErrno(unix.EAFNOSUPPORT), rules: []rule{
		{[]cond{is(0, unix.AF_UNIX)}, retAllow},
		{[]cond{is(0, unix.AF_NETLINK), is(2, unix.NETLINK_ROUTE)}, retAllow},
	}}
	for _, family := range ipFamilies {
		for _, protocol := range ipProtocols {
			sockets.rules = append(sockets.rules, rule{[]cond{is(0, family), hasNone(1, ^ipTypes), is(2, protocol)}, retAllow})
		}
	}
	for _, family := range append([]uint64{unix.AF_NETLINK}, ipFamilies...) {
		sockets.rules = append(sockets.rules, rule{[]cond{is(0, family)}, retErrno(unix.EPROTONOSUPPORT)})
	}
	return []argRules{
		sockets,
		{name: "socketpair", otherwise: retErrno(unix.EAFNOSUPPORT), rules: []rule{{[]cond{is(0, unix.AF_UNIX)}, retAllow}}},
		{name: "clone", otherwise: retErrno(unix.EPERM), rules: []rule{{[]cond{hasNone(0, namespaceFlags)}, retAllow}}},
		// Linux's own personality, or a query.
		{name: "personality", otherwise: retErrno(unix.EPERM), rules: []rule{
			{[]cond{is(0, 0)}, retAllow}, {[]cond{is(0, 0xffffffff)}, retAllow},
		}},
	}
}

var (
	once    sync.Once
	program []unix.SockFilter
	progErr error
)

// Filter returns the assembled policy; it is built once and shared.
func Filter() ([]unix.SockFilter, error) {
	once.Do(func() { program, progErr = assemble() })
	return program, progErr
}

// The program is two stages. The first decides the calls allowed only
// with some arguments and returns on every path. The library's own
// argument conditions cannot be used: after a condition fails it goes on
// comparing syscall numbers against the argument it loaded last (with
// socket's rules there, socket(56, ...) passed for clone, 56 on x86-64,
// and was allowed). The second stage, the library's, loads arch and
// number afresh and checks names only.
func assemble() ([]unix.SockFilter, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	first, err := argumentStage(info)
	if err != nil {
		return nil, err
	}
	policy := libseccomp.Policy{
		DefaultAction: libseccomp.ActionErrno, // EPERM
		Syscalls: []libseccomp.SyscallGroup{
			{Action: libseccomp.ActionAllow, Names: allowed},
			// ENOSYS makes libc fall back to clone, whose flags the filter can see.
			{Action: libseccomp.Action(retErrno(unix.ENOSYS)), Names: []string{"clone3"}},
		},
	}
	second, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(append(first, second...))
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// Offsets in struct seccomp_data.
const (
	nrOffset   = 0
	archOffset = 4
	argsOffset = 16
)

// argumentStage decides the calls of byArguments for the native ABI and
// sends every other call on to the next stage.
func argumentStage(info *arch.Info) ([]bpf.Instruction, error) {
	var body []bpf.Instruction
	for _, a := range byArguments() {
		nr, ok := info.SyscallNames[a.name]
		if !ok {
			return nil, fmt.Errorf("no %s on %s", a.name, info.Name)
		}
		block := a.emit()
		body = append(body, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipTrue: 1}, bpf.Jump{Skip: uint32(len(block))})
		body = append(body, block...)
	}
	return append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.Jump{Skip: uint32(1 + len(body))},
		bpf.LoadAbsolute{Off: nrOffset, Size: 4},
	}, body...), nil
}

func (a argRules) emit() []bpf.Instruction {
	var out []bpf.Instruction
	for _, r := range a.rules {
		out = append(out, r.emit()...)
	}
	return append(out, bpf.RetConstant{Val: a.otherwise})
}

// emit checks each cond a 32-bit word at a time; a word that differs
// jumps past the rule's return to the next rule.
func (r rule) emit() []bpf.Instruction {
	var out []bpf.Instruction
	var misses []int
	for _, c := range r.when {
		hi, lo := wordOffsets(c.arg)
		for _, w := range []struct{ off, mask, value uint32 }{
			{hi, uint32(c.mask >> 32), uint32(c.value >> 32)},
			{lo, uint32(c.mask), uint32(c.value)},
		} {
			if w.mask == 0 {
				continue
			}
			out = append(out, bpf.LoadAbsolute{Off: w.off, Size: 4})
			if w.mask != ^uint32(0) {
				out = append(out, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: w.mask})
			}
			misses = append(misses, len(out))
			out = append(out, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w.value})
		}
	}
	out = append(out, bpf.RetConstant{Val: r.ret})
	for _, i := range misses {
		j := out[i].(bpf.JumpIf)
		j.SkipTrue = uint8(len(out) - i - 1)
		out[i] = j
	}
	return out
}

// wordOffsets are where an argument's high and low words sit: the kernel
// stores arguments in host byte order.
func wordOffsets(arg int) (hi, lo uint32) {
	off := uint32(argsOffset + 8*arg)
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	if probe[0] == 1 { // little-endian
		return off + 4, off
	}
	return off, off + 4
}

// InstallThread sets no_new_privs and loads prog for the calling OS thread
// only; the caller must have locked its goroutine to that thread for good.
// Children forked from the thread inherit both.
func InstallThread(prog []unix.SockFilter) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}
