package judge0_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/judge0"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	servicetest.Close()
	os.Exit(code)
}

// Tokens of the keyed test services.
const (
	adminToken = "admin-token"
	userToken  = "user-token"
	otherToken = "other-token"
)

var testKeys = []auth.Key{
	{ID: "admin", SHA256: auth.HashToken(adminToken), Admin: true},
	{ID: "user", SHA256: auth.HashToken(userToken)},
	{ID: "other", SHA256: auth.HashToken(otherToken)},
}

// The expectations below are written from Judge0 v1.13.1's source (the
// submissions table's columns, SubmissionSerializer.default_fields, the
// Status enumeration, Config.config_info), not from this package.
var (
	// allFields is fields=*: the table's columns in order, then status
	// and language. ActiveModel::Serializer writes the attributes in this
	// order whatever order they were asked in.
	allFields = []string{
		"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
		"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
		"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
		"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
		"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
		"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
		"additional_files", "enable_network", "status", "language",
	}
	// defaultFields are token,time,memory,stdout,stderr,compile_output,
	// message,status as Judge0 writes them: in column order.
	defaultFields = []string{"stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"}
	judgeStatuses = []string{
		"In Queue", "Processing", "Accepted", "Wrong Answer", "Time Limit Exceeded", "Compilation Error",
		"Runtime Error (SIGSEGV)", "Runtime Error (SIGXFSZ)", "Runtime Error (SIGFPE)", "Runtime Error (SIGABRT)",
		"Runtime Error (NZEC)", "Runtime Error (Other)", "Internal Error", "Exec Format Error",
	}
	configKeys = []string{
		"maintenance_mode", "enable_wait_result", "enable_compiler_options", "allowed_languages_for_compile_options",
		"enable_command_line_arguments", "enable_submission_delete", "enable_callbacks", "callbacks_max_tries",
		"callbacks_timeout", "enable_additional_files", "max_queue_size", "cpu_time_limit", "max_cpu_time_limit",
		"cpu_extra_time", "max_cpu_extra_time", "wall_time_limit", "max_wall_time_limit", "memory_limit",
		"max_memory_limit", "stack_limit", "max_stack_limit", "max_processes_and_or_threads",
		"max_max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
		"allow_enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
		"allow_enable_per_process_and_thread_memory_limit", "max_file_size", "max_max_file_size", "number_of_runs",
		"max_number_of_runs", "redirect_stderr_to_stdout", "max_extract_size", "enable_batched_submissions",
		"max_submission_batch_size", "submission_cache_duration", "use_docs_as_homepage", "allow_enable_network",
		"enable_network",
	}
	uuidRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	decimalRE = regexp.MustCompile(`^\d+\.\d+$`)
	railsTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

const notUTF8 = "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"

// client calls a service with one key's token (none when empty).
type client struct {
	url, token string
}

type response struct {
	code   int
	header http.Header
	raw    []byte
}

// do sends body (a string, or anything else as JSON); headers come in
// name, value pairs.
func (c client) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, raw: bytes.TrimSuffix(raw, []byte("\n"))}
}

// expect fails unless the response has the status code and, when body is
// not empty, exactly that body.
func (r response) expect(t *testing.T, code int, body string) {
	t.Helper()
	if r.code != code || body != "" && string(r.raw) != body {
		t.Fatalf("got %d %s\nwant %d %s", r.code, r.raw, code, body)
	}
}

// obj decodes a JSON object, numbers kept as json.Number.
func (r response) obj(t *testing.T) map[string]any {
	t.Helper()
	return decodeObj(t, r.raw)
}

func decodeObj(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("not a JSON object (%v): %s", err, raw)
	}
	return m
}

// keys lists a JSON object's keys in the order they were written.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var out []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
	}
	return out
}

func expectKeys(t *testing.T, raw []byte, want []string) {
	t.Helper()
	if got := keys(t, raw); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v\n%s", got, want, raw)
	}
}

// rubyBase64 is Ruby's Base64.encode64: a newline after every 60
// characters and at the end.
func rubyBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for i := 0; i < len(enc); i += 60 {
		out.WriteString(enc[i:min(i+60, len(enc))] + "\n")
	}
	return out.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// run submits with wait=true and returns the answer's fields.
func (c client) run(t *testing.T, query string, params map[string]any) map[string]any {
	t.Helper()
	r := c.do(t, "POST", "/submissions?wait=true&"+query, params)
	r.expect(t, http.StatusCreated, "")
	m := r.obj(t)
	if _, ok := m["error"]; ok {
		t.Fatalf("submission failed: %s", r.raw)
	}
	return m
}

// create submits without waiting and returns the token.
func (c client) create(t *testing.T, params map[string]any) string {
	t.Helper()
	r := c.do(t, "POST", "/submissions", params)
	r.expect(t, http.StatusCreated, "")
	expectKeys(t, r.raw, []string{"token"})
	token, _ := r.obj(t)["token"].(string)
	if !uuidRE.MatchString(token) {
		t.Fatalf("token %q is not a UUID", token)
	}
	return token
}

// await polls a submission until it has finished and returns its last
// answer.
func (c client) await(t *testing.T, token string) response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.do(t, "GET", "/submissions/"+token+"?fields=*", nil)
		r.expect(t, http.StatusOK, "")
		if id := statusID(t, r.obj(t)); id > 2 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s did not finish: %s", token, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusID(t *testing.T, m map[string]any) int {
	t.Helper()
	st, ok := m["status"].(map[string]any)
	if !ok {
		t.Fatalf("no status in %v", m)
	}
	id, _ := st["id"].(json.Number).Int64()
	return int(id)
}

