package jobs

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

var update = flag.Bool("update", false, "rewrite testdata/stored_*.json from the values of TestStoredFormat")

// storedRequest and storedResult set every field a job stores, so that
// renaming any of them changes the encoding.
var (
	limits = airlock.Limits{
		Wall: 2 * time.Second, CPU: time.Second, Memory: 64 << 20, Pids: 8, OpenFiles: 16,
		TmpBytes: 1 << 20, FileSize: 2 << 20, Output: 4096, Stack: 8 << 20,
	}
	storedRequest = airlock.Request{
		Language: "python", Version: "3.12", Entry: "main.py",
		Files:          []airlock.File{{Name: "main.py", Content: []byte("print(input())")}, {Name: "lib/x.py", Content: []byte{0, 1, 2}}},
		Stdin:          []byte("hi\n"),
		Args:           []string{"-v"},
		CompileOptions: []string{"-O2"},
		Limits:         limits,
		Mode:           airlock.ModeFunction,
		Inputs:         json.RawMessage(`{"a":1}`),
		ExpectedOutput: []byte("hi\n"),
		CompileLimits:  airlock.Limits{Wall: time.Minute},
		Runs:           3,
		MergeStderr:    true,
		Interleave:     true,
		Policy:         airlock.Policy{Default: limits, Max: limits, CompileDefault: limits, CompileMax: limits},
		Interactive:    true,
		Origin:         json.RawMessage(`{"source_code":"x"}`),
	}
	step = airlock.Step{
		Status: airlock.StatusRuntimeError, ExitCode: 1, Signal: "SIGKILL", Message: "killed",
		Stdout: []byte("out"), Stderr: []byte("err"), Interleaved: []byte("outerr"),
		StdoutTruncated: true, StderrTruncated: true,
		Usage: airlock.Usage{CPUMillis: 12, WallMillis: 34, MemoryKB: 56},
	}
	storedResult = airlock.Result{
		Step: step, Language: "python", Version: "3.12.1", Compile: &step,
		Output: json.RawMessage(`[1,2]`),
		Error:  &airlock.FunctionError{Type: "ValueError", Message: "bad", Traceback: "line 1"},
	}
)

// A job's request and result read back from their stored encoding, and
// encode to it: testdata holds the JSON jobs stored before the fields had
// tags (their Go names), so renaming a field fails here rather than
// blanking the stored jobs.
func TestStoredFormat(t *testing.T) {
	for _, c := range []struct {
		file   string
		value  any
		encode func() ([]byte, error)
		decode func([]byte) (any, error)
	}{
		{"testdata/stored_request.json", storedRequest,
			func() ([]byte, error) { return encodeRequest(storedRequest) },
			func(b []byte) (any, error) { return decodeRequest(b) }},
		{"testdata/stored_result.json", storedResult,
			func() ([]byte, error) { return encodeResult(storedResult) },
			func(b []byte) (any, error) { return decodeResult(b) }},
	} {
		got, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(c.file, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		golden = bytes.TrimSuffix(golden, []byte("\n"))
		if !bytes.Equal(got, golden) {
			t.Errorf("%s: encoding changed:\n got %s\nwant %s", c.file, got, golden)
		}
		back, err := c.decode(golden)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if !reflect.DeepEqual(back, c.value) {
			t.Errorf("%s decodes to\n%+v\nwant\n%+v", c.file, back, c.value)
		}
	}
}

// Every field of a stored type names its key in a JSON tag (but for the
// embedded Step, whose fields are the Result's), so that the stored names
// do not follow the Go names.
func TestStoredFieldsTagged(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[airlock.Request]().PkgPath() || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case !f.IsExported(), name == "-":
				continue
			case f.Anonymous && f.Tag.Get("json") == "":
			case name == "":
				t.Errorf("%s.%s has no JSON name", path, f.Name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeFor[airlock.Request](), "Request")
	walk(reflect.TypeFor[airlock.Result](), "Result")
}
