//go:build !amd64

package native

import "syscall"

// vfork, where no assembly of ours shares the stack safely, is a fork
// that copies the page tables (slower) and waits for the child's exec.
func vfork() (pid uintptr, errno syscall.Errno) {
	pid, _, errno = syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD)|syscall.CLONE_VFORK, 0, 0, 0, 0, 0)
	return pid, errno
}
