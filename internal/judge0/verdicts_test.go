package judge0_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/servicetest"
)

// runVerdicts runs TestSubmissions's subtests of each verdict in Judge0's statuses and fields.
func (s suite) runVerdicts(t *testing.T) {
	user := s.user
	verdicts := []struct {
		name   string
		params map[string]any
		status int
		check  func(t *testing.T, m map[string]any)
	}{
		{"accepted despite trailing blanks", py("print('a  ')\nprint('b')", "expected_output", "a\nb  \n\n"), 3, nil},
		{"wrong answer", py("print(3)", "expected_output", "4"), 4, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "3\n" || m["message"] != nil || m["expected_output"] != "4" {
				t.Errorf("%v", m)
			}
		}},
		{"cpu time limit", py("while True: pass", "cpu_time_limit", 0.3, "cpu_extra_time", 0.2), 5, func(t *testing.T, m map[string]any) {
			if m["message"] != "Time limit exceeded" || seconds(t, m["time"]) < 0.3 || m["cpu_time_limit"] != "0.3" {
				t.Errorf("%v", m)
			}
		}},
		{"wall time limit", py("import time\ntime.sleep(5)", "wall_time_limit", 1), 5, func(t *testing.T, m map[string]any) {
			if m["message"] != "Time limit exceeded (wall clock)" || seconds(t, m["wall_time"]) < 1 {
				t.Errorf("%v", m)
			}
		}},
		{"compilation error", cProgram("int main(void) { return undeclared_name; }"), 6, func(t *testing.T, m map[string]any) {
			out, _ := m["compile_output"].(string)
			if !strings.Contains(out, "undeclared_name") || m["stdout"] != nil || m["time"] != nil || m["memory"] != nil || m["exit_code"] != nil || m["message"] != nil {
				t.Errorf("%v", m)
			}
		}},
		{"memory limit", py("b = bytearray(300 << 20)", "memory_limit", 65536), 12, func(t *testing.T, m map[string]any) {
			if m["exit_signal"] != json.Number("9") || m["message"] != "Caught fatal signal 9" {
				t.Errorf("%v", m)
			}
		}},
		{"output over max_file_size", py("print('x' * 100000)", "max_file_size", 1), 8, func(t *testing.T, m map[string]any) {
			if m["exit_signal"] != json.Number("25") || m["message"] != "Caught fatal signal 25" {
				t.Errorf("%v", m)
			}
		}},
		{"SIGSEGV", cProgram("int main(void) { volatile int *p = 0; *p = 1; return 0; }"), 7, signalled(11)},
		{"SIGFPE", cProgram("int main(int argc, char **argv) { volatile int zero = argc - 1; return 10 / zero; }"), 9, signalled(8)},
		{"SIGABRT", cProgram("#include <stdlib.h>\nint main(void) { abort(); }"), 10, signalled(6)},
		{"NZEC", py("import sys\nprint('bye', file=sys.stderr)\nsys.exit(3)"), 11, func(t *testing.T, m map[string]any) {
			if m["exit_code"] != json.Number("3") || m["exit_signal"] != nil || m["message"] != "Exited with error status 3" || m["stderr"] != "bye\n" {
				t.Errorf("%v", m)
			}
		}},
		{"stdin and arguments", py("import sys\nprint(sys.argv[1:], input())", "stdin", "hello",
			"command_line_arguments", `a "b c" 'd e' f\ g x;y$z|w "q\r"`), 3, func(t *testing.T, m map[string]any) {
			if want := `['a', 'b c', 'd e', 'f g', 'xyzw', 'q\\r'] hello` + "\n"; m["stdout"] != want {
				t.Errorf("stdout %q, want %q", m["stdout"], want)
			}
		}},
		{"compiler options", map[string]any{"language_id": 50, "compiler_options": "-DANSWER=42",
			"source_code": "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", ANSWER); return 0; }"}, 3, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "42\n" || m["compiler_options"] != "-DANSWER=42" {
				t.Errorf("%v", m)
			}
		}},
		// The compile step has limits of its own, not the run's: a Go
		// binary is larger than max_file_size (a Rust one than Judge0's
		// 4096 KB for compiles), gcc runs several processes.
		{"Rust", map[string]any{"language_id": 73, "source_code": "fn main() { println!(\"rust\"); }"}, 3, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "rust\n" {
				t.Errorf("%v", m)
			}
		}},
		{"Go", map[string]any{"language_id": 60, "source_code": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"go\") }\n"}, 3, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "go\n" {
				t.Errorf("%v", m)
			}
		}},
		{"C with one process", map[string]any{"language_id": 50, "max_processes_and_or_threads": 1, "max_file_size": 1,
			"source_code": "#include <stdio.h>\nint main(void) { puts(\"one\"); return 0; }"}, 3, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "one\n" {
				t.Errorf("%v", m)
			}
		}},
		{"redirect stderr to stdout", py("import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)",
			"redirect_stderr_to_stdout", true), 3, func(t *testing.T, m map[string]any) {
			if m["stdout"] != "out\nerr\n" || m["stderr"] != nil || m["redirect_stderr_to_stdout"] != true {
				t.Errorf("%v", m)
			}
		}},
	}
	_, catalog := servicetest.Runner(t)
	for _, v := range verdicts {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			for id, catalogID := range map[int]string{60: "go", 73: "rust"} {
				if l, err := catalog.Lookup(catalogID); v.params["language_id"] == id && (err != nil || l.Available() != nil) {
					t.Skipf("%s is not installed", catalogID)
				}
			}
			m := user.run(t, "fields=*", v.params)
			expectStatus(t, m, v.status)
			if v.check != nil {
				v.check(t, m)
			}
		})
	}

	t.Run("message in base64", func(t *testing.T) {
		t.Parallel()
		m := user.run(t, "base64_encoded=true", py(b64("raise SystemExit(2)")))
		if m["message"] != rubyBase64([]byte("Exited with error status 2")) {
			t.Errorf("message %#v", m["message"])
		}
	})
}
