package native

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

func TestMain(m *testing.M) {
	Stage()
	enterContainer()
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(helperMain(name))
	}
	if os.Getenv(crashHelperEnv) == "1" {
		crashMidRun()
	}
	code := m.Run()
	if testRunner != nil {
		testRunner.Close()
	}
	os.RemoveAll(filepath.Dir(helperCopy()))
	os.Exit(code)
}

// enterContainer, when AIRLOCK_TEST_CONTAINER=1, re-runs this test binary
// the way a container runtime with a private cgroup namespace starts a
// workload: in new cgroup and mount namespaces, with its own (non-root,
// populated) cgroup mounted at /sys/fs/cgroup, so that it looks like the
// root of the hierarchy.
func enterContainer() {
	if own := os.Getenv("AIRLOCK_TEST_IN_CONTAINER"); own != "" {
		os.Unsetenv("AIRLOCK_TEST_IN_CONTAINER") // our own children are already inside
		err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		if err == nil {
			err = unix.Mount(filepath.Join("/sys/fs/cgroup", own), "/sys/fs/cgroup", "", unix.MS_BIND, "")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "enter container:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv("AIRLOCK_TEST_CONTAINER") != "1" {
		return
	}
	os.Unsetenv("AIRLOCK_TEST_CONTAINER")
	self, err := os.ReadFile("/proc/self/cgroup")
	own, ok := strings.CutPrefix(strings.TrimSpace(string(self)), "0::")
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "enter container: not on cgroup v2 only (%v)\n", err)
		os.Exit(1)
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "AIRLOCK_TEST_IN_CONTAINER="+own)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNS}
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "enter container:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var (
	testRunner *Runner
	runnerErr  error
	runnerOnce sync.Once
)

// runner returns the shared Runner. These tests are the security boundary:
// they fail, never skip, when the host cannot run them.
func runner(t testing.TB) *Runner {
	t.Helper()
	runnerOnce.Do(func() {
		testRunner, runnerErr = New(testConfig())
	})
	if runnerErr != nil {
		t.Fatalf("native sandbox unavailable (tests need root and cgroups): %v", runnerErr)
	}
	return testRunner
}

func python(code string, lim airlock.Limits) sandbox.Spec {
	return sandbox.Spec{
		Argv:   []string{"/usr/bin/python3", "/box/main.py"},
		Env:    []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"},
		Files:  []sandbox.File{{Name: "main.py", Content: []byte(code)}},
		Limits: lim,
	}
}

func run(t *testing.T, spec sandbox.Spec) sandbox.Result {
	t.Helper()
	r := runner(t)
	before := hostSnapshot(t)
	res, err := runSpec(context.Background(), r, spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertHostClean(t, before)
	return res
}

// hostState is what must be the same before and after a run.
type hostState struct {
	procs  map[string]bool // pids of processes with a program uid
	mounts int
}

func hostSnapshot(t *testing.T) hostState {
	t.Helper()
	s := hostState{procs: procsWithUID(t, func(uid int) bool { return uid >= programUIDs && uid < keeperUIDs })}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s.mounts = strings.Count(string(data), "\n")
	return s
}

// The first host uids of the default Config's programs and keepers.
const (
	programUIDs = 1_000_000
	keeperUIDs  = programUIDs + 256
)

// ownSlots are the slots the test Runner holds. Other test binaries (the
// engine's, run in parallel) hold others, so checks look at these only.
func ownSlots(t testing.TB) map[int]bool {
	r := runner(t)
	r.slots.mu.Lock()
	defer r.slots.mu.Unlock()
	own := map[int]bool{}
	for _, sl := range r.slots.all {
		if sl.lock != nil {
			own[sl.n] = true
		}
	}
	return own
}

// procsWithUID lists the pids of processes whose uid is picked.
func procsWithUID(t testing.TB, pick func(uid int) bool) map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "Uid:" {
				continue
			}
			if uid, _ := strconv.Atoi(f[1]); pick(uid) {
				out[e.Name()] = true
			}
		}
	}
	return out
}

// slotCgroups lists the run groups of the given slots that exist.
func slotCgroups(slots map[int]bool) []string {
	var out []string
	l, err := cgroup.Detect()
	if err != nil {
		return []string{"detect: " + err.Error()}
	}
	for _, d := range l.Paths() {
		for n := range slots {
			g := filepath.Join(d, "airlock", fmt.Sprintf("slot-%d", n))
			if _, err := os.Stat(g); err == nil {
				out = append(out, g)
			}
		}
	}
	return out
}

