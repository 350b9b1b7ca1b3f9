// TestPythonSDKWire replays, over real HTTP, the requests the official
// Judge0 Python SDK (github.com/judge0/judge0-python, PyPI "judge0") makes
// against a self-hosted Judge0 CE, and checks every answer against what
// the SDK's parsing needs. Read at release v0.0.8 (commit
// 85463a96b437bbec4ed53f284721aadf25a91c49; master de675821b9f0 differs
// only in its version string). v0.0.8 is the first release whose
// common.decode strips the newlines of Ruby's Base64.encode64: earlier
// releases fail on any base64 answer of Judge0 1.13.1, and of this server.
//
// Requests mirrored (paths under src/judge0/):
//
//   - clients.py Client.__init__: GET /languages (get_languages, each item
//     parsed as base_types.Language: id int, name str), then GET
//     /config_info (get_config_info, parsed as base_types.Config: every
//     field required, typed).
//   - clients.py Client.version / get_language_id: GET /about, its
//     "version" must be a key of data.LANGUAGE_TO_LANGUAGE_ID ("1.13.1":
//     PYTHON 71, MULTI_FILE 89); is_language_supported then needs the id
//     in the /languages list.
//   - clients.py Client.create_submission: POST
//     /submissions?base64_encoded=true&wait=false with the JSON body of
//     submission.py Submission.as_body (source_code always present and
//     base64-encoded, also stdin, expected_output, additional_files).
//     The SDK never sends wait=true.
//   - clients.py Client.create_submissions (api.py create_submissions, for
//     a chunk of more than one submission): POST
//     /submissions/batch?base64_encoded=true with {"submissions": [...]};
//     the answer must be a JSON array, zipped with the submissions.
//   - api.py wait: every 0.1 s (retry.py RegularPeriodRetry) GET
//     /submissions/batch?base64_encoded=true&fields=*&tokens=a,b
//     (clients.py Client.get_submissions, answer["submissions"] zipped in
//     order) while more than one submission is pending, GET
//     /submissions/<token>?base64_encoded=true&fields=*
//     (Client.get_submission) for one; done when status.id is not 1 or 2.
//     Each answer goes through submission.py Submission.set_attributes.
//   - A multi-file program is Submission(source_code="", language=
//     MULTI_FILE, additional_files=filesystem.Filesystem(...)): as_body
//     cannot encode a None source_code, so it is sent as "", and the
//     Filesystem is a zipfile archive (stored, entries mode 0600).
//   - clients.py Client.get_language: GET /languages/<id>;
//     Client.get_statuses: GET /statuses; Client.get_about: GET /about.
//
// Every request carries the headers of Client.__init__ (X-Judge0-App,
// X-Judge0-App-Version) and the user's auth headers (here X-Auth-Token,
// as JUDGE0_CE_AUTH_HEADERS would give); httpx's query encoding is
// urlencode's ("*" as %2A, "," as %2C); any non-2xx answer is an error
// (raise_for_status).
package judge0_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash/crc32"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// sdk is the SDK's Client as the server sees it.
type sdk struct{ c client }

// sdkVersion is judge0/version.py's __version__ at v0.0.8.
const sdkVersion = "0.0.8"

// pyDatetime is what datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ") takes.
var pyDatetime = regexp.MustCompile(`^\d{4}-\d{1,2}-\d{1,2}T\d{1,2}:\d{1,2}:\d{1,2}\.\d{1,6}Z$`)

// call sends one request as httpx does for the SDK: query parameters in
// the SDK's order, urlencoded; body is a JSON string or nil. It fails
// where raise_for_status would raise.
func (s sdk) call(t *testing.T, method, path string, query [][2]string, body any) response {
	t.Helper()
	if len(query) > 0 {
		var q []string
		for _, kv := range query {
			q = append(q, url.QueryEscape(kv[0])+"="+url.QueryEscape(kv[1]))
		}
		path += "?" + strings.Join(q, "&")
	}
	r := s.c.do(t, method, path, body,
		"X-Judge0-App", "Judge0 Python SDK", "X-Judge0-App-Version", sdkVersion,
		"Accept", "*/*", "User-Agent", "python-httpx/0.28.1")
	if r.code < 200 || r.code > 299 {
		t.Fatalf("%s %s: %d %s (raise_for_status raises)", method, path, r.code, r.raw)
	}
	return r
}

