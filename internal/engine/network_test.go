package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
)

// fetchProgram prints, one line each, what came of fetching each URL of
// its arguments (the status and body, or the error's type) and of
// connecting to 1.1.1.1:80 directly.
const fetchProgram = `import socket, sys, urllib.error, urllib.request
for url in sys.argv[1:]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            print(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code)
    except Exception as e:
        print("error", type(e).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=5).close()
    print("direct connected")
except OSError as e:
    print("direct error", type(e).__name__)
`

// TestNetworkOptIn: a job given hosts reaches those through its proxy,
// is refused (403) any other, and cannot connect around the proxy; the
// same job given none has no network at all. Neither takes a warm-pool
// sandbox with network.
func TestNetworkOptIn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "hello from the host")
	}))
	defer srv.Close()
	allowed := srv.Listener.Addr().String()
	e := pooledEngine(t, 1, nil)
	job := func(network ...string) airlock.Request {
		return airlock.Request{Language: "python", Network: network, Files: []airlock.File{src("main.py", fetchProgram)},
			Args: []string{srv.URL + "/", "http://example.com/"}}
	}

	before := e.PoolStats()["python"].Hits
	res, err := e.Execute(context.Background(), job(allowed))
	if err != nil {
		t.Fatal(err)
	}
	want := "200 hello from the host\n403\ndirect error "
	if res.Status != airlock.StatusOK || !strings.HasPrefix(string(res.Stdout), want) {
		t.Fatalf("with network: %s %q %q, want stdout starting %q", res.Status, res.Stdout, res.Stderr, want)
	}
	if hits := e.PoolStats()["python"].Hits; hits != before {
		t.Errorf("a job with network ran in a warm-pool sandbox")
	}

	res, err = e.Execute(context.Background(), job())
	if err != nil {
		t.Fatal(err)
	}
	if out := string(res.Stdout); res.Status != airlock.StatusOK || strings.Count(out, "error ") != 3 || strings.Contains(out, "200") {
		t.Fatalf("without network: %s %q %q, want three errors", res.Status, res.Stdout, res.Stderr)
	}
}

// TestNetworkHostsChecked: hosts that no proxy could allow are refused
// before the job runs, naming the field.
func TestNetworkHostsChecked(t *testing.T) {
	err := engine(t).Check(context.Background(), airlock.Request{Language: "python", Network: []string{"http://example.com/"},
		Files: []airlock.File{src("main.py", "print(1)\n")}})
	var bad *InvalidError
	if !errors.As(err, &bad) || bad.Field != "network" {
		t.Fatalf("Check: %v, want an InvalidError on network", err)
	}
}
