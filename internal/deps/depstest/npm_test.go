package depstest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/deps/depstest"
)

// TestNPMInstallsFromRegistry has npm install from the registry: a
// pinned package, the version of its dependency that fits, the tarballs'
// integrity checked; an unknown package is npm's 404.
func TestNPMInstallsFromRegistry(t *testing.T) {
	reg := depstest.NPMRegistry(t,
		depstest.NPMPackage{Name: "pkg-a", Version: "1.0.0", Dependencies: map[string]string{"@scope/pkg-b": "^2.0.0"},
			Files: map[string]string{"index.js": "module.exports = 'a' + require('@scope/pkg-b')\n"}},
		depstest.NPMPackage{Name: "@scope/pkg-b", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 1\n"}},
		depstest.NPMPackage{Name: "@scope/pkg-b", Version: "2.1.0", Files: map[string]string{"index.js": "module.exports = 2\n"}},
	)
	if !strings.HasPrefix(reg.URL(), "http://127.0.0.1:") || !strings.Contains(reg.URL(), reg.HostPort()) {
		t.Fatalf("URL %q, HostPort %q: want http://127.0.0.1:port/", reg.URL(), reg.HostPort())
	}
	npm := func(dir string, specs ...string) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true}`), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("npm", append([]string{"install", "--prefix", dir, "--registry", reg.URL(), "--no-audit", "--no-fund",
			"--no-package-lock", "--no-update-notifier", "--cache", filepath.Join(dir, ".cache")}, specs...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	dir := t.TempDir()
	if out, err := npm(dir, "pkg-a@1.0.0"); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	cmd := exec.Command("node", "-e", "console.log(require('pkg-a'))")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "a2\n" {
		t.Fatalf("requiring what npm installed: %q, %v; want \"a2\"", out, err)
	}
	for path, want := range map[string]int{
		"/pkg-a": 1, "/@scope/pkg-b": 1,
		"/pkg-a/-/pkg-a-1.0.0.tgz": 1, "/@scope/pkg-b/-/pkg-b-2.1.0.tgz": 1, "/@scope/pkg-b/-/pkg-b-1.0.0.tgz": 0,
	} {
		if got := reg.Requests(path); got != want {
			t.Errorf("Requests(%s) = %d, want %d", path, got, want)
		}
	}

	if out, err := npm(t.TempDir(), "no-such-pkg@1.0.0"); err == nil || !strings.Contains(out, "404") {
		t.Fatalf("npm install of an unknown package: %v\n%s", err, out)
	}
}
