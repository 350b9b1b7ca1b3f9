package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestHostGroup drives this host's real cgroups: limits, a member process,
// kill and removal.
func TestHostGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("cgroup tests need root")
	}
	l, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(l, "airlock-test")
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.Create("g1", Limits{MemoryBytes: 64 << 20, Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Stats(); err != nil {
		t.Fatal(err)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("member process survived Destroy")
	}
	for _, p := range g.Paths() {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists", p)
		}
		os.Remove(filepath.Dir(p))
	}
}