// expectStatus checks the status object, description included.
func expectStatus(t *testing.T, m map[string]any, id int) {
	t.Helper()
	st, _ := m["status"].(map[string]any)
	if got := statusID(t, m); got != id || st["description"] != judgeStatuses[id-1] {
		t.Fatalf("status %v, want %d %s; submission %v", st, id, judgeStatuses[id-1], m)
	}
}

func seconds(t *testing.T, v any) float64 {
	t.Helper()
	s, ok := v.(string)
	if !ok || !decimalRE.MatchString(s) {
		t.Fatalf("%#v is not a decimal string", v)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func number(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	i, err := n.Int64()
	if !ok || err != nil {
		t.Fatalf("%#v is not an integer", v)
	}
	return i
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(files[name])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func py(code string, extra ...any) map[string]any {
	m := map[string]any{"source_code": code, "language_id": 71}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func cProgram(code string) map[string]any {
	return map[string]any{"source_code": code, "language_id": 50}
}

// TestSubmissions runs the submission routes of one keyed service.
func TestSubmissions(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		API:    api.Options{Keys: testKeys},
		Jobs:   jobs.Options{Workers: 3},
		Judge0: judge0.Options{EnableDelete: true},
	})
	user := client{env.URL, userToken}
	other := client{env.URL, otherToken}
	admin := client{env.URL, adminToken}

	t.Run("create then poll", func(t *testing.T) {
		t.Parallel()
		token := user.create(t, py("print('hi')"))
		m := user.await(t, token).obj(t)
		expectStatus(t, m, 3)
		if m["stdout"] != "hi\n" || m["token"] != token {
			t.Fatalf("%v", m)
		}
	})

	t.Run("wait answers the default fields", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "POST", "/submissions?wait=true", py("print('hi')"))
		r.expect(t, http.StatusCreated, "")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
		expectKeys(t, r.raw, defaultFields)
		m := r.obj(t)
		expectStatus(t, m, 3)
		if m["stdout"] != "hi\n" || m["stderr"] != nil || m["compile_output"] != nil || m["message"] != nil || !uuidRE.MatchString(m["token"].(string)) {
			t.Fatalf("%s", r.raw)
		}
		seconds(t, m["time"])
		if number(t, m["memory"]) <= 0 {
			t.Errorf("memory %v", m["memory"])
		}
		status := regexp.MustCompile(`"status":\{"id":3,"description":"Accepted"\}`)
		if !status.Match(r.raw) {
			t.Errorf("status is not {id, description}: %s", r.raw)
		}
		again := user.do(t, "GET", "/submissions/"+m["token"].(string), nil)
		again.expect(t, http.StatusOK, "")
		expectKeys(t, again.raw, defaultFields)
	})

	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		token := user.run(t, "", py("import sys\nprint(input(), sys.argv[1:])", "stdin", "in"))["token"].(string)
		r := user.do(t, "GET", "/submissions/"+token+"?fields=*", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, allFields)
		m := r.obj(t)
		want := map[string]any{
			"source_code": "import sys\nprint(input(), sys.argv[1:])", "language_id": json.Number("71"), "stdin": "in",
			"expected_output": nil, "stdout": "in []\n", "status_id": json.Number("3"), "stderr": nil, "token": token,
			"number_of_runs": json.Number("1"), "cpu_time_limit": "5.0", "cpu_extra_time": "1.0", "wall_time_limit": "10.0",
			"memory_limit": json.Number("128000"), "stack_limit": json.Number("64000"),
			"max_processes_and_or_threads": json.Number("60"), "enable_per_process_and_thread_time_limit": false,
			"enable_per_process_and_thread_memory_limit": false, "max_file_size": json.Number("1024"),
			"compile_output": nil, "exit_code": json.Number("0"), "exit_signal": nil, "message": nil,
			"compiler_options": nil, "command_line_arguments": nil, "redirect_stderr_to_stdout": false,
			"callback_url": nil, "additional_files": nil, "enable_network": false,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %#v, want %#v", k, m[k], v)
			}
		}
		seconds(t, m["time"])
		seconds(t, m["wall_time"])
		for _, k := range []string{"created_at", "finished_at"} {
			if s, _ := m[k].(string); !railsTime.MatchString(s) {
				t.Errorf("%s = %#v", k, m[k])
			}
		}
		if l, _ := m["language"].(map[string]any); l["id"] != json.Number("71") || !strings.HasPrefix(l["name"].(string), "Python (3.") {
			t.Errorf("language %v", m["language"])
		}

		// A subset comes in column order, whatever order it was asked in.
		r = user.do(t, "GET", "/submissions/"+token+"?fields=status_id,stdout", nil)
		r.expect(t, http.StatusOK, `{"stdout":"in []\n","status_id":3}`)

		user.do(t, "GET", "/submissions/"+token+"?fields=a,stdout,b", nil).expect(t, http.StatusBadRequest, `{"error":"invalid fields: [a, b]"}`)
		user.do(t, "GET", "/submissions/batch?tokens="+token+"&fields=nope", nil).expect(t, http.StatusBadRequest, `{"error":"invalid fields: [nope]"}`)
		user.do(t, "POST", "/submissions?fields=nope", py("print(1)")).expect(t, http.StatusBadRequest, `{"error":"invalid fields: [nope]"}`)
		// fields also shape the wait=true answer.
		r = user.do(t, "POST", "/submissions?wait=true&fields=stdout,exit_code", py("print(2)"))
		r.expect(t, http.StatusCreated, `{"stdout":"2\n","exit_code":0}`)
	})

	t.Run("base64", func(t *testing.T) {
		t.Parallel()
		src := "import sys\nprint('x' * 100)\nprint(sys.stdin.read())"
		stdin := "héllo"
		r := user.do(t, "POST", "/submissions?base64_encoded=true&wait=true&fields=source_code,stdin,stdout,status_id", map[string]any{
			// Ruby's decoder forgives the newlines Ruby's encoder writes.
			"source_code": b64(src), "stdin": rubyBase64([]byte(stdin)), "language_id": 71,
		})
		r.expect(t, http.StatusCreated, "")
		m := r.obj(t)
		out := strings.Repeat("x", 100) + "\n" + stdin + "\n"
		want := map[string]any{"source_code": rubyBase64([]byte(src)), "stdin": rubyBase64([]byte(stdin)), "stdout": rubyBase64([]byte(out)), "status_id": json.Number("3")}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %#v, want %#v", k, m[k], v)
			}
		}
		if s := m["stdout"].(string); s[60] != '\n' || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 3 {
			t.Errorf("stdout is not wrapped at 60 characters: %q", s)
		}
		token := user.do(t, "POST", "/submissions?base64_encoded=true&wait=true", map[string]any{"source_code": b64(src), "stdin": b64(stdin), "language_id": 71}).obj(t)["token"].(string)
		plain := user.do(t, "GET", "/submissions/"+token+"?fields=stdout,stdin", nil)
		plain.expect(t, http.StatusOK, "")
		if m := plain.obj(t); m["stdout"] != out || m["stdin"] != stdin {
			t.Errorf("decoded: %s", plain.raw)
		}
		// Only "true" turns base64 on.
		if m := user.do(t, "GET", "/submissions/"+token+"?fields=stdin&base64_encoded=1", nil).obj(t); m["stdin"] != stdin {
			t.Errorf("base64_encoded=1: %v", m)
		}
	})

	t.Run("output that is not UTF-8", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "POST", "/submissions?wait=true", py(`import sys; sys.stdout.buffer.write(b"\xfe\xff\n")`))
		r.expect(t, http.StatusCreated, "")
		expectKeys(t, r.raw, []string{"error", "token"})
		m := r.obj(t)
		token, _ := m["token"].(string)
		if m["error"] != notUTF8 || !uuidRE.MatchString(token) {
			t.Fatalf("%s", r.raw)
		}
		user.do(t, "GET", "/submissions/"+token, nil).expect(t, http.StatusBadRequest, `{"error":"`+notUTF8+`"}`)
		user.do(t, "GET", "/submissions/batch?tokens="+token, nil).expect(t, http.StatusBadRequest,
			`{"error":"some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter"}`)
		m = user.do(t, "GET", "/submissions/"+token+"?base64_encoded=true", nil).obj(t)
		if m["stdout"] != "/v8K\n" {
			t.Errorf("stdout %#v", m["stdout"])
		}
		expectStatus(t, m, 3)
	})

	t.Run("binary stdin survives", func(t *testing.T) {
		t.Parallel()
		stdin := []byte{0xff, 0x00, 0xfe}
		m := user.run(t, "base64_encoded=true&fields=token,stdin,stdout", map[string]any{
			"source_code": b64("import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])"),
			"stdin":       base64.StdEncoding.EncodeToString(stdin), "language_id": 71,
		})
		if m["stdout"] != rubyBase64([]byte{0xfe, 0x00, 0xff}) || m["stdin"] != rubyBase64(stdin) {
			t.Errorf("%v", m)
		}
		token := m["token"].(string)
		user.do(t, "GET", "/submissions/"+token+"?fields=stdin", nil).expect(t, http.StatusBadRequest, `{"error":"`+notUTF8+`"}`)
	})

	t.Run("code over the operator's limit", func(t *testing.T) {
		t.Parallel()
		code := "#" + strings.Repeat("x", 300<<10)
		user.do(t, "POST", "/submissions", py(code)).expect(t, http.StatusRequestEntityTooLarge,
			fmt.Sprintf(`{"error":"files: %d bytes of code, at most 262144 allowed"}`, len(code)))
	})

	t.Run("binary expected output is compared as bytes", func(t *testing.T) {
		t.Parallel()
		m := user.run(t, "base64_encoded=true", map[string]any{
			"source_code":     b64("import sys\nsys.stdout.buffer.write(bytes([0xff, 0x41]))"),
			"expected_output": base64.StdEncoding.EncodeToString([]byte{0xff, 0x41}), "language_id": 71,
		})
		expectStatus(t, m, 3)
	})

	t.Run("validation", func(t *testing.T) {
		t.Parallel()
		many := map[string][]byte{}
		for i := range 1025 {
			many[fmt.Sprintf("f%04d", i)] = nil
		}
		manyZip := base64.StdEncoding.EncodeToString(zipOf(t, many))
		// A directory that claims more than the data holds: refused
		// before the entry is read.
		var claim bytes.Buffer
		w := zip.NewWriter(&claim)
		f, err := w.CreateRaw(&zip.FileHeader{Name: "big.bin", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: 10241 << 10})
		if err == nil {
			_, err = f.Write([]byte("x"))
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		claimZip := base64.StdEncoding.EncodeToString(claim.Bytes())
		zip := base64.StdEncoding.EncodeToString(zipOf(t, map[string][]byte{"big.bin": make([]byte, 10241<<10)}))
		for _, c := range []struct {
			name string
			body any
			want string
		}{
			{"no source_code", `{"language_id":71}`, `{"source_code":["can't be blank"]}`},
			{"blank source_code", `{"language_id":71,"source_code":"  \n"}`, `{"source_code":["can't be blank"]}`},
			{"no language_id", `{"source_code":"print(1)"}`, `{"language_id":["can't be blank","language with id  doesn't exist"]}`},
			{"unknown language", `{"source_code":"print(1)","language_id":9999}`, `{"language_id":["language with id 9999 doesn't exist"]}`},
			{"language as a string", `{"source_code":"print(1)","language_id":"9999"}`, `{"language_id":["language with id 9999 doesn't exist"]}`},
			{"cpu_time_limit", py("x", "cpu_time_limit", 16), `{"cpu_time_limit":["must be less than or equal to 15.0"]}`},
			{"memory_limit", py("x", "memory_limit", 1000), `{"memory_limit":["must be greater than or equal to 2048"]}`},
			{"number_of_runs", py("x", "number_of_runs", 0), `{"number_of_runs":["must be greater than 0"]}`},
			{"not a number", py("x", "cpu_time_limit", "abc"), `{"cpu_time_limit":["is not a number"]}`},
			{"every maximum", py("x", "number_of_runs", 21, "cpu_extra_time", 6, "wall_time_limit", 21, "memory_limit", 512001,
				"stack_limit", 128001, "max_processes_and_or_threads", 121, "max_file_size", 4097),
				`{"number_of_runs":["must be less than or equal to 20"],"cpu_extra_time":["must be less than or equal to 5.0"],` +
					`"wall_time_limit":["must be less than or equal to 20.0"],"memory_limit":["must be less than or equal to 512000"],` +
					`"stack_limit":["must be less than or equal to 128000"],"max_processes_and_or_threads":["must be less than or equal to 120"],` +
					`"max_file_size":["must be less than or equal to 4096"]}`},
			{"network", py("x", "enable_network", true), `{"enable_network":["enabling network is not allowed"]}`},
			{"compiler_options for python", py("x", "compiler_options", "-O2"), `{"compiler_options":["setting compiler options is only allowed for compiled languages"]}`},
			// Rails runs every validation, in the model's order.
			{"errors in the model's order", py("", "enable_network", "true", "compiler_options", "-O2", "max_file_size", 5000, "enable_per_process_and_thread_time_limit", true),
				`{"source_code":["can't be blank"],"enable_per_process_and_thread_time_limit":["this option cannot be enabled"],` +
					`"max_file_size":["must be less than or equal to 4096"],"compiler_options":["setting compiler options is only allowed for compiled languages"],` +
					`"enable_network":["enabling network is not allowed"]}`},
			{"options too long", py("x", "command_line_arguments", strings.Repeat("a", 513)), `{"command_line_arguments":["is too long (maximum is 512 characters)"]}`},
			{"not a zip", py("x", "additional_files", b64("not a zip")), `{"additional_files":["is not a valid zip archive"]}`},
			{"zip over 10240 KB", py("x", "additional_files", zip), `{"additional_files":["extracts to more than 10240 KB"]}`},
			{"zip declaring over 10240 KB", py("x", "additional_files", claimZip), `{"additional_files":["extracts to more than 10240 KB"]}`},
			{"zip of 1025 entries", py("x", "additional_files", manyZip), `{"additional_files":["has more than 1024 entries"]}`},
		} {
			r := user.do(t, "POST", "/submissions", c.body)
			if r.code != http.StatusUnprocessableEntity || string(r.raw) != c.want {
				t.Errorf("%s: %d %s\nwant 422 %s", c.name, r.code, r.raw, c.want)
			}
		}
		r := user.do(t, "POST", "/submissions", py("x", "callback_url", "ftp://example.com/"))
		if r.code != http.StatusUnprocessableEntity || !slices.Equal(keys(t, r.raw), []string{"callback_url"}) {
			t.Errorf("callback_url: %d %s", r.code, r.raw)
		}
		if r := user.do(t, "POST", "/submissions", `{"source_code":`); r.code != http.StatusBadRequest {
			t.Errorf("malformed JSON: %d %s", r.code, r.raw)
		}
	})

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

	t.Run("additional files", func(t *testing.T) {
		t.Parallel()
		archive := zipOf(t, map[string][]byte{
			"helper.py":     []byte("def greet():\n    return 'helper'\n"),
			"data/word.txt": []byte("data"),
			"script.py":     []byte("print('the archive must not replace the source')"),
		})
		m := user.run(t, "fields=stdout,stderr,status_id,additional_files", py("import helper\nprint(helper.greet(), open('data/word.txt').read())",
			"additional_files", base64.StdEncoding.EncodeToString(archive)))
		if m["stdout"] != "helper data\n" || m["status_id"] != json.Number("3") || m["additional_files"] != rubyBase64(archive) {
			t.Errorf("%v", m)
		}
	})

	t.Run("form and query parameters", func(t *testing.T) {
		t.Parallel()
		form := url.Values{"source_code": {"print(input() * 2)"}, "language_id": {"71"}, "stdin": {"ab"}}
		r := user.do(t, "POST", "/submissions?wait=true&fields=stdout,status_id", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		r.expect(t, http.StatusCreated, `{"stdout":"abab\n","status_id":3}`)
		// The query string's parameters join the body's, and win.
		r = user.do(t, "POST", "/submissions?wait=true&fields=stdout&language_id=71&stdin=query", map[string]any{"source_code": "print(input())", "stdin": "body"})
		r.expect(t, http.StatusCreated, `{"stdout":"query\n"}`)
		r = user.do(t, "POST", "/submissions", "source_code=print(1)", "Content-Type", "application/x-www-form-urlencoded")
		r.expect(t, http.StatusUnprocessableEntity, `{"language_id":["can't be blank","language with id  doesn't exist"]}`)
		// No body at all: no parameters, as in Rails.
		r = user.do(t, "POST", "/submissions", nil)
		r.expect(t, http.StatusUnprocessableEntity, `{"source_code":["can't be blank"],"language_id":["can't be blank","language with id  doesn't exist"]}`)
		user.do(t, "POST", "/submissions/batch", nil).expect(t, http.StatusBadRequest, `{"error":"there should be at least one submission in a batch"}`)
	})

	t.Run("multi-file program", func(t *testing.T) {
		t.Parallel()
		archive := base64.StdEncoding.EncodeToString(zipOf(t, map[string][]byte{
			"compile":     []byte("gcc -o sum src/sum.c\n"),
			"run":         []byte("./sum < numbers.txt\n"),
			"src/sum.c":   []byte("#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }\n"),
			"numbers.txt": []byte("40 2\n"),
		}))
		project := func(extra ...any) map[string]any {
			m := map[string]any{"language_id": 89, "additional_files": archive}
			for i := 0; i+1 < len(extra); i += 2 {
				m[extra[i].(string)] = extra[i+1]
			}
			return m
		}
		m := user.run(t, "fields=stdout,compile_output,status_id,language", project("command_line_arguments", "ignored"))
		if m["stdout"] != "42\n" || m["compile_output"] != nil || m["status_id"] != json.Number("3") {
			t.Errorf("%v", m)
		}
		if l, _ := m["language"].(map[string]any); l["name"] != "Multi-file program" {
			t.Errorf("language %v", m["language"])
		}
		failing := base64.StdEncoding.EncodeToString(zipOf(t, map[string][]byte{"compile": []byte("echo broken; exit 1\n"), "run": []byte("echo ran\n")}))
		m = user.run(t, "fields=stdout,compile_output,status_id", project("additional_files", failing))
		if m["stdout"] != nil || m["compile_output"] != "broken\n" || m["status_id"] != json.Number("6") {
			t.Errorf("failed build: %v", m)
		}
		for _, c := range []struct {
			name string
			body any
			want string
		}{
			{"source_code given", project("source_code", "print(1)"), `{"source_code":["must be blank"]}`},
			{"no files", project("additional_files", nil), `{"additional_files":["can't be blank"]}`},
			{"compiler_options", project("compiler_options", "-O2"), `{"compiler_options":["setting compiler options is only allowed for compiled languages"]}`},
		} {
			if r := user.do(t, "POST", "/submissions", c.body); r.code != http.StatusUnprocessableEntity || string(r.raw) != c.want {
				t.Errorf("%s: %d %s\nwant 422 %s", c.name, r.code, r.raw, c.want)
			}
		}
		r := user.do(t, "GET", "/languages/89", nil)
		r.expect(t, http.StatusOK, "")
		if string(r.raw) != `{"id":89,"name":"Multi-file program","is_archived":false,"source_file":null,"compile_cmd":null,"run_cmd":null}` {
			t.Errorf("/languages/89: %s", r.raw)
		}
	})

	t.Run("batch", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{
			py("print('b1')"), py("print(1)", "language_id", 9999), py(""), py("print('b2')"),
		}})
		r.expect(t, http.StatusCreated, "")
		var items []json.RawMessage
		if err := json.Unmarshal(r.raw, &items); err != nil || len(items) != 4 {
			t.Fatalf("%s", r.raw)
		}
		if string(items[1]) != `{"language_id":["language with id 9999 doesn't exist"]}` || string(items[2]) != `{"source_code":["can't be blank"]}` {
			t.Errorf("errors: %s", r.raw)
		}
		t1, t2 := decodeObj(t, items[0])["token"].(string), decodeObj(t, items[3])["token"].(string)
		path := fmt.Sprintf("/submissions/batch?tokens=%s,%s,%s&fields=stdout,status_id,token", t1, "00000000-0000-4000-8000-000000000000", t2)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r = user.do(t, "GET", path, nil)
			r.expect(t, http.StatusOK, "")
			var got struct{ Submissions []map[string]any }
			if err := json.Unmarshal(r.raw, &got); err != nil || len(got.Submissions) != 3 || got.Submissions[1] != nil {
				t.Fatalf("%s", r.raw)
			}
			if got.Submissions[0]["status_id"] == 3.0 && got.Submissions[2]["status_id"] == 3.0 {
				if got.Submissions[0]["stdout"] != "b1\n" || got.Submissions[2]["stdout"] != "b2\n" || got.Submissions[0]["token"] != t1 {
					t.Errorf("%s", r.raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch did not finish: %s", r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		many := make([]any, 21)
		for i := range many {
			many[i] = py("print(1)")
		}
		tooMany := `{"error":"number of submissions in a batch should be less than or equal to 20"}`
		user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": many}).expect(t, http.StatusBadRequest, tooMany)
		user.do(t, "POST", "/submissions/batch", `{"submissions":[]}`).expect(t, http.StatusBadRequest, `{"error":"there should be at least one submission in a batch"}`)
		user.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{py("")}}).expect(t, http.StatusUnprocessableEntity, `[{"source_code":["can't be blank"]}]`)
		user.do(t, "GET", "/submissions/batch?tokens="+strings.Repeat(t1+",", 21), nil).expect(t, http.StatusBadRequest, tooMany)
		user.do(t, "GET", "/submissions/batch", nil).expect(t, http.StatusBadRequest, `{"error":"there should be at least one submission in a batch"}`)
	})

	t.Run("authentication", func(t *testing.T) {
		t.Parallel()
		for _, c := range []client{{env.URL, ""}, {env.URL, "wrong"}} {
			for _, path := range []string{"/languages", "/submissions/batch?tokens=x", "/about"} {
				if r := c.do(t, "GET", path, nil); r.code != http.StatusUnauthorized || len(r.raw) != 0 {
					t.Errorf("GET %s with token %q: %d %q", path, c.token, r.code, r.raw)
				}
			}
			if r := c.do(t, "POST", "/submissions", py("print(1)")); r.code != http.StatusUnauthorized || len(r.raw) != 0 {
				t.Errorf("POST with token %q: %d %q", c.token, r.code, r.raw)
			}
		}
		// The token may come as a query parameter too.
		client{env.URL, ""}.do(t, "GET", "/statuses?X-Auth-Token="+userToken, nil).expect(t, http.StatusOK, "")
		user.do(t, "POST", "/authenticate", nil).expect(t, http.StatusOK, "")
		user.do(t, "POST", "/authorize", nil, "X-Auth-User", adminToken).expect(t, http.StatusOK, "")
		for _, authUser := range []string{"", userToken, "wrong"} {
			for _, req := range [][2]string{{"GET", "/submissions"}, {"DELETE", "/submissions/00000000-0000-4000-8000-000000000000"}, {"POST", "/authorize"}} {
				if r := admin.do(t, req[0], req[1], nil, "X-Auth-User", authUser); r.code != http.StatusForbidden || len(r.raw) != 0 {
					t.Errorf("%s %s as %q: %d %q", req[0], req[1], authUser, r.code, r.raw)
				}
			}
		}
	})

	t.Run("keys see their own submissions", func(t *testing.T) {
		t.Parallel()
		token := user.run(t, "", py("print('mine')"))["token"].(string)
		if r := other.do(t, "GET", "/submissions/"+token, nil); r.code != http.StatusNotFound {
			t.Errorf("another key: %d %s", r.code, r.raw)
		}
		other.do(t, "GET", "/submissions/batch?tokens="+token+"&fields=token", nil).expect(t, http.StatusOK, `{"submissions":[null]}`)
		admin.do(t, "GET", "/submissions/"+token+"?fields=stdout", nil).expect(t, http.StatusOK, `{"stdout":"mine\n"}`)

		r := admin.do(t, "GET", "/submissions?per_page=1&fields=token", nil, "X-Auth-User", adminToken)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"submissions", "meta"})
		var page struct {
			Submissions []map[string]any
			Meta        json.RawMessage
		}
		json.Unmarshal(r.raw, &page)
		expectKeys(t, page.Meta, []string{"current_page", "next_page", "prev_page", "total_pages", "total_count"})
		meta := decodeObj(t, page.Meta)
		if len(page.Submissions) != 1 || meta["current_page"] != json.Number("1") || meta["prev_page"] != nil || number(t, meta["total_count"]) < 1 {
			t.Errorf("%s", r.raw)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		token := user.run(t, "", py("print('hi')"))["token"].(string)
		user.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", userToken).expect(t, http.StatusForbidden, "")
		r := admin.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", adminToken)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, defaultFields)
		if m := r.obj(t); m["stdout"] != "aGkK\n" || m["token"] != token {
			t.Errorf("the deleted submission, in base64: %s", r.raw)
		}
		// Rails answers a missing record with an empty body, or JSON when
		// JSON is what the client accepts first.
		if r := user.do(t, "GET", "/submissions/"+token, nil, "Accept", "*/*"); r.code != http.StatusNotFound || len(r.raw) != 0 {
			t.Errorf("deleted: %d %q", r.code, r.raw)
		}
		user.do(t, "GET", "/submissions/"+token, nil, "Accept", "application/json, text/plain, */*").expect(t, http.StatusNotFound, `{"status":404,"error":"Not Found"}`)
		admin.do(t, "DELETE", "/submissions/"+token, nil, "X-Auth-User", adminToken).expect(t, http.StatusNotFound, "")

		busy := user.create(t, py("import time\ntime.sleep(2)"))
		r = admin.do(t, "DELETE", "/submissions/"+busy, nil, "X-Auth-User", adminToken)
		unfinished := regexp.MustCompile(`^\{"error":"submission cannot be deleted because its status is (1 \(In Queue\)|2 \(Processing\))"\}$`)
		if r.code != http.StatusBadRequest || !unfinished.Match(r.raw) {
			t.Errorf("deleting an unfinished submission: %d %s", r.code, r.raw)
		}
	})

	t.Run("callback", func(t *testing.T) {
		t.Parallel()
		type call struct {
			method, contentType string
			body                []byte
		}
		calls := make(chan call, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			calls <- call{r.Method, r.Header.Get("Content-Type"), body}
			w.WriteHeader(http.StatusInternalServerError) // an answer all the same: Judge0 does not call again
		}))
		defer hook.Close()
		token := user.create(t, py("print('hi')", "callback_url", hook.URL+"/done"))
		defer func() {
			select {
			case <-calls:
				t.Error("called back again after an answer")
			case <-time.After(500 * time.Millisecond): // the service's test backoff is 50 ms
			}
		}()
		select {
		case c := <-calls:
			if c.method != http.MethodPut || c.contentType != "application/json" {
				t.Errorf("%s with %q", c.method, c.contentType)
			}
			expectKeys(t, c.body, defaultFields)
			m := decodeObj(t, c.body)
			if m["stdout"] != "aGkK\n" || m["token"] != token {
				t.Errorf("%s", c.body)
			}
			expectStatus(t, m, 3)
		case <-time.After(30 * time.Second):
			t.Fatal("no callback")
		}
	})

	t.Run("languages", func(t *testing.T) {
		t.Parallel()
		_, catalog := servicetest.Runner(t)
		r := user.do(t, "GET", "/languages", nil)
		r.expect(t, http.StatusOK, "")
		var list []map[string]any
		if err := json.Unmarshal(r.raw, &list); err != nil {
			t.Fatal(err)
		}
		names := map[float64]string{}
		var order []string
		for _, l := range list {
			raw, _ := json.Marshal(l)
			expectKeys(t, raw, []string{"id", "name"})
			names[l["id"].(float64)] = l["name"].(string)
			order = append(order, l["name"].(string))
		}
		if !slices.IsSorted(order) {
			t.Errorf("not sorted by name: %v", order)
		}
		for id, catalogID := range map[float64]string{71: "python", 63: "javascript", 50: "c", 54: "cpp", 52: "cpp", 62: "java", 60: "go", 46: "bash"} {
			l, err := catalog.Lookup(catalogID)
			if err != nil || l.Available() != nil {
				continue
			}
			if names[id] == "" {
				t.Errorf("language %d (%s) is installed but not listed: %s", int(id), catalogID, r.raw)
			}
		}
		if !strings.HasPrefix(names[54], "C++ (GCC ") || !strings.HasPrefix(names[71], "Python (") {
			t.Errorf("names: %v", names)
		}

		r = user.do(t, "GET", "/languages/all", nil)
		r.expect(t, http.StatusOK, "")
		var all []json.RawMessage
		json.Unmarshal(r.raw, &all)
		if len(all) != len(list) {
			t.Errorf("/languages/all has %d, /languages %d", len(all), len(list))
		}
		for _, l := range all {
			expectKeys(t, l, []string{"id", "name", "is_archived"})
			if decodeObj(t, l)["is_archived"] != false {
				t.Errorf("%s", l)
			}
		}

		r = user.do(t, "GET", "/languages/71", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"id", "name", "is_archived", "source_file", "compile_cmd", "run_cmd"})
		if m := r.obj(t); m["id"] != json.Number("71") || m["name"] != names[71] || m["source_file"] != "script.py" || m["compile_cmd"] != nil || m["run_cmd"] == nil {
			t.Errorf("%s", r.raw)
		}
		if m := user.do(t, "GET", "/languages/50", nil).obj(t); m["source_file"] != "main.c" || m["compile_cmd"] == nil {
			t.Errorf("C: %v", m)
		}
		for _, path := range []string{"/languages/1234", "/languages/abc"} {
			if r := user.do(t, "GET", path, nil); r.code != http.StatusNotFound || len(r.raw) != 0 {
				t.Errorf("%s: %d %q", path, r.code, r.raw)
			}
		}
	})

	t.Run("information", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "GET", "/statuses", nil)
		r.expect(t, http.StatusOK, "")
		var statuses []map[string]any
		json.Unmarshal(r.raw, &statuses)
		if len(statuses) != 14 {
			t.Fatalf("%d statuses: %s", len(statuses), r.raw)
		}
		for i, s := range statuses {
			if s["id"] != float64(i+1) || s["description"] != judgeStatuses[i] {
				t.Errorf("status %d: %v", i+1, s)
			}
		}

		r = user.do(t, "GET", "/about", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"version", "homepage", "source_code", "maintainer"})
		if r.obj(t)["version"] != "1.13.1" {
			t.Errorf("%s", r.raw)
		}
		if r := user.do(t, "GET", "/version", nil); r.code != http.StatusOK || string(r.raw) != "1.13.1" {
			t.Errorf("version: %d %q", r.code, r.raw)
		}

		r = user.do(t, "GET", "/config_info", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, configKeys)
		for _, want := range []string{`"cpu_time_limit":5.0,`, `"max_cpu_time_limit":15.0,`, `"callbacks_timeout":5.0,`, `"memory_limit":128000,`, `"enable_submission_delete":true,`,
			`"max_submission_batch_size":20,`, `"max_extract_size":10240,`, `"allowed_languages_for_compile_options":[],`, `"enable_wait_result":true,`} {
			if !strings.Contains(string(r.raw), want) {
				t.Errorf("config_info lacks %s: %s", want, r.raw)
			}
		}

		r = user.do(t, "GET", "/system_info", nil)
		r.expect(t, http.StatusOK, "")
		if m := r.obj(t); m["CPU(s)"] == nil || m["Architecture"] == nil || m["Mem"] == nil {
			t.Errorf("%s", r.raw)
		}

		r = user.do(t, "GET", "/workers", nil)
		r.expect(t, http.StatusOK, "")
		var workers []json.RawMessage
		if json.Unmarshal(r.raw, &workers); len(workers) != 1 {
			t.Fatalf("%s", r.raw)
		}
		expectKeys(t, workers[0], []string{"queue", "size", "available", "idle", "working", "paused", "failed"})
		if m := decodeObj(t, workers[0]); m["queue"] != "1.13.1" || m["available"] != json.Number("3") {
			t.Errorf("%s", r.raw)
		}
	})
}

