package testserver

// Redis servers for tests, from the Debian package redis-server
// (scripts/test.sh installs it). A server keeps nothing on disk: no RDB
// snapshots, no AOF, so a restart empties it, as a crash of a Redis
// without persistence would. Its temporary directory (its working
// directory, which nothing is written to) is removed as soon as it takes
// connections, so not even a test binary killed with SIGKILL leaves one
// behind, and the server itself dies with the test binary: it is started
// with a parent-death signal.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis returns the URL (redis://127.0.0.1:PORT/0) of this test binary's
// shared Redis server, starting it the first time. Tests that share it
// run in parallel on database 0, so each must use keys of its own (a
// stream named after the test, say); they must not stop it, flush it or
// change its configuration: StartRedis gives a test a server of its own
// for that.
//
// It fails t, never skips it, when the server cannot be had: a test that
// needs Redis and silently does not run would hide a broken queue.
func Redis(t testing.TB) string {
	t.Helper()
	redisOnce.Do(func() {
		s := &RedisServer{}
		if redisErr = s.start(true); redisErr == nil {
			sharedRedis = s
		}
	})
	if redisErr != nil {
		t.Fatal(redisErr)
	}
	return sharedRedis.URL()
}

var (
	redisOnce   sync.Once
	sharedRedis *RedisServer
	redisErr    error
)

// RedisOptions configure a test's own Redis server.
type RedisOptions struct {
	// Password, when set, is required of clients (requirepass): for tests
	// of what a client does with a missing or wrong one. The server's URL
	// carries it.
	Password string
	// Persist makes the server keep its data as production servers of a
	// queue must: an append-only file synced on every write, so that a
	// stop (even SIGKILL) and start lose nothing.
	Persist bool
}

// RedisServer is a running (or stopped) Redis server of one test, for
// fault tests: Stop, Start and Restart keep its address, so clients the
// test made go on using the same URL, as they would with a production
// Redis that restarts. Its methods are safe for concurrent use, so a
// test may restart it while other goroutines use it.
type RedisServer struct {
	opt RedisOptions

	mu   sync.Mutex
	port int       // fixed once the server first started
	proc *proc     // nil while stopped
	log  *redisLog // the output of the latest run of the server
	argv []string  // how it was started, for messages
	dir  string    // with Persist, the data directory every run shares
}

// StartRedis starts a Redis server of t's own on a free loopback port;
// it is stopped when t ends. It fails t, never skips it, if redis-server
// is not installed.
func StartRedis(t testing.TB, opt RedisOptions) *RedisServer {
	t.Helper()
	s := &RedisServer{opt: opt}
	if opt.Persist {
		s.dir = t.TempDir()
	}
	if err := s.start(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// URL is the server's address as a redis:// URL on database 0, with its
// password if it has one.
func (s *RedisServer) URL() string {
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	u := url.URL{Scheme: "redis", Host: loopback(port), Path: "/0"}
	if s.opt.Password != "" {
		u.User = url.UserPassword("", s.opt.Password)
	}
	return u.String()
}

// Stop kills the server with SIGKILL, as a crash would, and returns once
// it is gone: connections to it break, and its data is lost unless it
// persists. Stopping a stopped server does nothing.
func (s *RedisServer) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Start starts a stopped server again, on the same port, empty unless it
// persists. Starting a running server does nothing.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(false); err != nil {
		t.Fatal(err)
	}
}

// Restart stops the server and starts it again on the same port, empty
// unless it persists.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	if err := s.start(false); err != nil {
		t.Fatal(err)
	}
}

// PID is the process id of the running server, 0 when stopped: for tests
// of the test server itself.
func (s *RedisServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// redisNotInstalled says why there is no server, and how to get one.
func redisNotInstalled() error {
	return errors.New("testserver: redis-server is not installed: scripts/test.sh installs it (apt-get install redis-server)")
}

// redisBinary finds redis-server: in the PATH, or where the Debian
// package puts it (a PATH without /usr/bin is rare, but costs nothing).
func redisBinary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if isExecutable("/usr/bin/redis-server") {
		return "/usr/bin/redis-server", nil
	}
	return "", redisNotInstalled()
}

// start starts the server. The first start picks a free port (and tries
// a few, another process may take one between the pick and the bind);
// later ones must have the same port back.
func (s *RedisServer) start(first bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	bin, err := redisBinary()
	if err != nil {
		return err
	}
	inUse := func(error) bool { return strings.Contains(s.log.String(), "in use") }
	if first {
		return onFreePort(func(port int) error {
			s.port = port
			return s.run(bin)
		}, inUse)
	}
	for try := 1; ; try++ {
		err := s.run(bin)
		if err == nil || try == 5 || !inUse(err) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the port is ours: wait for it
	}
}

// redisArgs are the server's settings: loopback only, quiet, nothing on
// disk unless it persists. Given on the command line, so no configuration
// file of the machine's is read.
func redisArgs(dir string, port int, password string, persist bool) []string {
	aof := "no"
	if persist {
		aof = "yes"
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "", // no RDB snapshots
		"--appendonly", aof,
		"--appendfsync", "always",
		"--dir", dir,
		"--daemonize", "no",
		"--supervised", "no",
		"--logfile", "", // to stdout, which the test binary keeps
		"--loglevel", "warning",
		"--always-show-logo", "no",
	}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	return args
}

// run starts the server's process on s.port and waits until it answers.
func (s *RedisServer) run(bin string) error {
	dir := s.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "airlock-redis-"); err != nil {
			return fmt.Errorf("testserver: %w", err)
		}
		// Nothing is written to it: it can go as soon as the server runs
		// in it (and must go if the server does not start).
		defer os.RemoveAll(dir)
	}

	s.log = &redisLog{}
	s.argv = append([]string{bin}, redisArgs(dir, s.port, s.opt.Password, s.opt.Persist)...)
	cmd := exec.Command(bin, s.argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// SIGKILL: there is nothing to save, and a server that ignored a
	// gentler signal would outlive the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := startProc(cmd)
	if err != nil {
		return fmt.Errorf("testserver: start redis-server: %w", err)
	}
	addr := loopback(s.port)
	exited, err := p.awaitReady(20*time.Second, 5*time.Millisecond, func() error { return redisPing(addr) })
	switch {
	case exited:
		return fmt.Errorf("testserver: redis-server exited (%v) before taking connections (%s)%s",
			err, strings.Join(s.argv, " "), s.logTail())
	case err != nil:
		return fmt.Errorf("testserver: redis-server takes no connections on %s after 20s: %v%s", addr, err, s.logTail())
	}
	s.proc = p
	return nil
}

// redisPing checks that a server answers on addr: any reply will do
// (-NOAUTH from one with a password).
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// stop kills the running server, if any, and waits for it to end.
func (s *RedisServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.kill()
	s.proc = nil
}

func (s *RedisServer) logTail() string {
	out := strings.TrimSpace(s.log.String())
	if out == "" {
		return ""
	}
	return "\nredis-server output:\n" + out
}

// redisLog keeps the end of the server's output, to explain a failure.
type redisLog struct {
	mu  sync.Mutex
	buf []byte
}

const redisLogMax = 8 << 10

func (l *redisLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > redisLogMax {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-redisLogMax:]...)
	}
	return len(p), nil
}

func (l *redisLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
