// Package depstest serves package indexes on loopback for tests: a
// Python index (PEP 503's "simple" pages and the wheels or source
// distributions behind them) and an npm registry (package documents and
// tarballs), built in memory from the packages a test describes. No
// network, no installer at build time. It is imported by tests only.
package depstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Package is one version of a distribution, served as a pure-Python
// wheel, or a source distribution when it has a setup.py.
type Package struct {
	Name, Version string
	Requires      []string          // Requires-Dist entries (PEP 508), e.g. "pkgb>=2"
	Files         map[string]string // the wheel's files, e.g. "pkga/__init__.py": "VALUE = 1\n"
	// SetupPy, when set, serves the package as a source distribution
	// with this setup.py (and Files beside it) instead of a wheel: pip
	// runs it to install the package.
	SetupPy string
}

// Server is a running index. It counts the requests for each path, so
// that a test can tell what was fetched and what came from a cache.
type Server struct {
	srv      *httptest.Server
	projects map[string][]string // normalised name -> its wheels' file names, sorted
	wheels   map[string][]byte   // file name -> contents

	mu       sync.Mutex
	requests map[string]int
}

// Index builds the wheels of pkgs and serves them on 127.0.0.1 until the
// test ends: the project list at /simple/, each project's page at
// /simple/<normalised name>/ and the wheels at /files/<wheel>.
func Index(t testing.TB, pkgs ...Package) *Server {
	t.Helper()
	s := &Server{projects: map[string][]string{}, wheels: map[string][]byte{}, requests: map[string]int{}}
	for _, p := range pkgs {
		build := wheel
		if p.SetupPy != "" {
			build = sdist
		}
		file, body, err := build(p)
		if err != nil {
			t.Fatalf("depstest: %v", err)
		}
		if _, dup := s.wheels[file]; dup {
			t.Fatalf("depstest: %s %s given twice", p.Name, p.Version)
		}
		s.wheels[file] = body
		name := normalised(p.Name)
		s.projects[name] = append(s.projects[name], file)
	}
	for _, files := range s.projects {
		sort.Strings(files)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the index's URL, for pip's --index-url: http://127.0.0.1:port/simple/.
func (s *Server) URL() string { return s.srv.URL + "/simple/" }

// HostPort is the address the index listens on, 127.0.0.1:port.
func (s *Server) HostPort() string { return s.srv.Listener.Addr().String() }

// Down stops the index: from now on its address refuses connections, as
// an index that cannot be reached.
func (s *Server) Down() { s.srv.Close() }

// Requests counts the requests for path (e.g. "/simple/pkga/") so far.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests[r.URL.Path]++
	s.mu.Unlock()
	if file, ok := strings.CutPrefix(r.URL.Path, "/files/"); ok {
		body, found := s.wheels[file]
		if !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
		return
	}
	project, ok := strings.CutPrefix(r.URL.Path, "/simple/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var links []string
	if project == "" {
		for name := range s.projects {
			links = append(links, fmt.Sprintf(`<a href="/simple/%s/">%s</a>`, html.EscapeString(name), html.EscapeString(name)))
		}
		sort.Strings(links)
	} else {
		files, found := s.projects[strings.TrimSuffix(project, "/")]
		if !found || !strings.HasSuffix(project, "/") {
			http.NotFound(w, r)
			return
		}
		for _, file := range files {
			sum := sha256.Sum256(s.wheels[file])
			links = append(links, fmt.Sprintf(`<a href="/files/%s#sha256=%s">%s</a>`,
				html.EscapeString(url.PathEscape(file)), hex.EncodeToString(sum[:]), html.EscapeString(file)))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n", strings.Join(links, "<br>\n"))
}

// CacheDir is a new environments' cache directory for t that the
// sandboxes' uids can search down to (t.TempDir's own parents are the
// owner's alone).
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "envs")
	for d := filepath.Dir(dir); d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
