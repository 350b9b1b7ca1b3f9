package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/auth"
)

// server is one `airlock serve` process of a test.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan error
}

func startServer(t *testing.T, bin, data string, extra ...string) *server {
	t.Helper()
	return startNode(t, bin, "serve", data, extra...)
}

// startNode starts `airlock serve` or `airlock worker` on a free port with
// its data and audit log in data, and waits until it answers /healthz.
func startNode(t *testing.T, bin, command, data string, extra ...string) *server {
	t.Helper()
	return startNodeOn(t, "127.0.0.1", bin, command, data, extra...)
}

// startNodeOn is startNode listening on host (reached through loopback).
func startNodeOn(t *testing.T, host, bin, command, data string, extra ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	args := append([]string{command, "--addr", net.JoinHostPort(host, port), "--data", data, "--audit", filepath.Join(data, "audit.log")}, extra...)
	s := &server{t: t, cmd: exec.Command(bin, args...), url: "http://127.0.0.1:" + port, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		if t.Failed() {
			t.Logf("%s log:\n%s", command, s.logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited: %v\n%s", err, s.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer /healthz\n%s", s.logs)
		}
	}
}

func (s *server) call(method, path, body string) map[string]any {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, out, err)
	}
	return out
}

func (s *server) submit(code string, args ...string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"language": "python", "code": code, "args": args})
	return s.call("POST", "/v1/executions", string(body))["id"].(string)
}

func (s *server) waitStatus(id string, want ...string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		job := s.call("GET", "/v1/executions/"+id, "")
		for _, w := range want {
			if job["status"] == w {
				return job
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s is %v, want %v", id, job["status"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the exit status.
func (s *server) stop(sig syscall.Signal) error {
	s.cmd.Process.Signal(sig)
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatalf("server ignored %v", sig)
		return nil
	}
}

// processesWith lists the host processes whose command line contains marker.
func processesWith(marker string) (pids []int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupDirs lists the cgroup directories process pid is in.
func cgroupDirs(t *testing.T, pid int) (dirs []string) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		candidates := []string{"/sys/fs/cgroup" + parts[2], "/sys/fs/cgroup/unified" + parts[2]}
		if parts[1] != "" {
			candidates = nil
			for _, ctrl := range strings.Split(parts[1], ",") {
				candidates = append(candidates, filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(ctrl, "name="), parts[2]))
			}
		}
		for _, dir := range candidates {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				dirs = append(dirs, dir)
			}
		}
	}
	return dirs
}

