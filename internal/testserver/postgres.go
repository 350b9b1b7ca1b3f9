// Package testserver starts throwaway servers that tests need for real,
// so that a store is tested against the server it will run on rather than
// a fake, and no test depends on a server already running on the machine.
// It is imported by tests only.
//
// # PostgreSQL
//
// Postgres starts one PostgreSQL server per test binary, the first time a
// test asks for it, from the Debian packages' binaries
// (/usr/lib/postgresql/*/bin; scripts/test.sh installs them), in a fresh
// temporary directory, with durability turned off since its data is thrown
// away. Each call gets a database of its own, so tests are independent and
// may run in parallel.
//
// The server dies with the test binary whatever way it ends: it is started
// with a parent-death signal (SIGQUIT, PostgreSQL's immediate shutdown).
// A package that uses it calls Cleanup from its TestMain, after m.Run, to
// also remove the server's directory; a directory left behind by a binary
// that was killed is removed by the next binary that starts a server.
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testserver.Cleanup()
//		os.Exit(code)
//	}
package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres returns the URL (postgres://...) of a new, empty database on
// this test binary's PostgreSQL server, starting the server the first time.
// The database is dropped when t ends, connections left to it included.
// The URL's user is a superuser that logs in with a password over TCP on
// the loopback interface.
//
// It fails t, never skips it, when the server cannot be had: a test that
// needs PostgreSQL and silently does not run would hide a broken store.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	if pgStopped.Load() {
		t.Fatal("testserver: Postgres called after Cleanup")
	}
	name := nameFor(t.Name(), '_')
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pg.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testserver: create database %s: %v%s", name, err, pgLogTail(pg.dir))
	}
	t.Cleanup(func() {
		if pgStopped.Load() {
			return // the whole server is gone
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pg.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testserver: drop database %s: %v", name, err)
		}
	})
	return pg.url(name)
}

// Cleanup stops the PostgreSQL server, if this test binary started one,
// and removes its directory. Call it from TestMain after m.Run; Postgres
// fails the tests that call it afterwards.
func Cleanup() {
	pgOnce.Do(func() { pgErr = errors.New("testserver: Postgres called after Cleanup") })
	if pg == nil || pgStopped.Swap(true) {
		return
	}
	pg.stop()
}

var (
	pgOnce    sync.Once
	pg        *pgServer
	pgErr     error
	pgStopped atomic.Bool
)

// pgDirPrefix names the temporary directories of the servers, so that a
// later test binary finds the ones a killed binary left.
const pgDirPrefix = "airlock-pg-"

// pgUser is the superuser the tests connect as.
const pgUser = "airlock"

// pgServer is a running PostgreSQL server.
type pgServer struct {
	*proc           // the postmaster
	dir      string // temporary; holds data/, the socket, the log
	port     int
	password string
	admin    *pgxpool.Pool // on the postgres database, to create and drop the tests' databases
	bin      string        // where initdb and postgres are
	cred     *syscall.Credential
}

// url is the URL of one of the server's databases.
func (s *pgServer) url(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgUser, s.password),
		Host:     loopback(s.port),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// pgLogTail is the end of the log of the server whose directory is dir,
// to explain a failure.
func pgLogTail(dir string) string {
	path := filepath.Join(dir, "log")
	return logTail("server log ("+path+")", path)
}

// stop ends the server at once (its data is thrown away, so an immediate
// shutdown loses nothing that matters) and removes its directory.
func (s *pgServer) stop() {
	s.crash()
	os.RemoveAll(s.dir)
}

// crash ends the server with an immediate shutdown, and returns once it
// has ended.
func (s *pgServer) crash() {
	s.admin.Close()
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.kill()
	}
}

// RestartPostgres crashes this test binary's PostgreSQL server (an
// immediate shutdown, as when its host loses it), keeps it down for down,
// and starts it again on the same port with its data: for fault tests,
// whose clients keep their URLs. Tests that call it must not run in
// parallel with other tests of the binary that use the server.
func RestartPostgres(t testing.TB, down time.Duration) {
	t.Helper()
	if pg == nil || pgStopped.Load() {
		t.Fatal("testserver: RestartPostgres before Postgres or after Cleanup")
	}
	pg.crash()
	time.Sleep(down)
	log, err := os.OpenFile(filepath.Join(pg.dir, "log"), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	for try := 1; ; try++ {
		s, err := startServer(pg.bin, pg.cred, pg.dir, filepath.Join(pg.dir, "data"), log, pg.password, pg.port)
		if err == nil {
			pg.proc, pg.admin = s.proc, s.admin
			return
		}
		if try == 5 || !strings.Contains(pgLogTail(pg.dir), "could not bind") {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the port is ours: wait for it
	}
}

// notInstalled says why the server cannot start when its binaries are
// missing, and how to get them.
func notInstalled() error {
	if os.Getenv("CI") == "true" {
		return errors.New("postgresql is not installed: run scripts/test.sh, which installs it")
	}
	return errors.New("postgresql is not installed (no initdb and postgres under /usr/lib/postgresql/*/bin nor in PATH): " +
		"run scripts/test.sh, which installs it, or apt-get install postgresql")
}

// debianBinDirs are where Debian's packages put each major version's
// binaries; a variable for the test of a machine without them.
var debianBinDirs = "/usr/lib/postgresql/*/bin"

// binDir finds the directory of initdb and postgres: the newest of
// Debian's versioned directories, or else the PATH (other systems).
func binDir() (string, error) {
	dirs, _ := filepath.Glob(debianBinDirs)
	// Newest first, by major version (a numeric sort: 9.6 < 10 < 15).
	slices.SortFunc(dirs, func(a, b string) int {
		return majorVersion(b) - majorVersion(a)
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(initdb)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", notInstalled()
}

func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(binDir)), ".", 2)[0])
	return n
}

