package depstest_test

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/deps/depstest"
)

// TestPipInstallsFromIndex has Debian's pip install from the index: a
// pinned package and, through its Requires-Dist, the newest version of
// another that fits; an unknown package; an index that is down.
func TestPipInstallsFromIndex(t *testing.T) {
	idx := depstest.Index(t,
		depstest.Package{Name: "pkgA", Version: "1.0", Requires: []string{"pkgB>=2"},
			Files: map[string]string{"pkga/__init__.py": "from pkgb import VALUE\nNAME = 'a'\n"}},
		depstest.Package{Name: "pkgB", Version: "1.0", Files: map[string]string{"pkgb/__init__.py": "VALUE = 1\n"}},
		depstest.Package{Name: "pkgB", Version: "2.0", Files: map[string]string{"pkgb/__init__.py": "VALUE = 2\n"}},
	)
	if !strings.HasPrefix(idx.URL(), "http://127.0.0.1:") || !strings.HasSuffix(idx.URL(), "/simple/") ||
		!strings.Contains(idx.URL(), idx.HostPort()) {
		t.Fatalf("URL %q, HostPort %q: want http://127.0.0.1:port/simple/", idx.URL(), idx.HostPort())
	}

	t.Run("dependency", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := pip(t, idx, dir, "pkgA==1.0"); err != nil {
			t.Fatalf("pip install: %v\n%s", err, out)
		}
		out, err := python(dir, `import importlib.metadata as m, pkga, pkgb; print(pkga.NAME, pkgb.VALUE, m.version("pkgA"), m.version("pkgB"))`)
		if err != nil || strings.TrimSpace(out) != "a 2 1.0 2.0" {
			t.Fatalf("importing what pip installed: %q, %v; want \"a 2 1.0 2.0\"", out, err)
		}
		for path, want := range map[string]int{
			"/simple/pkga/":                    1,
			"/simple/pkgb/":                    1,
			"/files/pkgA-1.0-py3-none-any.whl": 1,
			"/files/pkgB-2.0-py3-none-any.whl": 1,
			"/files/pkgB-1.0-py3-none-any.whl": 0,
		} {
			if got := idx.Requests(path); got != want {
				t.Errorf("Requests(%s) = %d, want %d", path, got, want)
			}
		}
	})

	t.Run("unknown", func(t *testing.T) {
		out, err := pip(t, idx, t.TempDir(), "nosuchpkg")
		if err == nil || !strings.Contains(out, "No matching distribution") {
			t.Fatalf("pip install nosuchpkg: %v\n%s\nwant a failure with \"No matching distribution\"", err, out)
		}
		if idx.Requests("/simple/nosuchpkg/") != 1 {
			t.Errorf("Requests(/simple/nosuchpkg/) = %d, want 1", idx.Requests("/simple/nosuchpkg/"))
		}
	})

	t.Run("down", func(t *testing.T) {
		idx.Down()
		before := idx.Requests("/simple/pkga/")
		start := time.Now()
		// with --retries 0, pip says why it could not fetch a page only at -vv
		out, err := pip(t, idx, t.TempDir(), "-vv", "pkgA==1.0")
		if err == nil {
			t.Fatalf("pip install from an index that is down succeeded:\n%s", out)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("pip took %v to give up on an index that is down", took)
		}
		if !strings.Contains(out, "Could not fetch URL "+idx.URL()+"pkga/: connection error") ||
			!strings.Contains(out, "Connection refused") {
			t.Errorf("pip's output does not say the index refused the connection:\n%s", out)
		}
		if idx.Requests("/simple/pkga/") != before {
			t.Errorf("the index served a request after Down")
		}
	})
}

// TestIndexPages checks the PEP 503 pages: the project list, a project's
// links with their sha256, and 404 for what is not there.
func TestIndexPages(t *testing.T) {
	idx := depstest.Index(t,
		depstest.Package{Name: "Foo.Bar", Version: "1.0"},
		depstest.Package{Name: "foo_bar", Version: "2.0"},
		depstest.Package{Name: "baz", Version: "0.1"},
	)
	for _, c := range []struct {
		path   string
		status int
		has    []string
	}{
		{"/simple/", 200, []string{`<a href="/simple/baz/">baz</a>`, `<a href="/simple/foo-bar/">foo-bar</a>`}},
		{"/simple/foo-bar/", 200, []string{`<a href="/files/Foo_Bar-1.0-py3-none-any.whl#sha256=`, `<a href="/files/foo_bar-2.0-py3-none-any.whl#sha256=`}},
		{"/simple/Foo.Bar/", 404, nil},
		{"/simple/foo-bar", 404, nil},
		{"/simple/nothing/", 404, nil},
		{"/files/nothing.whl", 404, nil},
		{"/elsewhere", 404, nil},
	} {
		resp, err := http.Get("http://" + idx.HostPort() + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s: %s, want %d", c.path, resp.Status, c.status)
		}
		for _, h := range c.has {
			if !strings.Contains(string(body), h) {
				t.Errorf("GET %s: no %q in\n%s", c.path, h, body)
			}
		}
		if idx.Requests(c.path) != 1 {
			t.Errorf("Requests(%s) = %d, want 1", c.path, idx.Requests(c.path))
		}
	}
}

// pip runs Debian's pip against the index only: no configuration file,
// no proxy, no cache, no retries.
func pip(t *testing.T, idx *depstest.Server, target string, more ...string) (string, error) {
	args := append([]string{"-m", "pip", "install", "--target", target, "--no-cache-dir",
		"--disable-pip-version-check", "--retries", "0", "--timeout", "5", "--index-url", idx.URL()}, more...)
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// python runs code with dir on the import path.
func python(dir, code string) (string, error) {
	cmd := exec.Command("/usr/bin/python3", "-c", code)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PYTHONPATH=" + dir, "PYTHONDONTWRITEBYTECODE=1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPipBuildsSdist has Debian's pip install a source distribution from
// the index: it runs the package's setup.py, which installs its module.
func TestPipBuildsSdist(t *testing.T) {
	idx := depstest.Index(t, depstest.Package{Name: "srcpkg", Version: "1.0",
		SetupPy: "from setuptools import setup\nopen('srcpkg/ran.py', 'w').write('RAN = True\\n')\nsetup(name='srcpkg', version='1.0', packages=['srcpkg'])\n",
		Files:   map[string]string{"srcpkg/__init__.py": "from .ran import RAN\n"}})
	dir := t.TempDir()
	if out, err := pip(t, idx, dir, "srcpkg==1.0"); err != nil {
		t.Fatalf("pip install: %v\n%s", err, out)
	}
	if out, err := python(dir, "import srcpkg; print(srcpkg.RAN)"); err != nil || strings.TrimSpace(out) != "True" {
		t.Fatalf("importing what setup.py installed: %q, %v; want True", out, err)
	}
	if n := idx.Requests("/files/srcpkg-1.0.tar.gz"); n != 1 {
		t.Errorf("the sdist was fetched %d times, want 1", n)
	}
}
