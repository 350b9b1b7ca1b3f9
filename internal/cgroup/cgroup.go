// Package cgroup creates, limits, measures and removes the per-sandbox
// control groups, on cgroup v1 (one hierarchy per controller) and v2
// (unified), detected at start.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Version is the cgroup hierarchy in use.
type Version int

// The two cgroup versions.
const (
	V1 Version = 1
	V2 Version = 2
)

// v1Controllers are the hierarchies a v1 sandbox needs.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct"}

// Layout says where this process's cgroups are. For V2, Root is the
// cgroup2 mount joined with our own cgroup path; for V1, Controllers maps
// each needed controller to our cgroup's directory in its hierarchy.
type Layout struct {
	Version     Version
	Root        string
	Controllers map[string]string
}

// Detect reads /proc/self/mountinfo and /proc/self/cgroup.
func Detect() (Layout, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Layout{}, err
	}
	return detectFrom(string(mi), string(self), func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return string(b)
	})
}

// detectFrom prefers a v2 mount with memory and pids controllers; a hybrid
// host's empty "unified" mount does not count.
func detectFrom(mountinfo, selfCgroup string, controllersOf func(dir string) string) (Layout, error) {
	paths := map[string]string{} // controller ("" for v2) → own path
	for _, line := range strings.Split(selfCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	v1 := map[string]string{}
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent maj:min root mountpoint opts ... - fstype source superopts
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		mnt, fstype := f[4], g[0]
		switch fstype {
		case "cgroup2":
			ctl := strings.Fields(controllersOf(mnt))
			if slices.Contains(ctl, "memory") && slices.Contains(ctl, "pids") {
				own := paths[""]
				if filepath.Base(own) == SupervisorLeaf {
					own = filepath.Dir(own) // we moved ourselves down earlier
				}
				return Layout{Version: V2, Root: filepath.Join(mnt, own)}, nil
			}
		case "cgroup":
			for _, opt := range strings.Split(g[2], ",") {
				if p, ok := paths[opt]; ok {
					v1[opt] = filepath.Join(mnt, p)
				}
			}
		}
	}
	var missing []string
	for _, c := range v1Controllers {
		if _, ok := v1[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return Layout{}, fmt.Errorf("no cgroup2 mount with memory and pids controllers, and no cgroup v1 hierarchy for %s", strings.Join(missing, ", "))
	}
	return Layout{Version: V1, Controllers: v1}, nil
}

// Limits are what a group enforces.
type Limits struct {
	MemoryBytes int64   // 0: none; swap is always off
	Pids        int64   // 0: none
	CPUQuota    float64 // CPUs; 0: none
}

// Manager owns a named subtree under the layout.
type Manager struct {
	layout Layout
	bases  []string // subtree dirs: one for v2, one per controller for v1
}

// NewManager creates (or reuses) the subtree name under our own cgroups.
func NewManager(l Layout, name string) (*Manager, error) {
	m := &Manager{layout: l}
	if l.Version == V2 {
		base := filepath.Join(l.Root, name)
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, err
		}
		// Controllers must be enabled on the way down.
		for _, dir := range []string{l.Root, base} {
			if err := enableControllers(dir); err != nil {
				return nil, fmt.Errorf("enable controllers in %s: %w (%s)", dir, err, V2Requirement)
			}
		}
		m.bases = []string{base}
		return m, nil
	}
	for _, c := range v1Controllers {
		base := filepath.Join(l.Controllers[c], name)
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, err
		}
		m.bases = append(m.bases, base)
	}
	return m, nil
}

// V2Requirement says what a cgroup v2 host must give airlock.
const V2Requirement = "on cgroup v2 airlock needs a writable cgroup subtree of its own with the memory, pids and cpu controllers available: " +
	"run it as a systemd service with Delegate=yes, or in a container with its own cgroup namespace and /sys/fs/cgroup mounted read-write"

// SupervisorLeaf is the child cgroup into which airlock moves the processes
// of its own cgroup, so that cgroup may delegate controllers to sandboxes.
const SupervisorLeaf = "airlock.supervisor"

const v2Controllers = "+memory +pids +cpu"

