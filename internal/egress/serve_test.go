package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMalformedRequestsGet400(t *testing.T) {
	addr := startProxy(t, newTestProxy(t, defaultLimits, "127.0.0.1:1"))
	for _, raw := range []string{
		"garbage\r\n\r\n",
		"GET /relative HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
		"GET https://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
		"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
		"CONNECT bad_host!:443 HTTP/1.1\r\n\r\n",
		"GET http://127.0.0.1:1/ HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
	} {
		if code, body := exchange(t, addr, raw); code != http.StatusBadRequest || !strings.HasPrefix(body, "airlock egress: ") {
			t.Errorf("%q: %d %q", raw, code, body)
		}
	}
}

func TestOversizedHeaderGets431(t *testing.T) {
	lim := defaultLimits
	lim.headerBytes = 1024
	addr := startProxy(t, newTestProxy(t, lim, "127.0.0.1:1"))
	raw := "CONNECT 127.0.0.1:1 HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n"
	if code, _ := exchange(t, addr, raw); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 4 KiB header over a 1 KiB bound: %d", code)
	}
}

func TestConnectionCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	lim := defaultLimits
	lim.conns = 1
	addr := startProxy(t, newTestProxy(t, lim, hostPort(t, srv.URL)))
	// The first connection holds its place with an open tunnel.
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(first, "CONNECT %s HTTP/1.1\r\n\r\n", hostPort(t, srv.URL))
	if resp, err := http.ReadResponse(bufio.NewReader(first), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first CONNECT: %v %v", resp, err)
	}
	code, body := exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\n", hostPort(t, srv.URL)))
	if code != http.StatusServiceUnavailable {
		t.Errorf("a second connection over a cap of 1: %d %q", code, body)
	}
}

// serveOne serves one side of a pipe with p and says when ServeConn has
// returned.
func serveOne(p *Proxy) (client net.Conn, done <-chan struct{}) {
	client, server := net.Pipe()
	ch := make(chan struct{})
	go func() {
		p.ServeConn(server)
		close(ch)
	}()
	return client, ch
}

// serveOneTCP is serveOne over a loopback TCP connection.
func serveOneTCP(t *testing.T, p *Proxy) (client net.Conn, done <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if server, err := ln.Accept(); err == nil {
			p.ServeConn(server)
		}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return client, ch
}

// TestNothingOutlivesTheClient: once the client closes, ServeConn
// returns and the connection upstream is closed too, for a tunnel and for
// a forwarded request alike.
func TestNothingOutlivesTheClient(t *testing.T) {
	var mu sync.Mutex
	closed := make(chan struct{}, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	p := newTestProxy(t, defaultLimits, hostPort(t, srv.URL))

	for _, raw := range []string{
		fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", hostPort(t, srv.URL)),
		fmt.Sprintf("GET %s/ HTTP/1.1\r\nHost: x\r\n\r\n", srv.URL),
	} {
		client, done := serveOneTCP(t, p)
		client.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(client, raw)
		br := bufio.NewReader(client)
		if strings.HasPrefix(raw, "CONNECT") {
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %v %v", resp, err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
			t.Fatalf("body %q", body)
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ServeConn still running 10 s after its client closed (%.20q)", raw)
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("the upstream connection still open 10 s after the client closed (%.20q)", raw)
		}
	}
}

func TestClientClosingBeforeAsking(t *testing.T) {
	client, done := serveOne(newTestProxy(t, defaultLimits))
	client.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn still running after its client closed without a word")
	}
}

// TestClientGoneWhileUpstreamIsSlow: a client that closes while the proxy
// waits for an answer ends the exchange at once, not at the idle timeout.
func TestClientGoneWhileUpstreamIsSlow(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stalls" {
			// Half an answer, then nothing.
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	for _, path := range []string{"/waits", "/stalls"} {
		// Over TCP: a closed pipe would fail the proxy's very next call.
		client, done := serveOneTCP(t, newTestProxy(t, defaultLimits, hostPort(t, srv.URL)))
		client.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(client, "GET %s%s HTTP/1.1\r\nHost: x\r\n\r\n", srv.URL, path); err != nil {
			t.Fatal(err)
		}
		if path == "/stalls" {
			if _, err := http.ReadResponse(bufio.NewReader(client), nil); err != nil {
				t.Fatal(err)
			}
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ServeConn still waiting on the upstream (%s) 10 s after its client closed", path)
		}
	}
}

// TestTunnelToSilentTargetEndsWithTheClient: a client that closes its
// tunnel to a target that never says a word (nor closes) ends it at
// once, not at the idle timeout.
func TestTunnelToSilentTargetEndsWithTheClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			held <- c
		}
	}()
	client, done := serveOneTCP(t, newTestProxy(t, defaultLimits, ln.Addr().String()))
	client.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(client, "CONNECT %s HTTP/1.1\r\n\r\n", ln.Addr())
	if resp, err := http.ReadResponse(bufio.NewReader(client), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	client.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn still running 10 s after its client closed a tunnel to a silent target")
	}
	target := <-held
	defer target.Close()
	target.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := target.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the target's connection: %v, want EOF", err)
	}
}
