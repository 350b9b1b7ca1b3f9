package deps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps/depstest"
	"github.com/airlock-dev/airlock/internal/lang"
)

// Containment: a package's install script runs in the build's sandbox,
// whose one way out is the proxy to the index. Whatever it tries — read
// the host's files, write outside the sandbox, connect anywhere but the
// index — fails, and the build ends cleanly either way.

// escape is what an install script is given to try: the host's paths and
// a service on the host that no build may reach.
type escape struct {
	Cache   string `json:"cache"`   // the environments' cache, on the host
	Host    string `json:"host"`    // a host directory anyone may write, holding "secret"
	Service string `json:"service"` // 127.0.0.1:port of a host service
}

// newEscape makes the host side of an escape: a world-writable directory
// with a secret in it (only the mount namespace keeps a build out), and
// a service that counts the requests it got.
func newEscape(t *testing.T, cache string) (escape, *counter) {
	t.Helper()
	host := cacheDir(t) // reachable by the sandbox's uids, were it bound
	if err := os.MkdirAll(host, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(host, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "secret"), []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	hits := &counter{}
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.add()
		fmt.Fprint(w, "reached the host")
	}))
	t.Cleanup(svc.Close)
	return escape{Cache: cache, Host: host, Service: svc.Listener.Addr().String()}, hits
}

// counter counts, safely for concurrent use.
type counter struct {
	mu sync.Mutex
	n  int
}

func (a *counter) add() { a.mu.Lock(); a.n++; a.mu.Unlock() }
func (a *counter) get() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// hostWrites are the paths install scripts try to write, besides the
// escape's host directory; none may exist on the host afterwards.
var hostWrites = []string{"/usr/lib/airlock-escaped", "/etc/airlock-escaped", "/root/airlock-escaped"}

// checkContained checks what an install script recorded (attempt ->
// "ok" or why it failed) and the host after it: every attempt failed,
// nothing was written on the host, the host service got no request, and
// the proxy refused the hosts beyond the index.
func checkContained(t *testing.T, attempts map[string]string, esc escape, hits *counter, logged string) {
	t.Helper()
	t.Logf("the install script's attempts: %v", attempts)
	if want := 11 + len(hostWrites); len(attempts) != want {
		t.Errorf("the script recorded %d attempts, want all %d", len(attempts), want)
	}
	for what, came := range attempts {
		if came == "ok" {
			t.Errorf("the install script could %s", what)
		}
	}
	for _, p := range append([]string{filepath.Join(esc.Host, "escaped")}, hostWrites...) {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists on the host after the build (%v)", p, err)
			os.Remove(p)
		}
	}
	if n := hits.get(); n != 0 {
		t.Errorf("the host service got %d requests from the build", n)
	}
	for _, host := range []string{"example.com:80", "example.com:443", esc.Service} {
		if !strings.Contains(logged, "egress refused") || !strings.Contains(logged, "host="+host) {
			t.Errorf("the proxy did not log refusing %s:\n%s", host, logged)
		}
	}
}

// noTemporaries fails when the cache holds an entry being made or
// removed: a build, failed or not, leaves none.
func noTemporaries(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), delPrefix) {
			t.Errorf("the cache holds %s after the build", e.Name())
		}
	}
}

// logBuffer is a manager's log, kept for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Len marks where the log is now, for since.
func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// since is what was logged after mark.
func (b *logBuffer) since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()[mark:]
}

