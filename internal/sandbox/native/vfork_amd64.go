package native

import "syscall"

// vfork is clone(CLONE_VM|CLONE_VFORK|SIGCHLD): the child runs on the
// parent's stack until its exec, so the assembly keeps the return address
// off that stack across the call (vfork_amd64.s).
func vfork() (pid uintptr, errno syscall.Errno)
