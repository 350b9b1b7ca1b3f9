package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/wire"
)

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	if testRunner != nil {
		testRunner.Close()
	}
	os.Exit(code)
}

var (
	testRunner *native.Runner
	testEngine *Engine
	engineErr  error
	engineOnce sync.Once
)

// engine returns the shared Engine over a real sandbox. These tests fail,
// never skip, when the host cannot sandbox.
func engine(t *testing.T) *Engine {
	t.Helper()
	engineOnce.Do(func() {
		var catalog *lang.Catalog
		if catalog, engineErr = lang.Load(""); engineErr != nil {
			return
		}
		paths, err := catalog.HostPaths()
		if err != nil {
			engineErr = err
			return
		}
		mounts := slices.Clone(native.DefaultMounts)
		for _, p := range paths {
			mounts = append(mounts, sandbox.Mount{Source: p})
		}
		if testRunner, engineErr = native.New(native.Config{Mounts: mounts}); engineErr != nil {
			return
		}
		testEngine = New(testRunner, catalog, Options{})
	})
	if engineErr != nil {
		t.Fatalf("engine unavailable (tests need root and cgroups): %v", engineErr)
	}
	return testEngine
}

func execute(t *testing.T, req airlock.Request) airlock.Result {
	t.Helper()
	res, err := engine(t).Execute(context.Background(), req)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return res
}

func src(name, content string) airlock.File {
	return airlock.File{Name: name, Content: []byte(content)}
}

// required are the languages scripts/test.sh installs: each must pass its
// test program.
var required = []string{"bash", "c", "cpp", "go", "java", "javascript", "perl", "python", "rust", "typescript"}

// TestEveryLanguage runs each available language's test program, and
// fails if a language CI installs is missing.
func TestEveryLanguage(t *testing.T) {
	e := engine(t)
	for _, info := range e.Languages(context.Background(), true) {
		t.Run(info.ID, func(t *testing.T) {
			if !info.Available {
				if slices.Contains(required, info.ID) {
					t.Fatalf("%s must be installed for the tests: %s", info.ID, info.Reason)
				}
				t.Logf("not on this host: %s", info.Reason)
				return
			}
			l, _ := e.Catalog().Lookup(info.ID)
			res := execute(t, airlock.Request{Language: info.ID, Files: []airlock.File{src(l.File, l.Test)}})
			if res.Status != airlock.StatusOK || string(res.Stdout) != "OK\n" || res.Version == "" {
				t.Fatalf("%s %s: %s %q %q compile %+v", info.ID, res.Version, res.Status, res.Stdout, res.Stderr, res.Compile)
			}
			t.Logf("%s %s: %d ms", info.ID, res.Version, res.Usage.WallMillis)
		})
	}
}