// nosyScript is an npm install script (node) that tries to escape in
// every way esc offers, records each attempt's outcome in attempts.json
// beside it and on stderr (a line "ATTEMPTS {...}"), and exits with
// code.
func nosyScript(t *testing.T, esc escape, code int) string {
	t.Helper()
	e, err := json.Marshal(esc)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`const fs = require('fs'), net = require('net'), http = require('http'), dns = require('dns');
const esc = %s, hostWrites = %s, results = {};
const why = e => 'error ' + (e.code || e.message);
function attempt(name, f) { try { f(); results[name] = 'ok'; } catch (e) { results[name] = why(e); } }
function connect(host, port) {
  return new Promise(done => {
    const s = net.connect({ host, port, timeout: 5000 });
    s.on('connect', () => { s.destroy(); done('ok'); });
    s.on('timeout', () => { s.destroy(); done('error timeout'); });
    s.on('error', e => done(why(e)));
  });
}
function viaProxy(method, target, host) {
  return new Promise(done => {
    const req = http.request({ host: '127.0.0.1', port: 3128, method, path: target, headers: { Host: host }, timeout: 10000 });
    const status = code => code >= 200 && code < 300 ? 'ok' : 'refused ' + code;
    req.on('response', r => { r.resume(); done(status(r.statusCode)); });
    req.on('connect', (r, sock) => { sock.destroy(); done(status(r.statusCode)); });
    req.on('timeout', () => { req.destroy(); done('error timeout'); });
    req.on('error', e => done(why(e)));
    req.end();
  });
}
(async () => {
  attempt('read /etc/shadow', () => fs.readFileSync('/etc/shadow'));
  attempt('list /root', () => fs.readdirSync('/root'));
  attempt('list the cache', () => fs.readdirSync(esc.cache));
  attempt('read the host secret', () => fs.readFileSync(esc.host + '/secret'));
  attempt('write the host directory', () => fs.writeFileSync(esc.host + '/escaped', 'x'));
  for (const p of hostWrites) attempt('write ' + p, () => fs.writeFileSync(p, 'x'));
  const [svcHost, svcPort] = esc.service.split(':');
  results['connect to 1.1.1.1:80'] = await connect('1.1.1.1', 80);
  results['connect to the host service'] = await connect(svcHost, Number(svcPort));
  results['resolve example.com'] = await new Promise(done => dns.lookup('example.com', e => done(e ? why(e) : 'ok')));
  results['GET http://example.com/ through the proxy'] = await viaProxy('GET', 'http://example.com/', 'example.com');
  results['CONNECT example.com:443 through the proxy'] = await viaProxy('CONNECT', 'example.com:443', 'example.com:443');
  results['GET the host service through the proxy'] = await viaProxy('GET', 'http://' + esc.service + '/', esc.service);
  fs.writeFileSync(__dirname + '/attempts.json', JSON.stringify(results));
  console.error('ATTEMPTS ' + JSON.stringify(results));
  process.exit(%d);
})();
`, e, mustJSON(t, hostWrites), code)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readAttempts reads what an install script recorded.
func readAttempts(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the install script's record: %v", err)
	}
	var attempts map[string]string
	if err := json.Unmarshal(b, &attempts); err != nil {
		t.Fatalf("the install script's record %s: %v", b, err)
	}
	return attempts
}

// attemptsIn finds what an install script recorded in the installer's
// output.
func attemptsIn(t *testing.T, out string) map[string]string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "ATTEMPTS ")
	line, _, _ := strings.Cut(rest, "\n")
	var attempts map[string]string
	if err := json.Unmarshal([]byte(line), &attempts); !ok || err != nil {
		t.Fatalf("no record of the install script's attempts in its output (%v):\n%s", err, out)
	}
	return attempts
}

