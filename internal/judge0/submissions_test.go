package judge0_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// runCreate runs TestSubmissions's subtests of the submission of one program: create, poll, wait, fields and encodings.
func (s suite) runCreate(t *testing.T) {
	user := s.user
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
}
