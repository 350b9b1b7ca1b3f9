package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tinyDisk mounts a small tmpfs for the test, unmounted when it ends.
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a tmpfs (tests run as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to dir until its file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for n := len(chunk) / 2; n > 0; n /= 2 { // the last blocks too
		f.Write(chunk[:n])
	}
}

// getJSON answers a GET with its status and JSON body.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	return doJSON(t, req)
}

// doJSON answers req with its status and JSON body.
func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestServeFullDisk: a server whose data directory's disk fills up says
// so on /healthz, refuses submissions with 503 and Retry-After, and still
// serves the jobs it has; restarted on the full disk, it starts and serves
// them too.
func TestServeFullDisk(t *testing.T) {
	bin := build(t)
	data := tinyDisk(t, "8m")
	s := startServer(t, bin, data, "--workers", "1", "--pool", "python=0,javascript=0", "--min-free", "1M")
	id := s.submit("print('kept')")
	s.waitStatus(id, "ok")
	if code, body := getJSON(t, s.url+"/healthz"); code != 200 {
		t.Fatalf("healthz before the disk is full: %d %v", code, body)
	}

	fill(t, data)
	check := func(when string) {
		t.Helper()
		code, body := getJSON(t, s.url+"/healthz")
		down, _ := body["down"].(map[string]any)
		if code != 503 || down["disk"] == nil {
			t.Errorf("healthz %s: %d %v; want 503 with the disk down", when, code, body)
		}
		if code, job := getJSON(t, s.url+"/v1/executions/"+id); code != 200 || job["stdout"] != "kept\n" {
			t.Errorf("GET of a job %s: %d %v", when, code, job)
		}
		resp, err := http.Post(s.url+"/v1/executions", "application/json", strings.NewReader(`{"language":"python","code":"print(1)"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("POST %s: %d, Retry-After %q; want 503 with Retry-After", when, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	check("on a full disk")

	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	s = startServer(t, bin, data, "--workers", "1", "--pool", "python=0,javascript=0", "--min-free", "1M")
	check("after a restart on a full disk")

	os.Remove(filepath.Join(data, "fill"))
	if code, body := getJSON(t, s.url+"/healthz"); code != 200 {
		t.Errorf("healthz once there is room again: %d %v", code, body)
	}
	if job := s.waitStatus(s.submit("print('again')"), "ok"); job["stdout"] != "again\n" {
		t.Errorf("a job once there is room again: %v", job)
	}
}