// nosySetupPy is a setup.py that tries what nosyScript tries, records
// each attempt's outcome in nosy/attempts.json (installed with the
// package) and on stderr, then installs the package, or exits with code
// when it is not 0.
func nosySetupPy(t *testing.T, esc escape, code int) string {
	t.Helper()
	return fmt.Sprintf(`import http.client, json, os, socket, sys
esc, host_writes, results = json.loads(%q), json.loads(%q), {}
def attempt(name, f):
    try:
        f()
        results[name] = "ok"
    except Exception as e:
        results[name] = "error " + type(e).__name__
def read(p):
    with open(p, "rb") as f:
        f.read()
def write(p):
    with open(p, "w") as f:
        f.write("x")
def connect(host, port):
    socket.create_connection((host, port), timeout=5).close()
def via_proxy(method, target, tunnel=None):
    conn = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    try:
        if tunnel:
            conn.set_tunnel(tunnel, 443)
            conn.connect()
            return "ok"
        conn.request(method, target)
        status = conn.getresponse().status
        return "ok" if 200 <= status < 300 else "refused %%d" %% status
    except OSError as e:
        return "error " + str(e)
    finally:
        conn.close()
attempt("read /etc/shadow", lambda: read("/etc/shadow"))
attempt("list /root", lambda: os.listdir("/root"))
attempt("list the cache", lambda: os.listdir(esc["cache"]))
attempt("read the host secret", lambda: read(esc["host"] + "/secret"))
attempt("write the host directory", lambda: write(esc["host"] + "/escaped"))
for p in host_writes:
    attempt("write " + p, lambda: write(p))
svc_host, svc_port = esc["service"].split(":")
attempt("connect to 1.1.1.1:80", lambda: connect("1.1.1.1", 80))
attempt("connect to the host service", lambda: connect(svc_host, int(svc_port)))
attempt("resolve example.com", lambda: socket.getaddrinfo("example.com", 80))
results["GET http://example.com/ through the proxy"] = via_proxy("GET", "http://example.com/")
results["CONNECT example.com:443 through the proxy"] = via_proxy("CONNECT", None, tunnel="example.com")
results["GET the host service through the proxy"] = via_proxy("GET", "http://" + esc["service"] + "/")
os.makedirs("nosy", exist_ok=True)
with open("nosy/attempts.json", "w") as f:
    json.dump(results, f)
print("ATTEMPTS " + json.dumps(results), file=sys.stderr)
if %d:
    sys.exit(%d)
from setuptools import setup
setup(name="nosy", version="1.0", packages=["nosy"], package_data={"nosy": ["attempts.json"]})
`, mustJSON(t, esc), mustJSON(t, hostWrites), code, code)
}

// TestPipSetupPyContained: a source distribution whose setup.py tries
// what the npm script tries is contained alike, whether it installs or
// fails.
func TestPipSetupPyContained(t *testing.T) {
	dir := cacheDir(t)
	esc, hits := newEscape(t, dir)
	idx := depstest.Index(t,
		depstest.Package{Name: "nosy", Version: "1.0", SetupPy: nosySetupPy(t, esc, 0), Files: map[string]string{"nosy/__init__.py": ""}},
		depstest.Package{Name: "nosy-fails", Version: "1.0", SetupPy: nosySetupPy(t, esc, 1)},
	)
	log := &logBuffer{}
	m := manager(t, dir, nativeRunner(t), Options{PythonIndexes: []string{idx.URL()}, Log: slog.New(slog.NewTextHandler(log, nil))})
	spec := func(reqs ...string) Spec {
		parsed, err := Parse("pip", reqs)
		if err != nil {
			t.Fatal(err)
		}
		return Spec{Language: &lang.Language{ID: "python", Installer: "pip"}, Version: "3.11.2", Requirements: parsed}
	}

	t.Run("installs, contained", func(t *testing.T) {
		mark := log.Len()
		env, err := m.Get(context.Background(), spec("nosy==1.0"))
		if err != nil {
			t.Fatalf("Get: %v\n%s", err, buildOutput(err))
		}
		defer env.Release()
		checkContained(t, readAttempts(t, filepath.Join(env.Mount.Source, "nosy", "attempts.json")), esc, hits, log.since(mark))
		noTemporaries(t, dir)
	})

	t.Run("fails, contained", func(t *testing.T) {
		mark := log.Len()
		_, err := m.Get(context.Background(), spec("nosy-fails==1.0"))
		var be *BuildError
		if !errors.As(err, &be) || !strings.Contains(be.Message, "example.com:80") || !strings.Contains(be.Message, "not an allowed index") {
			t.Fatalf("Get: %v, want a BuildError naming the refused hosts\n%s", err, buildOutput(err))
		}
		checkContained(t, attemptsIn(t, buildOutput(err)), esc, hits, log.since(mark))
		noTemporaries(t, dir)
	})
}