// pyJSON writes name, value pairs as httpx 0.28 writes a dict:
// json.dumps with separators (",", ":"), in insertion order.
func pyJSON(t *testing.T, pairs ...any) string {
	t.Helper()
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(pairs[i])
		v, err := json.Marshal(pairs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// pyZip is filesystem.Filesystem.encode: zipfile.ZipFile(buf, "w") and
// writestr per file, in order. That is ZIP_STORED, sizes and CRC in the
// local header (no data descriptor), Unix mode 0600 (zipOf deflates
// and sets no mode, so it is not the SDK's archive).
func pyZip(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{
			Name: f[0], Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(f[1])),
			CompressedSize64: uint64(len(f[1])), UncompressedSize64: uint64(len(f[1])),
			Modified: time.Now(),
		}
		h.SetMode(0o600)
		fw, err := w.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(f[1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pyB64 is common.encode: base64.b64encode, no newlines.
func pyB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// pyDecode is common.decode: \n and \r dropped, then b64decode with
// validate=True (alphabet only, padding required).
func pyDecode(t *testing.T, field string, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s = %#v: decode takes str only", field, v)
	}
	s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
	out, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("%s = %q: b64decode(validate=True) fails: %v", field, v, err)
	}
	return string(out)
}

// integral reports whether v is a JSON integer (pydantic's int).
func integral(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := n.Int64()
	return err == nil
}

// setAttributes checks one submission answer as Submission.set_attributes
// reads it and returns the attributes as the SDK holds them afterwards
// (encoded fields decoded, "" for None).
func setAttributes(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		switch k {
		case "language_id", "language", "status_id": // SKIP_FIELDS
			continue
		case "source_code", "additional_files", "stdin", "expected_output", "stdout", "stderr", "compile_output":
			if v == nil || v == "" {
				out[k] = ""
				continue
			}
			out[k] = pyDecode(t, k, v)
			continue
		case "status": // Status(value["id"])
			st, _ := v.(map[string]any)
			n, _ := st["id"].(json.Number)
			id, err := n.Int64()
			if err != nil || id < 1 || id > 14 {
				t.Fatalf("status = %#v: Status(value[\"id\"]) fails", v)
			}
			out[k] = int(id)
			continue
		case "created_at", "finished_at":
			if s, ok := v.(string); v != nil && (!ok || !pyDatetime.MatchString(s)) {
				t.Fatalf("%s = %#v: strptime %%Y-%%m-%%dT%%H:%%M:%%S.%%fZ fails", k, v)
			}
		case "cpu_time_limit", "cpu_extra_time", "time", "wall_time", "wall_time_limit":
			if v != nil {
				s, _ := v.(string)
				if n, ok := v.(json.Number); ok {
					s = string(n)
				}
				if _, err := strconv.ParseFloat(s, 64); err != nil {
					t.Fatalf("%s = %#v: float() fails", k, v)
				}
			}
		case "post_execution_filesystem": // Filesystem(content=value)
			if v != nil {
				s, _ := v.(string)
				raw, _ := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(s))
				if _, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw))); err != nil {
					t.Fatalf("%s: not a zip: %v", k, err)
				}
			}
		}
		out[k] = v
	}
	return out
}

