package native

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

// TestClassify: how a run's end becomes its status, its message and its
// exit, the first cause winning.
func TestClassify(t *testing.T) {
	exited := func(code int) report { return report{Exited: true, ExitCode: code} }
	signalled := func(s syscall.Signal) report { return report{Signal: int(s)} }
	killedBy := func(s airlock.Status, msg string) outcome {
		return outcome{killed: true, killStatus: s, killMessage: msg, report: signalled(syscall.SIGKILL), cpuLimit: time.Second}
	}
	brokenKeeper := errors.New("keeper: recv: message cut short")
	cases := []struct {
		name string
		o    outcome
		want verdict
		err  error
	}{
		{"exit 0", outcome{report: exited(0), cpuLimit: time.Second},
			verdict{status: airlock.StatusOK}, nil},
		{"exit 3", outcome{report: exited(3), cpuLimit: time.Second},
			verdict{status: airlock.StatusRuntimeError, exitCode: 3}, nil},
		{"segfault", outcome{report: signalled(syscall.SIGSEGV), cpuLimit: time.Second},
			verdict{status: airlock.StatusRuntimeError, exitCode: 139, signal: "SIGSEGV"}, nil},
		{"file too big", outcome{report: signalled(syscall.SIGXFSZ), cpuLimit: time.Second},
			verdict{status: airlock.StatusRuntimeError, message: "file size limit exceeded", exitCode: 153, signal: "SIGXFSZ"}, nil},
		{"wall time", killedBy(airlock.StatusTimeLimit, "wall time limit exceeded"),
			verdict{status: airlock.StatusTimeLimit, message: "wall time limit exceeded", exitCode: 137, signal: "SIGKILL"}, nil},
		{"output", killedBy(airlock.StatusOutputLimit, "stdout exceeded the output limit"),
			verdict{status: airlock.StatusOutputLimit, message: "stdout exceeded the output limit", exitCode: 137, signal: "SIGKILL"}, nil},
		{"cancelled", killedBy(airlock.StatusCancelled, "cancelled"), verdict{}, errCancelled},
		{"kill before a broken keeper", outcome{killed: true, killStatus: airlock.StatusTimeLimit, killMessage: "wall time limit exceeded", waitErr: brokenKeeper},
			verdict{status: airlock.StatusTimeLimit, message: "wall time limit exceeded", exitCode: 137, signal: "SIGKILL"}, nil},
		{"broken keeper", outcome{waitErr: brokenKeeper, oomKilled: true}, verdict{}, brokenKeeper},
		{"keeper error", outcome{report: report{Error: "collect: EIO"}, oomKilled: true}, verdict{}, errors.New("collect: EIO")},
		{"out of memory", outcome{report: signalled(syscall.SIGKILL), oomKilled: true, cpuLimit: time.Second},
			verdict{status: airlock.StatusMemoryLimit, message: "memory limit exceeded", exitCode: 137, signal: "SIGKILL"}, nil},
		{"out of memory, caught", outcome{report: exited(1), oomKilled: true, cpu: 2 * time.Second, cpuLimit: time.Second},
			verdict{status: airlock.StatusMemoryLimit, message: "memory limit exceeded", exitCode: 1}, nil},
		{"output kill before memory", outcome{killed: true, killStatus: airlock.StatusOutputLimit, killMessage: "stderr exceeded the output limit", report: signalled(syscall.SIGKILL), oomKilled: true},
			verdict{status: airlock.StatusOutputLimit, message: "stderr exceeded the output limit", exitCode: 137, signal: "SIGKILL"}, nil},
		{"CPU time between ticks", outcome{report: exited(0), cpu: 1001 * time.Millisecond, cpuLimit: time.Second},
			verdict{status: airlock.StatusTimeLimit, message: "CPU time limit exceeded"}, nil},
		{"CPU time at the limit", outcome{report: exited(0), cpu: time.Second, cpuLimit: time.Second},
			verdict{status: airlock.StatusOK}, nil},
		{"CPU backstop signal", outcome{report: signalled(syscall.SIGKILL), cpu: 3 * time.Second, cpuLimit: time.Second},
			verdict{status: airlock.StatusTimeLimit, message: "CPU time limit exceeded", exitCode: 137, signal: "SIGKILL"}, nil},
		{"files refused", outcome{report: report{Refused: "the files handed to the run do not fit"}, cpuLimit: time.Second},
			verdict{status: airlock.StatusOutputLimit, message: "the files handed to the run do not fit"}, nil},
		{"collect refused", outcome{report: report{Exited: true, ExitCode: 2, Refused: "more than 4096 files"}, cpuLimit: time.Second},
			verdict{status: airlock.StatusOutputLimit, message: "more than 4096 files", exitCode: 2}, nil},
		{"end never reported", outcome{killed: true, killStatus: airlock.StatusTimeLimit, killMessage: "wall time limit exceeded"},
			verdict{status: airlock.StatusTimeLimit, message: "wall time limit exceeded", exitCode: 137, signal: "SIGKILL"}, nil},
		{"process limit", outcome{report: exited(0), pidsLimitHit: true, cpuLimit: time.Second},
			verdict{status: airlock.StatusOK, message: "process limit reached"}, nil},
		{"process limit under another message", outcome{report: signalled(syscall.SIGXFSZ), pidsLimitHit: true, cpuLimit: time.Second},
			verdict{status: airlock.StatusRuntimeError, message: "file size limit exceeded", exitCode: 153, signal: "SIGXFSZ"}, nil},
		{"process limit and a crash", outcome{report: exited(1), pidsLimitHit: true, cpuLimit: time.Second},
			verdict{status: airlock.StatusRuntimeError, message: "process limit reached", exitCode: 1}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := classify(c.o)
			if c.err != nil {
				if err == nil || err.Error() != c.err.Error() {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestSignalName names signals as Piston does.
func TestSignalName(t *testing.T) {
	for s, want := range map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSEGV: "SIGSEGV"} {
		if got := signalName(s); got != want {
			t.Errorf("signalName(%d) = %q, want %q", s, got, want)
		}
	}
}
