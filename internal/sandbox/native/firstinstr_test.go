package native

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// firstInstr builds testdata/firstinstr.c once, statically, so the race
// starts at the program's first instruction, not after a dynamic loader.
var firstInstr = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "airlock-firstinstr-")
	if err == nil {
		err = os.Chmod(dir, 0o755) // the sandbox binds it as an unprivileged uid
	}
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "firstinstr")
	out, err := exec.Command("gcc", "-static", "-O2", "-o", bin, "testdata/firstinstr.c").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc (scripts/test.sh installs it): %v\n%s", err, out)
	}
	return bin, nil
})

// TestLimitsFromFirstInstruction: a program that raises its soft limits
// to its hard ones and forks at its first instruction finds the job's
// limits already in place, every time: hard rlimits no higher than the
// job's, and never more processes than its pids limit.
func TestLimitsFromFirstInstruction(t *testing.T) {
	bin, err := firstInstr()
	if err != nil {
		t.Fatal(err)
	}
	r := runner(t)
	lim := airlock.Limits{OpenFiles: 64, FileSize: 1 << 20, CPU: 2 * time.Second, Stack: 4 << 20, Pids: 8}
	cpuHard := uint64(lim.CPU.Seconds()) + 2 // rlimits: the cgroup's counter is the real CPU limit
	spec := sandbox.Spec{
		Argv:   []string{"/firstinstr"},
		Mounts: []sandbox.Mount{{Source: bin, Target: "/firstinstr"}},
		Limits: lim,
	}
	const runs = 40
	for i := range runs {
		res, err := runSpec(context.Background(), r, spec)
		if err != nil {
			t.Fatal(err)
		}
		var nofile, nofileNow, fsize, fsizeNow, cpu, cpuNow, stack, stackNow uint64
		var children int64
		if _, err := fmt.Sscan(string(res.Stdout), &nofile, &nofileNow, &fsize, &fsizeNow, &cpu, &cpuNow, &stack, &stackNow, &children); err != nil {
			t.Fatalf("run %d: %s %q %q: %v", i, res.Status, res.Stdout, res.Stderr, err)
		}
		if nofile > uint64(lim.OpenFiles) || nofileNow > uint64(lim.OpenFiles) {
			t.Errorf("run %d: RLIMIT_NOFILE hard %d, then soft %d, over the job's %d", i, nofile, nofileNow, lim.OpenFiles)
		}
		if fsize > uint64(lim.FileSize) || fsizeNow > uint64(lim.FileSize) {
			t.Errorf("run %d: RLIMIT_FSIZE hard %d, then soft %d, over the job's %d", i, fsize, fsizeNow, lim.FileSize)
		}
		if cpu > cpuHard || cpuNow > cpuHard {
			t.Errorf("run %d: RLIMIT_CPU hard %d, then soft %d, over the job's %d", i, cpu, cpuNow, cpuHard)
		}
		if stack > uint64(lim.Stack) || stackNow > uint64(lim.Stack) {
			t.Errorf("run %d: RLIMIT_STACK hard %d, then soft %d, over the job's %d", i, stack, stackNow, lim.Stack)
		}
		if children+1 > lim.Pids {
			t.Errorf("run %d: %d processes under a limit of %d", i, children+1, lim.Pids)
		}
	}
}

// TestNothingOfTheRunBefore: a run learns nothing of the runs before it in
// its slot. The PID namespace's last pid (and the pids a run gets) would
// tell how many processes the run before made.
func TestNothingOfTheRunBefore(t *testing.T) {
	reader := python("print(open('/proc/sys/kernel/ns_last_pid').read().strip(), __import__('os').getpid())", airlock.Limits{})
	forker := python("import os\nfor _ in range(40):\n    if os.fork() == 0: os._exit(0)\n    os.wait()\n", airlock.Limits{})
	first := run(t, reader)
	for i := range 3 {
		run(t, forker)
		again := run(t, reader)
		if again.Status != airlock.StatusOK || string(again.Stdout) != string(first.Stdout) {
			t.Fatalf("after a run that forked, attempt %d: %s %q %q; before: %q", i, again.Status, again.Stdout, again.Stderr, first.Stdout)
		}
	}
	t.Logf("ns_last_pid and pid: %s", first.Stdout)
}
