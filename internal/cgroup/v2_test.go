package cgroup

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

const (
	v2Mountinfo = "22 1 0:5 / /proc rw - proc proc rw\n" +
		"30 1 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
	service = "/system.slice/airlock.service"
)

// v2Files are the files of a new group on a cgroup2 mount with memory,
// pids and cpu available; swap adds memory.swap.max (swap accounting).
func v2Files(swap bool) files {
	return func(*fakeHost, string) map[string]string {
		f := map[string]string{
			"cgroup.controllers":     "cpu memory pids\n",
			"cgroup.subtree_control": "",
			"cgroup.procs":           "",
			"cgroup.kill":            "",
			"memory.max":             "max\n",
			"memory.current":         "0\n",
			"memory.peak":            "0\n",
			"memory.events":          "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
			"pids.max":               "max\n",
			"pids.events":            "max 0\n",
			"cpu.max":                "max 100000\n",
			"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
		}
		if swap {
			f["memory.swap.max"] = "max\n"
		}
		return f
	}
}

// v2Host is a pure cgroup v2 host where airlock runs as a service with a
// delegated subtree; it returns the host and airlock's subtree manager.
func v2Host(t *testing.T, swap bool) (*fakeHost, *Manager) {
	h := newFakeHost(t, v2Mountinfo, "0::"+service+"\n", v2Files(swap), "")
	h.mkdirAll(filepath.Join(sysfs, service))
	own, err := detect(h.root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(own, "airlock")
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

// TestV2LimitsOnFakeFS: the manager delegates the controllers down to its
// subtree, and a group's limits land in its one directory.
func TestV2LimitsOnFakeFS(t *testing.T) {
	for _, swap := range []bool{true, false} {
		h, m := v2Host(t, swap)
		own := h.path(filepath.Join(sysfs, service))
		for _, dir := range []string{own, filepath.Join(own, "airlock")} {
			if got := get(t, dir, "cgroup.subtree_control"); got != "+memory +pids +cpu" {
				t.Errorf("%s: subtree_control %q", dir, got)
			}
		}
		if m.Version() != V2 || !slices.Equal(m.Dirs(), []string{filepath.Join(own, "airlock")}) {
			t.Fatalf("manager v%d on %v", m.Version(), m.Dirs())
		}
		g, err := m.Create("slot-1", Limits{MemoryBytes: 64 << 20, Pids: 10, CPUQuota: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(own, "airlock", "slot-1")
		if !slices.Equal(g.Paths(), []string{dir}) {
			t.Fatalf("paths %v", g.Paths())
		}
		swapWant := "<none>"
		if swap {
			swapWant = "0"
		}
		want := map[string]string{"memory.max": "67108864", "memory.swap.max": swapWant, "pids.max": "10", "cpu.max": "50000 100000"}
		for file, w := range want {
			if got := get(t, dir, file); got != w {
				t.Errorf("swap %v: %s = %q, want %q", swap, file, got, w)
			}
		}
		// Tighten lowers memory and pids; CPU stays.
		if err := g.Tighten(Limits{Pids: 5, CPUQuota: 2}); err != nil {
			t.Fatal(err)
		}
		want["pids.max"] = "5"
		for file, w := range want {
			if got := get(t, dir, file); got != w {
				t.Errorf("after Tighten: %s = %q, want %q", file, got, w)
			}
		}
	}
}

// TestV2UsageOnFakeFS reads CPU, memory, OOM kills and pids-limit hits,
// and the peak's fallback on kernels without memory.peak.
func TestV2UsageOnFakeFS(t *testing.T) {
	h, m := v2Host(t, true)
	g, err := m.Create("slot-1", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dir := g.Paths()[0]
	h.replace(filepath.Join(dir, "cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
	h.replace(filepath.Join(dir, "memory.current"), "2048\n")
	h.replace(filepath.Join(dir, "memory.peak"), "4096\n")
	h.replace(filepath.Join(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	h.replace(filepath.Join(dir, "pids.events"), "max 2\n")
	if cpu, err := g.CPU(); err != nil || cpu != 1500*time.Microsecond {
		t.Errorf("CPU %v, %v", cpu, err)
	}
	if mem, err := g.Memory(); err != nil || mem != 2048 {
		t.Errorf("Memory %v, %v", mem, err)
	}
	s, err := g.Stats()
	if want := (Stats{CPU: 1500 * time.Microsecond, MemoryPeak: 4096, OOMKills: 1, PidsLimitHit: 2}); err != nil || s != want {
		t.Errorf("Stats %+v, %v; want %+v", s, err, want)
	}
	removeFile(t, dir, "memory.peak")
	if s, err := g.Stats(); err != nil || s.MemoryPeak != 2048 {
		t.Errorf("without memory.peak: Stats %+v, %v", s, err)
	}
}

// TestV2MembersOnFakeFS: a process moves in through cgroup.procs, joiners
// get cgroup.procs, Signal spares its exception, Kill writes cgroup.kill
// and waits until the group is empty, and Destroy removes it.
func TestV2MembersOnFakeFS(t *testing.T) {
	h, m := v2Host(t, true)
	g, err := m.Create("slot-1", Limits{Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := g.Paths()[0]
	join, err := g.OpenJoin()
	if err != nil {
		t.Fatal(err)
	}
	if got := names(join); !slices.Equal(got, []string{filepath.Join(dir, "cgroup.procs")}) {
		t.Errorf("OpenJoin opened %v", got)
	}
	a, b := h.start(g), h.start(g)
	if err := g.AddProc(a.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := get(t, dir, "cgroup.procs"); got != itoa(a.cmd.Process.Pid) {
		t.Errorf("cgroup.procs %q after AddProc", got)
	}
	h.setMembers(g, a.cmd.Process.Pid, b.cmd.Process.Pid)
	if pids, err := g.Procs(); err != nil || !slices.Equal(pids, []int{a.cmd.Process.Pid, b.cmd.Process.Pid}) {
		t.Errorf("Procs %v, %v", pids, err)
	}
	if err := g.Signal(syscall.SIGTERM, a.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if sig := b.signalled(t); sig != syscall.SIGTERM {
		t.Errorf("member ended by %v, want SIGTERM", sig)
	}
	if !a.alive() {
		t.Error("Signal reached its exception")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	if sig := a.signalled(t); sig != syscall.SIGKILL {
		t.Errorf("member ended by %v, want SIGKILL", sig)
	}
	if got := get(t, dir, "cgroup.kill"); got != "1" {
		t.Errorf("cgroup.kill %q", got)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	gone(t, g)
}
