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
	for _, c := range cases {
		st := stageOf(c.step)
		if got := show(st.Status) + " " + show(st.Message) + " " + show(st.Signal) + " " + show(st.Code); got != c.want {
			t.Errorf("%+v: %s, want %s", c.step, got, c.want)
		}
	}
}

// TestDependencyError: a job whose requirements could not be installed
// answers as a failed compile stage carrying the installer's output, and
// its run stage is that same stage (nothing ran).
func TestDependencyError(t *testing.T) {
	for _, c := range []struct {
		name      string
		installer *airlock.Step
		want      string // status message code
	}{
		{"installer failed", &airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 1, Stderr: []byte("ERROR: No matching distribution found for nosuch\n")},
			"RE dependencies: no version of nosuch 1"},
		{"installer timed out", &airlock.Step{Status: airlock.StatusTimeLimit, Signal: "SIGKILL", Stderr: []byte("ERROR: No matching distribution found for nosuch\n")},
			"TO dependencies: no version of nosuch <nil>"},
		{"result refused", &airlock.Step{Status: airlock.StatusOK, Stderr: []byte("ERROR: No matching distribution found for nosuch\n")},
			"RE dependencies: no version of nosuch 0"},
	} {
		j := &airlock.Job{Status: airlock.StatusDependencyError, Result: &airlock.Result{
			Step:         airlock.Step{Status: airlock.StatusDependencyError, Message: "dependencies: no version of nosuch"},
			Dependencies: c.installer,
		}}
		out := resultOf(j, runtime{Language: "python", Version: "3.11.2"})
		if out.Compile == nil || out.Run != out.Compile {
			t.Fatalf("%s: compile %+v run %+v", c.name, out.Compile, out.Run)
		}
		if got := show(out.Compile.Status) + " " + show(out.Compile.Message) + " " + show(out.Compile.Code); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		if out.Compile.Stderr != string(c.installer.Stderr) {
			t.Errorf("%s: stderr %q", c.name, out.Compile.Stderr)
		}
	}
}

// show is a stage's optional field as text.
func show(p any) string {
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
