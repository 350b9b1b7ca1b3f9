package api_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/deps/depstest"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// testIndex serves pkga 1.0, which needs pkgb>=2, and pkgb 1.0 and 2.0.
func testIndex(t *testing.T) *depstest.Server {
	return depstest.Index(t,
		depstest.Package{Name: "pkga", Version: "1.0", Requires: []string{"pkgb>=2"}, Files: map[string]string{"pkga/__init__.py": "VALUE = 'a1'\n"}},
		depstest.Package{Name: "pkgb", Version: "1.0", Files: map[string]string{"pkgb/__init__.py": "VALUE = 'b1'\n"}},
		depstest.Package{Name: "pkgb", Version: "2.0", Files: map[string]string{"pkgb/__init__.py": "VALUE = 'b2'\n"}},
	)
}

// withIndex points a service's pip at index; blobs, when not "", is the
// fleet's blob store to share environments through.
func withIndex(index *depstest.Server, blobs *string) servicetest.Options {
	return servicetest.Options{Jobs: jobs.Options{Workers: 2}, Config: func(c *config.Config) {
		c.PythonIndexes = []string{index.URL()}
		if *blobs != "" {
			c.Blobs = *blobs
		}
		*blobs = c.Blobs
	}}
}

const importBoth = `import pkga, pkgb; print(pkga.VALUE, pkgb.VALUE)`

// A job's requirements, end to end through /v1: built once from the
// index (through the build's proxy), bound read-only in the run, reused
// by the next job without asking the index again; an unknown package is
// dependency_error with pip's output; a requirements file's text works
// as a list does; an installer option is a 422 naming the entry.
func TestRequirements(t *testing.T) {
	index := testIndex(t)
	var blobs string
	e := newEnvWith(t, withIndex(index, &blobs))
	r := e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"`+importBoth+`","requirements":["pkga==1.0"]}`)
	if r.code != 200 || r.body["status"] != "ok" || r.body["stdout"] != "a1 b2\n" {
		t.Fatalf("first job: %d %s", r.code, r.raw)
	}
	fetched := index.Requests("/simple/pkga/")
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"`+importBoth+`","requirements":"# the same, as a file\npkga == 1.0\n"}`)
	if r.code != 200 || r.body["status"] != "ok" || r.body["stdout"] != "a1 b2\n" {
		t.Fatalf("second job: %d %s", r.code, r.raw)
	}
	if n := index.Requests("/simple/pkga/"); n != fetched {
		t.Errorf("the second job asked the index again (%d requests, then %d)", fetched, n)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"import pkga, os; open(os.path.dirname(pkga.__file__) + '/x', 'w')"}`)
	if r.body["status"] != "runtime_error" {
		t.Errorf("a job without requirements found pkga: %s", r.raw)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"import pkga, os\ntry:\n  open(os.path.dirname(pkga.__file__) + '/x', 'w')\nexcept OSError as e: print(e.errno)","requirements":["pkga==1.0"]}`)
	if r.body["status"] != "ok" || r.body["stdout"] != "30\n" { // EROFS
		t.Errorf("the environment is not read-only: %s", r.raw)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"print(1)","requirements":["nopkg"]}`)
	dep, _ := r.body["dependencies"].(map[string]any)
	if r.body["status"] != "dependency_error" || !strings.Contains(r.body["message"].(string), "nopkg") || dep == nil ||
		!strings.Contains(dep["stderr"].(string)+dep["stdout"].(string), "nopkg") {
		t.Errorf("unknown package: %s", r.raw)
	}
	r = e.do(t, "POST", "/v1/executions", `{"language":"python","code":"print(1)","requirements":["pkga","--index-url http://evil.example/simple"]}`)
	if r.code != 422 || !strings.Contains(r.raw, "requirements[1]") || !strings.Contains(r.raw, "installer options") {
		t.Errorf("installer option: %d %s", r.code, r.raw)
	}
	if !servicetest.Fleet() {
		t.Log("the fleet lane (AIRLOCK_TEST_BACKENDS=fleet) also checks sharing through the blob store")
		return
	}
	// Another node of the fleet, with a cache of its own, fetches the
	// environment from the blob store: the index is down by now.
	index.Down()
	other := newEnvWith(t, withIndex(index, &blobs))
	r = other.do(t, "POST", "/v1/executions?wait=true", `{"language":"python","code":"`+importBoth+`","requirements":["pkga==1.0"]}`)
	if r.code != 200 || r.body["status"] != "ok" || r.body["stdout"] != "a1 b2\n" {
		t.Fatalf("another node: %d %s", r.code, r.raw)
	}
}
