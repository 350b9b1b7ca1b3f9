package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testserver"
)

func TestValidate(t *testing.T) {
	for _, ok := range []string{
		"http://example.com/hook",
		"https://example.com:8443/a/b?c=d",
		"http://192.0.2.1/x",
		"https://[2001:db8::1]/x",
	} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"garbage",
		"example.com/hook",
		"ftp://example.com/x",
		"file:///etc/passwd",
		"javascript:alert(1)",
		"http://",
		"https:///path",
		"http://[::1",
		"http://exa mple.com/",
	} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%q) accepted", bad)
		}
	}
}

// receiver records what it is sent and answers with the statuses given,
// then 200.
type receiver struct {
	mu       sync.Mutex
	bodies   []string
	types    []string
	methods  []string
	statuses []int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, string(body))
	rc.types = append(rc.types, r.Header.Get("Content-Type"))
	rc.methods = append(rc.methods, r.Method)
	status := http.StatusOK
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestSendDelivers(t *testing.T) {
	rc := &receiver{}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond})
	body := `{"id":"abc","status":"ok"}`
	if err := s.Send(t.Context(), srv.URL+"/hook", []byte(body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rc.count() != 1 {
		t.Fatalf("%d requests, want 1", rc.count())
	}
	if rc.bodies[0] != body || rc.types[0] != "application/json" || rc.methods[0] != http.MethodPost {
		t.Errorf("got %s %q with Content-Type %q", rc.methods[0], rc.bodies[0], rc.types[0])
	}
}

func TestSendRetries(t *testing.T) {
	rc := &receiver{statuses: []int{http.StatusInternalServerError, http.StatusBadGateway}}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond})
	if err := s.Send(t.Context(), srv.URL, []byte(`{"n":1}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rc.count() != 3 {
		t.Fatalf("%d attempts, want 3", rc.count())
	}
	for i, b := range rc.bodies {
		if b != `{"n":1}` {
			t.Errorf("attempt %d sent %q: each retry must carry the whole body", i+1, b)
		}
	}
}

func TestSendGivesUp(t *testing.T) {
	rc := &receiver{statuses: []int{500, 500, 500, 500, 500}}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond, Attempts: 4})
	err := s.Send(t.Context(), srv.URL, []byte(`{}`))
	if err == nil {
		t.Fatal("Send succeeded though every attempt got 500")
	}
	if !strings.Contains(err.Error(), "500") {
		t.Errorf("error %q does not say what the receiver answered", err)
	}
	if rc.count() != 4 {
		t.Errorf("%d attempts, want 4", rc.count())
	}

	// The backoff doubles: 3 attempts with 20ms take at least 20+40ms.
	rc = &receiver{statuses: []int{500, 500, 500}}
	srv = serve(t, rc)
	s = New(Options{AllowLocal: true, Backoff: 20 * time.Millisecond})
	begin := time.Now()
	if err := s.Send(t.Context(), srv.URL, []byte(`{}`)); err == nil {
		t.Fatal("Send succeeded though every attempt got 500")
	}
	if d := time.Since(begin); d < 60*time.Millisecond {
		t.Errorf("3 attempts took %v, want at least 60ms of backoff", d)
	}
	if rc.count() != 3 {
		t.Errorf("%d attempts, want the default 3", rc.count())
	}
}

func TestSendUnreachable(t *testing.T) {
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond, Attempts: 2})
	if err := s.Send(t.Context(), "http://"+testserver.ClosedPort(t)+"/", []byte(`{}`)); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
}

func TestSendStopsOnCancel(t *testing.T) {
	rc := &receiver{statuses: []int{500, 500, 500}}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := s.Send(ctx, srv.URL, []byte(`{}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Send waited out its backoff (%v) after ctx ended", d)
	}
	if rc.count() != 1 {
		t.Errorf("%d attempts, want 1", rc.count())
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	s := New(Options{AllowLocal: true, Timeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
	begin := time.Now()
	if err := s.Send(t.Context(), srv.URL, []byte(`{}`)); err == nil {
		t.Fatal("Send to a receiver that never answers succeeded")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("two attempts of 50ms took %v", d)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestRefusesLocal(t *testing.T) {
	rc := &receiver{}
	srv := serve(t, rc)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := New(Options{Backoff: time.Millisecond, Attempts: 2})
	for _, host := range []string{"127.0.0.1", "localhost", "127.0.0.2", "0.0.0.0"} {
		err := s.Send(t.Context(), "http://"+net.JoinHostPort(host, port)+"/", []byte(`{}`))
		if err == nil {
			t.Errorf("Send to %s succeeded with AllowLocal false", host)
		} else if !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("Send to %s: %v; want a refusal", host, err)
		}
	}
	if rc.count() != 0 {
		t.Errorf("the local receiver got %d requests", rc.count())
	}

	// This host's own, non-loopback addresses are local too.
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.To4() == nil {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0"))
		if err != nil {
			continue
		}
		own := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rc}}
		own.Start()
		err = s.Send(t.Context(), own.URL, []byte(`{}`))
		own.Close()
		if err == nil {
			t.Errorf("Send to this host's address %s succeeded", n.IP)
		}
		if rc.count() != 0 {
			t.Errorf("the receiver on %s got %d requests", n.IP, rc.count())
		}
		break
	}
}

func TestNoRedirect(t *testing.T) {
	target := &receiver{}
	srv := serve(t, http.NewServeMux())
	mux := srv.Config.Handler.(*http.ServeMux)
	mux.Handle("/elsewhere", target)
	var redirects atomic.Int32
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		redirects.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond, Attempts: 2})
	err := s.Send(t.Context(), srv.URL+"/hook", []byte(`{}`))
	if target.count() != 0 {
		t.Fatalf("the redirect was followed (%d requests to its target)", target.count())
	}
	if err == nil {
		t.Error("a redirect counted as a delivery")
	}
	if n := redirects.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestDeliverMethod(t *testing.T) {
	rc := &receiver{statuses: []int{http.StatusServiceUnavailable}}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond})
	if err := s.Deliver(t.Context(), Call{Method: http.MethodPut, URL: srv.URL + "/submissions/x", Body: []byte(`{"token":"x"}`)}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if rc.count() != 2 {
		t.Fatalf("%d requests, want 2", rc.count())
	}
	for i := range 2 {
		if rc.methods[i] != http.MethodPut || rc.bodies[i] != `{"token":"x"}` || rc.types[i] != "application/json" {
			t.Errorf("attempt %d: %s %q (%s), want PUT with the body", i+1, rc.methods[i], rc.bodies[i], rc.types[i])
		}
	}
	// A method that is not one fails, without a request.
	if err := s.Deliver(t.Context(), Call{Method: "BAD METHOD", URL: srv.URL}); err == nil {
		t.Error("Deliver with an invalid method succeeded")
	}
	if rc.count() != 2 {
		t.Errorf("an invalid method reached the receiver")
	}
}

