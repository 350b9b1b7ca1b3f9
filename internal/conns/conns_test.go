package conns_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/conns"
)

// serve runs h behind a Listener bounded to max, with deadlines.
func serve(t *testing.T, max int, h http.Handler, read, write time.Duration) (*conns.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := conns.Limit(ln, max)
	srv := &http.Server{Handler: conns.Deadlines(h, read, write), ConnState: l.ConnState, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, ln.Addr().String()
}

// get sends a GET on c and reads the answer's body.
func get(c net.Conn, path string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closed says whether the server closes c (after what it still sends),
// or resets it (closed with what it sent unread).
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !errors.As(err, &ne) || !ne.Timeout()
}

// TestShedsIdleLongest: at the bound, a new connection is served and the
// one idle longest is closed for it, never one serving a request.
func TestShedsIdleLongest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	l, addr := serve(t, 3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}), time.Minute, time.Minute)

	busy := dial(t, addr)
	answered := make(chan string, 1)
	go func() {
		body, _ := get(busy, "/block")
		answered <- body
	}()
	<-entered
	older := dial(t, addr)
	if body, err := get(older, "/older"); err != nil || body != "/older" {
		t.Fatalf("first idle connection: %q %v", body, err)
	}
	newer := dial(t, addr)
	if body, err := get(newer, "/newer"); err != nil || body != "/newer" {
		t.Fatalf("second idle connection: %q %v", body, err)
	}
	if n := l.Open(); n != 3 {
		t.Fatalf("%d open, want 3", n)
	}
	// The server marks a connection idle after its client has the answer.
	for deadline := time.Now().Add(5 * time.Second); l.Idle() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle, want 2", l.Idle())
		}
	}

	if body, err := get(dial(t, addr), "/new"); err != nil || body != "/new" {
		t.Fatalf("a new connection at the bound: %q %v", body, err)
	}
	if !closed(older) {
		t.Error("the connection idle longest is still open")
	}
	if body, err := get(newer, "/again"); err != nil || body != "/again" {
		t.Errorf("the connection idle for less time: %q %v", body, err)
	}
	close(release)
	if body := <-answered; body != "/block" {
		t.Errorf("the connection serving a request was cut: %q", body)
	}
}

// TestSlowHeadersShed: connections that never finish their request's
// headers are what is closed first, oldest first.
func TestSlowHeadersShed(t *testing.T) {
	_, addr := serve(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), time.Minute, time.Minute)
	var slow []net.Conn
	for range 5 {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		slow = append(slow, c)
	}
	if body, err := get(dial(t, addr), "/"); err != nil || body != "ok" {
		t.Fatalf("a normal client among slow ones: %q %v", body, err)
	}
	if !closed(slow[0]) {
		t.Error("the oldest slow connection is still open")
	}
}

// TestDeadlines: a body sent too slowly loses its connection; a handler
// that waits longer than both deadlines before answering is answered.
func TestDeadlines(t *testing.T) {
	read, write := 300*time.Millisecond, 300*time.Millisecond
	_, addr := serve(t, 10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		time.Sleep(3 * read) // a long poll
		io.WriteString(w, "waited")
	}), read, write)

	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nslow")
	if !closed(c) {
		t.Error("a body slower than the read deadline kept its connection")
	}

	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatalf("a long poll: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "waited" {
		t.Errorf("a long poll: %q", body)
	}
}

// TestWaitingAcceptTakesNewlyIdle: at the bound with every connection
// serving a request, a new connection waits; it is served as soon as one
// of them turns idle (its keep-alive closed for it), not only once one
// closes.
func TestWaitingAcceptTakesNewlyIdle(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	_, addr := serve(t, 1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}), time.Minute, time.Minute)
	busy := dial(t, addr)
	go get(busy, "/block")
	<-entered
	answered := make(chan string, 1)
	go func() {
		body, err := get(dial(t, addr), "/new")
		if err != nil {
			body = err.Error()
		}
		answered <- body
	}()
	select {
	case body := <-answered:
		t.Fatalf("served over the bound: %q", body)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case body := <-answered:
		if body != "/new" {
			t.Fatalf("the waiting connection: %q", body)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting connection was not served once the other turned idle")
	}
}
