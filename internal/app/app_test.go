package app_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/sandbox/probe"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// embedded is a server's default config on a data directory of the
// test's own, without warm pools (the probe runner starts no sandbox).
func embedded(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Pools = nil
	cfg.Workers = 1
	return cfg
}

// run serves the service cfg describes until the test ends.
func run(t *testing.T, cfg *config.Config, opt app.Options) string {
	t.Helper()
	return servicetest.Serve(t, cfg, opt)
}

// get answers a GET with its status and body; header names a key's token.
func get(t *testing.T, url, header, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if header != "" {
		req.Header.Set(header, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The startup that `airlock serve` and the test harness share builds an
// embedded service from a config alone, without root: every face is
// served, each with its options from the config, and the dependencies
// hook sees the store, blobs and queue.
func TestEmbeddedFromConfig(t *testing.T) {
	cfg := embedded(t)
	cfg.Keys = []auth.Key{{ID: "k", SHA256: auth.HashToken("secret"), Admin: true}}
	cfg.MaxQueue = 77
	cfg.Judge0Delete = true
	var deps jobs.Deps
	url := run(t, cfg, app.Options{
		Runner: probe.New(nil),
		Deps:   func(d *jobs.Deps) { deps = *d },
	})
	if deps.Store == nil || deps.Blobs == nil || deps.Queue == nil || deps.Engine == nil || deps.Metrics == nil || deps.Hooks == nil {
		t.Errorf("the Deps hook saw %+v", deps)
	}
	for _, c := range []struct {
		path, header, token string
		want                int
	}{
		{"/healthz", "", "", 200},
		{"/metrics", "", "", 200},
		{"/v1/limits", "", "", 401},
		{"/v1/limits", "Authorization", "Bearer secret", 200},
		{"/api/v2/runtimes", "Authorization", "Bearer secret", 200},
		{"/", "", "", 200},
	} {
		if code, body := get(t, url+c.path, c.header, c.token); code != c.want {
			t.Errorf("GET %s: %d %s; want %d", c.path, code, body, c.want)
		}
	}
	code, body := get(t, url+"/config_info", "X-Auth-Token", "secret")
	var info map[string]any
	json.Unmarshal([]byte(body), &info)
	if code != 200 || info["max_queue_size"] != 77.0 || info["enable_submission_delete"] != true {
		t.Errorf("Judge0's /config_info: %d %s; want max_queue_size 77 and deletes enabled, from the config", code, body)
	}
}

// A worker node serves its health and metrics, and no API.
func TestWorkerNode(t *testing.T) {
	url := run(t, embedded(t), app.Options{Worker: true, Runner: probe.New(nil)})
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/v1/languages": 404, "/api/v2/runtimes": 404} {
		if code, body := get(t, url+path, "", ""); code != want {
			t.Errorf("GET %s: %d %s; want %d", path, code, body, want)
		}
	}
}

// The audit log goes to the injected writer rather than the config's
// file, which is not created.
func TestAuditWriter(t *testing.T) {
	cfg := embedded(t)
	cfg.Audit = cfg.Data + "/audit.log"
	a, err := app.New(cfg, app.Options{Runner: probe.New(nil), Audit: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := os.Stat(cfg.Audit); !os.IsNotExist(err) {
		t.Errorf("the config's audit file was opened (%v) though a writer was given", err)
	}
}

// Serve, what `airlock serve` runs, listens on the config's address and
// stops in order on SIGTERM. An API-only node needs no sandbox.
func TestServeUntilSignal(t *testing.T) {
	cfg := embedded(t)
	cfg.NoWorkers = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	ln.Close()
	served := make(chan error, 1)
	go func() { served <- app.Serve(cfg, nil, false) }()
	// Once it answers, Serve has set up its signal handling: the SIGTERM
	// below stops it, not the test binary.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + cfg.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Serve does not answer: %v", err)
		}
		select {
		case err := <-served:
			t.Fatalf("Serve: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop on SIGTERM")
	}
}
