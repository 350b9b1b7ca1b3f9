package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/testserver"
)

// fleet is a distributed deployment of one test: real PostgreSQL, Redis
// (persisting, as production's must) and S3 servers, and airlock
// processes (API-only nodes and workers) started from the built binary.
type fleet struct {
	t      *testing.T
	bin    string
	redis  *testserver.RedisServer
	shared []string // the flags every node takes
}

// fleetLease is short, so that a dead worker's job comes back quickly.
const fleetLease = "2s"

func newFleet(t *testing.T, extra ...string) *fleet {
	t.Helper()
	return newFleetWith(t, testserver.RedisOptions{Persist: true}, extra...)
}

func newFleetWith(t *testing.T, redis testserver.RedisOptions, extra ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, bin: build(t), redis: testserver.StartRedis(t, redis)}
	f.shared = append([]string{
		"--store", testserver.Postgres(t), "--queue", f.redis.URL(), "--blobs", testserver.S3(t),
		"--lease", fleetLease,
		// No warm pool: a job's process is found by its command line,
		// and a pooled interpreter's is the bootstrap's.
		"--pool", "python=0,javascript=0",
	}, extra...)
	return f
}

// api starts an API-only node.
func (f *fleet) api(extra ...string) *server {
	f.t.Helper()
	return startNode(f.t, f.bin, "serve", f.t.TempDir(), append(append([]string{"--no-workers"}, f.shared...), extra...)...)
}

// worker starts a worker node; its audit log is in its data directory.
func (f *fleet) worker(extra ...string) (*server, string) {
	f.t.Helper()
	data := f.t.TempDir()
	return startNode(f.t, f.bin, "worker", data, append(slices.Clone(f.shared), extra...)...), filepath.Join(data, "audit.log")
}

// finishedJobs counts the jobs of the audit logs: one line per job
// finished.
func finishedJobs(t *testing.T, logs ...string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var entry struct {
				ID string `json:"job_id"`
			}
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			counts[entry.ID]++
		}
	}
	return counts
}

// runningIn says which of the nodes runs the process pid: the one it
// descends from.
func runningIn(t *testing.T, pid int, nodes ...*server) *server {
	t.Helper()
	for p := pid; p > 1; {
		for _, n := range nodes {
			if n.cmd.Process.Pid == p {
				return n
			}
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			break
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if p, err = strconv.Atoi(fields[1]); err != nil {
			break
		}
	}
	t.Fatalf("process %d belongs to none of the nodes", pid)
	return nil
}

// jobProcess waits for the host process of a running job, found by a
// marker on its command line.
func jobProcess(t *testing.T, marker string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if pids := processesWith(marker); len(pids) > 0 {
			return pids[0]
		}
	}
	t.Fatal("the running job's process is not visible on the host")
	return 0
}

func newMarker() string {
	var b [8]byte
	rand.Read(b[:])
	return "airlock-fleet-" + hex.EncodeToString(b[:])
}

const sleeper = "import sys, time\ntime.sleep(float(sys.argv[1]))\nprint('slept')"