// enableControllers enables memory, pids and cpu for dir's children. A
// non-root cgroup that holds processes cannot ("no internal processes"), so
// they first move into a leaf below it, as container runtimes do; nothing
// is written outside dir.
func enableControllers(dir string) error {
	err := write(dir, "cgroup.subtree_control", v2Controllers)
	if !errors.Is(err, syscall.EBUSY) {
		return err
	}
	leaf := filepath.Join(dir, SupervisorLeaf)
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return err
	}
	pids, err := procs(dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := write(leaf, "cgroup.procs", strconv.Itoa(pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return write(dir, "cgroup.subtree_control", v2Controllers)
}

// Groups lists the ids of the groups under the subtree, live or stale.
func (m *Manager) Groups() ([]string, error) {
	ents, err := os.ReadDir(m.bases[0])
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Remove kills and removes the group id, if it exists.
func (m *Manager) Remove(id string) error {
	g := &Group{version: m.layout.Version}
	for _, b := range m.bases {
		g.paths = append(g.paths, filepath.Join(b, id))
	}
	return g.Destroy()
}

// Open returns group id, creating its directories when missing. Unlike
// Create it neither kills nor resets anything: it is for long-lived groups
// that several airlock processes may share.
func (m *Manager) Open(id string) (*Group, error) {
	g := &Group{version: m.layout.Version}
	for _, b := range m.bases {
		p := filepath.Join(b, id)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		g.paths = append(g.paths, p)
	}
	return g, nil
}

// Dirs are the directories of the subtree: one for v2, one per v1
// controller.
func (m *Manager) Dirs() []string { return append([]string(nil), m.bases...) }

// Version says which hierarchy the manager drives.
func (m *Manager) Version() Version { return m.layout.Version }

// Group is one sandbox's cgroup.
type Group struct {
	version Version
	paths   []string // v2: one; v1: memory, pids, cpu, cpuacct
}

// Create makes the group id with lim; a stale group of that id is killed
// and removed first. On error nothing is left behind.
func (m *Manager) Create(id string, lim Limits) (*Group, error) {
	g := &Group{version: m.layout.Version}
	for _, b := range m.bases {
		g.paths = append(g.paths, filepath.Join(b, id))
	}
	// The first directory decides whether a stale group is in the way.
	err := os.Mkdir(g.paths[0], 0o755)
	if errors.Is(err, os.ErrExist) {
		if err := m.Remove(id); err != nil {
			return nil, fmt.Errorf("remove stale cgroup: %w", err)
		}
		err = os.Mkdir(g.paths[0], 0o755)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range g.paths[1:] {
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			g.Destroy()
			return nil, err
		}
	}
	if err := g.setLimits(lim); err != nil {
		g.Destroy()
		return nil, err
	}
	return g, nil
}

func (g *Group) setLimits(lim Limits) error {
	if g.version == V2 {
		dir := g.paths[0]
		if lim.MemoryBytes > 0 {
			if err := write(dir, "memory.max", strconv.FormatInt(lim.MemoryBytes, 10)); err != nil {
				return err
			}
			if err := writeIfExists(dir, "memory.swap.max", "0"); err != nil {
				return err
			}
		}
		if lim.Pids > 0 {
			if err := write(dir, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
				return err
			}
		}
		if lim.CPUQuota > 0 {
			return write(dir, "cpu.max", fmt.Sprintf("%d 100000", int64(lim.CPUQuota*100000)))
		}
		return nil
	}
	mem, pids, cpu := g.paths[0], g.paths[1], g.paths[2]
	if lim.MemoryBytes > 0 {
		v := strconv.FormatInt(lim.MemoryBytes, 10)
		if err := write(mem, "memory.limit_in_bytes", v); err != nil {
			return err
		}
		if err := writeIfExists(mem, "memory.memsw.limit_in_bytes", v); err != nil {
			return err
		}
		if err := writeIfExists(mem, "memory.swappiness", "0"); err != nil {
			return err
		}
	}
	if lim.Pids > 0 {
		if err := write(pids, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if lim.CPUQuota > 0 {
		if err := write(cpu, "cpu.cfs_period_us", "100000"); err != nil {
			return err
		}
		return write(cpu, "cpu.cfs_quota_us", strconv.FormatInt(int64(lim.CPUQuota*100000), 10))
	}
	return nil
}

// Tighten lowers the group's memory and process limits to lim's non-zero
// ones (a prepared sandbox taking a job that asks less than it was
// prepared with). Memory below what the group holds fails or reclaims.
func (g *Group) Tighten(lim Limits) error {
	return g.setLimits(Limits{MemoryBytes: lim.MemoryBytes, Pids: lim.Pids})
}

// Procs lists the processes in the group.
func (g *Group) Procs() ([]int, error) { return procs(g.paths[0]) }

// Paths are the group's directories.
func (g *Group) Paths() []string { return append([]string(nil), g.paths...) }

// AddProc moves pid into the group.
func (g *Group) AddProc(pid int) error {
	for _, p := range g.paths {
		if err := write(p, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// OpenJoin opens, for writing, the files (one per hierarchy) through which
// a writer of "0" joins the group: on v1 the writing thread alone (tasks),
// which is cheap; on v2, where a thread cannot leave its process's domain,
// the whole writing process (cgroup.procs), which costs an RCU grace period
// per move unless cgroup2 is mounted with favordynmods. The kernel checks
// the opener's credentials, not the writer's, so root can hand them to an
// unprivileged helper that must move only itself.
func (g *Group) OpenJoin() ([]*os.File, error) {
	file := "cgroup.procs"
	if g.version == V1 {
		file = "tasks"
	}
	var files []*os.File
	seen := map[string]bool{}
	for _, p := range g.paths {
		if seen[p] {
			continue // cpu and cpuacct often share one v1 hierarchy
		}
		seen[p] = true
		f, err := os.OpenFile(filepath.Join(p, file), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// Stats are the group's counters.
type Stats struct {
	CPU          time.Duration
	MemoryPeak   int64
	OOMKills     int64
	PidsLimitHit int64
}

// CPU is the CPU time of every process that was in the group.
func (g *Group) CPU() (time.Duration, error) {
	if g.version == V2 {
		v, err := keyed(g.paths[0], "cpu.stat", "usage_usec")
		return time.Duration(v) * time.Microsecond, err
	}
	b, err := os.ReadFile(filepath.Join(g.paths[3], "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(ns), err
}

// Memory is what the group's processes hold in memory now.
func (g *Group) Memory() (int64, error) {
	if g.version == V2 {
		return single(g.paths[0], "memory.current")
	}
	return single(g.paths[0], "memory.usage_in_bytes")
}

// Stats reads CPU, peak memory, OOM kills and pids-limit hits.
func (g *Group) Stats() (Stats, error) {
	var s Stats
	var err error
	if s.CPU, err = g.CPU(); err != nil {
		return s, err
	}
	if g.version == V2 {
		dir := g.paths[0]
		if s.MemoryPeak, err = single(dir, "memory.peak"); err != nil {
			s.MemoryPeak, err = single(dir, "memory.current")
		}
		if err != nil {
			return s, err
		}
		if s.OOMKills, err = keyed(dir, "memory.events", "oom_kill"); err != nil {
			return s, err
		}
		s.PidsLimitHit, _ = keyed(dir, "pids.events", "max")
		return s, nil
	}
	if s.MemoryPeak, err = single(g.paths[0], "memory.max_usage_in_bytes"); err != nil {
		return s, err
	}
	if s.OOMKills, err = keyed(g.paths[0], "memory.oom_control", "oom_kill"); err != nil {
		return s, err
	}
	s.PidsLimitHit, _ = keyed(g.paths[1], "pids.events", "max")
	return s, nil
}

// Kill kills every process in the group and waits until it is empty.
// Processes belong to every hierarchy of a v1 group alike, so the first
// one tells.
func (g *Group) Kill() error {
	if g.version == V2 {
		writeIfExists(g.paths[0], "cgroup.kill", "1")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		pids, err := procs(g.paths[0])
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes after SIGKILL", g.paths[0])
		}
		time.Sleep(time.Millisecond)
	}
}

// Signal sends sig to every process in the group but except (a helper
// that may be passing through the group).
func (g *Group) Signal(sig syscall.Signal, except int) error {
	pids, err := procs(g.paths[0])
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid != except {
			syscall.Kill(pid, sig)
		}
	}
	return nil
}

// Destroy kills what is left and removes the group's directories.
func (g *Group) Destroy() error {
	if err := g.Kill(); err != nil {
		return err
	}
	var errs []error
	for _, p := range g.paths {
		var err error
		for range 100 { // a dying task may keep the group busy briefly
			if err = os.Remove(p); err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func procs(dir string) ([]int, error) {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, pid)
		}
	}
	return out, sc.Err()
}

func write(dir, file, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

func writeIfExists(dir, file, value string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return write(dir, file, value)
}

func single(dir, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// keyed reads "key value" lines (cpu.stat, memory.events, oom_control).
func keyed(dir, file, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, nil
}
