package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
)

// TestSparseArtifactsMemory: a build that leaves sparse files (15 of
// 16 MiB each, a few KiB really) grows this process and the keepers by
// less than 64 MiB. Each process's peak resident set (VmHWM) is reset
// before the job and read after it, against its resident set before; a
// keeper that died meanwhile would fail the job. (The memfd between the
// steps is in no resident set: TestCoreCollectLitter checks it holds only
// the files' real data.)
func TestSparseArtifactsMemory(t *testing.T) {
	req := airlock.Request{Language: "project", Files: []airlock.File{
		src("compile", "mkdir out && for i in $(seq 15); do truncate -s 16777215 out/$i; printf x >> out/$i; done\n"),
		src("run", "ls out | wc -l\n"),
	}}
	// Once first, so the slots' keepers exist and the Go heap is grown to
	// what any run needs.
	e := engine(t)
	e.Execute(t.Context(), req)
	runtime.GC()
	before := map[int]int64{}
	for _, pid := range append(keepers(t), os.Getpid()) {
		resetPeak(t, pid)
		before[pid] = memStatus(t, pid, "VmRSS")
	}
	res, err := e.Execute(t.Context(), req)
	var growth int64
	var each []string
	for _, pid := range append(keepers(t), os.Getpid()) {
		grew := memStatus(t, pid, "VmHWM") - before[pid] // a new keeper counts whole
		growth += grew
		each = append(each, fmt.Sprintf("%d: %d KiB", pid, grew>>10))
	}
	t.Logf("server and keepers grew by %d KiB (%s)", growth>>10, strings.Join(each, ", "))
	if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "15\n" {
		t.Errorf("got %v %s %q stdout %q stderr %q", err, res.Status, res.Message, res.Stdout, res.Stderr)
	}
	if growth >= 64<<20 {
		t.Fatalf("server and keepers grew by %d MiB, want less than 64", growth>>20)
	}
}

// keepers are this process's sandbox keepers.
func keepers(t *testing.T) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, dir := range dirs {
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !bytes.HasPrefix(cmdline, []byte("airlock-sandbox-keeper\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		if ppid, ok := statusField(pid, "PPid"); ok && ppid == int64(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// resetPeak resets pid's VmHWM to its current resident set.
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
}

// memStatus reads a size of /proc/PID/status, in bytes.
func memStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	n, ok := statusField(pid, field)
	if !ok {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return n
}

// statusField reads a field of /proc/PID/status: sizes in bytes, others
// as they are.
func statusField(pid int, field string) (int64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			fields := strings.Fields(rest)
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, false
			}
			if len(fields) > 1 && fields[1] == "kB" {
				n <<= 10
			}
			return n, true
		}
	}
	return 0, false
}
