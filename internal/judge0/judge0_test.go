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

// TestSubmissions runs the submission routes of one keyed service, its
// subtests (in parallel) grouped by concern in files of their own.
func TestSubmissions(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		API:    api.Options{Keys: testKeys},
		Jobs:   jobs.Options{Workers: 3},
		Judge0: judge0.Options{EnableDelete: true},
	})
	s := suite{env: env, user: client{env.URL, userToken}, other: client{env.URL, otherToken}, admin: client{env.URL, adminToken}}
	s.runCreate(t)
	s.runValidation(t)
	s.runVerdicts(t)
	s.runFiles(t)
	s.runBatch(t)
	s.runAccess(t)
	s.runCallback(t)
	s.runInfo(t)
}

// suite is TestSubmissions's service and a client of each key.
type suite struct {
	env                *servicetest.Env
	user, other, admin client
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