// assertHostClean: no process of our slots' program uids that was not
// there before, no mount more, no run cgroup of our slots.
func assertHostClean(t *testing.T, before hostState) {
	t.Helper()
	own := ownSlots(t)
	after := hostSnapshot(t)
	for pid := range procsWithUID(t, func(uid int) bool { return own[uid-programUIDs] }) {
		if !before.procs[pid] {
			t.Errorf("process %s of a sandbox uid outlived its run", pid)
		}
	}
	if after.mounts != before.mounts {
		t.Errorf("host mount count changed: %d → %d", before.mounts, after.mounts)
	}
	if left := slotCgroups(own); len(left) > 0 {
		t.Errorf("cgroups left behind: %v", left)
	}
}

func TestHello(t *testing.T) {
	res := run(t, python("import sys\nprint('hello', sys.stdin.read())\n", airlock.Limits{}))
	t.Logf("usage %+v", res.Usage)
	if res.Status != airlock.StatusOK || string(res.Stdout) != "hello \n" {
		t.Fatalf("got %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
	spec := python("import sys\nprint(sys.stdin.read().upper(), end='')\nsys.exit(3)\n", airlock.Limits{})
	spec.Stdin = []byte("abc")
	res = run(t, spec)
	if res.Status != airlock.StatusRuntimeError || res.ExitCode != 3 || string(res.Stdout) != "ABC" {
		t.Fatalf("got %s exit %d %q %q", res.Status, res.ExitCode, res.Stdout, res.Stderr)
	}
}

func TestJavaScript(t *testing.T) {
	res := run(t, sandbox.Spec{
		Argv:  []string{"/usr/bin/node", "/box/main.js"},
		Files: []sandbox.File{{Name: "main.js", Content: []byte("console.log(1+1)")}},
	})
	if res.Status != airlock.StatusOK || string(res.Stdout) != "2\n" {
		t.Fatalf("got %s %q %q", res.Status, res.Stdout, res.Stderr)
	}
}

// TestAttacks runs each attack of docs/architecture.md (What the attack
// tests cover) as a user would write it.
func TestAttacks(t *testing.T) {
	// A service of the host on loopback, which the program must not reach.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hostPort := ln.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name   string
		code   string
		lim    airlock.Limits
		status airlock.Status
		stdout string // exact, when set
	}{
		{"read shadow", "print(open('/etc/shadow').read())", airlock.Limits{}, airlock.StatusRuntimeError, ""},
		{"list root home", "import os\nprint(os.path.exists('/root'), os.path.exists('/home'), os.path.exists('/var'))", airlock.Limits{}, airlock.StatusOK, "False False False\n"},
		{"server env", "import os\nfor p in ['/proc/1/environ', '/proc/%d/environ' % os.getppid()]:\n  try: print(repr(open(p).read()))\n  except OSError: print('denied')", airlock.Limits{}, airlock.StatusOK, "denied\ndenied\n"},
		{"infinite loop", "while True: pass", airlock.Limits{CPU: time.Second}, airlock.StatusTimeLimit, ""},
		{"sleep forever", "import time\ntime.sleep(1000)", airlock.Limits{Wall: time.Second}, airlock.StatusTimeLimit, ""},
		{"memory bomb", "x = []\nwhile True: x.append(' ' * 10**6)", airlock.Limits{Memory: 64 << 20}, airlock.StatusMemoryLimit, ""},
		{"fork bomb", "import os\nwhile True:\n  try: os.fork()\n  except OSError: pass", airlock.Limits{Wall: 3 * time.Second, CPU: 2 * time.Second, Pids: 32}, airlock.StatusTimeLimit, ""},
		{"output flood", "import sys\nwhile True: sys.stdout.write('x' * 65536)", airlock.Limits{Output: 1 << 20}, airlock.StatusOutputLimit, ""},
		{"fill tmp", "import os\ntry:\n  f = open('/tmp/big', 'wb')\n  while True: f.write(b'x' * 1048576); f.flush()\nexcept OSError as e:\n  print(e.errno)", airlock.Limits{TmpBytes: 8 << 20, FileSize: 64 << 20}, airlock.StatusOK, "28\n"},
		{"file size", "f = open('/tmp/big', 'wb')\nwhile True: f.write(b'x' * 1048576); f.flush()", airlock.Limits{FileSize: 4 << 20}, airlock.StatusRuntimeError, ""},
		{"network", fmt.Sprintf("import socket\nres = []\nfor addr in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n  s = socket.socket()\n  s.settimeout(2)\n  try: s.connect(addr); res.append('connected')\n  except OSError as e: res.append('refused' if e.errno in (111, 101, 99) else str(e))\nprint(res)", hostPort), airlock.Limits{}, airlock.StatusOK, "['refused', 'refused']\n"},
		// Network namespaces do not cover vsock: a listener there would be
		// reachable from the VM's host. 97 is EAFNOSUPPORT.
		{"vsock listener", "import socket\ntry:\n  s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\n  s.bind((socket.VMADDR_CID_ANY, 5000))\n  s.listen()\n  print('listening')\nexcept OSError as e:\n  print(e.errno)", airlock.Limits{}, airlock.StatusOK, "97\n"},
		{"write outside tmp", "import os\nres = []\nfor p in ['/usr/x', '/etc/x', '/x', '/proc/sys/kernel/hostname']:\n  try: open(p, 'w').write('x'); res.append('wrote ' + p)\n  except OSError: res.append('no')\nprint(' '.join(res))", airlock.Limits{}, airlock.StatusOK, "no no no no\n"},
		{"setuid binary", "import subprocess\nr = subprocess.run(['/usr/bin/su', '-c', 'id -u'], capture_output=True, text=True)\nprint(r.returncode != 0 or r.stdout.strip() != '0')", airlock.Limits{}, airlock.StatusOK, "True\n"},
		{"syscalls", "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nres = []\nres.append(libc.unshare(0x10000000))\nres.append(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\nres.append(libc.ptrace(0, 0, 0, 0))\nres.append(libc.syscall(321, 0, 0, 0))\nres.append(libc.syscall(250, 0, 0, 0, 0))\nprint(res, os.getuid())", airlock.Limits{}, airlock.StatusOK, "[-1, -1, -1, -1, -1] 1000\n"},
		{"kill others", "import os, signal\nn = 0\nfor pid in range(1, 400):\n  if pid == os.getpid(): continue\n  try: os.kill(pid, signal.SIGKILL); n += 1\n  except OSError: pass\nprint(n)", airlock.Limits{}, airlock.StatusOK, "0\n"},
		{"daemon", "import os, time\nif os.fork() == 0:\n  os.setsid()\n  if os.fork() == 0:\n    time.sleep(1000)\n  os._exit(0)\nprint('parent done')", airlock.Limits{}, airlock.StatusOK, "parent done\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, python(c.code, c.lim))
			if res.Status != airlock.StatusOK && res.ExitCode == 0 {
				t.Errorf("status %s with exit code 0", res.Status)
			}
			if res.Status != c.status || (c.stdout != "" && string(res.Stdout) != c.stdout) {
				t.Fatalf("status %s (want %s), exit %d %s, message %q\nstdout %.300q\nstderr %.500q", res.Status, c.status, res.ExitCode, res.Signal, res.Message, res.Stdout, res.Stderr)
			}
		})
	}
}

