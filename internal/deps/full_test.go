package deps

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size bytes on a fresh directory until the
// test ends. It needs root, as the sandbox tests do.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs: it needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func TestCacheFull(t *testing.T) {
	dir := smallFS(t, "64k")
	r := newFake(t, map[string]string{"small.py": "A = 1\n", "big.bin": strings.Repeat("x", 1<<20)})
	m := manager(t, dir, r, Options{})
	_, err := m.Get(context.Background(), pySpec(t, "a==1"))
	var be *BuildError
	if err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), "the environment cache "+dir+" is full") {
		t.Fatalf("Get: %v; want the cache is full", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("left: %s", e.Name())
		}
	}
}

func TestCacheNotWritable(t *testing.T) {
	dir := smallFS(t, "1m")
	m := manager(t, dir, newFake(t, map[string]string{"a.py": "A = 1\n"}), Options{})
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	_, err := m.Get(context.Background(), pySpec(t, "a==1"))
	if err == nil || !strings.Contains(err.Error(), "the environment cache "+dir+" is not writable") {
		t.Fatalf("Get: %v; want the cache is not writable", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("left: %v", ents)
	}
}
