// Package seccomp holds the sandbox's system-call allow-list, modelled on
// Docker's default profile and further denying namespace creation, mount,
// ptrace, bpf, keyctl, userfaultfd, io_uring, perf events, kernel modules
// and clock changes. Denied calls fail with EPERM so programs degrade
// rather than die.
package seccomp

import (
	"fmt"
	"sync"
	"unsafe"

	libseccomp "github.com/elastic/go-seccomp-bpf"
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
	"setuid", "shutdown", "sigaltstack", "socket", "socketpair", "splice", "stat", "statfs",
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
}

// Denied lists the calls the policy refuses (a sample that matters, not
// every absent call).
func Denied() []string { return append([]string(nil), denied...) }

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

// The library accepts only bare actions, so errno values are filled in
// after assembly: a bare ERRNO becomes EPERM and the otherwise unused TRACE
// action marks calls that answer ENOSYS.
const enosysMarker = libseccomp.ActionTrace

// retK is the opcode of "return constant" (BPF_RET|BPF_K).
const retK = unix.BPF_RET | unix.BPF_K

func returnValue(k uint32) uint32 {
	switch k {
	case uint32(libseccomp.ActionErrno):
		return k | uint32(unix.EPERM)
	case uint32(enosysMarker):
		// ENOSYS makes libc fall back to clone, whose flags the filter can see.
		return uint32(libseccomp.ActionErrno) | uint32(unix.ENOSYS)
	}
	return k
}

func assemble() ([]unix.SockFilter, error) {
	policy := libseccomp.Policy{
		DefaultAction: libseccomp.ActionErrno,
		Syscalls: []libseccomp.SyscallGroup{
			{Action: libseccomp.ActionAllow, Names: allowed},
			{
				Action: libseccomp.ActionAllow,
				NamesWithCondtions: []libseccomp.NameWithConditions{{
					Name:       "clone",
					Conditions: []libseccomp.Condition{{Argument: 0, Operation: libseccomp.BitsNotSet, Value: namespaceFlags}},
				}, {
					Name:       "personality",
					Conditions: []libseccomp.Condition{{Argument: 0, Operation: libseccomp.Equal, Value: 0}},
				}, {
					Name:       "personality",
					Conditions: []libseccomp.Condition{{Argument: 0, Operation: libseccomp.Equal, Value: 0xffffffff}},
				}},
			},
			{Action: enosysMarker, Names: []string{"clone3"}},
		},
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		if r.Op == retK {
			r.K = returnValue(r.K)
		}
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
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