func TestPrograms(t *testing.T) {
	expect := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name   string
		req    airlock.Request
		status airlock.Status
		stdout string
		check  func(t *testing.T, res airlock.Result)
	}{
		{"c compile error", airlock.Request{Language: "c", Files: []airlock.File{src("main.c", "int main(void) { return x; }\n")}}, airlock.StatusCompileError, "",
			func(t *testing.T, res airlock.Result) {
				if res.Compile == nil || !strings.Contains(string(res.Compile.Stderr), "main.c:1") {
					t.Errorf("compiler output missing: %+v", res.Compile)
				}
			}},
		{"java compile error", airlock.Request{Language: "java", Files: []airlock.File{src("Main.java", "public class Main { void f() { int x = \"s\"; } }\n")}}, airlock.StatusCompileError, "",
			func(t *testing.T, res airlock.Result) {
				if !strings.Contains(string(res.Compile.Stderr), "incompatible types") {
					t.Errorf("compiler output: %q", res.Compile.Stderr)
				}
			}},
		{"python exception", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "print('before')\nraise ValueError('boom')\n")}}, airlock.StatusRuntimeError, "before\n",
			func(t *testing.T, res airlock.Result) {
				if res.ExitCode != 1 || !strings.Contains(string(res.Stderr), "ValueError: boom") {
					t.Errorf("exit %d stderr %q", res.ExitCode, res.Stderr)
				}
			}},
		{"c segfault", airlock.Request{Language: "c", Files: []airlock.File{src("main.c", "int main(void) { volatile int *p = 0; return *p; }\n")}}, airlock.StatusRuntimeError, "",
			func(t *testing.T, res airlock.Result) {
				if res.Signal != "SIGSEGV" || res.ExitCode != 139 {
					t.Errorf("signal %q exit %d", res.Signal, res.ExitCode)
				}
			}},
		{"bash exit code and args", airlock.Request{Language: "bash", Args: []string{"a b", "c"}, Files: []airlock.File{src("main.sh", "printf '[%s]' \"$@\"; exit 3\n")}}, airlock.StatusRuntimeError, "[a b][c]",
			func(t *testing.T, res airlock.Result) {
				if res.ExitCode != 3 {
					t.Errorf("exit %d", res.ExitCode)
				}
			}},
		{"stdin echo", airlock.Request{Language: "python", Stdin: []byte("héllo\nwörld\n"), Files: []airlock.File{src("main.py", "import sys\nfor line in sys.stdin: print(line.strip()[::-1])\n")}}, airlock.StatusOK, "olléh\ndlröw\n", nil},
		{"c args and compile options", airlock.Request{Language: "c", Args: []string{"x"}, CompileOptions: []string{"-DGREETING=\"hi\""}, Files: []airlock.File{src("main.c", "#include <stdio.h>\nint main(int c, char **v) { printf(\"%s %s\\n\", GREETING, v[1]); }\n")}}, airlock.StatusOK, "hi x\n", nil},
		{"python package", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", "from pkg.util import twice\nprint(twice(21))\n"), src("pkg/__init__.py", ""), src("pkg/util.py", "def twice(x):\n    return 2 * x\n")}}, airlock.StatusOK, "42\n", nil},
		{"c with a header", airlock.Request{Language: "c", Files: []airlock.File{src("main.c", "#include <stdio.h>\n#include \"util.h\"\nint main(void) { printf(\"%d\\n\", add(40, 2)); }\n"), src("util.h", "int add(int, int);\n"), src("util.c", "#include \"util.h\"\nint add(int a, int b) { return a + b; }\n")}}, airlock.StatusOK, "42\n", nil},
		{"java two classes", airlock.Request{Language: "java", Files: []airlock.File{src("Main.java", "public class Main { public static void main(String[] a) { System.out.println(Helper.greet(\"Ω\")); } }\n"), src("Helper.java", "class Helper { static String greet(String s) { return \"hi \" + s; } }\n")}}, airlock.StatusOK, "hi Ω\n", nil},
		{"entry not first", airlock.Request{Language: "python", Entry: "run.py", Files: []airlock.File{src("lib.py", "X = 7\n"), src("run.py", "import lib\nprint(lib.X)\n")}}, airlock.StatusOK, "7\n", nil},
		{"expected output matches", airlock.Request{Language: "python", ExpectedOutput: expect("1 2\n3\n\n"), Files: []airlock.File{src("main.py", "print('1 2  ')\nprint(3)\n")}}, airlock.StatusOK, "", nil},
		{"wrong answer", airlock.Request{Language: "python", ExpectedOutput: expect("4\n"), Files: []airlock.File{src("main.py", "print(3)\n")}}, airlock.StatusWrongAnswer, "3\n", nil},
		{"project built by its compile script", airlock.Request{Language: "project", Args: []string{"x y"}, Stdin: []byte("21\n"), Files: []airlock.File{
			src("compile", "mkdir -p bin && gcc -O2 -o bin/twice src/twice.c && echo built\n"),
			src("run", "./bin/twice \"$@\"\n"),
			src("src/twice.c", "#include <stdio.h>\nint main(int c, char **v) { int n; scanf(\"%d\", &n); printf(\"%d [%s]\\n\", 2 * n, v[1]); }\n")}},
			airlock.StatusOK, "42 [x y]\n", func(t *testing.T, res airlock.Result) {
				if res.Compile == nil || string(res.Compile.Stdout) != "built\n" {
					t.Errorf("compile step: %+v", res.Compile)
				}
			}},
		{"project without a compile script", airlock.Request{Language: "project", Files: []airlock.File{src("run", "python3 main.py\n"), src("main.py", "print('no build')\n")}}, airlock.StatusOK, "no build\n",
			func(t *testing.T, res airlock.Result) {
				if res.Compile != nil {
					t.Errorf("a compile step ran: %+v", res.Compile)
				}
			}},
		{"project whose build fails", airlock.Request{Language: "project", Files: []airlock.File{src("compile", "echo no >&2; exit 2\n"), src("run", "echo ran\n")}}, airlock.StatusCompileError, "",
			func(t *testing.T, res airlock.Result) {
				if res.Compile == nil || string(res.Compile.Stderr) != "no\n" || res.Stdout != nil {
					t.Errorf("compile %+v, stdout %q", res.Compile, res.Stdout)
				}
			}},
		{"project without a run script", airlock.Request{Language: "project", Files: []airlock.File{src("main.sh", "echo hi\n")}}, airlock.StatusRuntimeError, "", nil},
		{"javascript unicode", airlock.Request{Language: "javascript", Files: []airlock.File{src("main.js", "console.log('ünïcødé ✓ 日本')\n")}}, airlock.StatusOK, "ünïcødé ✓ 日本\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := execute(t, c.req)
			if res.Status != c.status || (c.stdout != "" && string(res.Stdout) != c.stdout) {
				t.Fatalf("got %s %q (stdout %q stderr %q, compile %+v)", res.Status, res.Message, res.Stdout, res.Stderr, res.Compile)
			}
			if c.check != nil {
				c.check(t, res)
			}
		})
	}
}

