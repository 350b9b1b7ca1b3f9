package native

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
)

// outcome is what is known of a run once its program is gone: why it was
// killed, if it was, the keeper's report and what the run's cgroup counted.
type outcome struct {
	killed      bool // by a limit watched while it ran, or by a cancel
	killStatus  airlock.Status
	killMessage string
	waitErr     error  // the keeper's report could not be read
	report      report // the keeper's report of the program's end
	oomKilled   bool   // the cgroup's OOM killer ended one of its processes
	cpu         time.Duration
	cpuLimit    time.Duration
	// pidsLimitHit: a fork failed at the cgroup's process limit; the
	// program may have carried on.
	pidsLimitHit bool
}

// verdict is a run's status and exit as its caller sees them.
type verdict struct {
	status   airlock.Status
	message  string
	exitCode int
	signal   string // SIGKILL, as Piston names it; empty when it exited
}

// errCancelled is an outcome with no verdict: the run's context ended it,
// and its caller gets the context's error.
var errCancelled = errors.New("run cancelled")

// classify turns a run's outcome into its status. The first cause wins: a
// kill while it ran (a limit or a cancel), a failure of the sandbox itself
// (an error), then the limits the kernel enforced — memory (OOM kill) and
// CPU time that the watch had no tick left to catch — then files that could
// not be handed to or collected from the run, then the program's own exit.
func classify(o outcome) (verdict, error) {
	var v verdict
	rep := o.report
	switch {
	case o.killed && o.killStatus == airlock.StatusCancelled:
		return v, errCancelled
	case o.killed:
		v.status, v.message = o.killStatus, o.killMessage
	case o.waitErr != nil:
		return v, o.waitErr
	case rep.Error != "":
		return v, errors.New(rep.Error)
	case o.oomKilled:
		v.status, v.message = airlock.StatusMemoryLimit, "memory limit exceeded"
	case o.cpu > o.cpuLimit:
		v.status, v.message = airlock.StatusTimeLimit, "CPU time limit exceeded"
	case rep.Refused != "":
		v.status, v.message = airlock.StatusOutputLimit, rep.Refused
	case rep.Signal != 0 || rep.ExitCode != 0:
		v.status = airlock.StatusRuntimeError
	default:
		v.status = airlock.StatusOK
	}
	v.exitCode, v.signal = exitOf(rep)
	if v.status == airlock.StatusRuntimeError && v.signal == "SIGXFSZ" {
		v.message = "file size limit exceeded"
	}
	if o.pidsLimitHit && v.message == "" {
		v.message = "process limit reached"
	}
	return v, nil
}

// exitOf is the program's exit code and signal as a shell reports them: a
// signal is 128 plus its number.
func exitOf(rep report) (code int, signal string) {
	switch {
	case rep.Signal != 0:
		return 128 + rep.Signal, signalName(syscall.Signal(rep.Signal))
	case rep.Exited:
		return rep.ExitCode, ""
	case rep.Refused != "": // its files were refused: it never started
		return 0, ""
	default: // the program's end was never reported
		return 128 + int(syscall.SIGKILL), signalName(syscall.SIGKILL)
	}
}

// signalName gives the conventional name (SIGSEGV), as Piston reports it.
func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return "SIG" + s.String()
}
