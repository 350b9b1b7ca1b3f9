package cgroup

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// v1Mountinfo is a hybrid host: v1 hierarchies for memory, pids and
// cpu,cpuacct, a named systemd one, and an empty cgroup2 "unified" mount.
const v1Mountinfo = "25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" +
	"26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n" +
	"27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
	"28 25 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n" +
	"29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
	"30 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"

const v1Self = "12:pids:" + service + "\n5:memory:" + service + "\n3:cpu,cpuacct:" + service +
	"\n1:name=systemd:" + service + "\n0::" + service + "\n"

// v1Mounts are the hierarchies of v1Mountinfo below /sys/fs/cgroup.
var v1Mounts = []string{"unified", "memory", "pids", "cpu,cpuacct", "systemd"}

// v1Files are the files of a new group in each hierarchy; swap adds
// memory.memsw.limit_in_bytes (swap accounting).
func v1Files(swap bool) files {
	return func(h *fakeHost, dir string) map[string]string {
		f := map[string]string{"cgroup.procs": "", "tasks": ""}
		switch h.hierarchy(dir) {
		case "memory":
			f["memory.limit_in_bytes"] = "9223372036854771712\n"
			f["memory.swappiness"] = "60\n"
			f["memory.usage_in_bytes"] = "0\n"
			f["memory.max_usage_in_bytes"] = "0\n"
			f["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
			if swap {
				f["memory.memsw.limit_in_bytes"] = "9223372036854771712\n"
			}
		case "pids":
			f["pids.max"] = "max\n"
			f["pids.current"] = "0\n"
			f["pids.events"] = "max 0\n"
		case "cpu,cpuacct":
			f["cpu.cfs_period_us"] = "100000\n"
			f["cpu.cfs_quota_us"] = "-1\n"
			f["cpuacct.usage"] = "0\n"
		case "unified":
			f["cgroup.controllers"] = "" // the hybrid's cgroup2 has none
		}
		return f
	}
}

// v1Host is a cgroup v1 host where airlock runs as a service; it returns
// the host and airlock's subtree manager.
func v1Host(t *testing.T, swap bool) (*fakeHost, *Manager) {
	h := newFakeHost(t, v1Mountinfo, v1Self, v1Files(swap), v1Mounts...)
	for _, m := range v1Mounts {
		h.mkdirAll(filepath.Join(sysfs, m, service))
	}
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

// v1Dir is where group id of the subtree lives in hierarchy.
func (h *fakeHost) v1Dir(hierarchy, id string) string {
	return h.path(filepath.Join(sysfs, hierarchy, service, "airlock", id))
}

// TestV1LimitsOnFakeFS: the subtree exists in every needed hierarchy and
// each limit lands in its controller's directory.
func TestV1LimitsOnFakeFS(t *testing.T) {
	for _, swap := range []bool{true, false} {
		h, m := v1Host(t, swap)
		wantDirs := []string{h.v1Dir("memory", ""), h.v1Dir("pids", ""), h.v1Dir("cpu,cpuacct", ""), h.v1Dir("cpu,cpuacct", "")}
		if m.Version() != V1 || !slices.Equal(m.Dirs(), wantDirs) {
			t.Fatalf("manager v%d on %v", m.Version(), m.Dirs())
		}
		g, err := m.Create("slot-1", Limits{MemoryBytes: 64 << 20, Pids: 10, CPUQuota: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		memory, pids, cpu := h.v1Dir("memory", "slot-1"), h.v1Dir("pids", "slot-1"), h.v1Dir("cpu,cpuacct", "slot-1")
		if want := []string{memory, pids, cpu, cpu}; !slices.Equal(g.Paths(), want) {
			t.Fatalf("paths %v, want %v", g.Paths(), want)
		}
		memsw := "<none>"
		if swap {
			memsw = "67108864"
		}
		want := map[string]string{
			filepath.Join(memory, "memory.limit_in_bytes"):       "67108864",
			filepath.Join(memory, "memory.memsw.limit_in_bytes"): memsw,
			filepath.Join(memory, "memory.swappiness"):           "0",
			filepath.Join(pids, "pids.max"):                      "10",
			filepath.Join(cpu, "cpu.cfs_period_us"):              "100000",
			filepath.Join(cpu, "cpu.cfs_quota_us"):               "50000",
		}
		check := func(when string) {
			for path, w := range want {
				if got := get(t, filepath.Dir(path), filepath.Base(path)); got != w {
					t.Errorf("swap %v, %s: %s = %q, want %q", swap, when, path, got, w)
				}
			}
		}
		check("Create")
		if err := g.Tighten(Limits{MemoryBytes: 32 << 20, CPUQuota: 2}); err != nil {
			t.Fatal(err)
		}
		want[filepath.Join(memory, "memory.limit_in_bytes")] = "33554432"
		if swap {
			want[filepath.Join(memory, "memory.memsw.limit_in_bytes")] = "33554432"
		}
		check("Tighten")
	}
}

// TestV1UsageOnFakeFS reads each counter from its controller's hierarchy.
func TestV1UsageOnFakeFS(t *testing.T) {
	h, m := v1Host(t, false)
	g, err := m.Create("slot-1", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	memory, pids, cpu := h.v1Dir("memory", "slot-1"), h.v1Dir("pids", "slot-1"), h.v1Dir("cpu,cpuacct", "slot-1")
	h.replace(filepath.Join(cpu, "cpuacct.usage"), "1500000\n")
	h.replace(filepath.Join(memory, "memory.usage_in_bytes"), "2048\n")
	h.replace(filepath.Join(memory, "memory.max_usage_in_bytes"), "4096\n")
	h.replace(filepath.Join(memory, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	h.replace(filepath.Join(pids, "pids.events"), "max 2\n")
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
	// Kernels before 4.13 have no oom_kill line: no kills counted.
	h.replace(filepath.Join(memory, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n")
	if s, err := g.Stats(); err != nil || s.OOMKills != 0 {
		t.Errorf("without oom_kill: Stats %+v, %v", s, err)
	}
}

// TestV1MembersOnFakeFS: a process moves into every hierarchy, joiners get
// one tasks file per distinct hierarchy, Signal spares its exception, Kill
// waits until the group is empty, and Destroy removes every directory.
func TestV1MembersOnFakeFS(t *testing.T) {
	h, m := v1Host(t, false)
	g, err := m.Create("slot-1", Limits{Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	memory, pids, cpu := h.v1Dir("memory", "slot-1"), h.v1Dir("pids", "slot-1"), h.v1Dir("cpu,cpuacct", "slot-1")
	join, err := g.OpenJoin()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(join), []string{filepath.Join(memory, "tasks"), filepath.Join(pids, "tasks"), filepath.Join(cpu, "tasks")}; !slices.Equal(got, want) {
		t.Errorf("OpenJoin opened %v, want %v", got, want)
	}
	a, b := h.start(g), h.start(g)
	if err := g.AddProc(a.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{memory, pids, cpu} {
		if got := get(t, dir, "cgroup.procs"); got != itoa(a.cmd.Process.Pid) {
			t.Errorf("%s: cgroup.procs %q after AddProc", dir, got)
		}
	}
	h.setMembers(g, a.cmd.Process.Pid, b.cmd.Process.Pid)
	if got, err := g.Procs(); err != nil || !slices.Equal(got, []int{a.cmd.Process.Pid, b.cmd.Process.Pid}) {
		t.Errorf("Procs %v, %v", got, err)
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
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	gone(t, g)
}
