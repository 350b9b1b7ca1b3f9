package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// echoServer answers each request with its method, path, body and the
// headers a proxy must not pass on.
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s proxy-auth=%q conn=%q", r.Method, r.URL.RequestURI(), body, r.Header.Get("Proxy-Authorization"), r.Header.Get("X-Hop"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestForwardPlainHTTP(t *testing.T) {
	srv := echoServer(t)
	addr := startProxy(t, newTestProxy(t, defaultLimits, hostPort(t, srv.URL)))
	client := proxiedClient(addr, http.DefaultTransport.(*http.Transport))
	resp, err := client.Post(srv.URL+"/a/b?c=d", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `POST /a/b?c=d payload proxy-auth="" conn=""`; resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
	}
}

func TestForwardKeepsConnectionAndDropsHopHeaders(t *testing.T) {
	srv := echoServer(t)
	addr := startProxy(t, newTestProxy(t, defaultLimits, hostPort(t, srv.URL)))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, path := range []string{"/one", "/two"} {
		fmt.Fprintf(c, "GET %s%s HTTP/1.1\r\nHost: ignored.example\r\nProxy-Authorization: secret\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n", srv.URL, path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`GET %s  proxy-auth="" conn=""`, path); string(body) != want {
			t.Errorf("got %q, want %q", body, want)
		}
	}
}

func TestForwardRefusesOtherHosts(t *testing.T) {
	srv := echoServer(t)
	p := newTestProxy(t, defaultLimits, hostPort(t, srv.URL))
	addr := startProxy(t, p)
	client := proxiedClient(addr, http.DefaultTransport.(*http.Transport))
	resp, err := client.Get("http://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.TrimSpace(string(body)) != "airlock egress: host example.com:80 is not allowed" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if got := p.Refused(); len(got) != 1 || got[0] != "example.com:80" {
		t.Errorf("Refused() = %q", got)
	}
}
