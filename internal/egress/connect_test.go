package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConnectReachesAllowedTLSServer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over tls")
	}))
	defer srv.Close()
	p := newTestProxy(t, defaultLimits, hostPort(t, srv.URL))
	client := proxiedClient(startProxy(t, p), srv.Client().Transport.(*http.Transport))
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello over tls" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if r := p.Refused(); len(r) != 0 {
		t.Errorf("Refused() = %v after an allowed request", r)
	}
}

func TestConnectReachesAllowedPlainServer(t *testing.T) {
	// An echo server: the tunnel carries any bytes, both ways.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	addr := startProxy(t, newTestProxy(t, defaultLimits, ln.Addr().String()))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The first bytes of the tunnel come with the CONNECT header.
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\nping", ln.Addr())
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q %v", got, err)
	}
	// The client's end ends the tunnel, both ways.
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the client's end: %q %v", rest, err)
	}
}

func TestRefusedHostGets403AndIsRecorded(t *testing.T) {
	p := newTestProxy(t, defaultLimits, "pypi.org")
	addr := startProxy(t, p)
	for _, target := range []string{"example.com:443", "PyPI.org:22", "example.com:443", "10.0.0.1:443"} {
		code, body := exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", target))
		if code != http.StatusForbidden || !strings.Contains(body, "is not allowed") || !strings.Contains(strings.ToLower(body), strings.ToLower(target)) {
			t.Errorf("CONNECT %s: %d %q", target, code, body)
		}
	}
	want := []string{"example.com:443", "pypi.org:22", "10.0.0.1:443"}
	if got := p.Refused(); !slices.Equal(got, want) {
		t.Errorf("Refused() = %q, want %q", got, want)
	}
}

func TestNameResolvingToLoopbackIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	byName := fmt.Sprintf("localhost:%d", port)
	byIP := fmt.Sprintf("127.0.0.1:%d", port)

	p := newTestProxy(t, defaultLimits, byName)
	addr := startProxy(t, p)
	code, body := exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\n", byName))
	if code != http.StatusForbidden || !strings.Contains(body, "loopback") {
		t.Errorf("CONNECT %s allowed by name: %d %q", byName, code, body)
	}
	code, body = exchange(t, addr, fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %[1]s\r\n\r\n", byName))
	if code != http.StatusForbidden {
		t.Errorf("GET via %s allowed by name: %d %q", byName, code, body)
	}
	code, _ = exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\n", byIP))
	if code != http.StatusForbidden {
		t.Errorf("CONNECT %s, listed only by name: %d", byIP, code)
	}
	if got := p.Refused(); !slices.Equal(got, []string{byName, byIP}) {
		t.Errorf("Refused() = %q", got)
	}

	addr = startProxy(t, newTestProxy(t, defaultLimits, byIP))
	code, body = exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\n", byIP))
	if code != http.StatusOK {
		t.Errorf("CONNECT %s listed as an IP literal: %d %q", byIP, code, body)
	}
}

func TestUnreachableAllowedHostGets502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newTestProxy(t, defaultLimits, dead)
	addr := startProxy(t, p)
	code, body := exchange(t, addr, fmt.Sprintf("CONNECT %s HTTP/1.1\r\n\r\n", dead))
	if code != http.StatusBadGateway || !strings.Contains(body, dead) {
		t.Errorf("CONNECT to a closed port: %d %q", code, body)
	}
	code, body = exchange(t, addr, fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %[1]s\r\n\r\n", dead))
	if code != http.StatusBadGateway || !strings.Contains(body, dead) {
		t.Errorf("GET from a closed port: %d %q", code, body)
	}
	if got := p.Unreachable(); !slices.Equal(got, []string{dead}) || len(p.Refused()) != 0 {
		t.Errorf("unreachable %q, refused %q; want [%s] and none", got, p.Refused(), dead)
	}
}

func TestIdleTunnelIsClosed(t *testing.T) {
	// A server that accepts and never says a word.
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
	lim := defaultLimits
	lim.idle = 200 * time.Millisecond
	addr := startProxy(t, newTestProxy(t, lim, ln.Addr().String()))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\n\r\n", ln.Addr())
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	began := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read on an idle tunnel: %v, want EOF", err)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Errorf("idle tunnel closed after %v", waited)
	}
	(<-held).Close()
}
