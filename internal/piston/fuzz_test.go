package piston

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
)

// FuzzParseJob: every execute body is a request within the maxima or a
// 400 message; parsing never panics.
func FuzzParseJob(f *testing.F) {
	for _, seed := range []string{
		`{"language":"python","version":"*","files":[{"content":"print(1)"}],"stdin":"x","args":["a",1,true]}`,
		`{"language":"py","version":"3.x","files":[{"name":"a/b.py","content":"eA==","encoding":"base64"},{"content":"","encoding":"hex"}]}`,
		`{"language":"python","version":"*","files":[{"content":"x"}],"run_timeout":1e308,"compile_memory_limit":-1,"run_cpu_time":"5"}`,
		`{"language":"python","version":"*","files":[{"name":"../x","content":"x"}]}`,
		`{"language":3}`, `{"files":null}`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	pol := airlock.DefaultPolicy
	python := runtime{Language: "python", Version: "3.11.2", catalog: &lang.Language{ID: "python", File: "main.py"}}
	find := func(language, version string) (runtime, bool) {
		return python, language == "python" || language == "py"
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var body map[string]json.RawMessage
		if json.Unmarshal(data, &body) != nil {
			return
		}
		req, _, err := parseJob(body, find, pol)
		var bad badRequest
		switch {
		case errors.As(err, &bad):
			if bad == "" {
				t.Fatal("refused without a message")
			}
		case err != nil:
			t.Fatalf("not a 400: %v", err)
		case len(req.Files) == 0 || over(req.Limits, pol.Max) || over(req.CompileLimits, pol.CompileMax):
			t.Fatalf("accepted %q as %+v", data, req)
		case req.Limits.Wall < 0 || req.Limits.CPU < 0 || req.Limits.Memory < 0:
			t.Fatalf("negative limits from %q: %+v", data, req.Limits)
		}
	})
}

func over(l, max airlock.Limits) bool {
	field, _ := l.Exceeding(max)
	return field != ""
}
