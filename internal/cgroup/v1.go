package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// v1 is a group on cgroup v1: one directory per controller's hierarchy.
// cpu and cpuacct are usually mounted together, and then share one.
type v1 struct {
	memory, pids, cpu, cpuacct string
}

func (g *v1) Version() Version { return V1 }

// Paths are in the order memory, pids, cpu, cpuacct.
func (g *v1) Paths() []string { return []string{g.memory, g.pids, g.cpu, g.cpuacct} }

func (g *v1) child(name string) Group {
	return &v1{
		memory:  filepath.Join(g.memory, name),
		pids:    filepath.Join(g.pids, name),
		cpu:     filepath.Join(g.cpu, name),
		cpuacct: filepath.Join(g.cpuacct, name),
	}
}

// delegate has nothing to do: every v1 group has its hierarchy's files.
func (g *v1) delegate() error { return nil }

func (g *v1) setLimits(lim Limits) error {
	if lim.MemoryBytes > 0 {
		v := strconv.FormatInt(lim.MemoryBytes, 10)
		if err := write(g.memory, "memory.limit_in_bytes", v); err != nil {
			return err
		}
		if err := writeIfExists(g.memory, "memory.memsw.limit_in_bytes", v); err != nil {
			return err
		}
		if err := writeIfExists(g.memory, "memory.swappiness", "0"); err != nil {
			return err
		}
	}
	if lim.Pids > 0 {
		if err := write(g.pids, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if lim.CPUQuota > 0 {
		if err := write(g.cpu, "cpu.cfs_period_us", strconv.Itoa(cpuPeriodMicros)); err != nil {
			return err
		}
		return write(g.cpu, "cpu.cfs_quota_us", strconv.FormatInt(int64(lim.CPUQuota*cpuPeriodMicros), 10))
	}
	return nil
}

func (g *v1) Tighten(lim Limits) error {
	return g.setLimits(Limits{MemoryBytes: lim.MemoryBytes, Pids: lim.Pids})
}

func (g *v1) AddProc(pid int) error { return addProc(g.Paths(), pid) }

// OpenJoin opens tasks, which moves only the writing thread.
func (g *v1) OpenJoin() ([]*os.File, error) { return openJoin(g.Paths(), "tasks") }

// Procs reads the memory hierarchy: a process is in every hierarchy of a
// v1 group alike, so one tells.
func (g *v1) Procs() ([]int, error) { return procs(g.memory) }

func (g *v1) CPU() (time.Duration, error) {
	ns, err := single(g.cpuacct, "cpuacct.usage")
	return time.Duration(ns), err
}

func (g *v1) Memory() (int64, error) { return single(g.memory, "memory.usage_in_bytes") }

func (g *v1) Stats() (Stats, error) {
	var s Stats
	var err error
	if s.CPU, err = g.CPU(); err != nil {
		return s, err
	}
	if s.MemoryPeak, err = single(g.memory, "memory.max_usage_in_bytes"); err != nil {
		return s, err
	}
	if s.OOMKills, err = keyed(g.memory, "memory.oom_control", "oom_kill"); err != nil {
		return s, err
	}
	s.PidsLimitHit, _ = keyed(g.pids, "pids.events", "max")
	return s, nil
}

func (g *v1) Kill() error                                 { return killAll(g.memory) }
func (g *v1) Signal(sig syscall.Signal, except int) error { return signalAll(g.memory, sig, except) }

func (g *v1) Destroy() error {
	if err := g.Kill(); err != nil {
		return err
	}
	return removeDirs(g.Paths())
}
