package main

import (
	"bufio"
	"bytes"
	"context"
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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

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
// the job finishes after the next start, the attempt it stopped not
// counted.
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
	if job["status"] != "ok" || job["attempts"] != 1.0 {
		t.Fatalf("job re-queued by the shutdown: %v (want ok, and the stopped attempt not counted)", job)
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
		return doJSON(t, req)
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

// answer is what a client waiting for its job was told.
type answer struct {
	code  int
	body  map[string]any
	retry string
	err   error
}

// postJSON sends a request and reads its JSON answer.
func postJSON(url, body string) answer {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, retry: resp.Header.Get("Retry-After")}
	a.err = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

// TestServeShutdownAnswersWaiters: SIGTERM while clients wait for their
// jobs (?wait=true, Judge0's wait, Piston's execute). The shutdown keeps
// to the grace period; a job that finishes within it is answered with
// its result, one it stops or that had not started with its id (202, or
// Judge0's token), and Piston's, whose client cannot come back for it, is
// cancelled with a 503 (its retry runs it once). After the restart every
// accepted job runs exactly once, and the stopped one has used up no
// attempt.
func TestServeShutdownAnswersWaiters(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	var b [8]byte
	rand.Read(b[:])
	marker := "airlock-drain-" + hex.EncodeToString(b[:])
	sleeper := "import sys, time\ntime.sleep(float(sys.argv[1]))\nprint('slept')"
	native := func(code string, args ...string) string {
		body, _ := json.Marshal(map[string]any{"language": "python", "code": code, "args": args})
		return string(body)
	}
	s := startServer(t, bin, data, "--workers", "4", "--grace", "1s", "--pool", "python=0")
	answers := map[string]chan answer{}
	wait := func(name, path, body string) {
		ch := make(chan answer, 1)
		answers[name] = ch
		go func() { ch <- postJSON(s.url+path, body) }()
	}
	running := func(names ...string) {
		t.Helper()
		for _, name := range names {
			for deadline := time.Now().Add(20 * time.Second); len(processesWith(marker+name)) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("job %s is not running", name)
				}
			}
		}
	}
	// A Piston session, whose client is told, and whose job is cancelled.
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(s.url, "http")+"/api/v2/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	session, _ := json.Marshal(map[string]any{"type": "init", "language": "python", "version": "*", "run_timeout": 10000,
		"files": []map[string]string{{"content": sleeper}}, "args": []string{"8", marker + "session"}})
	if err := ws.Write(context.Background(), websocket.MessageText, session); err != nil {
		t.Fatal(err)
	}
	sessionEnd := make(chan string, 1)
	go func() {
		var events []string
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				sessionEnd <- fmt.Sprintf("%s close %d", strings.Join(events, " "), websocket.CloseStatus(err))
				return
			}
			var e struct{ Type string }
			json.Unmarshal(data, &e)
			events = append(events, e.Type)
		}
	}()
	running("session")
	// Three running jobs outlast the grace period, one ends within it...
	wait("long", "/v1/executions?wait=true", native(sleeper, "5", marker+"long"))
	piston, _ := json.Marshal(map[string]any{"language": "python", "version": "*", "run_timeout": 8000,
		"files": []map[string]string{{"content": sleeper}}, "args": []string{"5", marker + "piston"}})
	wait("piston", "/api/v2/execute", string(piston))
	running("long", "piston")
	wait("short", "/v1/executions?wait=true", native(sleeper, "0.2", marker+"short"))
	running("short")
	// ...and two are queued behind them.
	wait("queued", "/v1/executions?wait=true", native("print('queued')"))
	wait("judge0", "/submissions?wait=true", `{"language_id":71,"source_code":"print('judge0')"}`)
	for deadline := time.Now().Add(10 * time.Second); s.call("GET", "/healthz", "")["queue"] != 2.0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two jobs were not queued")
		}
	}

	start := time.Now()
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v with a 1s grace period", took)
	}
	got := map[string]answer{}
	for name, ch := range answers {
		select {
		case got[name] = <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no answer", name)
		}
	}
	if a := got["short"]; a.err != nil || a.code != 200 || a.body["status"] != "ok" || a.body["stdout"] != "slept\n" {
		t.Errorf("job finished within the grace period: %d %v %v", a.code, a.body, a.err)
	}
	for _, name := range []string{"long", "queued"} {
		if a := got[name]; a.err != nil || a.code != 202 || a.body["id"] == nil || a.body["status"] != "queued" {
			t.Errorf("%s job: %d %v %v, want 202 with its id, queued", name, a.code, a.body, a.err)
		}
	}
	if a := got["judge0"]; a.err != nil || a.code != 201 || a.body["token"] == nil {
		t.Errorf("Judge0 submission: %d %v %v, want 201 with its token", a.code, a.body, a.err)
	}
	if a := got["piston"]; a.err != nil || a.code != 503 || a.retry == "" || a.body["message"] == nil {
		t.Errorf("Piston execute: %d %v %v, want 503 with Retry-After", a.code, a.body, a.err)
	}
	select {
	case end := <-sessionEnd:
		if !strings.HasSuffix(end, "error close 4002") {
			t.Errorf("Piston session: %s, want an error event and close 4002", end)
		}
	case <-time.After(5 * time.Second):
		t.Error("the Piston session was left open")
	}
	if t.Failed() {
		return
	}

	s = startServer(t, bin, data, "--workers", "3", "--pool", "python=0")
	long := s.waitStatus(got["long"].body["id"].(string), "ok", "runtime_error", "internal_error", "cancelled")
	if long["status"] != "ok" || long["stdout"] != "slept\n" || long["attempts"] != 1.0 {
		t.Errorf("the job the shutdown stopped, after the restart: %v (want ok, 1 attempt)", long)
	}
	if queued := s.waitStatus(got["queued"].body["id"].(string), "ok", "runtime_error", "internal_error", "cancelled"); queued["status"] != "ok" {
		t.Errorf("the queued job after the restart: %v", queued)
	}
	token := got["judge0"].body["token"].(string)
	audited := func() map[string]int {
		ran := map[string]int{}
		auditLog, _ := os.ReadFile(filepath.Join(data, "audit.log"))
		for _, line := range strings.Split(strings.TrimSpace(string(auditLog)), "\n") {
			var entry struct {
				ID     string `json:"job_id"`
				API    string `json:"api"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			if entry.API == "piston" && entry.Status != "cancelled" {
				t.Fatalf("a Piston job whose client was told to retry ran: %s", line)
			}
			ran[entry.ID]++
		}
		return ran
	}
	for deadline := time.Now().Add(20 * time.Second); audited()[token] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Judge0 submission did not run after the restart")
		}
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("idle SIGTERM: exit %v", err)
	}
	ran := audited()
	for _, id := range []string{got["short"].body["id"].(string), got["long"].body["id"].(string), got["queued"].body["id"].(string), token} {
		if ran[id] != 1 {
			t.Errorf("job %s ran %d times, want once", id, ran[id])
		}
	}
}

// setFileLimit sets this process's limit of open files (soft and hard),
// which the servers it starts inherit, until the test ends.
func setFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		t.Fatalf("set the limit of open files to %d: %v", n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// floodEnv makes the test binary a flooding client (see flood): "ADDR
// idle|slow N".
const floodEnv = "AIRLOCK_TEST_FLOOD"

// flood opens n connections to addr and holds them until its stdin
// closes: idle keep-alives that have had an answer, or slow ones that
// have sent part of their request's headers. It reports how many it
// opened and how many failed. Each flood is a process of its own, for its
// own limit of open files.
func flood(spec string) int {
	var addr, kind string
	var n int
	if _, err := fmt.Sscan(spec, &addr, &kind, &n); err != nil {
		fmt.Println(err)
		return 2
	}
	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	var next, failed atomic.Int64
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
				c.SetDeadline(time.Now().Add(time.Second))
				if kind == "slow" {
					_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
				} else if _, err = io.WriteString(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
					var resp *http.Response
					if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	fmt.Println(len(open), failed.Load())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startFlood runs a flood and waits for its report.
func startFlood(t *testing.T, addr, kind string, n int) (opened, failed int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", floodEnv, addr, kind, n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	if _, err := fmt.Fscan(stdout, &opened, &failed); err != nil {
		t.Fatalf("flood of %s connections: %v", kind, err)
	}
	return opened, failed
}

// TestServeManyConnections: 16 000 idle keep-alive connections and 4 000
// that have sent part of their request headers, from loopback, to a
// server allowed 20 000 open files: a normal client is still served, at
// once. (Connections still sending their headers are closed after 10 s
// whatever the bound; the idle ones are what used to stay for ever.)
func TestServeManyConnections(t *testing.T) {
	bin := build(t)
	setFileLimit(t, 20000)
	s := startServer(t, bin, t.TempDir(), "--workers", "1", "--pool", "python=0")
	addr := strings.TrimPrefix(s.url, "http://")
	start := time.Now()
	idle, idleFailed := startFlood(t, addr, "idle", 16000)
	slow, slowFailed := startFlood(t, addr, "slow", 4000)
	t.Logf("in %v: %d idle connections opened (%d failed), %d slow ones (%d failed)", time.Since(start).Round(time.Millisecond), idle, idleFailed, slow, slowFailed)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start = time.Now()
	resp, err := client.Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("a normal client is not served: %v", err)
	}
	resp.Body.Close()
	healthz := time.Since(start)
	start = time.Now()
	resp, err = client.Post(s.url+"/v1/executions?wait=true", "application/json", strings.NewReader(`{"language":"python","code":"print(1)"}`))
	if err != nil {
		t.Fatalf("a normal client's job: %v", err)
	}
	var job map[string]any
	json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if resp.StatusCode != 200 || job["stdout"] != "1\n" {
		t.Fatalf("a normal client's job: %d %v", resp.StatusCode, job)
	}
	t.Logf("a normal client: /healthz in %v, a job with ?wait=true in %v", healthz.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
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
