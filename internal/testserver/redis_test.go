package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

func redisClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("ParseURL(%s): %v", url, err)
	}
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.MaxRetries = -1 // a test of a stopped server wants its error at once
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The shared server is one per binary, on loopback, keeps nothing on disk
// and has no directory left.
func TestRedis(t *testing.T) {
	t.Parallel()
	url := Redis(t)
	if url2 := Redis(t); url2 != url {
		t.Fatalf("two calls gave two servers: %s, %s", url, url2)
	}
	if !strings.HasPrefix(url, "redis://127.0.0.1:") || !strings.HasSuffix(url, "/0") {
		t.Fatalf("URL = %s, want redis://127.0.0.1:PORT/0", url)
	}
	c := redisClient(t, url)
	ctx := ctx5(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatalf("CONFIG GET: %v", err)
	}
	for k, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		if cfg[k] != want {
			t.Errorf("config %s = %q, want %q", k, cfg[k], want)
		}
	}
	if _, err := os.Stat(cfg["dir"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's directory %s is still there (%v)", cfg["dir"], err)
	}
}

// A test's own server restarts empty on the same address.
func TestStartRedisRestart(t *testing.T) {
	t.Parallel()
	s := StartRedis(t, RedisOptions{})
	if s.URL() == Redis(t) {
		t.Fatal("StartRedis returned the shared server")
	}
	c := redisClient(t, s.URL())
	ctx := ctx5(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	pid := s.PID()
	url := s.URL()

	s.Stop(t)
	if s.PID() != 0 {
		t.Fatal("PID of a stopped server is not 0")
	}
	if running(pid) {
		t.Fatalf("redis-server %d still runs after Stop", pid)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING of a stopped server succeeded")
	}
	s.Stop(t) // again: nothing

	s.Start(t)
	s.Start(t) // again: nothing
	if s.URL() != url {
		t.Fatalf("URL after Start = %s, was %s", s.URL(), url)
	}
	var got error
	for range 3 { // the client's pooled connection died with the server
		if got = c.Get(ctx, "k").Err(); !errors.Is(got, goredis.Nil) {
			continue
		}
		break
	}
	if !errors.Is(got, goredis.Nil) {
		t.Fatalf("GET after a restart: %v, want no such key (an empty server)", got)
	}

	s.Restart(t)
	if s.PID() == 0 || s.PID() == pid {
		t.Fatalf("PID after Restart = %d (was %d)", s.PID(), pid)
	}
	for range 3 {
		if got = c.Ping(ctx).Err(); got == nil {
			break
		}
	}
	if got != nil {
		t.Fatalf("PING after Restart: %v", got)
	}
}

func TestStartRedisPassword(t *testing.T) {
	t.Parallel()
	s := StartRedis(t, RedisOptions{Password: "s3cret"})
	if !strings.Contains(s.URL(), ":s3cret@") {
		t.Fatalf("URL %s lacks the password", s.URL())
	}
	ctx := ctx5(t)
	if err := redisClient(t, s.URL()).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with the password: %v", err)
	}
	noPassword := strings.Replace(s.URL(), ":s3cret@", "", 1)
	if err := redisClient(t, noPassword).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without the password: %v, want NOAUTH", err)
	}
}

// The servers die with the test binary however it ends: a child test
// binary that started two is killed with SIGKILL (no cleanup runs).
func TestRedisDiesWithTestBinary(t *testing.T) {
	t.Parallel()
	cmd, sc, _ := startChild(t, "TestRedisChild", "AIRLOCK_TESTSERVER_REDIS_CHILD=1")
	var pids []int
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "redis pids "); ok {
			for _, f := range strings.Fields(rest) {
				pid, err := strconv.Atoi(f)
				if err != nil || pid <= 0 {
					t.Fatalf("child said %q", sc.Text())
				}
				pids = append(pids, pid)
			}
			break
		}
	}
	if len(pids) != 2 {
		t.Fatalf("the child printed no pids (%v)", sc.Err())
	}
	for _, pid := range pids {
		if !running(pid) {
			t.Fatalf("redis-server %d is not running", pid)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("redis-server %d outlived its test binary", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRedisChild is the child of TestRedisDiesWithTestBinary, and does
// nothing in any other run.
func TestRedisChild(t *testing.T) {
	if os.Getenv("AIRLOCK_TESTSERVER_REDIS_CHILD") != "1" {
		return
	}
	Redis(t)
	own := StartRedis(t, RedisOptions{})
	fmt.Printf("redis pids %d %d\n", sharedRedis.PID(), own.PID())
	time.Sleep(time.Minute) // until killed
}

// A persisting server keeps what it acknowledged through a SIGKILL.
func TestStartRedisPersist(t *testing.T) {
	t.Parallel()
	s := StartRedis(t, RedisOptions{Persist: true})
	c := redisClient(t, s.URL())
	ctx := ctx5(t)
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "q", Values: []string{"job", "1"}}).Err(); err != nil {
		t.Fatalf("XADD: %v", err)
	}
	s.Restart(t)
	var n int64
	var err error
	for range 3 { // the pooled connection died with the server
		if n, err = c.XLen(ctx, "q").Result(); err == nil {
			break
		}
	}
	if err != nil || n != 1 {
		t.Fatalf("XLEN after a kill and a start = %d, %v; want 1", n, err)
	}
}
