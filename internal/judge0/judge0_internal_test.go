package judge0

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
)

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  -O2   -Wall\t-g ", []string{"-O2", "-Wall", "-g"}},
		{`a "b c" 'd e' f\ g`, []string{"a", "b c", "d e", "f g"}},
		{`"" ''`, []string{"", ""}},
		{`x"y z"w`, []string{"xy zw"}},
		// In double quotes a backslash escapes only " and \ (the others
		// bash would honour, $ and `, are stripped).
		{`"a\b" "a\"b" "a\\b"`, []string{`a\b`, `a"b`, `a\b`}},
		{`'a\b' a\b`, []string{`a\b`, "ab"}},
		{"a \\\n b", []string{"a", "b"}},
		{"a\\\nb", []string{"ab"}},
		{"a #b c", []string{"a"}},
		{"a#b", []string{"a#b"}},
		{"a # b\nc", []string{"a", "c"}},
		// Judge0 strips $&;<>|` before its shell sees the line.
		{"x;y$z|w <a> b&`c`", []string{"xyzw", "a", "bc"}},
	} {
		if got := shellWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("shellWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBase64(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"hi\n", "aGkK\n"},
		// Ruby: Base64.encode64("a" * 50)
		{strings.Repeat("a", 50), "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\nYWFhYWE=\n"},
		// 45 bytes make exactly 60 characters: one line.
		{strings.Repeat("b", 45), strings.Repeat("YmJi", 15) + "\n"},
	} {
		if got := encodeBase64([]byte(c.in)); got != c.want {
			t.Errorf("encodeBase64(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := string(decodeBase64(c.want)); got != c.in {
			t.Errorf("decodeBase64(%q) = %q, want %q", c.want, got, c.in)
		}
	}
	// Ruby's decode64 skips what is not in the alphabet and forgives
	// missing padding.
	for in, want := range map[string]string{
		"aGkK": "hi\n", "aGk": "hi", "aG k\r\n=": "hi", "!!aGkK!!": "hi\n", "aGkKa": "hi\n", "": "",
	} {
		if got := string(decodeBase64(in)); got != want {
			t.Errorf("decodeBase64(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFields(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", defaultFields, ""},
		{"*", fieldNames, ""},
		{"stdout,*", fieldNames, ""},
		{"status_id,stdout", []string{"status_id", "stdout"}, ""},
		{"a,stdout,b", nil, "invalid fields: [a, b]"},
		{"*,nope", nil, "invalid fields: [nope]"},
		{" stdout", nil, "invalid fields: [ stdout]"},
	} {
		got, err := parseFields(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("parseFields(%q): error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseFields(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	finished := func(s airlock.Status, signal string, exit int) *airlock.Job {
		return &airlock.Job{Status: s, Result: &airlock.Result{Step: airlock.Step{Status: s, Signal: signal, ExitCode: exit}}}
	}
	slow := finished(airlock.StatusOK, "", 0)
	slow.Result.Usage.CPUMillis = 600
	slowWrong := finished(airlock.StatusWrongAnswer, "", 0)
	slowWrong.Result.Usage.CPUMillis = 600
	rec := &record{CPUTimeLimit: 0.5}
	for _, c := range []struct {
		name string
		job  *airlock.Job
		rec  *record
		want int
	}{
		{"queued", &airlock.Job{Status: airlock.StatusQueued}, nil, 1},
		{"running", &airlock.Job{Status: airlock.StatusRunning}, nil, 2},
		{"ok", finished(airlock.StatusOK, "", 0), rec, 3},
		{"wrong answer", finished(airlock.StatusWrongAnswer, "", 0), rec, 4},
		{"time limit", finished(airlock.StatusTimeLimit, "SIGKILL", 0), rec, 5},
		// Over cpu_time_limit but within the extra time: isolate's TO.
		{"ok in the extra time", slow, rec, 5},
		{"wrong in the extra time", slowWrong, rec, 5},
		{"ok in the extra time, no record", slow, nil, 3},
		{"compile error", finished(airlock.StatusCompileError, "", 1), rec, 6},
		{"dependency error", finished(airlock.StatusDependencyError, "", 0), rec, 6},
		{"SIGSEGV", finished(airlock.StatusRuntimeError, "SIGSEGV", 0), rec, 7},
		{"SIGXFSZ", finished(airlock.StatusRuntimeError, "SIGXFSZ", 0), rec, 8},
		{"output limit", finished(airlock.StatusOutputLimit, "", 0), rec, 8},
		{"SIGFPE", finished(airlock.StatusRuntimeError, "SIGFPE", 0), rec, 9},
		{"SIGABRT", finished(airlock.StatusRuntimeError, "SIGABRT", 0), rec, 10},
		{"exit status", finished(airlock.StatusRuntimeError, "", 3), rec, 11},
		// isolate reports the OOM killer's SIGKILL as a signal: Other.
		{"memory limit", finished(airlock.StatusMemoryLimit, "", 0), rec, 12},
		{"memory limit, killed", finished(airlock.StatusMemoryLimit, "SIGKILL", 0), rec, 12},
		{"other signal", finished(airlock.StatusRuntimeError, "SIGTERM", 0), rec, 12},
		{"internal error", finished(airlock.StatusInternalError, "", 0), rec, 13},
		{"cancelled", finished(airlock.StatusCancelled, "", 0), rec, 13},
		{"no result", &airlock.Job{Status: airlock.StatusOK}, rec, 13},
	} {
		if got := statusOf(c.job, c.rec); got.ID != c.want || got != statuses[c.want-1] {
			t.Errorf("%s: %v, want %d", c.name, got, c.want)
		}
	}
}

// TestDependencyErrorFields: a job whose requirements could not be
// installed reads as a compilation error whose compile_output is the
// failure and the installer's output; nothing ran.
func TestDependencyErrorFields(t *testing.T) {
	job := &airlock.Job{Status: airlock.StatusDependencyError, Result: &airlock.Result{
		Step:     airlock.Step{Status: airlock.StatusDependencyError, Message: "dependencies: no version of nosuch"},
		Language: "python",
		Dependencies: &airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 1,
			Stdout: []byte("Looking in indexes: http://index\n"), Stderr: []byte("ERROR: No matching distribution found for nosuch\n")},
	}}
	data, err := view{job: job, rec: &record{}}.render(fieldNames)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	want := "dependencies: no version of nosuch\nLooking in indexes: http://index\nERROR: No matching distribution found for nosuch\n"
	if m["status_id"] != 6.0 || m["compile_output"] != want {
		t.Errorf("status %v, compile_output %q", m["status_id"], m["compile_output"])
	}
	for _, f := range []string{"stdout", "stderr", "time", "wall_time", "memory", "exit_code", "exit_signal", "message"} {
		if m[f] != nil {
			t.Errorf("%s = %v, want null", f, m[f])
		}
	}
}

func TestParseSubmission(t *testing.T) {
	python := installed{language: language{id: 71, catalog: "python", sourceFile: "script.py"}, Catalog: &lang.Language{}}
	lookup := func(id int) (installed, bool) { return python, id == 71 }
	parse := func(body string, b64 bool) (*record, string) {
		t.Helper()
		var p params
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		rec, errs := parseSubmission(p, b64, lookup, boundsOf(airlock.DefaultPolicy))
		out, _ := json.Marshal(errs)
		return rec, string(out)
	}
	rec, errs := parse(`{"source_code":"print(1)","language_id":"71","stdin":"","cpu_time_limit":"2.5","memory_limit":4096.9,"redirect_stderr_to_stdout":"1","enable_network":"off"}`, false)
	want := &record{
		SourceCode: []byte("print(1)"), LanguageID: 71, Stdin: []byte{}, NumberOfRuns: 1, CPUTimeLimit: 2.5, CPUExtraTime: 1,
		WallTimeLimit: 10, MemoryLimit: 4096, StackLimit: 64000, MaxProcesses: 60, MaxFileSize: 1024, RedirectStderr: true, lang: python,
	}
	if errs != "{}" || !reflect.DeepEqual(rec, want) {
		t.Errorf("got %+v %s\nwant %+v", rec, errs, want)
	}
	for _, c := range []struct{ body, want string }{
		{`{"source_code":"x"}`, `{"language_id":["can't be blank","language with id  doesn't exist"]}`},
		{`{"source_code":"x","language_id":""}`, `{"language_id":["can't be blank","language with id  doesn't exist"]}`},
		{`{"source_code":"x","language_id":"abc"}`, `{"language_id":["language with id 0 doesn't exist"]}`},
		{`{"source_code":"x","language_id":71.9}`, `{}`},
		{`{"source_code":"x","language_id":71,"max_processes_and_or_threads":0,"wall_time_limit":0.5,"stack_limit":-1}`,
			`{"wall_time_limit":["must be greater than or equal to 1"],"stack_limit":["must be greater than or equal to 0"],"max_processes_and_or_threads":["must be greater than 0"]}`},
		{`{"source_code":"x","language_id":71,"enable_per_process_and_thread_memory_limit":true,"compiler_options":"` + strings.Repeat("é", 513) + `","command_line_arguments":"` + strings.Repeat("a", 513) + `"}`,
			`{"enable_per_process_and_thread_memory_limit":["this option cannot be enabled"],"compiler_options":["is too long (maximum is 512 characters)","setting compiler options is only allowed for compiled languages"],"command_line_arguments":["is too long (maximum is 512 characters)"]}`},
		{`{"source_code":"x","language_id":71,"compiler_options":"  "}`, `{}`},
	} {
		if _, got := parse(c.body, false); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.body, got, c.want)
		}
	}
	// With base64 the texts are bytes, whatever they hold.
	rec, errs = parse(`{"source_code":"cHJpbnQoMSk=","language_id":71,"stdin":"/wD+","expected_output":"","compiler_options":"LU8y"}`, true)
	if errs != `{"compiler_options":["setting compiler options is only allowed for compiled languages"]}` ||
		string(rec.SourceCode) != "print(1)" || string(rec.Stdin) != "\xff\x00\xfe" || rec.ExpectedOutput == nil || len(rec.ExpectedOutput) != 0 {
		t.Errorf("base64: %+v %s", rec, errs)
	}
	// The record keeps null and "" apart, and any bytes, through the store.
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back record
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Stdin, rec.Stdin) || back.ExpectedOutput == nil || len(back.ExpectedOutput) != 0 || back.AdditionalFiles != nil {
		t.Errorf("round trip: %+v", back)
	}
}

