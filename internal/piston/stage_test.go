package piston

import (
	"fmt"
	"testing"

	"github.com/airlock-dev/airlock"
)

// TestStageOf: each step outcome in isolate's terms, including those the
// sandbox rarely gives (a program that exits on its own over its CPU time
// is reported killed, as job.js reports every stage stopped at a limit).
func TestStageOf(t *testing.T) {
	cases := []struct {
		step airlock.Step
		want string // status message signal code
	}{
		{airlock.Step{Status: airlock.StatusOK}, "<nil> <nil> <nil> 0"},
		{airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 3}, "RE Exited with error status 3 <nil> 3"},
		{airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 139, Signal: "SIGSEGV"}, "SG Caught fatal signal 11 SIGSEGV <nil>"},
		{airlock.Step{Status: airlock.StatusTimeLimit, Message: "CPU time limit exceeded"}, "TO Time limit exceeded SIGKILL <nil>"},
		{airlock.Step{Status: airlock.StatusTimeLimit, Message: "wall time limit exceeded", Signal: "SIGKILL"}, "TO Time limit exceeded (wall clock) SIGKILL <nil>"},
		{airlock.Step{Status: airlock.StatusOutputLimit, StdoutTruncated: true}, "OL stdout length exceeded SIGKILL <nil>"},
		{airlock.Step{Status: airlock.StatusOutputLimit, StderrTruncated: true}, "EL stderr length exceeded SIGKILL <nil>"},
		{airlock.Step{Status: airlock.StatusMemoryLimit, Signal: "SIGKILL"}, "SG Memory limit exceeded SIGKILL <nil>"},
		{airlock.Step{Status: airlock.StatusInternalError, Message: "sandbox failed"}, "XX sandbox failed <nil> 0"},
	}
	show := func(p any) string {
		switch p := p.(type) {
		case *string:
			if p != nil {
				return *p
			}
		case *int:
			if p != nil {
				return fmt.Sprint(*p)
			}
		}
		return "<nil>"
	}
	for _, c := range cases {
		st := stageOf(c.step)
		if got := show(st.Status) + " " + show(st.Message) + " " + show(st.Signal) + " " + show(st.Code); got != c.want {
			t.Errorf("%+v: %s, want %s", c.step, got, c.want)
		}
	}
}