// TestNPMInstallScriptContained: a package whose postinstall script
// tries to read and write the host, to connect around the proxy and
// through it beyond the registry, installs with every attempt failed (the
// record is part of the environment); when the script then fails, the
// build is a BuildError that names the hosts the proxy refused. A script
// that never ends is a BuildError saying the build ran over its time
// limit. Neither leaves anything in the cache but whole entries.
func TestNPMInstallScriptContained(t *testing.T) {
	dir := cacheDir(t)
	esc, hits := newEscape(t, dir)
	reg := depstest.NPMRegistry(t,
		depstest.NPMPackage{Name: "nosy", Version: "1.0.0", Scripts: map[string]string{"postinstall": "node install.js"},
			Files: map[string]string{"install.js": nosyScript(t, esc, 0), "index.js": "module.exports = 'nosy'\n"}},
		depstest.NPMPackage{Name: "nosy-fails", Version: "1.0.0", Scripts: map[string]string{"postinstall": "node install.js"},
			Files: map[string]string{"install.js": nosyScript(t, esc, 1)}},
		depstest.NPMPackage{Name: "hangs", Version: "1.0.0", Scripts: map[string]string{"postinstall": "node -e 'setInterval(() => {}, 1000)'"}},
	)
	log := &logBuffer{}
	m := manager(t, dir, nativeRunner(t), Options{NPMRegistry: reg.URL(), Limits: airlock.Limits{Wall: 20 * time.Second},
		Log: slog.New(slog.NewTextHandler(log, nil))})
	spec := func(reqs ...string) Spec {
		parsed, err := Parse("npm", reqs)
		if err != nil {
			t.Fatal(err)
		}
		return Spec{Language: &lang.Language{ID: "javascript", Installer: "npm"}, Version: "20", Requirements: parsed}
	}

	t.Run("installs, contained", func(t *testing.T) {
		mark := log.Len()
		env, err := m.Get(context.Background(), spec("nosy@1.0.0"))
		if err != nil {
			t.Fatalf("Get: %v\n%s", err, buildOutput(err))
		}
		defer env.Release()
		checkContained(t, readAttempts(t, filepath.Join(env.Mount.Source, "node_modules", "nosy", "attempts.json")), esc, hits, log.since(mark))
		noTemporaries(t, dir)
	})

	t.Run("fails, contained", func(t *testing.T) {
		mark := log.Len()
		_, err := m.Get(context.Background(), spec("nosy-fails@1.0.0"))
		var be *BuildError
		if !errors.As(err, &be) || !strings.Contains(be.Message, "example.com:80") || !strings.Contains(be.Message, "not an allowed index") {
			t.Fatalf("Get: %v, want a BuildError naming the refused hosts\n%s", err, buildOutput(err))
		}
		checkContained(t, attemptsIn(t, buildOutput(err)), esc, hits, log.since(mark))
		noTemporaries(t, dir)
	})

	t.Run("hangs", func(t *testing.T) {
		start := time.Now()
		_, err := m.Get(context.Background(), spec("hangs@1.0.0"))
		var be *BuildError
		if !errors.As(err, &be) || be.Message != "the build ran over its time limit" || be.Step.Status != airlock.StatusTimeLimit {
			t.Fatalf("Get: %v, want a BuildError saying the build ran over its time limit\n%s", err, buildOutput(err))
		}
		if took := time.Since(start); took > time.Minute {
			t.Errorf("the build took %v, its limit is 20s", took)
		}
		noTemporaries(t, dir)
	})
}
