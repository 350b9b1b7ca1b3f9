package native

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
)

// rlimit is a resource limit on the control channel.
type rlimit struct {
	Resource int
	Cur, Max uint64
}

// rlimits are per-process backstops the keeper applies to the program.
// Memory and processes are limited by the cgroup instead: RLIMIT_AS breaks
// JIT runtimes and RLIMIT_NPROC counts per uid, not per sandbox. Core
// dumps, locked memory and message queues are zero in every keeper (see
// zeroKeeperRlimits); the stack limit is set before the exec, which sizes
// the program's stack by it (see forkExec).
func rlimits(l airlock.Limits) []rlimit {
	cpuSec := uint64(l.CPU.Seconds()) + 1 // the cgroup counter is the real limit
	return []rlimit{
		{unix.RLIMIT_CPU, cpuSec, cpuSec + 1},
		{unix.RLIMIT_FSIZE, uint64(l.FileSize), uint64(l.FileSize)},
		{unix.RLIMIT_NOFILE, uint64(l.OpenFiles), uint64(l.OpenFiles)},
		{unix.RLIMIT_STACK, uint64(l.Stack), uint64(l.Stack)},
	}
}

// zeroKeeperRlimits sets the process-wide backstops that never vary per
// run, in the keeper, so every program inherits them: no core dumps, no
// locked memory, no POSIX message queues.
func zeroKeeperRlimits() error {
	for _, r := range []int{unix.RLIMIT_CORE, unix.RLIMIT_MEMLOCK, unix.RLIMIT_MSGQUEUE} {
		if err := unix.Setrlimit(r, &unix.Rlimit{}); err != nil {
			return fmt.Errorf("rlimit %d: %w", r, err)
		}
	}
	return nil
}
