package deps

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

func TestDiagnose(t *testing.T) {
	pypi := []string{"http://127.0.0.1:4242/simple/"}
	npm := []string{DefaultNPMRegistry}
	failed := airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 1}
	with := func(s airlock.Step, stderr string) airlock.Step { s.Stderr = []byte(stderr); return s }
	cases := []struct {
		name    string
		step    airlock.Step
		indexes []string
		refused []string
		down    []string
		want    string
	}{
		{"pip unknown", with(failed, "ERROR: Could not find a version that satisfies the requirement nopkg==1.0 (from versions: none)\nERROR: No matching distribution found for nopkg==1.0\n"),
			pypi, nil, nil, "package nopkg not found"},
		{"pip no such version", with(failed, "ERROR: Could not find a version that satisfies the requirement pkga==9.0 (from versions: 1.0, 2.0)\nERROR: No matching distribution found for pkga==9.0\n"),
			pypi, nil, nil, "no version of pkga matches pkga==9.0 (there are 1.0, 2.0)"},
		{"pip conflict", with(failed, "ERROR: Cannot install pkga==1.0 and pkgb==1.0 because these package versions have conflicting dependencies.\n"),
			pypi, nil, nil, "conflicting requirements: Cannot install pkga==1.0 and pkgb==1.0 because these package versions have conflicting dependencies"},
		{"pip index down", with(failed, "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: 502 Bad Gateway'))': /simple/pkga/\nERROR: Could not find a version that satisfies the requirement pkga (from versions: none)\nERROR: No matching distribution found for pkga\n"),
			pypi, nil, nil, "index http://127.0.0.1:4242/simple/ cannot be reached"},
		{"pip index down, named", with(failed, "ERROR: Could not install packages due to an OSError: HTTPConnectionPool(host='127.0.0.1', port=4242): Max retries exceeded with url: http://127.0.0.1:4242/simple/pkga/\n"),
			[]string{"https://pypi.org/simple", pypi[0]}, nil, nil, "index http://127.0.0.1:4242/simple/ cannot be reached"},
		{"pip index down, by the proxy", with(failed, "ERROR: Could not find a version that satisfies the requirement pkga (from versions: none)\n"),
			[]string{"https://pypi.org/simple", pypi[0]}, nil, []string{"127.0.0.1:4242"}, "index http://127.0.0.1:4242/simple/ cannot be reached"},
		{"refused", with(failed, "whatever\n"), pypi, []string{"evil.example:443"}, nil,
			"the installer asked for evil.example:443, which is not an allowed index (allowed: 127.0.0.1:4242)"},
		{"npm unknown", with(failed, "npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/nonexistent-pkg-zz - Not found\n"),
			npm, nil, nil, "package nonexistent-pkg-zz not found"},
		{"npm unknown scoped", with(failed, "npm error 404 Not Found - GET https://registry.npmjs.org/@scope%2fthing - Not found\n"),
			npm, nil, nil, "package @scope/thing not found"},
		{"npm no such version", with(failed, "npm error code ETARGET\nnpm error notarget No matching version found for is-number@99.0.0.\nnpm error notarget In most cases...\n"),
			npm, nil, nil, "no version of is-number matches is-number@99.0.0"},
		{"npm registry down", with(failed, "npm error code ECONNREFUSED\nnpm error network request to https://registry.npmjs.org/is-number failed, reason: connect ECONNREFUSED\n"),
			npm, nil, nil, "index " + DefaultNPMRegistry + " cannot be reached"},
		{"time", airlock.Step{Status: airlock.StatusTimeLimit}, pypi, nil, nil, "the build ran over its time limit"},
		{"memory", airlock.Step{Status: airlock.StatusMemoryLimit}, pypi, nil, nil, "the build ran over its memory limit"},
		{"too big", airlock.Step{Status: airlock.StatusOutputLimit, Message: "the files left to collect take more than 1024 MiB"}, pypi, nil, nil,
			"the environment is over 1024 MiB (the files left to collect take more than 1024 MiB)"},
		{"other", with(failed, "Traceback...\nOSError: disk on fire\n"), pypi, nil, nil, "the installer failed (exit 1): OSError: disk on fire"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := diagnose(c.step, c.indexes, c.refused, c.down, 1<<30); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestFailedBuildIsABuildErrorAndNotCached(t *testing.T) {
	dir := t.TempDir()
	r := newFake(t, nil)
	r.fail = &sandbox.Result{Status: airlock.StatusRuntimeError, ExitCode: 1,
		Stderr: []byte("ERROR: No matching distribution found for nopkg\n")}
	m := manager(t, dir, r, Options{})
	for range 2 {
		_, err := m.Get(context.Background(), pySpec(t, "nopkg"))
		var be *BuildError
		if !errors.As(err, &be) || be.Message != "package nopkg not found" || be.Step.ExitCode != 1 || !strings.Contains(string(be.Step.Stderr), "nopkg") {
			t.Fatalf("Get: %#v", err)
		}
	}
	if r.builds.Load() != 2 {
		t.Errorf("%d builds: a failure must not be cached", r.builds.Load())
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("left: %q", left)
	}
}

func TestEnvironmentOverTheCap(t *testing.T) {
	r := newFake(t, map[string]string{"big": strings.Repeat("x", 2000)})
	dir := t.TempDir()
	m := manager(t, dir, r, Options{MaxBytes: 1000})
	_, err := m.Get(context.Background(), pySpec(t, "a==1"))
	var be *BuildError
	if !errors.As(err, &be) || !strings.HasPrefix(be.Message, "the environment is over") {
		t.Fatalf("Get: %v", err)
	}
	if spec := r.specs[0]; spec.CollectBounds.Bytes != 1000 {
		t.Errorf("collect bounds %+v", spec.CollectBounds)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("left: %s", e.Name())
		}
	}
}