// TestFleetKillWorker: kill -9 of the worker running a job; another worker
// takes it over once its lease runs out and runs it to the end, and every
// job, the jobs queued behind it included, finishes exactly once.
func TestFleetKillWorker(t *testing.T) {
	f := newFleet(t)
	api := f.api()
	w1, audit1 := f.worker("--workers", "1")
	w2, audit2 := f.worker("--workers", "1")
	marker := newMarker()
	long := api.submit(sleeper, "3", marker)
	api.waitStatus(long, "running")
	var short []string
	for i := range 6 {
		short = append(short, api.submit(fmt.Sprintf("print(%d)", i)))
	}
	victim := runningIn(t, jobProcess(t, marker), w1, w2)
	killed := time.Now()
	victim.stop(syscall.SIGKILL)

	// Taken again once the lease runs out: 2 s after its last extension,
	// which came at most a third of that before the kill.
	for job := api.waitStatus(long, "running"); job["attempts"] != 2.0; job = api.waitStatus(long, "running") {
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(killed); took < 1200*time.Millisecond || took > 10*time.Second {
		t.Errorf("the job was taken again %v after its worker died; its lease is %s", took, fleetLease)
	}
	job := api.waitStatus(long, "ok", "runtime_error", "internal_error", "cancelled")
	if job["status"] != "ok" || job["stdout"] != "slept\n" || job["attempts"] != 2.0 {
		t.Fatalf("the job of the killed worker: %v", job)
	}
	for i, id := range short {
		job := api.waitStatus(id, "ok", "runtime_error", "internal_error")
		if job["stdout"] != fmt.Sprintf("%d\n", i) {
			t.Errorf("short job %d: %v", i, job)
		}
	}
	// The killed worker's sandbox died with it.
	time.Sleep(200 * time.Millisecond)
	if left := processesWith(marker); len(left) > 0 {
		t.Errorf("processes %v of the killed worker's job are left", left)
	}
	finished := finishedJobs(t, audit1, audit2)
	for _, id := range append(short, long) {
		if finished[id] != 1 {
			t.Errorf("job %s finished %d times, want once", id, finished[id])
		}
	}
}

// TestFleetPoisonJob: a job whose every run kills its worker is given up
// as internal_error after --max-attempts starts, rather than passed from
// worker to worker for ever.
func TestFleetPoisonJob(t *testing.T) {
	f := newFleet(t, "--max-attempts", "2")
	api := f.api()
	marker := newMarker()
	w, _ := f.worker("--workers", "1") // a job no live worker serves is refused
	poison := api.submit(sleeper, "60", marker)
	for attempt := 1.0; attempt <= 2; attempt++ {
		if attempt > 1 {
			w, _ = f.worker("--workers", "1")
		}
		job := api.waitStatus(poison, "running")
		for job["attempts"] != attempt {
			time.Sleep(20 * time.Millisecond)
			job = api.waitStatus(poison, "running")
		}
		runningIn(t, jobProcess(t, marker), w)
		w.stop(syscall.SIGKILL)
	}
	_, audit := f.worker("--workers", "1")
	job := api.waitStatus(poison, "internal_error", "ok", "runtime_error", "cancelled")
	if job["status"] != "internal_error" || job["attempts"] != 3.0 || !strings.Contains(fmt.Sprint(job["message"]), "given up after 2 attempts") {
		t.Fatalf("poison job: %v", job)
	}
	if n := finishedJobs(t, audit)[poison]; n != 1 {
		t.Errorf("the poison job finished %d times, want once", n)
	}
}

// TestFleetServersRestart: Redis and then PostgreSQL crash and come back
// while clients submit jobs; requests meanwhile get 503 with a reason,
// nodes and workers recover by themselves, and every job accepted
// finishes exactly once with its own output.
func TestFleetServersRestart(t *testing.T) {
	f := newFleet(t)
	api := f.api()
	_, audit1 := f.worker()
	_, audit2 := f.worker()

	var (
		mu       sync.Mutex
		accepted = map[string]int{} // job id → the number it prints
		refused  = map[string]int{} // reason of a 503 → how many
		wg       sync.WaitGroup
	)
	const clients, perClient = 4, 40
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				n := c*perClient + i
				body := fmt.Sprintf(`{"language":"python","code":"print(%d)"}`, n)
				for {
					code, out := post(t, api.url+"/v1/executions", body)
					if code == http.StatusAccepted || code == http.StatusOK {
						mu.Lock()
						accepted[out["id"].(string)] = n
						mu.Unlock()
						break
					}
					if code != http.StatusServiceUnavailable || out["error"] == nil {
						t.Errorf("submit: %d %v", code, out)
						return
					}
					mu.Lock()
					refused[fmt.Sprint(out["error"])]++
					mu.Unlock()
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	f.redis.Stop(t)
	time.Sleep(time.Second)
	f.redis.Start(t)
	time.Sleep(500 * time.Millisecond)
	testserver.RestartPostgres(t, time.Second)
	wg.Wait()

	if len(accepted) != clients*perClient {
		t.Fatalf("%d jobs accepted, want %d", len(accepted), clients*perClient)
	}
	for id, n := range accepted {
		var job map[string]any
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			code, out := get(t, api.url+"/v1/executions/"+id)
			if code == http.StatusOK && out["status"] != "queued" && out["status"] != "running" {
				job = out
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is still %d %v after a minute", id, code, out)
			}
		}
		if job["status"] != "ok" || job["stdout"] != fmt.Sprintf("%d\n", n) {
			t.Errorf("job %s: %v", id, job)
		}
	}
	finished := finishedJobs(t, audit1, audit2)
	for id := range accepted {
		if finished[id] != 1 {
			t.Errorf("job %s finished %d times, want once", id, finished[id])
		}
	}
	t.Logf("refused while a server was down: %v", refused)
	if len(refused) == 0 {
		t.Errorf("no request was refused with 503 while the servers were down")
	}
	for reason := range refused {
		if !strings.Contains(reason, "unavailable") {
			t.Errorf("503 reason %q does not say what is unavailable", reason)
		}
	}
}

// withPassword is rawURL with another password.
func withPassword(t *testing.T, rawURL, password string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// post sends a job; code 0 is a request that failed (reported).
func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	return decode(t, resp)
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Errorf("%s: %d %q is not JSON", resp.Request.URL, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// TestFleetRefusesBadServers: a wrong URL, a server that is not there,
// one that never answers, or refused credentials: one line on stderr and
// a non-zero exit, in bounded time. So does a node that can only work in
// a fleet started without one.
func TestFleetRefusesBadServers(t *testing.T) {
	bin := build(t)
	pg, s3 := testserver.Postgres(t), testserver.S3(t)
	redis := testserver.Redis(t)
	closed := testserver.ClosedPort(t)
	silent := testserver.Silent(t)
	wrongPassword, wrongSecret := withPassword(t, pg, "hunter2"), withPassword(t, s3, "hunter2")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"store URL", []string{"serve", "--store", "mysql://root:hunter2@db/x"}, exitUsage, "postgres://"},
		{"store refused", []string{"serve", "--store", "postgres://airlock:hunter2@" + closed + "/x"}, 1, "store: postgres"},
		{"store silent", []string{"serve", "--store", "postgres://airlock:hunter2@" + silent + "/x"}, 1, "store: postgres"},
		{"store password", []string{"serve", "--store", wrongPassword}, 1, "password authentication failed"},
		{"queue refused", []string{"serve", "--queue", "redis://:hunter2@" + closed + "/0"}, 1, "queue: redis"},
		{"queue silent", []string{"serve", "--queue", "redis://" + silent + "/0"}, 1, "queue: redis"},
		{"blobs secret", []string{"serve", "--store", pg, "--queue", redis, "--blobs", wrongSecret}, 1, "blobs: s3"},
		{"worker without a queue", []string{"worker"}, exitUsage, "--queue redis://"},
		{"API-only without a queue", []string{"serve", "--no-workers"}, exitUsage, "--queue redis://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--pool", "python=0,javascript=0")
			cmd := exec.Command(bin, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			code := -1
			if ee, ok := err.(interface{ ExitCode() int }); ok {
				code = ee.ExitCode()
			}
			msg := strings.TrimSpace(stderr.String())
			if code != tc.code || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
				t.Fatalf("exit %d, want %d; stderr (want one line with %q):\n%s", code, tc.code, tc.want, msg)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("the error shows a password: %s", msg)
			}
			if took > 15*time.Second {
				t.Errorf("took %v to fail", took)
			}
		})
	}
}