// A call that takes any answer is not retried after an error status,
// only after a failed request (Judge0's callbacks).
func TestDeliverAnyAnswer(t *testing.T) {
	rc := &receiver{statuses: []int{http.StatusInternalServerError}}
	srv := serve(t, rc)
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond})
	if err := s.Deliver(t.Context(), Call{URL: srv.URL, AnyAnswer: true}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if rc.count() != 1 {
		t.Errorf("%d requests after an answer of 500, want 1", rc.count())
	}
	if err := s.Deliver(t.Context(), Call{URL: "http://" + testserver.ClosedPort(t) + "/", AnyAnswer: true}); err == nil {
		t.Error("Deliver to a closed port succeeded")
	}
}

// A call's own timeout bounds each of its attempts within the Sender's.
func TestDeliverTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-r.Context().Done()
	}))
	s := New(Options{AllowLocal: true, Backoff: time.Millisecond, Attempts: 2}) // 10 s per attempt by default
	begin := time.Now()
	if err := s.Deliver(t.Context(), Call{URL: srv.URL, Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("Deliver to a receiver that never answers succeeded")
	}
	if d := time.Since(begin); d > 5*time.Second || hits.Load() != 2 {
		t.Errorf("%d attempts in %v, want 2 of 50 ms", hits.Load(), d)
	}
}