// runAs is the user the server runs as: PostgreSQL refuses to run as root,
// so root runs it as the postgres user the Debian package creates. Nil
// means the test binary's own user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("testserver: running as root and there is no postgres user to run PostgreSQL as (it refuses to run as root): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// command makes a command of PostgreSQL's, run as cred, killed by sig when
// the test binary ends, its output to log.
func command(cred *syscall.Credential, sig syscall.Signal, log *os.File, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir // one the server's user can enter, unlike the test's (under /root, say)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: sig}
	// The PG* variables (PGDATA, PGPORT, ...) of the developer's shell
	// must not point the server elsewhere; messages in English, a C locale
	// that every machine has.
	cmd.Env = append(environWithout("PG", "LC_", "LANG"), "LC_ALL=C", "LANG=C")
	return cmd
}

// run runs a short command (initdb) to its end.
func run(cmd *exec.Cmd) error {
	if err := startCmd(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// settings make the server fast and small for tests: its data is thrown
// away, so nothing is ever synced or archived, and it never checkpoints on
// a timer. Commits still reach the WAL (the page cache, without fsync)
// before they return, so a crash of the server alone (RestartPostgres)
// loses none, as with a production server.
var settings = []string{
	"fsync=off",
	"synchronous_commit=on",
	"full_page_writes=off",
	"wal_level=minimal",
	"max_wal_senders=0",
	"archive_mode=off",
	"max_wal_size=1GB",
	"checkpoint_timeout=1d",
	"autovacuum=off",
	"jit=off",
	"huge_pages=off",
	// Shared memory files in the data directory, which goes with it,
	// rather than in /dev/shm, where a killed server would leave them.
	"dynamic_shared_memory_type=mmap",
	// Parallel tests (as many as CPUs) each with a pool of connections,
	// several pools at once in some.
	"max_connections=500",
	"shared_buffers=64MB",
	"logging_collector=off",
	"log_min_messages=warning",
	"lc_messages=C",
}

// startPostgres creates a cluster in a new temporary directory and starts
// its server.
func startPostgres() (_ *pgServer, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	// A killed binary's directory is not stale until its server, which its
	// parent-death signal shuts down, is gone too.
	dir, err := newRunDir(pgDirPrefix, filepath.Join("data", "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	password := randomHex(16)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	logPath := filepath.Join(dir, "log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	defer log.Close() // the processes have their own copies
	if cred != nil {
		for _, p := range []string{dir, pwfile, logPath} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("testserver: %w", err)
			}
		}
	}

	data := filepath.Join(dir, "data")
	initdb := command(cred, syscall.SIGKILL, log, dir, filepath.Join(bin, "initdb"),
		"--pgdata="+data, "--username="+pgUser, "--pwfile="+pwfile,
		// The socket is for no one but the test binary's user, over TCP
		// the password is checked, as a deployment's server would.
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err := run(initdb); err != nil {
		return nil, fmt.Errorf("testserver: initdb: %v%s", err, pgLogTail(dir))
	}

	var s *pgServer
	err = onFreePort(func(port int) (err error) {
		s, err = startServer(bin, cred, dir, data, log, password, port)
		return err
	}, func(error) bool { return strings.Contains(pgLogTail(dir), "could not bind") })
	return s, err
}

// startServer starts the server of the cluster in data on port and waits
// until it takes connections.
func startServer(bin string, cred *syscall.Credential, dir, data string, log *os.File, password string, port int) (*pgServer, error) {
	s := &pgServer{dir: dir, port: port, password: password, bin: bin, cred: cred}
	cfg, err := pgxpool.ParseConfig(s.url("postgres"))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = time.Second

	args := []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	cmd := command(cred, syscall.SIGQUIT, log, dir, filepath.Join(bin, "postgres"), args...)
	if s.proc, err = startProc(cmd); err != nil {
		return nil, fmt.Errorf("testserver: start postgres: %w", err)
	}
	exited, err := s.awaitReady(time.Minute, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			return err
		}
		conn.Close(context.Background())
		return nil
	})
	switch {
	case exited:
		return nil, fmt.Errorf("testserver: postgres exited (%v) before taking connections%s", err, pgLogTail(dir))
	case err != nil:
		return nil, fmt.Errorf("testserver: postgres takes no connections after a minute: %v%s", err, pgLogTail(dir))
	}
	if s.admin, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		s.kill()
		return nil, fmt.Errorf("testserver: %w", err)
	}
	return s, nil
}

// FreezePostgres stops this test binary's PostgreSQL server, the
// postmaster and every backend (SIGSTOP), as a hung host: connections
// stay open and nothing answers, new ones included. The function returned
// thaws it, and so does the end of the test. Tests that call it must not
// run in parallel with other tests of the binary that use the server.
func FreezePostgres(t testing.TB) (thaw func()) {
	t.Helper()
	if pg == nil || pgStopped.Load() {
		t.Fatal("testserver: FreezePostgres before Postgres or after Cleanup")
	}
	// The postmaster first, so that it forks no backend meanwhile.
	pids := []int{pg.cmd.Process.Pid}
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	kids, err := children(pids[0])
	if err != nil {
		syscall.Kill(pids[0], syscall.SIGCONT)
		t.Fatal(err)
	}
	for _, pid := range kids {
		if syscall.Kill(pid, syscall.SIGSTOP) == nil {
			pids = append(pids, pid)
		}
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// children lists the processes whose parent is pid.
func children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out, nil
}
