package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/sandbox/native"
)

func TestMain(m *testing.M) {
	native.Stage() // doctor's trial run starts keepers from this binary
	os.Exit(m.Run())
}

// TestDoctor: on this host (and in the cgroup-v2 guest) every check passes,
// the hierarchy is named, and a real sandbox runs.
func TestDoctor(t *testing.T) {
	var out strings.Builder
	code := cmdDoctor(nil, &out)
	t.Log(out.String())
	if code != 0 || !strings.Contains(out.String(), "ok    sandboxed run") {
		t.Fatalf("doctor exit %d", code)
	}
	if want := os.Getenv("AIRLOCK_EXPECT_CGROUP"); want != "" && !strings.Contains(out.String(), "cgroup "+want+"\n") {
		t.Fatalf("doctor does not report cgroup %s", want)
	}
	if code := cmdDoctor([]string{"extra"}, &out); code != exitUsage {
		t.Errorf("doctor with arguments: exit %d, want %d", code, exitUsage)
	}
}

// TestRunBadInput: every bad input is one line on stderr and exit code 2.
func TestRunBadInput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "airlock")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	src := filepath.Join(t.TempDir(), "ok.py")
	os.WriteFile(src, []byte("print('hi')\n"), 0o644)
	cases := map[string][]string{
		"missing file":     {"run", "/nonexistent.py"},
		"unknown language": {"run", "-l", "cobol", src},
		"bad extension":    {"run", "notes.txt"},
		"malformed memory": {"run", "--memory", "12Q", src},
		"memory too large": {"run", "--memory", "100G", src},
		"no file":          {"run"},
		"unknown command":  {"frobnicate"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != exitUsage {
				t.Fatalf("exit %v, want %d; stderr %q", err, exitUsage, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), "airlock: ") {
				t.Errorf("stderr %q does not name the problem", stderr.String())
			}
		})
	}
}