func TestFunctionMode(t *testing.T) {
	bigList := make([]int, 150000) // about 1 MB of JSON
	for i := range bigList {
		bigList[i] = i
	}
	big, _ := json.Marshal(map[string]any{"xs": bigList})
	cases := []struct {
		name, lang, code string
		inputs           string
		status           airlock.Status
		output           string // exact JSON
		errType          string
		check            func(t *testing.T, res airlock.Result)
	}{
		{"python nested", "python", "def calculate(inputs):\n    print('log line')\n    return {'sum': sum(inputs['a']), 'nested': {'ok': True, 'list': [1, None, 'ü']}}\n",
			`{"a": [1, 2, 3.5]}`, airlock.StatusOK, `{"sum": 6.5, "nested": {"ok": true, "list": [1, null, "\u00fc"]}}`, "",
			func(t *testing.T, res airlock.Result) {
				if string(res.Stdout) != "log line\n" {
					t.Errorf("stdout %q: the program's prints belong to stdout", res.Stdout)
				}
			}},
		{"javascript nested async", "javascript", "exports.calculate = async (inputs) => { console.log('log'); return {n: inputs.n * 2, s: 'ü', arr: [inputs, null]}; };\n",
			`{"n": 21}`, airlock.StatusOK, `{"n":42,"s":"ü","arr":[{"n":21},null]}`, "", nil},
		{"javascript esm", "javascript", "export function calculate(x) { return x.length; }\n", `[1,2,3]`, airlock.StatusOK, `3`, "", nil},
		{"python big input", "python", "def calculate(inputs):\n    return len(inputs['xs'])\n", string(big), airlock.StatusOK, `150000`, "", nil},
		{"python exception with the user's line", "python", "import json\n\ndef helper(x):\n    return 1 / x\n\ndef calculate(inputs):\n    return helper(0)\n",
			`null`, airlock.StatusRuntimeError, "", "ZeroDivisionError",
			func(t *testing.T, res airlock.Result) {
				tb := res.Error.Traceback
				if !strings.Contains(tb, "main.py\", line 4, in helper") || !strings.Contains(tb, "line 7, in calculate") || strings.Contains(tb, "harness") {
					t.Errorf("traceback %q", tb)
				}
			}},
		{"javascript exception with the user's line", "javascript", "function inner() {\n  throw new TypeError('bad input');\n}\nexports.calculate = () => inner();\n",
			`{}`, airlock.StatusRuntimeError, "", "TypeError",
			func(t *testing.T, res airlock.Result) {
				if !strings.Contains(res.Error.Traceback, "main.js:2") || res.Error.Message != "bad input" {
					t.Errorf("error %+v", res.Error)
				}
			}},
		{"python missing calculate", "python", "def calc(x):\n    return x\n", `1`, airlock.StatusRuntimeError, "", "MissingFunction", nil},
		{"javascript missing calculate", "javascript", "module.exports = { calc: (x) => x };\n", `1`, airlock.StatusRuntimeError, "", "MissingFunction", nil},
		{"python not serializable", "python", "def calculate(x):\n    return {1, 2}\n", `1`, airlock.StatusRuntimeError, "", "NotSerializable", nil},
		{"javascript not serializable", "javascript", "exports.calculate = () => 10n;\n", `1`, airlock.StatusRuntimeError, "", "NotSerializable", nil},
		{"python syntax error", "python", "def calculate(x)\n    return x\n", `1`, airlock.StatusRuntimeError, "", "SyntaxError", nil},
		{"python exits early", "python", "import sys\nsys.exit(0)\n", `1`, airlock.StatusRuntimeError, "", "SystemExit", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := map[string]string{"python": "main.py", "javascript": "main.js"}[c.lang]
			if c.name == "javascript esm" {
				file = "main.mjs"
			}
			res := execute(t, airlock.Request{Language: c.lang, Mode: airlock.ModeFunction, Inputs: json.RawMessage(c.inputs), Files: []airlock.File{src(file, c.code)}})
			if res.Status != c.status || string(res.Output) != c.output {
				t.Fatalf("got %s output %s error %+v (stdout %q stderr %q)", res.Status, res.Output, res.Error, res.Stdout, res.Stderr)
			}
			if c.errType != "" && (res.Error == nil || res.Error.Type != c.errType) {
				t.Fatalf("error %+v, want type %s", res.Error, c.errType)
			}
			if c.check != nil {
				c.check(t, res)
			}
		})
	}
}

