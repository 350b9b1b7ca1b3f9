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

// build compiles the airlock binary once per test, with the go build
// flags given.
func build(t *testing.T, flags ...string) string {
	bin := filepath.Join(t.TempDir(), "airlock")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
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
		{"flags after the file", []string{"run", write("six.sh", "echo $((6*7))\n"), "--language", "bash", "--time", "5s"}, "", "42\n", 0},
		{"flags after -- are the program's", []string{"run", write("argv.py", "import sys\nprint(sys.argv[1:])\n"), "--", "--json", "-l"}, "", "['--json', '-l']\n", 0},
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
	reqs := filepath.Join(t.TempDir(), "requirements.txt")
	os.WriteFile(reqs, []byte("numpy\n--index-url http://elsewhere/simple\n"), 0o644)
	cases := map[string][]string{
		"unreadable requirements": {"run", "-r", "/nonexistent.txt", src},
		"refused requirements":    {"run", "--requirements", reqs, src},
		"requirements for bash":   {"run", "-r", reqs, "-l", "bash", src},
		"missing file":            {"run", "/nonexistent.py"},
		"unknown language":        {"run", "-l", "cobol", src},
		"bad extension":           {"run", "notes.txt"},
		"malformed memory":        {"run", "--memory", "12Q", src},
		"memory too large":        {"run", "--memory", "100G", src},
		"no file":                 {"run"},
		"unknown command":         {"frobnicate"},
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

// TestBench: a small bench prints every path with its ratio to bare exec,
// and the environments' rows (a build from the npm registry, which CI
// reaches, and a numpy calculation: scripts/test.sh installs numpy); bad
// flags exit 2.
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
	for _, row := range []string{"first build of is-number@7.0.0", "node run, environment cached", "numpy beam calculation, cold sandbox", "numpy beam calculation, preloaded pool"} {
		if !strings.Contains(string(out), row+"  ") {
			t.Errorf("no row %q", row)
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

// TestCLI: the command line as a user meets it. Each command has its own
// help, exiting 0; the version is the build's; a bad command line is one
// line on stderr naming the help to read, and exit code 2; flags may
// follow the files; completion scripts are produced for each shell.
func TestCLI(t *testing.T) {
	bin := build(t, "-ldflags", "-X main.version=v1.2.3-test")
	t.Run("help", func(t *testing.T) {
		for _, command := range []string{"serve", "worker", "run", "languages", "doctor", "key", "key new", "bench", "version", "completion", "completion bash"} {
			stdout, stderr, code := runCLI(t, bin, append(strings.Fields(command), "--help")...)
			if code != 0 || !strings.Contains(stdout, "airlock "+command) || stderr != "" {
				t.Errorf("%s --help: exit %d, stderr %q, stdout %q; want exit 0 and a usage naming airlock %s", command, code, stderr, stdout, command)
			}
			if strings.Contains(stdout, "sha256:") {
				t.Errorf("%s --help made a key:\n%s", command, stdout)
			}
		}
		for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "worker"}} {
			if _, stderr, code := runCLI(t, bin, args...); code != 0 {
				t.Errorf("airlock %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
			}
		}
		stdout, _, _ := runCLI(t, bin, "worker", "--help")
		if !strings.Contains(stdout, "--queue") || !strings.Contains(stdout, "[AIRLOCK_QUEUE]") {
			t.Errorf("worker --help does not list its settings:\n%s", stdout)
		}
	})
	t.Run("version", func(t *testing.T) {
		for _, args := range [][]string{{"--version"}, {"version"}} {
			stdout, stderr, code := runCLI(t, bin, args...)
			if code != 0 || stdout != "airlock version v1.2.3-test\n" {
				t.Errorf("airlock %s: exit %d, stdout %q, stderr %q", args[0], code, stdout, stderr)
			}
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, tc := range []struct{ args, hint string }{
			{"run --foo hello.py", "see airlock run --help"},
			{"run hello.py --foo", "see airlock run --help"},
			{"serve --colour red", "see airlock serve --help"},
			{"worker extra", "see airlock worker --help"},
			{"frobnicate", "see airlock --help"},
			{"key", "see airlock key --help"},
			{"key new", "see airlock key new --help"},
			{"key new a b", "see airlock key new --help"},
			{"languages --json extra", "see airlock languages --help"},
			{"completion tcsh", "see airlock completion --help"},
			{"bench --n", "see airlock bench --help"},
		} {
			stdout, stderr, code := runCLI(t, bin, strings.Fields(tc.args)...)
			if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, "airlock: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.hint) {
				t.Errorf("airlock %s: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", tc.args, code, stdout, stderr, exitUsage, tc.hint)
			}
		}
		if _, stderr, code := runCLI(t, bin); code != exitUsage || !strings.Contains(stderr, "Available Commands:") {
			t.Errorf("airlock alone: exit %d, stderr %q; want the usage and exit %d", code, stderr, exitUsage)
		}
	})
	t.Run("flags after the file", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "hello.py")
		os.WriteFile(src, []byte("print('hello')\n"), 0o644)
		stdout, stderr, code := runCLI(t, bin, "run", src, "--json")
		if code != 0 || !strings.Contains(stdout, `"status": "ok"`) || !strings.Contains(stdout, `"stdout": "hello\n"`) {
			t.Errorf("run hello.py --json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("completion", func(t *testing.T) {
		for shell, want := range map[string]string{
			"bash": "complete -o default -F __start_airlock airlock", "zsh": "#compdef airlock", "fish": "complete -c airlock",
		} {
			stdout, stderr, code := runCLI(t, bin, "completion", shell)
			if code != 0 || !strings.Contains(stdout, want) {
				t.Errorf("completion %s: exit %d, stderr %q; the script does not contain %q", shell, code, stderr, want)
			}
		}
		// What the shell asks through the script: the commands, and a
		// command's flags.
		stdout, _, _ := runCLI(t, bin, "__complete", "wor")
		if !strings.Contains(stdout, "worker") {
			t.Errorf("completing wor: %q", stdout)
		}
		stdout, _, _ = runCLI(t, bin, "__complete", "serve", "--max-q")
		if !strings.Contains(stdout, "--max-queue") {
			t.Errorf("completing serve --max-q: %q", stdout)
		}
	})
}

// runCLI runs bin with args and returns what it wrote and its exit code.
func runCLI(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errs.String(), code
}