// TestServeKillRestart: kill -9 with one job running and others queued;
// the restarted server finishes every accepted job exactly once, re-running
// the interrupted one, and nothing of the killed sandbox survives. Then a
// SIGTERM whose grace period is shorter than the running job exits 0 and
// the job finishes after the next start.
func TestServeKillRestart(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	var b [8]byte
	rand.Read(b[:])
	marker := "airlock-restart-" + hex.EncodeToString(b[:])
	sleeper := "import sys, time\ntime.sleep(float(sys.argv[1]))\nprint('slept')"

	// No warm pool: the job's process is found by its command line, and a
	// pooled interpreter's is the bootstrap's.
	s := startServer(t, bin, data, "--workers", "1", "--pool", "python=0")
	interrupted := s.submit(sleeper, "2", marker)
	s.waitStatus(interrupted, "running")
	var queued []string
	for i := range 4 {
		queued = append(queued, s.submit(fmt.Sprintf("print(%d)", i)))
	}
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); len(pids) == 0 && time.Now().Before(deadline); {
		pids = processesWith(marker)
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) == 0 {
		t.Fatal("the running job's process is not visible on the host")
	}
	sandboxCgroups := cgroupDirs(t, pids[0])
	if len(sandboxCgroups) == 0 {
		t.Fatal("the running job is in no cgroup of its own")
	}
	s.stop(syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond) // keepers die by Pdeathsig, their programs with them
	if left := processesWith(marker); len(left) > 0 {
		t.Fatalf("processes %v survived the kill", left)
	}

	s = startServer(t, bin, data, "--workers", "1", "--grace", "300ms", "--pool", "python=0")
	job := s.waitStatus(interrupted, "ok", "runtime_error", "internal_error", "cancelled")
	if job["status"] != "ok" || job["stdout"] != "slept\n" || job["attempts"] != 2.0 {
		t.Fatalf("interrupted job after restart: %v", job)
	}
	for i, id := range queued {
		job := s.waitStatus(id, "ok", "runtime_error", "internal_error")
		if job["stdout"] != fmt.Sprintf("%d\n", i) || job["attempts"] != 1.0 {
			t.Fatalf("queued job %d after restart: %v", i, job)
		}
	}

	long := s.submit(sleeper, "3", marker)
	s.waitStatus(long, "running")
	start := time.Now()
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("shutdown took %v with a 300ms grace", waited)
	}
	if !strings.Contains(s.logs.String(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", s.logs)
	}

	s = startServer(t, bin, data, "--workers", "1")
	job = s.waitStatus(long, "ok", "runtime_error", "internal_error", "cancelled")
	if job["status"] != "ok" || job["attempts"] != 2.0 {
		t.Fatalf("job re-queued by the shutdown: %v", job)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("idle SIGTERM: exit %v", err)
	}
	for _, dir := range sandboxCgroups {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s of the killed sandbox is still there", dir)
		}
	}
	if left := processesWith(marker); len(left) > 0 {
		t.Errorf("processes %v are left", left)
	}

	audit, err := os.ReadFile(filepath.Join(data, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(audit)), "\n") {
		var entry struct {
			ID string `json:"job_id"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		finished[entry.ID]++
	}
	for _, id := range append(queued, interrupted, long) {
		if finished[id] != 1 {
			t.Errorf("job %s finished %d times, want exactly once", id, finished[id])
		}
	}
	if len(finished) != 6 {
		t.Errorf("audit log has %d jobs, want 6", len(finished))
	}
}

// TestServeRefuses: open mode on a public address, bad settings and an
// unreadable config file are refused before anything starts.
func TestServeRefuses(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	cases := map[string][]string{
		"open on a public address": {"serve", "--addr", "0.0.0.0:0", "--data", data},
		"bad number":               {"serve", "--workers", "many", "--data", data},
		"bad size":                 {"serve", "--max-code", "12Q", "--data", data},
		"missing config":           {"serve", "--config", "/nonexistent.yaml", "--data", data},
		"unknown flag":             {"serve", "--colour", "red"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), "airlock: ") {
				t.Fatalf("exit %v, want %d; stderr %q", err, exitUsage, stderr.String())
			}
			if name == "open on a public address" && !strings.Contains(stderr.String(), "--insecure-open") {
				t.Errorf("the refusal does not say how to proceed: %q", stderr.String())
			}
		})
	}
}

// A public address is served with keys from the config file (hashed
// there, sent as either header), or open when told --insecure-open.
func TestServePublic(t *testing.T) {
	bin := build(t)
	post := func(s *server, header, value string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.url+"/v1/executions?wait=true", strings.NewReader(`{"language":"python","code":"print(6*7)"}`))
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	t.Run("keys", func(t *testing.T) {
		data := t.TempDir()
		config := filepath.Join(data, "airlock.yaml")
		if err := os.WriteFile(config, []byte("keys:\n  - id: alice\n    sha256: "+auth.HashToken("s3cret-token")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := startNodeOn(t, "0.0.0.0", bin, "serve", data, "--config", config)
		if code, _ := post(s, "", ""); code != http.StatusUnauthorized {
			t.Errorf("no key: %d", code)
		}
		if code, _ := post(s, "Authorization", "Bearer wrong"); code != http.StatusForbidden {
			t.Errorf("wrong key: %d", code)
		}
		for _, h := range [][2]string{{"Authorization", "Bearer s3cret-token"}, {"X-Auth-Token", "s3cret-token"}} {
			if code, out := post(s, h[0], h[1]); code != http.StatusOK || out["stdout"] != "42\n" {
				t.Errorf("%s: %d %v", h[0], code, out)
			}
		}
	})
	t.Run("insecure open", func(t *testing.T) {
		s := startNodeOn(t, "0.0.0.0", bin, "serve", t.TempDir(), "--insecure-open")
		if code, out := post(s, "", ""); code != http.StatusOK || out["stdout"] != "42\n" {
			t.Errorf("%d %v", code, out)
		}
	})
}

// By default a callback may not reach the server's own host: the job
// finishes, the local receiver never hears of it, and the log says why.
func TestServeRefusesLocalCallbacks(t *testing.T) {
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer receiver.Close()
	s := startServer(t, build(t), t.TempDir())
	body, _ := json.Marshal(map[string]any{"language": "python", "code": "print(1)", "callback_url": receiver.URL + "/hook"})
	id := s.call("POST", "/v1/executions", string(body))["id"].(string)
	s.waitStatus(id, "ok")
	time.Sleep(500 * time.Millisecond) // a callback would be on its way by now
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the local receiver was called %d times", n)
	}
	if !strings.Contains(s.logs.String(), "callback failed") || !strings.Contains(s.logs.String(), "not allowed") {
		t.Errorf("the log does not say the callback was refused:\n%s", s.logs)
	}
}

// The config file's limits reach the served API: the server's and a
// key's, shown by /v1/limits and enforced.
func TestServeLimits(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	config := filepath.Join(data, "airlock.yaml")
	file := "limits:\n  max: {memory: 512M}\n  default: {wall: 4s}\nkeys:\n" +
		"  - id: alice\n    sha256: " + auth.HashToken("alice-token") + "\n    limits: {max: {memory: 100M}}\n"
	if err := os.WriteFile(config, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, bin, data, "--config", config)
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer alice-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(raw))
	}
	code, raw := do("GET", "/v1/limits", "")
	var got struct {
		Run struct{ Default, Max map[string]int64 }
	}
	if err := json.Unmarshal([]byte(raw), &got); code != 200 || err != nil || got.Run.Max["memory_mb"] != 100 || got.Run.Default["wall_ms"] != 4000 {
		t.Errorf("/v1/limits: %d %s", code, raw)
	}
	if code, raw := do("POST", "/v1/executions", `{"language":"python","code":"x","limits":{"memory_mb":101}}`); code != 422 || raw != `{"error":"limits.memory_mb: at most 100 (this server's maximum)"}` {
		t.Errorf("above the key's maximum: %d %s", code, raw)
	}
}