// TestConcurrentIsolation runs 16 sandboxes at once; each writes a secret
// to its /tmp and looks for the others'.
func TestConcurrentIsolation(t *testing.T) {
	const n = 16
	r := runner(t)
	before := hostSnapshot(t)
	var wg sync.WaitGroup
	results := make([]sandbox.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := fmt.Sprintf("import os, time, glob\nopen('/tmp/secret-%d', 'w').write('x')\ntime.sleep(0.5)\nprint(%d, sorted(glob.glob('/tmp/secret-*')), sum(p.isdigit() for p in os.listdir('/proc')))", i, i)
			results[i], errs[i] = runSpec(context.Background(), r, python(code, airlock.Limits{}))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		want := fmt.Sprintf("%d ['/tmp/secret-%d'] 1\n", i, i) // hidepid: only itself
		if string(results[i].Stdout) != want {
			t.Errorf("run %d: got %q %q, want %q", i, results[i].Stdout, results[i].Stderr, want)
		}
	}
	assertHostClean(t, before)
}

// TestBareExecStillWorks guards the benchmark's baseline.
func TestBareExecStillWorks(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "pass").Run(); err != nil {
		t.Fatal(err)
	}
}

// TestCoreStaleCgroupRemoved: a group left by a crashed airlock (slot not
// held by anyone) is removed when a Runner starts.
func TestCoreStaleCgroupRemoved(t *testing.T) {
	runner(t)
	l, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := cgroup.NewManager(l, "airlock")
	if err != nil {
		t.Fatal(err)
	}
	const id = "slot-250"
	if _, err := mgr.Create(id, cgroup.Limits{Pids: 4}); err != nil {
		t.Fatal(err)
	}
	r, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	ids, _ := mgr.Groups()
	for _, got := range ids {
		if got == id {
			t.Fatalf("stale group %s survived start-up", id)
		}
	}
}
