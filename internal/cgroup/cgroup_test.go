package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hybridMountinfo = `25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`

const hybridSelf = "4:memory:/svc\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"

func TestDetectHybridIsV1(t *testing.T) {
	l, err := detectFrom(hybridMountinfo, hybridSelf, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != V1 || l.Controllers["memory"] != "/sys/fs/cgroup/memory/svc" || l.Controllers["cpuacct"] != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Fatalf("got %+v", l)
	}
}

func TestDetectPureV2(t *testing.T) {
	mi := "30 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
	// cgroup.controllers ends in a newline; pids may come last.
	controllers := func(string) string { return "cpu memory pids\n" }
	for _, self := range []string{"0::/system.slice/airlock.service\n", "0::/system.slice/airlock.service/" + SupervisorLeaf + "\n"} {
		l, err := detectFrom(mi, self, controllers)
		if err != nil {
			t.Fatal(err)
		}
		if l.Version != V2 || l.Root != "/sys/fs/cgroup/system.slice/airlock.service" {
			t.Fatalf("%q: got %+v", self, l)
		}
	}
}

func TestDetectNothing(t *testing.T) {
	_, err := detectFrom("25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "0::/\n", func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("want an error naming the missing controllers, got %v", err)
	}
}

// TestV2LimitsOnFakeFS checks the v2 file protocol on a directory laid
// out like a delegated cgroup2 subtree (this host has no v2 controllers).
func TestV2LimitsOnFakeFS(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "airlock"), 0o755)
	for _, f := range []string{"cgroup.subtree_control", "cgroup.procs", "airlock/cgroup.subtree_control"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	m, err := NewManager(Layout{Version: V2, Root: root}, "airlock")
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, "airlock")
	dir := filepath.Join(base, "slot-1")
	// The kernel provides these files when the group is made.
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"memory.max", "memory.swap.max", "pids.max", "cpu.max", "cgroup.procs"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 1500\nuser_usec 1000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("4096\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	g := &Group{version: V2, paths: []string{dir}}
	if err := g.setLimits(Limits{MemoryBytes: 64 << 20, Pids: 10, CPUQuota: 0.5}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "10", "cpu.max": "50000 100000"} {
		if b, _ := os.ReadFile(filepath.Join(dir, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(base, "cgroup.subtree_control")); string(b) != "+memory +pids +cpu" {
		t.Errorf("controllers not delegated: %q", b)
	}
	s, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 1500*time.Microsecond || s.MemoryPeak != 4096 || s.OOMKills != 1 {
		t.Errorf("stats %+v", s)
	}
	if m.Version() != V2 {
		t.Error("version")
	}
}

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
