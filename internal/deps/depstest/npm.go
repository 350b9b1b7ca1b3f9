package depstest

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// NPMPackage is one version of an npm package, served as a tarball.
type NPMPackage struct {
	Name, Version string
	Dependencies  map[string]string // name -> range, as package.json has them
	Scripts       map[string]string // package.json's scripts, e.g. "postinstall": "node install.js"
	Files         map[string]string // the package's files besides package.json, e.g. "index.js": "..."
}

// NPMServer is a running npm registry. It counts the requests for each
// path, as Server does.
type NPMServer struct {
	srv       *httptest.Server
	packages  map[string][]NPMPackage // name -> its versions
	tarballs  map[string][]byte       // path -> contents
	packument map[string][]byte       // name -> its document, once the URL is known

	mu       sync.Mutex
	requests map[string]int
}

// npmName is a package name npm takes: lower case, optionally scoped.
var npmName = regexp.MustCompile(`^(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$`)

// installScripts are the scripts npm runs when it installs a package.
var installScripts = []string{"preinstall", "install", "postinstall"}

// NPMRegistry builds the tarballs of pkgs and serves them on 127.0.0.1
// until the test ends: each package's document (every version, with
// dist.tarball, dist.shasum and dist.integrity) at /<name> (a scoped
// name's slash escaped, as npm asks for it), its tarballs at
// /<name>/-/<base name>-<version>.tgz. A package's latest is the last of
// its versions given.
func NPMRegistry(t testing.TB, pkgs ...NPMPackage) *NPMServer {
	t.Helper()
	s := &NPMServer{packages: map[string][]NPMPackage{}, tarballs: map[string][]byte{}, packument: map[string][]byte{}, requests: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	docs := map[string]map[string]any{}
	for _, p := range pkgs {
		if !npmName.MatchString(p.Name) || p.Version == "" || strings.ContainsAny(p.Version, "/ ") {
			t.Fatalf("depstest: npm package %q %q: want a lower-case name and a version", p.Name, p.Version)
		}
		body, manifest, err := npmTarball(p)
		if err != nil {
			t.Fatalf("depstest: %v", err)
		}
		tarPath := "/" + p.Name + "/-/" + path.Base(p.Name) + "-" + p.Version + ".tgz"
		if _, dup := s.tarballs[tarPath]; dup {
			t.Fatalf("depstest: %s %s given twice", p.Name, p.Version)
		}
		s.tarballs[tarPath] = body
		sha1sum, sha512sum := sha1.Sum(body), sha512.Sum512(body)
		manifest["dist"] = map[string]string{
			"tarball":   s.srv.URL + tarPath,
			"shasum":    hex.EncodeToString(sha1sum[:]),
			"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sha512sum[:]),
		}
		doc := docs[p.Name]
		if doc == nil {
			doc = map[string]any{"name": p.Name, "versions": map[string]any{}}
			docs[p.Name] = doc
		}
		doc["versions"].(map[string]any)[p.Version] = manifest
		s.packages[p.Name] = append(s.packages[p.Name], p)
	}
	for name, doc := range docs {
		versions := s.packages[name]
		doc["dist-tags"] = map[string]string{"latest": versions[len(versions)-1].Version}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("depstest: %v", err)
		}
		s.packument[name] = b
	}
	return s
}

// npmTarball builds p's tarball: package/package.json and its files. It
// returns the tarball and the version's manifest as the registry lists it.
func npmTarball(p NPMPackage) ([]byte, map[string]any, error) {
	manifest := map[string]any{"name": p.Name, "version": p.Version}
	if len(p.Dependencies) > 0 {
		manifest["dependencies"] = p.Dependencies
	}
	if len(p.Scripts) > 0 {
		manifest["scripts"] = p.Scripts
		for _, s := range installScripts {
			if p.Scripts[s] != "" {
				manifest["hasInstallScript"] = true
			}
		}
	}
	pkgJSON, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	files := map[string]string{"package.json": string(pkgJSON) + "\n"}
	for name, body := range p.Files {
		if path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == "package.json" {
			return nil, nil, fmt.Errorf("npm package %s: file %q: want a clean relative path other than package.json", p.Name, name)
		}
		files[name] = body
	}
	data, err := tarGz("package", files)
	if err != nil {
		return nil, nil, err
	}
	return data, manifest, nil
}

// URL is the registry's URL, for npm's --registry: http://127.0.0.1:port/.
func (s *NPMServer) URL() string { return s.srv.URL + "/" }

// HostPort is the address the registry listens on, 127.0.0.1:port.
func (s *NPMServer) HostPort() string { return s.srv.Listener.Addr().String() }

// Requests counts the requests for path (e.g. "/left-pad") so far.
func (s *NPMServer) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

func (s *NPMServer) serve(w http.ResponseWriter, r *http.Request) {
	// npm asks for a scoped package as /@scope%2fname.
	p, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests[p]++
	s.mu.Unlock()
	if body, ok := s.tarballs[p]; ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
		return
	}
	doc, ok := s.packument[strings.TrimPrefix(p, "/")]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Not found"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}
