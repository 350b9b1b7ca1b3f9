package testserver

// S3: a real S3-compatible server for tests, versitygw with its posix
// backend (the buckets are directories of a temporary directory). It is
// built from the Go module proxy, since no package of Debian's has one, by
// `go install` of a pinned version into the repository's .cache/bin (which
// git ignores), the first time a test needs it; scripts/test.sh may build
// it beforehand with the same command, see S3Binary.
//
// versitygw rather than gofakes3 (in memory, written for tests) or MinIO
// (AGPL, much larger): it is a gateway that deployments run, it keeps
// objects in files as a real server does, and it checks signatures, so
// tests of bad credentials are real.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3GatewayVersion is the version of versitygw the tests run, pinned so
// that every machine tests against the same server and the cached binary
// is rebuilt when it changes (its directory is named after it).
const S3GatewayVersion = "v1.8.0"

// s3GatewayPackage is versitygw's main package, for go install.
const s3GatewayPackage = "github.com/versity/versitygw/cmd/versitygw"

// S3 returns the URL of a new bucket on this test binary's S3 server,
// starting the server the first time:
//
//	s3://ACCESS:SECRET@127.0.0.1:PORT/BUCKET?insecure=true&region=us-east-1
//
// the form that internal/s3.Open and `airlock serve --blobs` take. The
// bucket does not exist yet (opening a store creates it), so each test
// starts empty; its directory is removed when t ends.
//
// The server dies with the test binary whatever way that ends (it has a
// parent-death signal), and a watcher process removes its directory then;
// no TestMain is needed. It fails t, never skips it, when the server
// cannot be had: a test that needs S3 and silently does not run would
// hide a broken store.
func S3(t testing.TB) string {
	t.Helper()
	s3Once.Do(func() { s3srv, s3Err = startS3() })
	if s3Err != nil {
		t.Fatal(s3Err)
	}
	bucket := nameFor(t.Name(), '-')
	t.Cleanup(func() { os.RemoveAll(filepath.Join(s3srv.root, bucket)) })
	return s3srv.url(bucket)
}

var (
	s3Once sync.Once
	s3srv  *s3Server
	s3Err  error
)

// s3DirPrefix names the servers' temporary directories, so that a later
// test binary finds the ones whose watcher could not remove them.
const s3DirPrefix = "airlock-s3-"

// s3Server is a running versitygw.
type s3Server struct {
	*proc
	dir    string // temporary: root/ (the buckets), log, owner, pid
	root   string
	port   int
	access string
	secret string
	// watcher is the write end of the watcher's stdin: held (never
	// written, never closed) until the test binary ends, when the kernel
	// closes it and the watcher removes dir. Kept in a package variable
	// so that no finalizer closes it early.
	watcher io.WriteCloser
}

// url is the URL of bucket on the server.
func (s *s3Server) url(bucket string) string {
	u := url.URL{
		Scheme:   "s3",
		User:     url.UserPassword(s.access, s.secret),
		Host:     loopback(s.port),
		Path:     "/" + bucket,
		RawQuery: "insecure=true&region=us-east-1",
	}
	return u.String()
}

// logTail is the end of the server's log, to explain a failure.
func (s *s3Server) logTail() string {
	return logTail("versitygw's log", filepath.Join(s.dir, "log"))
}

// S3Binary returns the path of the versitygw binary the tests run,
// building it first if it is not there yet (once per machine and version:
// about a minute with an empty Go build cache, seconds with a warm one).
// AIRLOCK_VERSITYGW, when set, names a binary to use instead.
//
// scripts/test.sh can build it beforehand, so that no test's time goes to
// it, with, from the repository's root:
//
//	GOBIN="$PWD/.cache/bin/versitygw-v1.8.0" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
func S3Binary() (string, error) {
	if p := os.Getenv("AIRLOCK_VERSITYGW"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("testserver: AIRLOCK_VERSITYGW=%s is not an executable file", p)
		}
		return p, nil
	}
	root, err := s3RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".cache", "bin", "versitygw-"+S3GatewayVersion)
	bin := filepath.Join(dir, "versitygw")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testserver: %w", err)
	}
	// Test binaries of several packages start at once under go test:
	// one builds, the others wait for it.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("testserver: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testserver: lock %s: %w", lock.Name(), err)
	}
	if isExecutable(bin) {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", s3GatewayPackage+"@"+S3GatewayVersion)
	cmd.Dir = dir // outside the module: go install pkg@version uses versitygw's own go.mod
	// GOFLAGS of the developer's (-mod=vendor, say) are meant for this
	// module, not versitygw's.
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testserver: build versitygw %s (%s): %v\n%s", S3GatewayVersion, strings.Join(cmd.Args, " "), err, out)
	}
	if !isExecutable(bin) {
		return "", fmt.Errorf("testserver: go install put no versitygw at %s", bin)
	}
	return bin, nil
}