// TestSharedStore checks that the native API and Judge0 share one store,
// on an open service (no keys) of its own so the counts are exact.
func TestSharedStore(t *testing.T) {
	t.Parallel()
	env := servicetest.Start(t, servicetest.Options{Jobs: jobs.Options{Workers: 1}})
	c := client{url: env.URL}

	r := c.do(t, "GET", "/statistics", nil)
	r.expect(t, http.StatusOK, "")
	if m := r.obj(t); fmt.Sprint(m["languages"]) != "[]" || fmt.Sprint(m["statuses"]) != "[]" {
		t.Errorf("empty statistics: %s", r.raw)
	}

	token, _ := c.run(t, "", py("print(1)"))["token"].(string)
	native := c.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(2)"}`)
	native.expect(t, http.StatusOK, "")
	id, _ := native.obj(t)["id"].(string)
	if id == "" {
		t.Fatalf("%s", native.raw)
	}
	// Both went through the one service and its audit log...
	audited := map[string]string{}
	for _, line := range env.AuditLines() {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		audited[e.JobID] = e.API
	}
	if len(audited) != 2 || audited[token] != "judge0" || audited[id] != "v1" {
		t.Errorf("audit log by job: %v (Judge0 %s, native %s)", audited, token, id)
	}
	// ...but a native job is not a Judge0 submission...
	c.do(t, "GET", "/submissions/"+id, nil).expect(t, http.StatusNotFound, "")
	c.do(t, "GET", "/submissions/batch?tokens="+id, nil).expect(t, http.StatusOK, `{"submissions":[null]}`)
	// The statistics are cached for 10 minutes, as in Judge0...
	cached := c.do(t, "GET", "/statistics", nil)
	cached.expect(t, http.StatusOK, "")
	if m := cached.obj(t); fmt.Sprint(m["languages"]) != "[]" {
		t.Errorf("not from the cache: %s", cached.raw)
	} else if at, err1 := time.Parse(time.RFC3339, m["created_at"].(string)); err1 != nil {
		t.Errorf("created_at: %v", err1)
	} else if until, err2 := time.Parse(time.RFC3339, m["cached_until"].(string)); err2 != nil || until.Sub(at) != 10*time.Minute {
		t.Errorf("cached_until %v, created_at %v", m["cached_until"], m["created_at"])
	}
	// ...until invalidate_cache=true; and Judge0 counts every submission,
	// as it counts its whole table.
	r = c.do(t, "GET", "/statistics?invalidate_cache=true", nil)
	r.expect(t, http.StatusOK, "")
	expectKeys(t, r.raw, []string{"created_at", "cached_until", "submissions", "languages", "statuses", "database"})
	var db struct{ Database json.RawMessage }
	json.Unmarshal(r.raw, &db)
	expectKeys(t, db.Database, []string{"size_pretty", "size_in_bytes"})
	if m := decodeObj(t, db.Database); !strings.HasSuffix(m["size_pretty"].(string), "B") && !strings.HasSuffix(m["size_pretty"].(string), "bytes") {
		t.Errorf("database: %s", db.Database)
	}
	var stats struct {
		Submissions struct {
			Total, Today int
			Last30Days   json.RawMessage `json:"last_30_days"`
		}
		Languages []struct {
			Language struct {
				ID   int
				Name string
			}
			Count int
		}
		Statuses []struct {
			Status struct {
				ID   int
				Name string
			}
			Count int
		}
	}
	if err := json.Unmarshal(r.raw, &stats); err != nil {
		t.Fatal(err)
	}
	var raw struct{ Submissions json.RawMessage }
	json.Unmarshal(r.raw, &raw)
	expectKeys(t, raw.Submissions, []string{"total", "today", "last_30_days"})
	days := keys(t, stats.Submissions.Last30Days)
	if stats.Submissions.Total != 2 || stats.Submissions.Today != 2 || len(days) != 30 || !slices.IsSortedFunc(days, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("submissions: %s", r.raw)
	}
	if len(stats.Languages) != 1 || stats.Languages[0].Language.ID != 71 || stats.Languages[0].Count != 2 || !strings.HasPrefix(stats.Languages[0].Language.Name, "Python (") {
		t.Errorf("languages: %s", r.raw)
	}
	if len(stats.Statuses) != 1 || stats.Statuses[0].Status.ID != 3 || stats.Statuses[0].Status.Name != "Accepted" || stats.Statuses[0].Count != 2 {
		t.Errorf("statuses: %s", r.raw)
	}
	// Without keys nobody is authorized, as in Judge0 without AUTHZ_TOKEN.
	c.do(t, "GET", "/submissions", nil).expect(t, http.StatusForbidden, "")
}

