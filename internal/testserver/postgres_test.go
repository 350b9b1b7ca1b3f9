package testserver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dir := ""
	if pg != nil {
		dir = pg.dir
	}
	Cleanup()
	if dir != "" {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			println("testserver: Cleanup left", dir, err)
			code = 1
		}
	}
	os.Exit(code)
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Each call has a database of its own, empty, on one server, which runs as
// a user that is not root and does not sync.
func TestPostgres(t *testing.T) {
	t.Parallel()
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two calls returned the same database %s", a)
	}
	if !strings.HasPrefix(a, "postgres://") {
		t.Fatalf("URL %q", a)
	}
	ca, cb := connect(t, a), connect(t, b)
	if _, err := ca.Exec(t.Context(), `CREATE TABLE x (n int); INSERT INTO x VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := cb.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'x'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the other database has table x: %d, %v", n, err)
	}
	var fsync, user string
	if err := ca.QueryRow(t.Context(), `SELECT current_setting('fsync'), current_user`).Scan(&fsync, &user); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || user != pgUser {
		t.Errorf("fsync %s, user %s", fsync, user)
	}
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pg.cmd.Process.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == "0" {
			t.Errorf("the server runs as root: %s", line)
		}
	}
}

// A test's database is gone when the test ends, even with a connection
// left open to it.
func TestPostgresDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("use", func(t *testing.T) {
		url := Postgres(t)
		conn := connect(t, url)
		if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		left, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		_ = left // never closed: DROP ... WITH (FORCE) ends it
	})
	conn := connect(t, Postgres(t))
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s of an ended test: %d, %v", name, n, err)
	}
}

// Without PostgreSQL's binaries the tests fail (never skip), saying how to
// install them, in CI too.
func TestNotInstalled(t *testing.T) {
	defer func(d string) { debianBinDirs = d }(debianBinDirs)
	debianBinDirs = filepath.Join(t.TempDir(), "*", "bin")
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		_, err := binDir()
		if err == nil || !strings.Contains(err.Error(), "postgresql is not installed") || !strings.Contains(err.Error(), "scripts/test.sh") {
			t.Errorf("CI=%q: binDir() error %v", ci, err)
		}
	}
	if _, err := binDir(); err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("outside CI: %v, want the apt-get to run", err)
	}
}

// A restarted server has its data, on the same URL. Not parallel: it
// takes the shared server away from the other tests for a moment.
func TestRestartPostgres(t *testing.T) {
	url := Postgres(t)
	c := connect(t, url)
	if _, err := c.Exec(t.Context(), `CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	RestartPostgres(t, 100*time.Millisecond)
	if err := c.Ping(t.Context()); err == nil {
		t.Error("a connection made before the crash still works")
	}
	var n int
	if err := connect(t, url).QueryRow(t.Context(), `SELECT n FROM kept`).Scan(&n); err != nil || n != 7 {
		t.Fatalf("after the restart: %d, %v; want 7", n, err)
	}
	Postgres(t) // and databases can still be made
}