// FuzzParseSubmission: any body is refused or becomes a request whose
// stored record gives back exactly what was sent.
func FuzzParseSubmission(f *testing.F) {
	for _, seed := range []string{
		`{"source_code":"print(1)","language_id":71,"stdin":"","command_line_arguments":"a 'b c'"}`,
		`{"source_code":"/wD+","language_id":"71","stdin":"gA==","expected_output":null}`,
		`{"language_id":"1e400","memory_limit":[1],"stdin":{"a":1},"number_of_runs":true}`,
		`{"source_code":"x","language_id":71,"additional_files":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	python := installed{language: language{id: 71, catalog: "python", sourceFile: "script.py"}, Catalog: &lang.Language{}}
	f.Fuzz(func(t *testing.T, body string, b64 bool) {
		var p params
		if json.Unmarshal([]byte(body), &p) != nil {
			return
		}
		rec, errs := parseSubmission(p, b64, func(id int) (installed, bool) { return python, id == 71 }, boundsOf(airlock.DefaultPolicy))
		if !errs.empty() {
			return
		}
		req, err := rec.request(airlock.DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		var back record
		if err := json.Unmarshal(req.Origin, &back); err != nil {
			t.Fatal(err)
		}
		back.lang, back.extra = rec.lang, rec.extra
		if !reflect.DeepEqual(&back, rec) {
			t.Fatalf("stored %+v\nsent   %+v", back, *rec)
		}
		if !slices.Equal(req.Files[0].Content, rec.SourceCode) || !slices.Equal(req.Stdin, rec.Stdin) {
			t.Fatalf("request %+v from %+v", req, *rec)
		}
	})
}

func TestPrettySize(t *testing.T) {
	// What PostgreSQL's pg_size_pretty answers for the same numbers.
	for n, want := range map[int64]string{
		0: "0 bytes", 10239: "10239 bytes", 10240: "10 kB", 10752: "11 kB", 10485247: "10239 kB", 10485248: "10 MB",
		20971008: "20 MB", 7_516_192_768: "7168 MB", 1 << 40: "1024 GB", 30 << 40: "30 TB",
	} {
		if got := prettySize(n); got != want {
			t.Errorf("prettySize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestBounds: Judge0's defaults and maxima are lowered to the operator's,
// in the 422s and the defaults, and its compile limits too.
func TestBounds(t *testing.T) {
	python := installed{language: language{id: 71, catalog: "python", sourceFile: "script.py"}, Catalog: &lang.Language{}}
	pol := airlock.DefaultPolicy
	pol.Max = airlock.Limits{CPU: 4 * time.Second, Wall: 8 * time.Second, Memory: 100 << 20, Stack: 32 << 20, Pids: 50, FileSize: 2 << 20, Output: 3 << 20}
	pol.CompileMax = airlock.Limits{Wall: 7 * time.Second, Memory: 300 << 20}
	parse := func(body string) (*record, string) {
		var p params
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		rec, errs := parseSubmission(p, false, func(id int) (installed, bool) { return python, id == 71 }, boundsOf(pol))
		out, _ := json.Marshal(errs)
		return rec, string(out)
	}
	rec, errs := parse(`{"source_code":"x","language_id":71}`)
	if errs != "{}" || rec.CPUTimeLimit != 4 || rec.WallTimeLimit != 8 || rec.MemoryLimit != 102400 || rec.StackLimit != 32768 || rec.MaxProcesses != 50 || rec.MaxFileSize != 1024 {
		t.Errorf("defaults: %+v %s", rec, errs)
	}
	_, errs = parse(`{"source_code":"x","language_id":71,"cpu_time_limit":4.5,"wall_time_limit":9,"memory_limit":102401,"stack_limit":40000,"max_processes_and_or_threads":51,"max_file_size":2049}`)
	want := `{"cpu_time_limit":["must be less than or equal to 4.0"],"wall_time_limit":["must be less than or equal to 8.0"],` +
		`"memory_limit":["must be less than or equal to 102400"],"stack_limit":["must be less than or equal to 32768"],` +
		`"max_processes_and_or_threads":["must be less than or equal to 50"],"max_file_size":["must be less than or equal to 2048"]}`
	if errs != want {
		t.Errorf("above the maxima:\n got %s\nwant %s", errs, want)
	}
	req, err := rec.request(pol)
	if c := req.CompileLimits; err != nil || c.Wall != 7*time.Second || c.Memory != 300<<20 || c.CPU != 15*time.Second {
		t.Errorf("compile limits: %+v %v", c, err)
	}
	// cpu_time_limit 4 with its extra second: the run's CPU stays within
	// the maximum.
	if req.Limits.CPU != 4*time.Second {
		t.Errorf("run CPU limit %v, want the maximum 4s", req.Limits.CPU)
	}
}

// rawEntry is a zip entry whose central directory says what the test
// wants, whatever its data is.
type rawEntry struct {
	name     string
	method   uint16
	declared uint64
	data     []byte // as stored (deflated when method is zip.Deflate)
	crc      uint32
}

func rawZip(t *testing.T, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: e.method, CRC32: e.crc, CompressedSize64: uint64(len(e.data)), UncompressedSize64: e.declared}
		f, err := w.CreateRaw(h)
		if err == nil {
			_, err = f.Write(e.data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func stored(name string, content []byte) rawEntry {
	return rawEntry{name, zip.Store, uint64(len(content)), content, crc32.ChecksumIEEE(content)}
}

// deflatedZeros is n zero bytes, deflated.
func deflatedZeros(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err == nil {
		_, err = io.CopyN(fw, zeros{}, int64(n))
	}
	if err == nil {
		err = fw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestUnzipBounds: additional_files is refused by what its central
// directory lists — entries, and bytes in all — before any entry is
// opened (each case's first entry is corrupt, so opening it would fail
// otherwise), and an entry that inflates past what it declares is read
// no further.
func TestUnzipBounds(t *testing.T) {
	corrupt := rawEntry{"corrupt.txt", zip.Deflate, 4, []byte{0xff, 0xff, 0xff, 0xff}, 0}
	many := []rawEntry{corrupt}
	for i := range maxZipEntries {
		many = append(many, stored(fmt.Sprintf("f%04d", i), nil))
	}
	half := uint64(maxExtractKB<<10) / 2
	for _, c := range []struct {
		name    string
		zip     []byte
		problem string
	}{
		{"too many entries", rawZip(t, many...), "has more than 1024 entries"},
		{"too many bytes declared", rawZip(t, corrupt, rawEntry{"a", zip.Store, half, []byte("x"), 0}, rawEntry{"b", zip.Store, half, []byte("x"), 0}),
			"extracts to more than 10240 KB"},
		// Sizes whose sum wraps around to 4.
		{"declared sizes that overflow", rawZip(t, corrupt, rawEntry{"a", zip.Store, 1 << 63, []byte("x"), 0}, rawEntry{"b", zip.Store, 1 << 63, []byte("x"), 0}),
			"extracts to more than 10240 KB"},
	} {
		if _, err := unzipFiles(c.zip, "script.py"); err == nil || err.Error() != c.problem {
			t.Errorf("%s: %v, want %q", c.name, err, c.problem)
		}
	}

	// The limits themselves are allowed.
	var most []rawEntry
	for i := range maxZipEntries - 1 {
		most = append(most, stored(fmt.Sprintf("f%04d", i), nil))
	}
	most = append(most, stored("big", make([]byte, maxExtractKB<<10)))
	if files, err := unzipFiles(rawZip(t, most...), "script.py"); err != nil || len(files) != maxZipEntries {
		t.Errorf("at the limits: %d files, %v", len(files), err)
	}

	// A bomb: 64 MB of zeros that say they are 1 KB.
	bomb := deflatedZeros(t, 64<<20)
	archive := rawZip(t, rawEntry{"bomb", zip.Deflate, 1 << 10, bomb, 0})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := unzipFiles(archive, "script.py")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.HasPrefix(err.Error(), "entry bomb: ") {
		t.Errorf("bomb: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading the bomb allocated %d bytes", n)
	}
}