// TestFleetScale: one API node and 1, 2, then 3 worker processes run 500
// short jobs each time, every one of them to the end. It logs the
// throughput for each worker count (go test -v -run TestFleetScale); on a
// machine of two CPUs more workers cannot add much, the figures say how
// little the fleet's own coordination costs.
func TestFleetScale(t *testing.T) {
	const jobs, clients = 500, 16
	for workers := 1; workers <= 3; workers++ {
		t.Run(fmt.Sprint(workers, "-workers"), func(t *testing.T) {
			f := newFleet(t, "--pool", "python=2")
			api := f.api()
			for range workers {
				f.worker()
			}
			ids := make(chan string, jobs)
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					for i := c; i < jobs; i += clients {
						code, out := post(t, api.url+"/v1/executions", fmt.Sprintf(`{"language":"python","code":"print(%d)"}`, i))
						if code != http.StatusAccepted {
							t.Errorf("submit: %d %v", code, out)
							return
						}
						ids <- out["id"].(string)
					}
				})
			}
			wg.Wait()
			close(ids)
			var first, last time.Time
			for id := range ids {
				job := api.waitStatus(id, "ok", "runtime_error", "internal_error", "time_limit", "memory_limit")
				if job["status"] != "ok" {
					t.Fatalf("job %s: %v", id, job)
				}
				created, _ := time.Parse(time.RFC3339Nano, job["created_at"].(string))
				finished, _ := time.Parse(time.RFC3339Nano, job["finished_at"].(string))
				if first.IsZero() || created.Before(first) {
					first = created
				}
				if finished.After(last) {
					last = finished
				}
			}
			took := last.Sub(first)
			t.Logf("%d worker process(es): %d jobs in %v, %.0f jobs/s", workers, jobs, took.Round(time.Millisecond), jobs/took.Seconds())
		})
	}
}

