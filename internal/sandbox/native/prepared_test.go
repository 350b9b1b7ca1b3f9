package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// preparedEnv, set to 1, runs every test program of this package in a
// prepared sandbox: execBootstrap starts first and waits for the program
// as its job, so the whole security suite also proves prepared sandboxes.
const preparedEnv = "AIRLOCK_TEST_PREPARED"

// execBootstrap writes the job's files and execs its command line with its
// environment. Python ignores SIGPIPE and SIGXFSZ, and an ignored signal
// stays ignored across exec: both are reset first.
const execBootstrap = `
import base64, json, os, signal
os.write(3, b"R")
data = b"".join(iter(lambda: os.read(3, 1 << 20), b""))
os.close(3)
job = json.loads(data)
for f in job["files"] or []:
    name = os.path.join("/box", f["Name"])
    if name.endswith("/"):
        os.makedirs(name, exist_ok=True)
        continue
    os.makedirs(os.path.dirname(name), exist_ok=True)
    mode = f["Mode"] or 0o644
    with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        out.write(base64.b64decode(f["Content"] or ""))
    os.chmod(name, mode)
for s in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
try:
    os.execve(job["argv"][0], job["argv"], dict(e.split("=", 1) for e in job["env"] or []))
except OSError as e:
    os.write(2, ("airlock: exec %s: %s\n" % (job["argv"][0], os.strerror(e.errno).lower())).encode())
    os._exit(127)
`

// waitJob starts a Python program that says it is ready for its job.
const waitJob = "import os\nos.write(3, b'R')\n"

// runSpec runs spec on r, in a prepared sandbox when preparedEnv says so.
func runSpec(ctx context.Context, r *Runner, spec sandbox.Spec) (sandbox.Result, error) {
	if os.Getenv(preparedEnv) != "1" {
		return r.Run(ctx, spec)
	}
	return runPrepared(ctx, r, spec)
}

func runPrepared(ctx context.Context, r *Runner, spec sandbox.Spec) (sandbox.Result, error) {
	job, err := json.Marshal(map[string]any{"argv": spec.Argv, "env": spec.Env, "files": spec.Files})
	if err != nil {
		return sandbox.Result{}, err
	}
	// Prepared as the engine prepares its pools, with the most any job may
	// ask: the job's own limits are put in place when it comes.
	boot := spec
	boot.Argv = []string{"/usr/bin/python3", "-c", execBootstrap}
	boot.Files = nil
	boot.Limits = airlock.MaxLimits
	boot.Limits.TmpBytes = spec.Limits.TmpBytes
	p, err := r.Prepare(ctx, boot)
	if err != nil {
		return sandbox.Result{}, err
	}
	return p.Run(ctx, sandbox.Job{Input: job, Stdin: spec.Stdin, Limits: spec.Limits, Interleave: spec.Interleave, Collect: spec.Collect, Live: spec.Live})
}

