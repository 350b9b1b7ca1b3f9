package engine

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/wire"
)

// FuzzSubmission: any JSON a client sends either becomes a request whose
// limits are what was asked for (no overflow), with a plan the sandbox can
// take, or is refused with an error naming the field. Nothing panics.
func FuzzSubmission(f *testing.F) {
	for _, seed := range []string{
		`{"language":"python","code":"print(1)"}`,
		`{"language":"c","files":[{"name":"src/main.c","content":"aW50IG1haW4oKXt9","encoding":"base64"}],"entry":"src/main.c"}`,
		`{"language":"python","mode":"function","inputs":{"a":1},"code":"def calculate(x): return x"}`,
		`{"language":"python","code":"x","limits":{"memory_mb":17592186044416}}`,
		`{"language":"python","code":"x","limits":{"wall_ms":-1,"pids":4}}`,
		`{"language":"java","files":[{"name":"../Main.java","content":"x"},{"name":".airlock/x","content":""}],"args":["a\u0000b"]}`,
		`{"language":"go","code":"package main","compile_options":["-x"],"limits":{"network":"host"}}`,
		`{"language":"python","code":"x","requirements":["numpy==1.24.0","--index-url=http://x/"]}`,
		`{"language":"typescript","code":"x","requirements":"lodash@4.17.21\n# types\n@types/lodash\n"}`,
		`{"language":"bash","code":"x","requirements":[1,{"a":null}]}`,
	} {
		f.Add([]byte(seed))
	}
	catalog, err := lang.Load("")
	if err != nil {
		f.Fatal(err)
	}
	e := New(nil, catalog, Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s wire.Submission
		if json.Unmarshal(data, &s) != nil {
			return
		}
		req, err := e.Request(s)
		var bad *InvalidError
		if err != nil {
			if !errors.As(err, &bad) || bad.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if l := s.Limits; l != nil && (req.Limits.Memory>>20 != l.MemoryMB || req.Limits.Output>>10 != l.OutputKB ||
			req.Limits.Wall.Milliseconds() != l.WallMillis || req.Limits.CPU.Milliseconds() != l.CPUMillis) {
			t.Fatalf("limits %+v became %+v", *l, req.Limits)
		}
		l, err := catalog.Lookup(req.Language)
		if err != nil {
			return
		}
		p, err := e.plan(l, &req)
		if err != nil {
			if !errors.As(err, &bad) || bad.Field == "" {
				t.Fatalf("plan error without a field: %v", err)
			}
			return
		}
		max, compileMax := l.MaxOver(e.policy.Max), e.policy.CompileMax
		over, _ := p.limits.Exceeding(max)
		compileOver, _ := p.compileLimits.Exceeding(compileMax)
		if over != "" || compileOver != "" || p.limits.Memory <= 0 || p.limits.Wall <= 0 {
			t.Fatalf("plan limits %+v / compile %+v outside (0, %+v] / (0, %+v]", p.limits, p.compileLimits, max, compileMax)
		}
		for _, file := range p.files {
			if checkName(file.Name) != "" {
				t.Fatalf("plan keeps file %q", file.Name)
			}
		}
	})
}
