package judge0_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// runFiles runs TestSubmissions's subtests of additional files, form parameters and programs of several files.
func (s suite) runFiles(t *testing.T) {
	user := s.user
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
}