// TestFleetCancelAndShutdown: a cancel sent to an API node stops the job
// running on a worker (through the store's flag); a worker stopped with
// SIGTERM while a job outlasts its grace exits 0 and the job goes back to
// the queue, for another worker to run to the end, the attempt it stopped
// not counted.
func TestFleetCancelAndShutdown(t *testing.T) {
	f := newFleet(t)
	api := f.api()
	w1, _ := f.worker("--workers", "1", "--grace", "300ms")

	marker := newMarker()
	doomed := api.submit(sleeper, "60", marker)
	api.waitStatus(doomed, "running")
	jobProcess(t, marker)
	cancelled := time.Now()
	api.call("DELETE", "/v1/executions/"+doomed, "")
	job := api.waitStatus(doomed, "cancelled", "ok", "runtime_error", "internal_error")
	if job["status"] != "cancelled" {
		t.Fatalf("cancelled job: %v", job)
	}
	if took := time.Since(cancelled); took > 5*time.Second {
		t.Errorf("the cancel took %v to stop the job on its worker", took)
	}
	time.Sleep(200 * time.Millisecond)
	if left := processesWith(marker); len(left) > 0 {
		t.Errorf("processes %v of the cancelled job are left", left)
	}

	long := api.submit(sleeper, "2", marker)
	api.waitStatus(long, "running")
	jobProcess(t, marker)
	if err := w1.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0", err)
	}
	if job := api.waitStatus(long, "queued", "running"); job["status"] != "queued" {
		t.Fatalf("job of a worker stopped past its grace: %v, want queued again", job)
	}
	_, audit := f.worker("--workers", "1")
	job = api.waitStatus(long, "ok", "runtime_error", "internal_error", "cancelled")
	if job["status"] != "ok" || job["stdout"] != "slept\n" || job["attempts"] != 1.0 {
		t.Fatalf("requeued job: %v (want ok, the attempt the shutdown stopped not counted)", job)
	}
	if n := finishedJobs(t, audit)[long]; n != 1 {
		t.Errorf("the requeued job finished %d times, want once", n)
	}
}

// TestFleetRedisLosesData: a Redis without persistence restarts empty with
// a job running and others queued. The running job, which no other worker
// took, runs on to the end; the API node pushes the queued ones again
// (--lost-after), and each finishes once.
func TestFleetRedisLosesData(t *testing.T) {
	f := newFleetWith(t, testserver.RedisOptions{}, "--lost-after", "2s")
	api := f.api()
	w, audit := f.worker("--workers", "1")
	marker := newMarker()
	long := api.submit(sleeper, "4", marker)
	api.waitStatus(long, "running")
	jobProcess(t, marker)
	var queued []string
	for i := range 5 {
		queued = append(queued, api.submit(fmt.Sprintf("print(%d)", i)))
	}
	f.redis.Restart(t)

	job := api.waitStatus(long, "ok", "runtime_error", "internal_error", "cancelled")
	if job["status"] != "ok" || job["stdout"] != "slept\n" || job["attempts"] != 1.0 {
		t.Fatalf("the job running when Redis lost its data: %v", job)
	}
	for i, id := range queued {
		job := api.waitStatus(id, "ok", "runtime_error", "internal_error", "cancelled")
		if job["status"] != "ok" || job["stdout"] != fmt.Sprintf("%d\n", i) {
			t.Errorf("queued job %d: %v", i, job)
		}
	}
	finished := finishedJobs(t, audit)
	for _, id := range append(queued, long) {
		if finished[id] != 1 {
			t.Errorf("job %s finished %d times, want once", id, finished[id])
		}
	}
	// Read once the processes have ended: their logs are still being
	// written until then.
	api.stop(syscall.SIGTERM)
	w.stop(syscall.SIGTERM)
	if !strings.Contains(api.logs.String(), "pushed again a job the queue had lost") {
		t.Errorf("the API node did not say it pushed lost jobs again:\n%s", api.logs)
	}
	if !strings.Contains(w.logs.String(), "runs on without one") {
		t.Errorf("the worker did not say it ran on without a lease:\n%s", w.logs)
	}
}

// A key's rate limit holds across the fleet's API nodes: they take from
// one budget in Redis, not each from its own.
func TestFleetSharedRateLimit(t *testing.T) {
	f := newFleet(t)
	config := filepath.Join(t.TempDir(), "airlock.yaml")
	keys := "keys:\n  - id: alice\n    sha256: " + auth.HashToken("alice-token") + "\n    rate: 0.2\n    burst: 2\n"
	if err := os.WriteFile(config, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := []*server{f.api("--config", config), f.api("--config", config)}
	var codes []int
	for i := range 4 {
		req, _ := http.NewRequest("GET", nodes[i%2].url+"/v1/languages", nil)
		req.Header.Set("Authorization", "Bearer alice-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if !slices.Equal(codes, []int{200, 200, 429, 429}) {
		t.Errorf("answers alternating between two nodes: %v, want a burst of 2 for the fleet, then 429", codes)
	}
}
