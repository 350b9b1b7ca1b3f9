package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// networkJob is a /v1 submission of a Python program that prints what
// came of fetching each URL (status and body, or the error's type);
// network says whether it asks for network.
func networkJob(t *testing.T, network bool, urls ...string) string {
	t.Helper()
	code := `import sys, urllib.error, urllib.request
for url in sys.argv[1:]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            print(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code)
    except Exception as e:
        print("error", type(e).__name__)
`
	body, err := json.Marshal(map[string]any{"language": "python", "code": code, "args": urls, "network": network})
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestNetworkPerKey: a job that asks for network reaches the hosts its
// key allows, through the proxy, and is refused (403) any other; without
// asking it has no network at all; a key that allows none is answered
// 422 saying so, as is a job on a server without keys that allows none.
func TestNetworkPerKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "hello from the host")
	}))
	defer srv.Close()
	keys := []auth.Key{
		{ID: "net", SHA256: auth.HashToken("net-token"), Network: []string{srv.Listener.Addr().String()}},
		{ID: "plain", SHA256: auth.HashToken("plain-token")},
	}
	e := newEnv(t, api.Options{Keys: keys}, jobs.Options{Workers: 1})

	r := e.do(t, "POST", "/v1/executions?wait=true", networkJob(t, true, srv.URL+"/", "http://example.com/"), "Authorization", "Bearer net-token")
	if r.code != 200 || r.body["status"] != "ok" || r.body["stdout"] != "200 hello from the host\n403\n" {
		t.Fatalf("with network: %d %s", r.code, r.raw)
	}
	r = e.do(t, "POST", "/v1/executions?wait=true", networkJob(t, false, srv.URL+"/"), "Authorization", "Bearer net-token")
	if r.code != 200 || r.body["status"] != "ok" || !strings.HasPrefix(r.body["stdout"].(string), "error ") {
		t.Fatalf("without asking: %d %s", r.code, r.raw)
	}
	r = e.do(t, "POST", "/v1/executions", networkJob(t, true, srv.URL+"/"), "Authorization", "Bearer plain-token")
	if r.code != 422 || !strings.HasPrefix(r.body["error"].(string), "network: this API key allows no network") {
		t.Fatalf("a key without network: %d %s", r.code, r.raw)
	}

	open := newEnv(t, api.Options{}, jobs.Options{Workers: 1})
	r = open.do(t, "POST", "/v1/executions", networkJob(t, true, srv.URL+"/"))
	if r.code != 422 || !strings.Contains(r.body["error"].(string), "network_hosts is not set") {
		t.Fatalf("an open server without network_hosts: %d %s", r.code, r.raw)
	}
	allowing := newEnv(t, api.Options{NetworkHosts: []string{srv.Listener.Addr().String()}}, jobs.Options{Workers: 1})
	r = allowing.do(t, "POST", "/v1/executions?wait=true", networkJob(t, true, srv.URL+"/"))
	if r.code != 200 || r.body["stdout"] != "200 hello from the host\n" {
		t.Fatalf("an open server with network_hosts: %d %s", r.code, r.raw)
	}
}