// TestBadInput: each bad submission is an InvalidError naming the field,
// and nothing runs.
func TestBadInput(t *testing.T) {
	ok := []airlock.File{src("main.py", "print(1)\n")}
	many := make([]airlock.File, MaxFiles+1)
	for i := range many {
		many[i] = src(strings.Repeat("f", 3)+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".py", "")
	}
	cases := []struct {
		name  string
		req   airlock.Request
		field string
	}{
		{"unknown language", airlock.Request{Language: "cobol", Files: ok}, "language"},
		{"unknown version", airlock.Request{Language: "python", Version: "2.7", Files: ok}, "version"},
		{"no files", airlock.Request{Language: "python"}, "files"},
		{"escaping name", airlock.Request{Language: "python", Files: []airlock.File{src("../x.py", "")}}, "files[0].name"},
		{"absolute name", airlock.Request{Language: "python", Files: []airlock.File{src("/etc/x.py", "")}}, "files[0].name"},
		{"dot name", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", ""), src(".", "")}}, "files[1].name"},
		{"unclean name", airlock.Request{Language: "python", Files: []airlock.File{src("a/./b.py", "")}}, "files[0].name"},
		{"NUL in name", airlock.Request{Language: "python", Files: []airlock.File{src("a\x00.py", "")}}, "files[0].name"},
		{"long name", airlock.Request{Language: "python", Files: []airlock.File{src(strings.Repeat("a", 300)+".py", "")}}, "files[0].name"},
		{"reserved name", airlock.Request{Language: "python", Files: []airlock.File{src("main.py", ""), src(".airlock/harness", "")}}, "files[1].name"},
		{"artifacts dir", airlock.Request{Language: "c", Files: []airlock.File{src("main.c", ""), src("out/main", "")}}, "files[1].name"},
		{"twice", airlock.Request{Language: "python", Files: []airlock.File{src("a.py", ""), src("a.py", "")}}, "files[1].name"},
		{"too many files", airlock.Request{Language: "python", Files: many}, "files"},
		{"too big", airlock.Request{Language: "python", Files: []airlock.File{{Name: "a.py", Content: make([]byte, MaxFileBytes+1)}}}, "files[0].content"},
		{"unknown entry", airlock.Request{Language: "python", Entry: "b.py", Files: ok}, "entry"},
		{"limit above max", airlock.Request{Language: "python", Files: ok, Limits: airlock.Limits{Memory: 64 << 30}}, "limits.memory_mb"},
		{"function mode for c", airlock.Request{Language: "c", Mode: airlock.ModeFunction, Files: []airlock.File{src("main.c", "")}}, "mode"},
		{"unknown mode", airlock.Request{Language: "python", Mode: "batch", Files: ok}, "mode"},
		{"inputs not JSON", airlock.Request{Language: "python", Mode: airlock.ModeFunction, Inputs: json.RawMessage("{oops"), Files: ok}, "inputs"},
		{"NUL in args", airlock.Request{Language: "python", Args: []string{"a\x00b"}, Files: ok}, "args"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := engine(t).Execute(context.Background(), c.req)
			var bad *InvalidError
			if !errors.As(err, &bad) || bad.Field != c.field {
				t.Fatalf("got %v, want an InvalidError for %s", err, c.field)
			}
		})
	}
}

