package native

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/egress"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// netProbe fetches each URL given through the proxy the environment
// names (urllib honours HTTP_PROXY), then reports what else the sandbox's
// network lets it do: its namespace, name resolution, the proxy's port
// and the loopback's state.
const netProbe = `
import fcntl, os, socket, struct, sys, urllib.error, urllib.request
print("netns", os.readlink("/proc/self/ns/net"))
for url in sys.argv[1:]:
    try:
        print("fetch", urllib.request.urlopen(url, timeout=10).read().decode())
    except urllib.error.HTTPError as e:
        print("fetch HTTP", e.code, e.read().decode().strip())
    except Exception as e:
        print("fetch error", e)
try:
    socket.getaddrinfo("example.com", 80)
    print("dns ok")
except OSError as e:
    print("dns error", e)
s = socket.socket()
try:
    s.connect(("127.0.0.1", 3128))
    print("proxy port open")
except OSError as e:
    print("proxy port", e.strerror)
flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
print("lo up" if flags & 1 else "lo down")
`

// probe runs netProbe on the shared Runner with serve as its Egress (nil for none),
// checks the host is clean after, and returns its report by line.
func probe(t *testing.T, serve func(net.Conn), urls ...string) (lines []string, report string) {
	t.Helper()
	spec := python(netProbe, airlock.Limits{})
	spec.Argv = append(spec.Argv, urls...)
	spec.Env = append(spec.Env, "PYTHONUNBUFFERED=1", "HTTP_PROXY=http://"+sandbox.ProxyAddr, "HTTPS_PROXY=http://"+sandbox.ProxyAddr)
	spec.Egress = serve
	before := hostSnapshot(t)
	res, err := runner(t).Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertHostClean(t, before)
	if res.Status != airlock.StatusOK {
		t.Fatalf("probe: %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
	return strings.Split(strings.TrimSpace(string(res.Stdout)), "\n"), string(res.Stdout)
}

// hostServer is an HTTP server on the host's loopback.
func hostServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the host")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newEgress(t *testing.T, allow ...string) *egress.Proxy {
	p, err := egress.New(egress.Options{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEgressReachesOnlyAllowedHosts: through the proxy at ProxyAddr, a
// program fetches a page from an allowed host; another host gets the
// proxy's 403; there is still no DNS.
func TestEgressReachesOnlyAllowedHosts(t *testing.T) {
	srv := hostServer(t)
	proxy := newEgress(t, srv.Listener.Addr().String())
	lines, report := probe(t, proxy.ServeConn, srv.URL+"/page", "http://example.com/")
	want := []string{
		"fetch hello from the host",
		"fetch HTTP 403 airlock egress: host example.com:80 is not allowed",
		"proxy port open",
		"lo up",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("no %q in the report:\n%s", w, report)
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "dns error") }) {
		t.Errorf("names resolve in a sandbox with egress:\n%s", report)
	}
	if got := proxy.Refused(); !slices.Equal(got, []string{"example.com:80"}) {
		t.Errorf("Refused() = %q", got)
	}
}

// TestEgressTunnelsHTTPS: https goes through the proxy's CONNECT, the
// program verifying the host's certificate end to end.
func TestEgressTunnelsHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over tls")
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	proxy := newEgress(t, srv.Listener.Addr().String())
	spec := python(`
import os, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile="/box/ca.pem")
print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).read().decode())
`, airlock.Limits{})
	spec.Argv = append(spec.Argv, srv.URL+"/")
	spec.Files = append(spec.Files, sandbox.File{Name: "ca.pem", Content: ca})
	spec.Env = append(spec.Env, "HTTPS_PROXY=http://"+sandbox.ProxyAddr)
	spec.Egress = proxy.ServeConn
	before := hostSnapshot(t)
	res, err := runner(t).Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertHostClean(t, before)
	if res.Status != airlock.StatusOK || string(res.Stdout) != "hello over tls\n" {
		t.Fatalf("got %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
}

// TestNoEgressNoNetwork: without Egress the same program reaches nothing,
// resolves nothing, and finds no proxy; after a run with Egress, the
// slot's next run (same network namespace) is back to that.
func TestNoEgressNoNetwork(t *testing.T) {
	srv := hostServer(t)
	check := func(lines []string, report string) {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, "fetch") && !strings.HasPrefix(l, "fetch error") || l == "dns ok" || l == "proxy port open" || l == "lo up" {
				t.Errorf("a run without egress: %q\n%s", l, report)
			}
		}
		if !slices.Contains(lines, "proxy port Network is unreachable") {
			t.Errorf("the proxy's port is not unreachable:\n%s", report)
		}
	}
	check(probe(t, nil, srv.URL))

	proxy := newEgress(t, srv.Listener.Addr().String())
	lines, report := probe(t, proxy.ServeConn, srv.URL)
	if !slices.Contains(lines, "fetch hello from the host") {
		t.Fatalf("the egress run did not fetch:\n%s", report)
	}
	after, afterReport := probe(t, nil, srv.URL)
	if after[0] != lines[0] {
		t.Fatalf("the next run had another slot (%s, then %s): the test proves nothing", lines[0], after[0])
	}
	check(after, afterReport)
}

// TestPrepareRefusesEgress: a prepared sandbox would hold its way out
// open while it waits.
func TestPrepareRefusesEgress(t *testing.T) {
	spec := python("print(1)", airlock.Limits{})
	spec.Egress = func(c net.Conn) { c.Close() }
	p, err := runner(t).Prepare(context.Background(), spec)
	if err == nil {
		p.Close()
		t.Fatal("Prepare accepted a spec with Egress")
	}
}

// TestEgressTunnelEndsWithTheRun: a program that holds a tunnel open
// through the proxy and is killed at its time limit ends its run on time:
// the run's connections are closed under the proxy, which returns.
func TestEgressTunnelEndsWithTheRun(t *testing.T) {
	// A host server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	proxy := newEgress(t, ln.Addr().String())
	spec := python(`
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 3128))
s.sendall(b"CONNECT `+ln.Addr().String()+` HTTP/1.1\r\n\r\n")
print(s.recv(100).decode().splitlines()[0], flush=True)
time.sleep(60)
`, airlock.Limits{Wall: time.Second})
	spec.Egress = proxy.ServeConn
	before := hostSnapshot(t)
	began := time.Now()
	res, err := runner(t).Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertHostClean(t, before)
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the run took %v with a 1 s wall limit", took)
	}
	if res.Status != airlock.StatusTimeLimit || string(res.Stdout) != "HTTP/1.1 200 Connection established\n" {
		t.Errorf("got %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
}
