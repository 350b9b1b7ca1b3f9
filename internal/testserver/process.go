package testserver

// What the servers share: starting their processes so that they die with
// the test binary, picking their ports, waiting until they answer,
// finding the temporary directories that killed test binaries left, and
// naming what a test gets after the test.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// launcher is a goroutine locked to its OS thread for the life of the test
// binary, which starts the servers' processes. A parent-death signal is
// sent when the thread that started the process ends, not the process; Go
// ends a thread whose locked goroutine returns (tests that change a
// thread's namespaces or credentials do), so the processes are started
// from a thread that lives as long as the binary.
var launcher = sync.OnceValue(func() chan func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range ch {
			f()
		}
	}()
	return ch
})

// startCmd starts cmd on the launcher's thread.
func startCmd(cmd *exec.Cmd) error {
	errc := make(chan error)
	launcher() <- func() { errc <- cmd.Start() }
	return <-errc
}

// proc is a server's process.
type proc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	waitErr error         // set before exited is closed
}

// startProc starts cmd on the launcher's thread, and waits for it in the
// background so that exited tells when it ends.
func startProc(cmd *exec.Cmd) (*proc, error) {
	if err := startCmd(cmd); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill kills the process and returns once it has ended.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// awaitReady calls ready every interval until it succeeds. If the process
// ends first, exited is true and err is how it ended; if timeout passes
// first, the process is killed and err is ready's last error.
func (p *proc) awaitReady(timeout, interval time.Duration, ready func() error) (exited bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		if err = ready(); err == nil {
			return false, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return false, err
		}
		select {
		case <-p.exited:
			return true, p.waitErr
		case <-time.After(interval):
		}
	}
}

// onFreePort calls start with a loopback port that nothing listens on.
// Another process (another test binary starting its own server) can take
// the port before the server binds it, so when inUse says that is why
// start failed, it tries again on another port, five times in all.
func onFreePort(start func(port int) error, inUse func(error) bool) error {
	for try := 1; ; try++ {
		l, err := net.Listen("tcp", loopback(0))
		if err != nil {
			return fmt.Errorf("testserver: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		err = start(port)
		if err == nil || try == 5 || !inUse(err) {
			return err
		}
	}
}

// loopback is the address of port on the loopback interface, the only one
// the servers listen on.
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// environWithout is the test binary's environment less the variables whose
// names start with one of prefixes: the developer's settings for a server
// must not change the tests' one.
func environWithout(prefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return env
}

// isExecutable says whether path is a file that may be run.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// randomHex is n random bytes in hexadecimal, for passwords and keys.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logTail is the end of the log file at path under the heading title, to
// explain a failure; empty if the log is.
func logTail(title, path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\n" + title + ":\n" + string(b)
}

// newRunDir makes a new temporary directory for a server, named prefix
// and a random suffix, with a file "owner" that holds the test binary's
// process id for later binaries' removeStale. It first removes the stale
// directories of that prefix, which pidFiles tell (see removeStale).
func newRunDir(prefix string, pidFiles ...string) (string, error) {
	removeStale(prefix, pidFiles...)
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("testserver: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testserver: %w", err)
	}
	return dir, nil
}

// removeStale removes the directories named prefix* whose test binary is
// gone (killed before it removed its directory) and whose server is gone
// too: no process named by their owner file, nor by any of pidFiles (paths
// inside the directory: the server's own pid files), runs.
func removeStale(prefix string, pidFiles ...string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		if slices.ContainsFunc(append([]string{"owner"}, pidFiles...), func(f string) bool {
			return alive(filepath.Join(dir, f))
		}) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "owner")); err != nil {
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) < time.Minute {
				continue // being created: its owner file is not written yet
			}
		}
		os.RemoveAll(dir)
	}
}

// alive says whether the process whose id is the first line of the file
// runs; false if there is no such file.
func alive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return err == nil && pid > 0 && running(pid)
}

// running says whether the process pid runs. A zombie is dead: a server
// whose parent was killed is reparented to the container's init, which
// may never reap it.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // no /proc to tell
	}
	// "pid (comm) state ...", where comm may hold spaces and parentheses.
	s := string(stat)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z")
}

// nameSeq numbers the databases and buckets, which makes their names
// unique whatever their tests' names.
var nameSeq atomic.Int64

// nameFor is the name of a new database or bucket for the test named
// test: a number, then sep and namePart(test).
func nameFor(test string, sep byte) string {
	return fmt.Sprintf("t%d%c%s", nameSeq.Add(1), sep, namePart(test, sep))
}

// namePart makes a test's name fit in the name of a database or a bucket,
// for whoever looks at a server while a test runs: lower-case letters and
// digits, sep for each run of anything else, at most 40 bytes in all (a
// bucket's name has at most 63), "x" if nothing is left.
func namePart(name string, sep byte) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && s[len(s)-1] != sep {
			b.WriteByte(sep)
		}
	}
	s := strings.TrimSuffix(b.String(), string(sep))
	if s == "" {
		s = "x"
	}
	return s
}
