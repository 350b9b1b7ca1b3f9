package deps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps/depstest"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
)

// End-to-end tests: real installers in the native sandbox, behind the
// egress proxy. They need root, as every sandbox test does, and fail
// (never skip) without it.

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	if testRunner != nil {
		testRunner.Close()
	}
	os.Exit(code)
}

var (
	testRunner *native.Runner
	runnerErr  error
	runnerOnce sync.Once
)

func nativeRunner(t *testing.T) *native.Runner {
	t.Helper()
	runnerOnce.Do(func() { testRunner, runnerErr = native.New(native.Config{}) })
	if runnerErr != nil {
		t.Fatalf("native sandbox unavailable (these tests need root and cgroups): %v", runnerErr)
	}
	return testRunner
}

// cacheDir is a cache directory the sandbox's uids can reach.
func cacheDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "envs")
	for d := dir; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			os.Chmod(d, 0o755)
		}
	}
	return dir
}

// runWith runs argv in a sandbox with env bound, as the engine would.
func runWith(t *testing.T, env *Env, base []string, argv ...string) sandbox.Result {
	t.Helper()
	res, err := nativeRunner(t).Run(context.Background(), sandbox.Spec{
		Argv:   argv,
		Env:    append(base, env.Vars...),
		Mounts: []sandbox.Mount{env.Mount},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// buildOutput is the installer's output of a failed build, for a test's
// report.
func buildOutput(err error) string {
	var be *BuildError
	if !errors.As(err, &be) {
		return ""
	}
	return string(be.Step.Stdout) + string(be.Step.Stderr)
}

func TestPipFromALocalIndex(t *testing.T) {
	idx := depstest.Index(t,
		depstest.Package{Name: "pkga", Version: "1.0", Requires: []string{"pkgb>=2"},
			Files: map[string]string{"pkga/__init__.py": "from pkgb import B\nA = 1\n"}},
		depstest.Package{Name: "pkgb", Version: "1.0", Files: map[string]string{"pkgb/__init__.py": "B = 1\n"}},
		depstest.Package{Name: "pkgb", Version: "2.0", Files: map[string]string{"pkgb/__init__.py": "B = 2\n"}},
	)
	m := manager(t, cacheDir(t), nativeRunner(t), Options{PythonIndexes: []string{idx.URL()}})
	py := &lang.Language{ID: "python", Installer: "pip"}
	spec := func(reqs ...string) Spec {
		parsed, err := Parse("pip", reqs)
		if err != nil {
			t.Fatal(err)
		}
		return Spec{Language: py, Version: "3.11.2", Requirements: parsed}
	}

	t.Run("pinned with a dependency", func(t *testing.T) {
		env, err := m.Get(context.Background(), spec("pkga==1.0"))
		if err != nil {
			var be *BuildError
			if errors.As(err, &be) {
				t.Fatalf("%v\n%s\n%s", err, be.Step.Stdout, be.Step.Stderr)
			}
			t.Fatal(err)
		}
		defer env.Release()
		res := runWith(t, env, []string{"PATH=/usr/bin:/bin"}, "/usr/bin/python3", "-c", "import pkga, pkgb; print(pkga.A, pkgb.B)")
		if res.Status != airlock.StatusOK || string(res.Stdout) != "1 2\n" {
			t.Fatalf("run: %s %q %q", res.Status, res.Stdout, res.Stderr)
		}
		before := idx.Requests("/simple/pkga/")
		again, err := m.Get(context.Background(), spec("pkga==1.0"))
		if err != nil {
			t.Fatal(err)
		}
		again.Release()
		if idx.Requests("/simple/pkga/") != before {
			t.Errorf("the second Get asked the index again")
		}
	})

	t.Run("unknown package", func(t *testing.T) {
		_, err := m.Get(context.Background(), spec("nopkg==1.0"))
		var be *BuildError
		if !errors.As(err, &be) || be.Message != "package nopkg not found" {
			t.Fatalf("Get: %v\n%s", err, buildOutput(err))
		}
	})

	t.Run("no such version", func(t *testing.T) {
		_, err := m.Get(context.Background(), spec("pkgb==9.0"))
		var be *BuildError
		if !errors.As(err, &be) || !strings.HasPrefix(be.Message, "no version of pkgb matches pkgb==9.0") {
			t.Fatalf("Get: %v\n%s", err, buildOutput(err))
		}
	})

	t.Run("index down", func(t *testing.T) {
		idx.Down()
		_, err := m.Get(context.Background(), spec("pkgb==1.0"))
		var be *BuildError
		if !errors.As(err, &be) || be.Message != "index "+idx.URL()+" cannot be reached" {
			t.Fatalf("Get: %v\n%s", err, buildOutput(err))
		}
	})
}

func TestNPMFromTheRegistry(t *testing.T) {
	m := manager(t, cacheDir(t), nativeRunner(t), Options{CABundle: os.Getenv("NODE_EXTRA_CA_CERTS")})
	reqs, err := Parse("npm", []string{"is-number@7.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := m.Get(context.Background(), Spec{Language: &lang.Language{ID: "javascript", Installer: "npm"}, Version: "20", Requirements: reqs})
	if err != nil {
		t.Fatalf("Get: %v\n%s", err, buildOutput(err))
	}
	defer env.Release()
	res := runWith(t, env, []string{"PATH=/usr/bin:/bin", "HOME=/box"}, "/usr/bin/node", "-e",
		"console.log(require('is-number')(5), require('is-number/package.json').version)")
	if res.Status != airlock.StatusOK || string(res.Stdout) != "true 7.0.0\n" {
		t.Fatalf("run: %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
}
