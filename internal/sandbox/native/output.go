package native

import (
	"bytes"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
)

// rlimits are per-process backstops the keeper applies to the program.
// Memory and processes are limited by the cgroup instead: RLIMIT_AS breaks
// JIT runtimes and RLIMIT_NPROC counts per uid, not per sandbox. Core
// dumps, locked memory and message queues are zero in every keeper; the
// stack limit is a soft one (see spawn).
func rlimits(l airlock.Limits) []rlimit {
	cpuSec := uint64(l.CPU.Seconds()) + 1 // the cgroup counter is the real limit
	return []rlimit{
		{unix.RLIMIT_CPU, cpuSec, cpuSec + 1},
		{unix.RLIMIT_FSIZE, uint64(l.FileSize), uint64(l.FileSize)},
		{unix.RLIMIT_NOFILE, uint64(l.OpenFiles), uint64(l.OpenFiles)},
		{unix.RLIMIT_STACK, uint64(l.Stack), uint64(l.Stack)},
	}
}

// cappedBuffer keeps at most limit bytes of a stream and calls onLimit once
// when the program writes more.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int64
	truncated bool
	onLimit   func()
	tee       func([]byte) // gets what is kept, as it comes; one writer only
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	room := c.limit - int64(c.buf.Len())
	over := int64(len(p)) > room
	kept := p
	if over {
		kept = p[:max(room, 0)]
	}
	c.buf.Write(kept)
	first := over && !c.truncated
	if over {
		c.truncated = true
	}
	onLimit := c.onLimit
	c.mu.Unlock()
	if c.tee != nil && len(kept) > 0 {
		c.tee(kept)
	}
	if first && onLimit != nil {
		onLimit()
	}
	return len(p), nil
}

func (c *cappedBuffer) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.truncated
}

// signalName gives the conventional name (SIGSEGV), as Piston reports it.
func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return "SIG" + s.String()
}
