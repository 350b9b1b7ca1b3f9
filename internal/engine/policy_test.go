package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
)

// TestPolicy: the run and compile limits a plan gets from the server's
// policy, a key's over it, and the language's defaults, each within its
// maxima; a request above a maximum is refused naming the field and it.
func TestPolicy(t *testing.T) {
	catalog, err := lang.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e := New(nil, catalog, Options{Policy: airlock.Policy{
		Default:        airlock.Limits{Memory: 128 << 20, OpenFiles: 100},
		Max:            airlock.Limits{Memory: 384 << 20, Wall: 30 * time.Second},
		CompileDefault: airlock.Limits{Pids: 100},
		CompileMax:     airlock.Limits{Wall: 45 * time.Second, Memory: 768 << 20},
	}})
	key := airlock.Policy{Default: airlock.Limits{OpenFiles: 40}, Max: airlock.Limits{Memory: 8 << 30, Wall: 20 * time.Second}}
	plan := func(language string, req airlock.Request) (*plan, error) {
		l, err := catalog.Lookup(language)
		if err != nil {
			t.Fatal(err)
		}
		req.Language, req.Files = language, []airlock.File{src(l.File, "")}
		return e.plan(l, &req)
	}

	p, err := plan("python", airlock.Request{})
	if err != nil || p.limits.Memory != 128<<20 || p.limits.OpenFiles != 100 || p.limits.Wall != 10*time.Second || p.limits.Pids != 64 {
		t.Errorf("python's defaults: %+v %v", p.limits, err)
	}
	// java asks 512M for its run and the catalog 1G and 2 minutes for its
	// compiler: each is lowered to the operator's maxima.
	p, err = plan("java", airlock.Request{Policy: key})
	want := airlock.Limits{Wall: 10 * time.Second, CPU: 5 * time.Second, Memory: 384 << 20, Pids: 128, OpenFiles: 40,
		TmpBytes: 64 << 20, FileSize: 16 << 20, Output: 1 << 20, Stack: 8 << 20}
	if err != nil || p.limits != want {
		t.Errorf("java's run limits for the key:\n got %+v %v\nwant %+v", p.limits, err, want)
	}
	if c := p.compileLimits; c.Wall != 45*time.Second || c.Memory != 768<<20 || c.Pids != 128 || c.OpenFiles != 40 {
		t.Errorf("java's compile limits: %+v", c)
	}
	// The key's own default for a step the language leaves alone.
	if p, err = plan("c", airlock.Request{}); err != nil || p.compileLimits.Pids != 100 {
		t.Errorf("c's compile pids: %+v %v", p.compileLimits, err)
	}

	for _, c := range []struct {
		name  string
		req   airlock.Request
		field string
		msg   string
	}{
		{"server's memory", airlock.Request{Limits: airlock.Limits{Memory: 385 << 20}}, "limits.memory_mb", "at most 384 (this server's maximum)"},
		{"key's wall, within the server's", airlock.Request{Policy: key, Limits: airlock.Limits{Wall: 25 * time.Second}}, "limits.wall_ms", "at most 20000 (this server's maximum)"},
		{"key's memory above the server's counts not", airlock.Request{Policy: key, Limits: airlock.Limits{Memory: 1 << 30}}, "limits.memory_mb", "at most 384 (this server's maximum)"},
		{"built-in pids", airlock.Request{Limits: airlock.Limits{Pids: 257}}, "limits.pids", "at most 256 (this server's maximum)"},
		{"compile", airlock.Request{CompileLimits: airlock.Limits{Wall: time.Minute}}, "compile_limits.wall_ms", "at most 45000 (this server's maximum)"},
	} {
		_, err := plan("python", c.req)
		var bad *InvalidError
		if !errors.As(err, &bad) || bad.Field != c.field || bad.Problem != c.msg {
			t.Errorf("%s: %v, want %s: %s", c.name, err, c.field, c.msg)
		}
	}
}
