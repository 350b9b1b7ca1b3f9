package probe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/probe"
)

func TestRunsOnlyAllowed(t *testing.T) {
	r := probe.New([][]string{{"/bin/sh", "-c", "echo 3.11.2; echo warn >&2"}, {"/bin/sh", "-c", "exit 3"}})
	res, err := r.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/sh", "-c", "echo 3.11.2; echo warn >&2"}})
	if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "3.11.2\n" || string(res.Stderr) != "warn\n" {
		t.Fatalf("allowed command: %+v, %v", res, err)
	}
	res, err = r.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/sh", "-c", "exit 3"}})
	if err != nil || res.Status != airlock.StatusRuntimeError || res.ExitCode != 3 {
		t.Fatalf("failing command: %+v, %v", res, err)
	}
	for _, argv := range [][]string{
		{"/bin/sh", "-c", "echo pwned"},
		{"/bin/sh", "-c"},
		{"/bin/sh", "-c", "echo 3.11.2; echo warn >&2", "extra"},
		nil,
	} {
		_, err := r.Run(t.Context(), sandbox.Spec{Argv: argv})
		if !errors.Is(err, probe.ErrRefused) || !strings.Contains(err.Error(), "runs no jobs") {
			t.Errorf("Run(%q) = %v, want ErrRefused", argv, err)
		}
	}
	// An allowed command line with files is a job, not a probe.
	_, err = r.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/sh", "-c", "exit 3"}, Files: []sandbox.File{{Name: "x"}}})
	if !errors.Is(err, probe.ErrRefused) {
		t.Errorf("Run with files = %v, want ErrRefused", err)
	}
}