// wait is api.wait with RegularPeriodRetry: batch GETs while more than
// one submission is pending, a single GET for the last one.
func (s sdk) wait(t *testing.T, tokens ...string) map[string]map[string]any {
	t.Helper()
	done := map[string]map[string]any{}
	pending := slices.Clone(tokens)
	fields := [2]string{"fields", "*"}
	deadline := time.Now().Add(60 * time.Second)
	for len(pending) > 0 {
		var answers []map[string]any
		if len(pending) > 1 {
			r := s.call(t, "GET", "/submissions/batch", [][2]string{{"base64_encoded", "true"}, fields, {"tokens", strings.Join(pending, ",")}}, nil)
			var got struct{ Submissions []json.RawMessage }
			if err := json.Unmarshal(r.raw, &got); err != nil || len(got.Submissions) != len(pending) {
				t.Fatalf("batch answer (response.json()[\"submissions\"] zipped with %d): %s", len(pending), r.raw)
			}
			for _, raw := range got.Submissions {
				answers = append(answers, decodeObj(t, raw)) // null would break attrs.items()
			}
		} else {
			r := s.call(t, "GET", "/submissions/"+pending[0], [][2]string{{"base64_encoded", "true"}, fields}, nil)
			answers = append(answers, r.obj(t))
		}
		var still []string
		for i, m := range answers {
			attrs := setAttributes(t, m)
			// The SDK zips by position: the answers must come in token order.
			if attrs["token"] != pending[i] {
				t.Fatalf("answer %d has token %v, want %s", i, attrs["token"], pending[i])
			}
			if id := attrs["status"]; id == 1 || id == 2 {
				still = append(still, pending[i])
			} else {
				done[pending[i]] = attrs
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("submissions %v did not finish", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return done
}

// create is Client.create_submission; the answer goes through
// set_attributes and must give a token.
func (s sdk) create(t *testing.T, body string) string {
	t.Helper()
	r := s.call(t, "POST", "/submissions", [][2]string{{"base64_encoded", "true"}, {"wait", "false"}}, body)
	token, _ := setAttributes(t, r.obj(t))["token"].(string)
	if !uuidRE.MatchString(token) {
		t.Fatalf("no token: %s", r.raw)
	}
	return token
}

// checkLanguage is base_types.Language(**json).
func checkLanguage(t *testing.T, m map[string]any) {
	t.Helper()
	if _, ok := m["name"].(string); !ok || !integral(m["id"]) {
		t.Fatalf("Language needs id int, name str: %v", m)
	}
	if v, ok := m["is_archived"]; ok && v != nil {
		if _, ok := v.(bool); !ok {
			t.Fatalf("is_archived %#v", v)
		}
	}
	for _, k := range []string{"source_file", "compile_cmd", "run_cmd"} {
		if v, ok := m[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				t.Fatalf("%s %#v", k, v)
			}
		}
	}
}

func TestPythonSDKWire(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		API:  api.Options{Keys: testKeys},
		Jobs: jobs.Options{Workers: 3},
	})
	s := sdk{client{env.URL, userToken}}

	// Client.__init__: get_languages, then get_config_info.
	r := s.call(t, "GET", "/languages", nil, nil)
	var languages []json.RawMessage
	if err := json.Unmarshal(r.raw, &languages); err != nil {
		t.Fatalf("/languages: %s", r.raw)
	}
	ids := map[int64]bool{}
	for _, raw := range languages {
		m := decodeObj(t, raw)
		checkLanguage(t, m)
		id, _ := m["id"].(json.Number).Int64()
		ids[id] = true
	}

	r = s.call(t, "GET", "/config_info", nil, nil)
	config := r.obj(t)
	// base_types.Config: every field required, pydantic-typed.
	configTypes := map[string]string{
		"allow_enable_network": "bool", "allow_enable_per_process_and_thread_memory_limit": "bool",
		"allow_enable_per_process_and_thread_time_limit": "bool", "allowed_languages_for_compile_options": "list[str]",
		"callbacks_max_tries": "int", "callbacks_timeout": "float", "cpu_extra_time": "float", "cpu_time_limit": "float",
		"enable_additional_files": "bool", "enable_batched_submissions": "bool", "enable_callbacks": "bool",
		"enable_command_line_arguments": "bool", "enable_compiler_options": "bool", "enable_network": "bool",
		"enable_per_process_and_thread_memory_limit": "bool", "enable_per_process_and_thread_time_limit": "bool",
		"enable_submission_delete": "bool", "enable_wait_result": "bool", "maintenance_mode": "bool",
		"max_cpu_extra_time": "float", "max_cpu_time_limit": "float", "max_extract_size": "int", "max_file_size": "int",
		"max_max_file_size": "int", "max_max_processes_and_or_threads": "int", "max_memory_limit": "int",
		"max_number_of_runs": "int", "max_processes_and_or_threads": "int", "max_queue_size": "int",
		"max_stack_limit": "int", "max_submission_batch_size": "int", "max_wall_time_limit": "float",
		"memory_limit": "int", "number_of_runs": "int", "redirect_stderr_to_stdout": "bool", "stack_limit": "int",
		"submission_cache_duration": "float", "use_docs_as_homepage": "bool", "wall_time_limit": "float",
	}
	for k, kind := range configTypes {
		v, present := config[k]
		ok := present
		switch kind {
		case "bool":
			_, ok = v.(bool)
		case "int":
			// pydantic's lax int also takes 5.0, but not 5.5.
			if n, isNum := v.(json.Number); isNum {
				f, err := n.Float64()
				ok = err == nil && f == float64(int64(f))
			} else {
				ok = false
			}
		case "float":
			_, ok = v.(json.Number)
		case "list[str]":
			list, isList := v.([]any)
			ok = isList
			for _, e := range list {
				if _, isStr := e.(string); !isStr {
					ok = false
				}
			}
		}
		if !ok {
			t.Errorf("config_info %s = %#v, Config needs %s", k, v, kind)
		}
	}
	batchSize, _ := config["max_submission_batch_size"].(json.Number).Float64()
	if batchSize < 2 {
		t.Fatalf("max_submission_batch_size %v: api.create_submissions would never batch", batchSize)
	}

	// Client.version (for get_language_id of a LanguageAlias).
	r = s.call(t, "GET", "/about", nil, nil)
	if v := r.obj(t)["version"]; v != "1.13.1" {
		t.Fatalf("/about version %#v is not a key of LANGUAGE_TO_LANGUAGE_ID", v)
	}
	const python, multiFile = 71, 89 // LANGUAGE_TO_LANGUAGE_ID["1.13.1"]
	for _, id := range []int64{python, multiFile} {
		if !ids[id] {
			t.Fatalf("language %d is not in /languages: is_language_supported fails", id)
		}
	}

	t.Run("single submission", func(t *testing.T) {
		t.Parallel()
		// run(client=..., source_code=src, language=PYTHON, stdin=..., expected_output=...)
		src := "import sys\nprint(sys.stdin.read().strip().upper())\nprint('é' * 40)"
		want := "HELLO SDK\n" + strings.Repeat("é", 40) + "\n" // base64 longer than 60: Ruby's newlines
		token := s.create(t, pyJSON(t, "source_code", pyB64(src), "language_id", python,
			"stdin", pyB64("hello sdk\n"), "expected_output", pyB64(want)))
		got := s.wait(t, token)[token]
		if got["status"] != 3 || got["stdout"] != want || got["source_code"] != src || got["stdin"] != "hello sdk\n" ||
			got["expected_output"] != want || got["stderr"] != "" || got["compile_output"] != "" {
			t.Errorf("%v", got)
		}
		if _, ok := got["time"].(string); !ok || !integral(got["memory"]) {
			t.Errorf("time %#v memory %#v", got["time"], got["memory"])
		}
	})

	t.Run("batch", func(t *testing.T) {
		t.Parallel()
		// run(source_code=src, language=PYTHON, test_cases=[("3", "9"), ("4", "17")])
		src := "n = int(input())\nprint(n * n)"
		var subs []json.RawMessage
		for _, tc := range [][2]string{{"3", "9"}, {"4", "17"}} {
			subs = append(subs, json.RawMessage(pyJSON(t, "source_code", pyB64(src), "language_id", python,
				"stdin", pyB64(tc[0]), "expected_output", pyB64(tc[1]))))
		}
		r := s.call(t, "POST", "/submissions/batch", [][2]string{{"base64_encoded", "true"}}, pyJSON(t, "submissions", subs))
		var items []json.RawMessage
		if err := json.Unmarshal(r.raw, &items); err != nil || len(items) != 2 {
			t.Fatalf("create_submissions zips response.json() with the submissions: %s", r.raw)
		}
		var tokens []string
		for _, raw := range items {
			token, _ := setAttributes(t, decodeObj(t, raw))["token"].(string)
			if !uuidRE.MatchString(token) {
				t.Fatalf("%s", r.raw)
			}
			tokens = append(tokens, token)
		}
		done := s.wait(t, tokens...)
		if a, b := done[tokens[0]], done[tokens[1]]; a["status"] != 3 || a["stdout"] != "9\n" || b["status"] != 4 || b["stdout"] != "16\n" {
			t.Errorf("%v\n%v", a, b)
		}
	})

	t.Run("multi-file program", func(t *testing.T) {
		t.Parallel()
		// run(source_code="", language=MULTI_FILE, stdin="sdk", additional_files=Filesystem(content=[File(...), ...]))
		archive := pyZip(t,
			[2]string{"compile", "read -r line < src/msg.txt\necho \"${line^^}\" > built.txt\n"},
			[2]string{"run", "read -r who\nread -r msg < built.txt\necho \"$msg $who\"\n"},
			[2]string{"src/msg.txt", "hello from\n"},
		)
		token := s.create(t, pyJSON(t, "source_code", "", "language_id", multiFile,
			"additional_files", base64.StdEncoding.EncodeToString(archive), "stdin", pyB64("sdk\n")))
		got := s.wait(t, token)[token]
		if got["status"] != 3 || got["stdout"] != "HELLO FROM sdk\n" || got["compile_output"] != "" || got["additional_files"] != string(archive) {
			t.Errorf("%v", got)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		t.Parallel()
		for _, id := range []int{python, multiFile} {
			r := s.call(t, "GET", "/languages/"+strconv.Itoa(id), nil, nil)
			m := r.obj(t)
			checkLanguage(t, m)
			if m["id"] != json.Number(strconv.Itoa(id)) {
				t.Errorf("%s", r.raw)
			}
		}
		r := s.call(t, "GET", "/statuses", nil, nil)
		var statuses []map[string]any
		if err := json.Unmarshal(r.raw, &statuses); err != nil || len(statuses) != 14 {
			t.Errorf("get_statuses returns a list of dicts: %s", r.raw)
		}
		r = s.call(t, "GET", "/about", nil, nil)
		if _, ok := r.obj(t)["version"].(string); !ok {
			t.Errorf("%s", r.raw)
		}
	})
}