// s3RepoRoot is the directory of the module's go.mod; the test binary runs
// in its package's directory, inside the module.
func s3RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("testserver: go env GOMOD (to find the cache directory): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("testserver: not inside the airlock module, so no cache directory for versitygw: set AIRLOCK_VERSITYGW to a versitygw binary")
	}
	return filepath.Dir(gomod), nil
}

// startS3 builds the server if need be and starts it on a free port, in a
// new temporary directory, with a watcher that removes the directory when
// the test binary ends.
func startS3() (_ *s3Server, err error) {
	bin, err := S3Binary()
	if err != nil {
		return nil, err
	}
	dir, err := newRunDir(s3DirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	watcher, err := s3Watch(dir)
	if err != nil {
		return nil, err
	}
	var s *s3Server
	err = onFreePort(func(port int) (err error) {
		s, err = startS3Server(bin, dir, root, port)
		return err
	}, func(err error) bool { return strings.Contains(err.Error(), "address already in use") })
	if err != nil {
		watcher.Close() // the directory goes now, by the deferred RemoveAll and the watcher
		return nil, err
	}
	s.watcher = watcher
	return s, nil
}

// startS3Server starts versitygw on root, on loopback port port, and waits
// until it answers.
func startS3Server(bin, dir, root string, port int) (*s3Server, error) {
	s := &s3Server{
		dir:    dir,
		root:   root,
		port:   port,
		access: "airlock" + randomHex(4),
		secret: randomHex(20),
	}
	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	defer log.Close() // the server has its own copy
	cmd := exec.Command(bin,
		"--port", loopback(port),
		"--quiet",      // no line per request
		"--keep-alive", // connections are reused, as with any real server
		"posix", root)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	// The root account's keys by environment rather than arguments, out
	// of ps; the developer's own VGW_* and ROOT_* settings must not change
	// the server.
	cmd.Env = append(environWithout("VGW_", "ROOT_"), "ROOT_ACCESS_KEY_ID="+s.access, "ROOT_SECRET_ACCESS_KEY="+s.secret)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // its data is thrown away: nothing to shut down cleanly
		Setpgid:   true,            // a ^C to go test reaches the test binary, which ends it
	}
	if s.proc, err = startProc(cmd); err != nil {
		return nil, fmt.Errorf("testserver: start versitygw: %w", err)
	}
	// For the watcher: the process it waits for before removing the
	// directory (the directory exists: the watcher is not done until the
	// binary ends).
	os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)

	// Ready when it answers HTTP as versitygw (not some other process that
	// took the port): any S3 error response will do.
	client := &http.Client{Timeout: time.Second}
	exited, err := s.awaitReady(30*time.Second, 20*time.Millisecond, func() error {
		resp, err := client.Get("http://" + loopback(port) + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if server := resp.Header.Get("Server"); server != "VERSITYGW" {
			return fmt.Errorf("answered by server %q", server)
		}
		return nil
	})
	switch {
	case exited:
		return nil, fmt.Errorf("testserver: versitygw exited (%v) before answering%s", err, s.logTail())
	case err != nil:
		return nil, fmt.Errorf("testserver: versitygw does not answer on port %d after 30s (last: %v)%s", port, err, s.logTail())
	}
	return s, nil
}

// s3Watch starts the watcher of dir: a shell whose stdin is a pipe from
// the test binary, which reads end of file when the binary ends, however
// it ends, then waits (a bounded time) for the server to be gone (or a
// zombie: whoever inherits it may be slow to reap it) and removes dir. It
// is in a process group of its own, so that a ^C to go test does not end
// it before the binary.
func s3Watch(dir string) (io.WriteCloser, error) {
	const script = `read _
pid=$(cat "$1/pid" 2>/dev/null)
i=0
while [ -n "$pid" ] && [ $i -lt 100 ] && read -r _ _ state _ <"/proc/$pid/stat" && [ "$state" != Z ]; do
	sleep 0.05
	i=$((i+1))
done 2>/dev/null
rm -rf "$1"`
	cmd := exec.Command("sh", "-c", script, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testserver: start the watcher of %s: %w", dir, err)
	}
	// Never waited for: it outlives the binary.
	return w, nil
}
