package engine

import (
	"context"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

// pooledEngine is an engine over the shared sandbox runner with a warm pool
// of size for python and javascript, each pool full before it returns.
func pooledEngine(t *testing.T, size int, preload []string) *Engine {
	t.Helper()
	base := engine(t)
	e := New(base.runner, base.catalog, Options{})
	cfg := map[string]PoolConfig{"python": {Size: size, Preload: preload}, "js": {Size: size}}
	if err := e.StartPools(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	waitFull(t, e)
	return e
}

func waitFull(t *testing.T, e *Engine) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		full := true
		for _, s := range e.PoolStats() {
			full = full && s.Ready == s.Size
		}
		if full {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pools not full: %+v", e.PoolStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// internalFrames are Node's own stack frames, which differ with the way the
// entry point was started.
var internalFrames = regexp.MustCompile(`(?m)^ +at .*\(?node:internal/.*\n`)

// TestPoolSameAsCold: a program run by a pooled interpreter behaves as the
// same program started cold: output, errors and tracebacks, exit status,
// what it sees of itself.
func TestPoolSameAsCold(t *testing.T) {
	warm := pooledEngine(t, 1, nil)
	cold := engine(t)
	cases := []struct {
		name string
		req  airlock.Request
	}{
		{"python hello", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "print('hello')")}}},
		{"python itself", airlock.Request{Language: "python", Args: []string{"a b", "-x"}, Stdin: []byte("in\n"), Files: []airlock.File{src("main.py", `
import os, sys
print(sys.argv, sys.path[0], __file__, __name__, __doc__, __package__, __spec__, __cached__)
print(sorted(globals()), type(__builtins__), type(__loader__).__name__)
print(input(), os.getcwd(), sorted(os.listdir('.')), os.environ.get('PWD'))
import helper
print(helper.value)
`), src("helper.py", "value = 42"), src("data/x.txt", "x")}}},
		{"python traceback", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "def f():\n    raise ValueError('boom')\n\nf()\n")}}},
		{"python chained", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "try:\n    1/0\nexcept Exception as e:\n    raise KeyError('k') from e\n")}}},
		{"python syntax error", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "print('a'\n")}}},
		{"python exit", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import sys, atexit\natexit.register(print, 'bye')\nprint('x', end='')\nsys.exit(3)\n")}}},
		{"python exit codes", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import sys\nsys.exit(256 + 7)\n")}}},
		{"python exit none", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import sys\nprint('a')\nsys.exit()\n")}}},
		{"python threads", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import threading, time\ndef late():\n    time.sleep(0.1)\n    print('thread done')\nthreading.Thread(target=late).start()\nprint('main done')\n")}}},
		{"python buffered", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import sys\nsys.stdout = open(1, 'w', buffering=65536, closefd=False)\nprint('held in a buffer')\n")}}},
		{"python exit message", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "raise SystemExit('gone')\n")}}},
		{"python function", airlock.Request{Language: "python", Mode: airlock.ModeFunction, Inputs: []byte(`{"a": 2}`), Files: []airlock.File{src("main.py", "def calculate(inputs):\n    return {'twice': inputs['a'] * 2}\n")}}},
		{"python function error", airlock.Request{Language: "python", Mode: airlock.ModeFunction, Files: []airlock.File{src("main.py", "def calculate(inputs):\n    return 1/0\n")}}},
		{"javascript hello", airlock.Request{Language: "javascript", Files: []airlock.File{src("main.js", "console.log('hello')")}}},
		{"javascript itself", airlock.Request{Language: "javascript", Args: []string{"a b"}, Stdin: []byte("in"), Files: []airlock.File{src("main.js", `
console.log(process.argv, __filename, __dirname, require.main === module, process.execArgv, process.cwd());
console.log(typeof globalThis.require, typeof globalThis.module, typeof globalThis.__filename);
console.log(require('./helper.js').value, require('fs').readFileSync(0, 'utf8'));
`), src("helper.js", "exports.value = 42")}}},
		{"javascript throw", airlock.Request{Language: "javascript", Files: []airlock.File{src("main.js", "function f() { throw new Error('boom'); }\nf();\n")}}},
		{"javascript exit", airlock.Request{Language: "javascript", Files: []airlock.File{src("main.js", "process.on('exit', () => console.log('bye'));\nprocess.exitCode = 4;\n")}}},
		{"javascript module", airlock.Request{Language: "javascript", Entry: "main.mjs", Files: []airlock.File{src("main.mjs", "import { value } from './lib.mjs';\nconsole.log(value, import.meta.url, typeof require);\nawait Promise.resolve();\n"), src("lib.mjs", "export const value = 7;")}}},
		{"javascript function", airlock.Request{Language: "javascript", Mode: airlock.ModeFunction, Inputs: []byte(`[1, 2]`), Files: []airlock.File{src("main.js", "exports.calculate = async (xs) => xs.map((x) => x * 3);")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits := warm.PoolStats()[c.req.Language].Hits
			got, err := warm.Execute(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if warm.PoolStats()[c.req.Language].Hits != hits+1 {
				t.Fatalf("the run did not take a pooled sandbox: %+v", warm.PoolStats())
			}
			want, err := cold.Execute(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			gotErr, wantErr := internalFrames.ReplaceAllString(string(got.Stderr), ""), internalFrames.ReplaceAllString(string(want.Stderr), "")
			if got.Status != want.Status || got.ExitCode != want.ExitCode || string(got.Stdout) != string(want.Stdout) || gotErr != wantErr ||
				string(got.Output) != string(want.Output) || (got.Error == nil) != (want.Error == nil) {
				t.Errorf("pooled: %s exit %d\nstdout %q\nstderr %q\noutput %s %+v\ncold: %s exit %d\nstdout %q\nstderr %q\noutput %s %+v",
					got.Status, got.ExitCode, got.Stdout, gotErr, got.Output, got.Error,
					want.Status, want.ExitCode, want.Stdout, wantErr, want.Output, want.Error)
			}
			waitFull(t, warm)
		})
	}
}

// TestPoolLimits: a job's own time limits hold in a pooled sandbox and
// count from its code's arrival; a job with other limits runs cold.
func TestPoolLimits(t *testing.T) {
	e := pooledEngine(t, 1, nil)
	res, err := e.Execute(context.Background(), airlock.Request{Language: "python", Limits: airlock.Limits{CPU: 300 * time.Millisecond},
		Files: []airlock.File{src("main.py", "while True: pass")}})
	if err != nil || res.Status != airlock.StatusTimeLimit || e.PoolStats()["python"].Hits != 1 {
		t.Fatalf("CPU limit: %v %s %+v", err, res.Status, e.PoolStats())
	}
	waitFull(t, e)
	res, err = e.Execute(context.Background(), airlock.Request{Language: "python", Limits: airlock.Limits{TmpBytes: 1 << 20},
		Files: []airlock.File{src("main.py", "print('cold')")}})
	if err != nil || string(res.Stdout) != "cold\n" || e.PoolStats()["python"].Hits != 1 {
		t.Fatalf("other writable space: %v %q %+v", err, res.Stdout, e.PoolStats())
	}
	// Judge0's defaults, say: less memory, fewer processes, a bigger stack
	// than this server's defaults.
	res, err = e.Execute(context.Background(), airlock.Request{Language: "python",
		Limits: airlock.Limits{Memory: 64 << 20, Pids: 60, Stack: 64 << 20, FileSize: 1 << 20},
		Files:  []airlock.File{src("main.py", "import resource\nprint(resource.getrlimit(resource.RLIMIT_STACK)[0] >> 20)\nb = bytearray(100 << 20)")}})
	if err != nil || string(res.Stdout) != "64\n" || res.Status != airlock.StatusMemoryLimit || e.PoolStats()["python"].Hits != 2 {
		t.Fatalf("own limits in a pooled sandbox: %v %s %q %+v", err, res.Status, res.Stdout, e.PoolStats())
	}
	// The interpreter's own start-up (some 25 ms of CPU here, more on a
	// loaded machine) is not the job's.
	waitFull(t, e)
	res, err = e.Execute(context.Background(), airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "print('job')")}})
	if err != nil || string(res.Stdout) != "job\n" || res.Usage.CPUMillis > 20 || e.PoolStats()["python"].Hits != 3 {
		t.Fatalf("start-up counted: %v %q %+v %+v", err, res.Stdout, res.Usage, e.PoolStats())
	}
}

// TestPoolPreload: preloaded modules are imported before the job; a
// preload that is not installed is skipped.
func TestPoolPreload(t *testing.T) {
	e := pooledEngine(t, 1, []string{"json", "decimal", "no_such_module"})
	res, err := e.Execute(context.Background(), airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "import sys\nprint('decimal' in sys.modules, 'no_such_module' in sys.modules)")}})
	if err != nil || string(res.Stdout) != "True False\n" {
		t.Fatalf("%v %q %q", err, res.Stdout, res.Stderr)
	}
}

// TestPoolStartErrors: a bad pool configuration is refused.
func TestPoolStartErrors(t *testing.T) {
	base := engine(t)
	for _, cfg := range []map[string]PoolConfig{
		{"cobol": {Size: 1}},
		{"c": {Size: 1}},
		{"python": {Size: -1}},
		{"python": {Size: 1}, "py": {Size: 1}},
	} {
		e := New(base.runner, base.catalog, Options{})
		if err := e.StartPools(cfg, slog.New(slog.DiscardHandler)); err == nil {
			e.Close()
			t.Errorf("%v: accepted", cfg)
		}
	}
}
