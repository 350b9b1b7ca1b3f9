package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/testserver"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(flood(spec))
	}
	native.Stage() // doctor's trial run starts keepers from this binary
	code := m.Run()
	testserver.Cleanup()
	os.Exit(code)
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

// build compiles the airlock binary once per test.
func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "airlock")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestRunLanguages: the CLI runs catalog languages through the engine,
// passing stdin and arguments and exiting with the program's code.
func TestRunLanguages(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	cases := []struct {
		name   string
		args   []string
		stdin  string
		stdout string
		code   int
	}{
		{"c with args", []string{"run", write("main.c", "#include <stdio.h>\nint main(int c, char **v) { printf(\"%s\\n\", v[1]); return 4; }\n"), "--", "hi"}, "", "hi\n", 4},
		{"python stdin", []string{"run", "--stdin", write("in.txt", "abc"), write("echo.py", "print(input()[::-1])\n")}, "", "cba\n", 0},
		{"language flag", []string{"run", "-l", "bash", write("script", "echo $((6*7))\n")}, "", "42\n", 0},
		{"compile error", []string{"run", write("bad.c", "int main(void) { return x; }\n")}, "", "", 1},
		{"piped stdin", []string{"run", write("rev.py", "import sys\nprint(sys.stdin.read()[::-1])\n")}, "abc", "cba\n", 0},
		{"piped stdin past a compile step", []string{"run", write("sum.c", "#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }\n")}, "2 40\n", "42\n", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Stdin = strings.NewReader(c.stdin)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code || string(out) != c.stdout {
				t.Fatalf("exit %d stdout %q stderr %q, want exit %d stdout %q", code, out, stderr.String(), c.code, c.stdout)
			}
		})
	}
	out, err := exec.Command(bin, "languages", "--all").Output()
	if err != nil || !strings.Contains(string(out), "python") || !strings.Contains(string(out), "java") {
		t.Fatalf("languages: %v\n%s", err, out)
	}
}

// TestRunInteractive: the program's output reaches the caller as it is
// written and the caller's input reaches the program as it is typed, as
// through a terminal.
func TestRunInteractive(t *testing.T) {
	cmd, in, out := startRun(t, "print('name?', flush=True)\nprint('hello ' + input())\n", nil)
	if line, err := out.ReadString('\n'); line != "name?\n" {
		t.Fatalf("first line %q (%v), want the question before any input", line, err)
	}
	io.WriteString(in, "ada\n")
	if line, err := out.ReadString('\n'); line != "hello ada\n" {
		t.Fatalf("answer %q (%v)", line, err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// startRun starts `airlock run` on a Python program, its stderr going to
// stderr (nil discards it), and returns it with its stdin and its stdout
// as they come.
func startRun(t *testing.T, code string, stderr io.Writer) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	bin := build(t)
	src := filepath.Join(t.TempDir(), "main.py")
	os.WriteFile(src, []byte(code), 0o644)
	cmd := exec.Command(bin, "run", src)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, in, bufio.NewReader(out)
}

// TestRunInBackground: started with & from an interactive shell, whose
// terminal it may not read, a run is not stopped: its program sees the end
// of its input. script(1) gives the shell a terminal.
func TestRunInBackground(t *testing.T) {
	bin := build(t)
	src := filepath.Join(t.TempDir(), "read.py")
	os.WriteFile(src, []byte("import sys\nprint('read %d bytes' % len(sys.stdin.read()))\n"), 0o644)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	shell := fmt.Sprintf("bash --norc -ic '%s run %s & wait; echo waited'", bin, src)
	out, err := exec.CommandContext(ctx, "script", "-qec", shell, "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "read 0 bytes") || !strings.Contains(string(out), "waited") {
		t.Fatalf("a run in the background: %v\n%s", err, out)
	}
}

// TestRunInterrupted: Ctrl-C ends the run as cancelled, with a shell's
// exit code for SIGINT.
func TestRunInterrupted(t *testing.T) {
	var stderr strings.Builder
	cmd, _, out := startRun(t, "import time\nprint('started', flush=True)\ntime.sleep(30)\n", &stderr)
	if line, err := out.ReadString('\n'); line != "started\n" {
		t.Fatalf("%q (%v)", line, err)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "airlock: cancelled: interrupted") {
		t.Errorf("after Ctrl-C: %v, stderr %q; want exit 130, cancelled", err, stderr.String())
	}
}

// TestRunBadInput: every bad input is one line on stderr and exit code 2.
func TestRunBadInput(t *testing.T) {
	bin := build(t)
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

// TestBench: a small bench prints every path with its ratio to bare exec;
// bad flags exit 2.
func TestBench(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "bench", "--n", "3", "--concurrency", "1,2", "--languages", "python").CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	for path, want := range map[string]int{
		"bare exec": 2, "cold sandbox": 2, "warm pool": 2, "HTTP ?wait=true": 2, "warm pool, paced": 1, "HTTP ?wait=true, paced": 1,
	} {
		n := 0
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "python hello") && strings.Contains(line, "  "+path+"  ") {
				n++
			}
		}
		if n != want {
			t.Errorf("%q appears %d times, want %d", path, n, want)
		}
	}
	if !strings.Contains(string(out), "memory of an idle pooled python sandbox: ") {
		t.Error("no idle memory figure")
	}
	for _, args := range [][]string{{"--concurrency", "0"}, {"--languages", "cobol"}, {"--n", "-1"}, {"--nope"}} {
		cmd := exec.Command(bin, append([]string{"bench"}, args...)...)
		if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != exitUsage {
			t.Errorf("bench %v: %v, want exit %d", args, err, exitUsage)
		}
	}
}