// TestSubmission: the JSON shape decodes into a request, or fails naming
// the field.
func TestSubmission(t *testing.T) {
	e := engine(t)
	req, err := e.Request(wire.Submission{Language: "python", Code: "print(1)", Limits: &wire.Limits{MemoryMB: 64, WallMillis: 1500}})
	if err != nil || len(req.Files) != 1 || req.Files[0].Name != "main.py" || req.Limits.Memory != 64<<20 || req.Limits.Wall.Milliseconds() != 1500 {
		t.Fatalf("code: %+v %v", req, err)
	}
	req, err = e.Request(wire.Submission{Language: "c", Files: []wire.File{{Name: "main.c", Content: "aW50IG1haW4oKXt9", Encoding: "base64"}}})
	if err != nil || string(req.Files[0].Content) != "int main(){}" {
		t.Fatalf("base64: %+v %v", req, err)
	}
	for field, s := range map[string]wire.Submission{
		"language":          {Code: "x"},
		"code":              {Language: "python", Code: "x", Files: []wire.File{{Name: "a.py"}}},
		"files[0].content":  {Language: "python", Files: []wire.File{{Name: "a.py", Content: "\xff\xfe"}}},
		"files[1].content":  {Language: "python", Files: []wire.File{{Name: "a.py"}, {Name: "b", Content: "!!", Encoding: "base64"}}},
		"files[0].encoding": {Language: "python", Files: []wire.File{{Name: "a.py", Encoding: "hex"}}},
		"limits.network":    {Language: "python", Code: "x", Limits: &wire.Limits{Network: "host"}},
		"limits.pids":       {Language: "python", Code: "x", Limits: &wire.Limits{Pids: -1}},
	} {
		_, err := e.Request(s)
		var bad *InvalidError
		if !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

// TestJudgeOptions: merged streams, interleaved output, repeated runs
// (averaged, ending at the first failure) and compile limits of their own.
func TestJudgeOptions(t *testing.T) {
	prog := src("main.py", "import sys, time\nprint('a', flush=True)\ntime.sleep(0.05)\nprint('b', file=sys.stderr, flush=True)\ntime.sleep(0.05)\nprint('c', flush=True)\ntime.sleep(0.2)\n")
	res := execute(t, airlock.Request{Language: "python", Files: []airlock.File{prog}, MergeStderr: true})
	if string(res.Stdout) != "a\nb\nc\n" || len(res.Stderr) != 0 {
		t.Fatalf("merged: %q %q", res.Stdout, res.Stderr)
	}
	res = execute(t, airlock.Request{Language: "python", Files: []airlock.File{prog}, Interleave: true})
	if string(res.Interleaved) != "a\nb\nc\n" || string(res.Stdout) != "a\nc\n" {
		t.Fatalf("interleaved: %q %q", res.Interleaved, res.Stdout)
	}
	start := time.Now()
	res = execute(t, airlock.Request{Language: "python", Files: []airlock.File{prog}, Runs: 3})
	if res.Status != airlock.StatusOK || time.Since(start) < 900*time.Millisecond || res.Usage.WallMillis < 300 {
		t.Fatalf("3 runs: %s in %v, usage %+v", res.Status, time.Since(start), res.Usage)
	}
	want := []byte("x")
	start = time.Now()
	res = execute(t, airlock.Request{Language: "python", Files: []airlock.File{prog}, Runs: 3, ExpectedOutput: want})
	if res.Status != airlock.StatusWrongAnswer || time.Since(start) >= 900*time.Millisecond {
		t.Fatalf("3 runs, first wrong: %s in %v", res.Status, time.Since(start))
	}
	res = execute(t, airlock.Request{Language: "c", Files: []airlock.File{src("main.c", "int main(void){return 0;}")},
		CompileLimits: airlock.Limits{Wall: time.Millisecond}})
	if res.Status != airlock.StatusCompileError || res.Compile.Status != airlock.StatusTimeLimit {
		t.Fatalf("compile limit: %s / %+v", res.Status, res.Compile)
	}
	if _, err := engine(t).Execute(context.Background(), airlock.Request{Language: "python", Files: []airlock.File{prog}, Runs: 21}); err == nil || !strings.Contains(err.Error(), "runs") {
		t.Fatalf("21 runs: %v", err)
	}
}

// TestExecuteLive: a session sees each step start, its output as it comes
// and its end; typed input reaches the program.
func TestExecuteLive(t *testing.T) {
	stdin := make(chan []byte, 1)
	var mu sync.Mutex
	var events []string
	record := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, args...))
	}
	sess := &Session{
		Stdin: stdin,
		Stage: func(step string) { record("stage %s", step) },
		Output: func(step, stream string, data []byte) {
			record("%s %s %q", step, stream, data)
			if strings.HasPrefix(string(data), "name?") {
				stdin <- []byte("Ada\n")
			}
		},
		Exit: func(step string, out airlock.Step) { record("exit %s %s %d", step, out.Status, out.ExitCode) },
	}
	code := `#include <stdio.h>
int main(void) { char name[32]; printf("name?\n"); fflush(stdout); scanf("%31s", name); printf("hi %s\n", name); return 2; }`
	res, err := engine(t).ExecuteLive(context.Background(), airlock.Request{Language: "c", Files: []airlock.File{src("main.c", code)}}, sess)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stage compile", "exit compile ok 0", "stage run", `run stdout "name?\n"`, `run stdout "hi Ada\n"`, "exit run runtime_error 2"}
	if !slices.Equal(events, want) || string(res.Stdout) != "name?\nhi Ada\n" {
		t.Fatalf("events %q, want %q; stdout %q", events, want, res.Stdout)
	}
}

// TestDotDotPrefixedName: a name that only starts with two dots stays in
// the work dir and is a file like any other.
func TestDotDotPrefixedName(t *testing.T) {
	res := execute(t, airlock.Request{Language: "python", Files: []airlock.File{
		src("main.py", "print(open('..data').read())"), src("..data", "two dots"),
	}})
	if res.Status != airlock.StatusOK || string(res.Stdout) != "two dots\n" {
		t.Fatalf("%s %q %q", res.Status, res.Stdout, res.Stderr)
	}
}
