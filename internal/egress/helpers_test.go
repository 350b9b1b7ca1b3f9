package egress

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// startProxy serves p on a loopback listener until the test ends, and
// returns its address.
func startProxy(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.ServeConn(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// newTestProxy is a Proxy with allow and lim, logging to the test.
func newTestProxy(t *testing.T, lim limits, allow ...string) *Proxy {
	t.Helper()
	list, err := parseAllow(allow)
	if err != nil {
		t.Fatal(err)
	}
	return newProxy(list, slog.New(slog.NewTextHandler(testWriter{t}, nil)), lim)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// proxiedClient is an HTTP client that goes through the proxy at addr.
func proxiedClient(addr string, base *http.Transport) *http.Client {
	tr := base.Clone()
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr})
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// exchange sends raw on a new connection to addr and returns the status
// code and body of the answer, then closes the connection.
func exchange(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(raw, "CONNECT ") && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "" // a tunnel: its bytes are not a body
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