// TestRunsAndLimits runs a program three times on a service of its own,
// so its metrics count this job only; then a key with a limit of
// unfinished jobs goes over it.
func TestRunsAndLimits(t *testing.T) {
	t.Parallel()
	limited := auth.Key{ID: "limited", SHA256: auth.HashToken("limited-token"), MaxActive: 1}
	env := servicetest.Start(t, servicetest.Options{API: api.Options{Keys: slices.Concat(testKeys, []auth.Key{limited})}, Jobs: jobs.Options{Workers: 1}})
	admin := client{env.URL, adminToken}
	admin.do(t, "DELETE", "/submissions/00000000-0000-4000-8000-000000000000", nil, "X-Auth-User", adminToken).
		expect(t, http.StatusBadRequest, `{"error":"delete not allowed"}`)

	burn := "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass\nprint('done')"
	m := admin.run(t, "fields=stdout,time,wall_time,number_of_runs,status_id", py(burn, "number_of_runs", 3))
	if m["stdout"] != "done\n" || m["number_of_runs"] != json.Number("3") || m["status_id"] != json.Number("3") {
		t.Fatalf("%v", m)
	}
	// time is the average of the runs, not their sum.
	if cpu := seconds(t, m["time"]); cpu < 0.19 || cpu > 0.4 {
		t.Errorf("time %v: not one run's CPU time", cpu)
	}
	// The job took three runs' worth of wall time.
	r := admin.do(t, "GET", "/metrics", nil)
	var sum float64
	count := -1
	for line := range strings.SplitSeq(string(r.raw), "\n") {
		if v, ok := strings.CutPrefix(line, `airlock_execution_seconds_sum{language="python"} `); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, `airlock_execution_seconds_count{language="python"} `); ok {
			count, _ = strconv.Atoi(v)
		}
	}
	if wall := seconds(t, m["wall_time"]); count != 1 || sum < 2.5*wall {
		t.Errorf("the job ran %.3fs (%d jobs) for runs of %.3fs each: not three runs", sum, count, wall)
	}

	// A key over its limit of unfinished jobs: the batch still hands out
	// the tokens of what it queued.
	c := client{env.URL, "limited-token"}
	r = c.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{py("import time\ntime.sleep(2)"), py("print(1)")}})
	r.expect(t, http.StatusCreated, "")
	var items []json.RawMessage
	if json.Unmarshal(r.raw, &items); len(items) != 2 || !slices.Equal(keys(t, items[0]), []string{"token"}) ||
		string(items[1]) != `{"error":"too many unfinished jobs for this key"}` {
		t.Errorf("batch over the key's limit: %s", r.raw)
	}
	if r := c.do(t, "POST", "/submissions", py("print(1)")); r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("over the key's limit: %d %s", r.code, r.raw)
	}
}

func signalled(sig int) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		if m["exit_signal"] != json.Number(strconv.Itoa(sig)) || m["exit_code"] != json.Number("0") || m["message"] != fmt.Sprintf("Caught fatal signal %d", sig) {
			t.Errorf("%v", m)
		}
	}
}