// TestPreparedTimesFromJob: a prepared program's start-up is not the job's
// time, and its wall and CPU limits count from the job.
func TestPreparedTimesFromJob(t *testing.T) {
	r := runner(t)
	before := hostSnapshot(t)
	// The bootstrap burns CPU before it reads its job.
	spec := sandbox.Spec{
		Argv:   []string{"/usr/bin/python3", "-c", "import os, time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nos.write(3, b'R')\nprint(os.read(3, 100).decode())"},
		Limits: airlock.Limits{CPU: time.Second},
	}
	p, err := r.Prepare(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // waiting is not the job's either
	res, err := p.Run(t.Context(), sandbox.Job{Input: []byte("job"), Limits: airlock.Limits{CPU: 200 * time.Millisecond, Wall: 500 * time.Millisecond}})
	if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "job\n" {
		t.Fatalf("%v %s %q %q", err, res.Status, res.Stdout, res.Stderr)
	}
	if res.Usage.CPUMillis >= 200 || res.Usage.WallMillis >= 500 {
		t.Errorf("usage %+v counts the start-up or the wait", res.Usage)
	}
	if _, err := p.Run(t.Context(), sandbox.Job{}); err == nil {
		t.Error("a prepared sandbox ran a second job")
	}
	assertHostClean(t, before)
}

// TestPreparedLimits: the job's own wall and CPU limits hold.
func TestPreparedLimits(t *testing.T) {
	r := runner(t)
	for _, c := range []struct {
		code string
		lim  airlock.Limits
		msg  string
	}{
		{"while True: pass", airlock.Limits{CPU: 300 * time.Millisecond}, "CPU time limit exceeded"},
		{"import time; time.sleep(10)", airlock.Limits{Wall: 300 * time.Millisecond, CPU: time.Second}, "wall time limit exceeded"},
	} {
		p, err := r.Prepare(t.Context(), sandbox.Spec{Argv: []string{"/usr/bin/python3", "-c", waitJob + "exec(os.read(3, 1000))"}, Limits: airlock.Limits{CPU: 2 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Run(t.Context(), sandbox.Job{Input: []byte(c.code), Limits: c.lim})
		if err != nil || res.Status != airlock.StatusTimeLimit || res.Message != c.msg {
			t.Errorf("%q: %v %s %q", c.code, err, res.Status, res.Message)
		}
	}
}

// TestPreparedTightened: a job that asks less than its sandbox was
// prepared with gets its own limits.
func TestPreparedTightened(t *testing.T) {
	r := runner(t)
	check := `
import os, resource
print([resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE, resource.RLIMIT_STACK)], flush=True)
pids = 0
try:
    for _ in range(20):
        if os.fork() == 0:
            os._exit(0)
        pids += 1
except OSError:
    pass
print(pids, flush=True)
b = bytearray(100 << 20)
print("allocated")
`
	p, err := r.Prepare(t.Context(), sandbox.Spec{Argv: []string{"/usr/bin/python3", "-c", waitJob + "exec(os.read(3, 10000))"}, Limits: airlock.Limits{CPU: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	lim := airlock.Limits{CPU: time.Second, Memory: 48 << 20, Pids: 4, OpenFiles: 32, FileSize: 1 << 20, Stack: 4 << 20}
	res, err := p.Run(t.Context(), sandbox.Job{Input: []byte(check), Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	want := "[(32, 32), (1048576, 1048576), (4194304, 4194304)]\n"
	if res.Status != airlock.StatusMemoryLimit || !strings.HasPrefix(string(res.Stdout), want) || strings.Contains(string(res.Stdout), "allocated") {
		t.Fatalf("%s %q %q", res.Status, res.Stdout, res.Stderr)
	}
	var forked int
	fmt.Sscan(strings.TrimPrefix(string(res.Stdout), want), &forked)
	if forked >= 4 {
		t.Errorf("forked %d under a limit of 4 processes", forked)
	}
}

// TestPreparedRefusals: a job whose limits the sandbox was not prepared
// with is refused, and a program that ended before its job is stale; both
// leave the host clean.
func TestPreparedRefusals(t *testing.T) {
	r := runner(t)
	before := hostSnapshot(t)
	waiter := sandbox.Spec{Argv: []string{"/usr/bin/python3", "-c", waitJob + "os.read(3, 1)"}, Limits: airlock.Limits{CPU: time.Second}}
	p, err := r.Prepare(t.Context(), waiter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(t.Context(), sandbox.Job{Limits: airlock.Limits{CPU: time.Second, Memory: 512 << 20}}); err == nil || errors.Is(err, sandbox.ErrStale) {
		t.Errorf("more memory than prepared: %v", err)
	}
	if _, err := r.Prepare(t.Context(), sandbox.Spec{Argv: []string{"/bin/sh", "-c", "echo cannot start >&2"}}); err == nil || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("a program that never gets ready: %v", err)
	}
	p, err = r.Prepare(t.Context(), sandbox.Spec{Argv: []string{"/bin/sh", "-c", "printf R >&3"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := p.Run(t.Context(), sandbox.Job{}); !errors.Is(err, sandbox.ErrStale) {
		t.Errorf("ended before its job: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Prepare(ctx, sandbox.Spec{Argv: []string{"/bin/sleep", "60"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a start-up past the deadline: %v", err)
	}
	p, err = r.Prepare(t.Context(), waiter)
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryBytes() <= 0 {
		t.Error("a waiting sandbox reports no memory")
	}
	p.Close()
	p.Close()
	assertHostClean(t, before)
}

// TestPreparedIsolation: a job cannot reach the sandboxes still waiting
// for theirs — not their processes, files or job channels — and a new
// sandbox on a slot sees nothing of the job that ran there before.
func TestPreparedIsolation(t *testing.T) {
	r := runner(t)
	waiting := make([]sandbox.Prepared, 3)
	for i := range waiting {
		p, err := r.Prepare(t.Context(), python(waitJob+"import sys\nsys.stdout.write(os.read(3, 100).decode())\n", airlock.Limits{}))
		if err != nil {
			t.Fatal(err)
		}
		waiting[i] = p
	}
	attack := `
import glob, os, signal
hits = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
            hits.append("kill " + pid)
        except OSError:
            pass
for path in glob.glob("/proc/*/fd/*") + glob.glob("/proc/*/root/box/*"):
    if path.split("/")[2] in ("self", "thread-self", str(os.getpid())):
        continue
    try:
        with open(path, "w") as f:
            f.write("tampered")
        hits.append(path)
    except OSError:
        pass
open("/box/left", "w").write("secret")
open("/tmp/left", "w").write("secret")
open("/dev/shm/left", "w").write("secret")
print(hits)
`
	res, err := runPrepared(t.Context(), r, python(attack, airlock.Limits{}))
	if err != nil || res.Status != airlock.StatusOK || strings.TrimSpace(string(res.Stdout)) != "[]" {
		t.Fatalf("attack: %v %s %q %q", err, res.Status, res.Stdout, res.Stderr)
	}
	for i, p := range waiting {
		res, err := p.Run(t.Context(), sandbox.Job{Input: []byte("intact")})
		if err != nil || res.Status != airlock.StatusOK || string(res.Stdout) != "intact" {
			t.Errorf("waiting sandbox %d after the attack: %v %s %q %q", i, err, res.Status, res.Stdout, res.Stderr)
		}
	}
	look := "import glob\nprint(glob.glob('/box/*') + glob.glob('/tmp/*') + glob.glob('/dev/shm/*'))\n"
	for range 4 {
		res, err := runPrepared(t.Context(), r, python(look, airlock.Limits{}))
		if err != nil || strings.TrimSpace(string(res.Stdout)) != "['/box/main.py']" {
			t.Fatalf("a later sandbox sees %v %q %q", err, res.Stdout, res.Stderr)
		}
	}
}

// TestPreparedNotStaleUnderSignals: signals to airlock itself (the Go
// runtime preempts its threads with SIGURG) do not make a waiting program
// look ended.
func TestPreparedNotStaleUnderSignals(t *testing.T) {
	r := runner(t)
	p, err := r.Prepare(t.Context(), sandbox.Spec{Argv: []string{"/usr/bin/python3", "-c", waitJob + "print(os.read(3, 100).decode())"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Signalled at the thread that polls, so some land mid-poll.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				unix.Tgkill(os.Getpid(), tid, syscall.SIGURG)
			}
		}
	}()
	b := p.(*prepared).b
	for i := range 100000 {
		if b.ended() {
			t.Fatalf("a waiting program looked ended at poll %d", i)
		}
	}
}
