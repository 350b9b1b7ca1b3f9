package testserver

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/s3"
)

// Each call gets a bucket of its own on one server, which a store opens
// (creating the bucket) and uses; the bucket goes when its test ends.
func TestS3(t *testing.T) {
	var first *url.URL
	var bucketDir string
	t.Run("one", func(t *testing.T) {
		u := S3(t)
		first, _ = url.Parse(u)
		st, err := s3.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if err := st.Put(t.Context(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		bucketDir = filepath.Join(s3srv.root, strings.TrimPrefix(first.Path, "/"))
		if _, err := os.Stat(bucketDir); err != nil {
			t.Fatalf("the bucket is not a directory of the server's: %v", err)
		}
	})
	if _, err := os.Stat(bucketDir); !os.IsNotExist(err) {
		t.Errorf("bucket directory %s still there after its test: %v", bucketDir, err)
	}
	u, err := url.Parse(S3(t))
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != first.Host || u.Path == first.Path {
		t.Errorf("two calls gave %s and %s; want one server, two buckets", first.Redacted(), u.Redacted())
	}
	if u.Query().Get("insecure") != "true" || u.User == nil {
		t.Errorf("URL %s: want credentials and insecure=true", u.Redacted())
	}
}

// The server and its directory go when the test binary ends, whether it
// exits or is killed.
func TestS3EndsWithBinary(t *testing.T) {
	for _, how := range []string{"exit", "kill"} {
		t.Run(how, func(t *testing.T) {
			cmd, sc, stdin := startChild(t, "TestS3Child", "AIRLOCK_TESTSERVER_S3_CHILD="+how)
			var dir string
			var pid int
			for sc.Scan() {
				if n, _ := fmt.Sscanf(sc.Text(), "s3server %s %d", &dir, &pid); n == 2 {
					break
				}
			}
			if pid == 0 {
				t.Fatal("the child test binary did not say where its server is")
			}
			if !running(pid) {
				t.Errorf("server %d not running while its test binary runs", pid)
			}
			if how == "kill" {
				cmd.Process.Kill()
			} else {
				stdin.Close() // the child may exit now
			}
			go func() {
				for sc.Scan() { // the rest of its output, so that it does not block
				}
			}()
			cmd.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for running(pid) || s3Exists(dir) {
				if time.Now().After(deadline) {
					t.Fatalf("10s after the test binary ended: server running %v, directory %s there %v", running(pid), dir, s3Exists(dir))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestS3Child is the child binary of TestS3EndsWithBinary; it does nothing
// in a normal run.
func TestS3Child(t *testing.T) {
	how := os.Getenv("AIRLOCK_TESTSERVER_S3_CHILD")
	if how == "" {
		return
	}
	S3(t)
	fmt.Printf("s3server %s %d\n", s3srv.dir, s3srv.cmd.Process.Pid)
	if how == "kill" {
		time.Sleep(time.Minute) // until killed
	}
	io.Copy(io.Discard, os.Stdin) // until the parent has seen the server
}

func s3Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// AIRLOCK_VERSITYGW names the binary to run; a wrong one is an error that
// says so, not a build.
func TestS3BinaryOverride(t *testing.T) {
	t.Setenv("AIRLOCK_VERSITYGW", filepath.Join(t.TempDir(), "no-such-versitygw"))
	if bin, err := S3Binary(); err == nil || !strings.Contains(err.Error(), "AIRLOCK_VERSITYGW") {
		t.Errorf("S3Binary() = %q, %v; want an error about AIRLOCK_VERSITYGW", bin, err)
	}
	t.Setenv("AIRLOCK_VERSITYGW", "")
	bin, err := S3Binary()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIRLOCK_VERSITYGW", bin)
	if got, err := S3Binary(); err != nil || got != bin {
		t.Errorf("S3Binary() with AIRLOCK_VERSITYGW=%s: %q, %v", bin, got, err)
	}
}
