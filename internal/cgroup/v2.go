package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// v2 is a group on the unified hierarchy: one directory holds every
// controller's files.
type v2 struct {
	dir string
}

func (g *v2) Version() Version        { return V2 }
func (g *v2) Paths() []string         { return []string{g.dir} }
func (g *v2) child(name string) Group { return &v2{dir: filepath.Join(g.dir, name)} }

const v2Controllers = "+memory +pids +cpu"

// delegate enables memory, pids and cpu for the group's children. A
// non-root cgroup that holds processes cannot ("no internal processes"), so
// they first move into a leaf below it, as container runtimes do; nothing
// is written outside the group.
func (g *v2) delegate() error {
	if err := g.enableControllers(); err != nil {
		return fmt.Errorf("enable controllers in %s: %w (%s)", g.dir, err, V2Requirement)
	}
	return nil
}

func (g *v2) enableControllers() error {
	err := write(g.dir, "cgroup.subtree_control", v2Controllers)
	if !errors.Is(err, syscall.EBUSY) {
		return err
	}
	leaf := filepath.Join(g.dir, SupervisorLeaf)
	if err := mkdirAll(leaf); err != nil {
		return err
	}
	pids, err := procs(g.dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := write(leaf, "cgroup.procs", strconv.Itoa(pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return write(g.dir, "cgroup.subtree_control", v2Controllers)
}

func (g *v2) setLimits(lim Limits) error {
	if lim.MemoryBytes > 0 {
		if err := write(g.dir, "memory.max", strconv.FormatInt(lim.MemoryBytes, 10)); err != nil {
			return err
		}
		if err := writeIfExists(g.dir, "memory.swap.max", "0"); err != nil {
			return err
		}
	}
	if lim.Pids > 0 {
		if err := write(g.dir, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if lim.CPUQuota > 0 {
		return write(g.dir, "cpu.max", fmt.Sprintf("%d %d", int64(lim.CPUQuota*cpuPeriodMicros), cpuPeriodMicros))
	}
	return nil
}

func (g *v2) Tighten(lim Limits) error {
	return g.setLimits(Limits{MemoryBytes: lim.MemoryBytes, Pids: lim.Pids})
}

func (g *v2) AddProc(pid int) error         { return addProc(g.Paths(), pid) }
func (g *v2) OpenJoin() ([]*os.File, error) { return openJoin(g.Paths(), "cgroup.procs") }
func (g *v2) Procs() ([]int, error)         { return procs(g.dir) }

func (g *v2) CPU() (time.Duration, error) {
	v, err := keyed(g.dir, "cpu.stat", "usage_usec")
	return time.Duration(v) * time.Microsecond, err
}

func (g *v2) Memory() (int64, error) { return single(g.dir, "memory.current") }

// Stats falls back to the current memory for the peak on kernels before
// 5.19, which have no memory.peak.
func (g *v2) Stats() (Stats, error) {
	var s Stats
	var err error
	if s.CPU, err = g.CPU(); err != nil {
		return s, err
	}
	if s.MemoryPeak, err = single(g.dir, "memory.peak"); err != nil {
		s.MemoryPeak, err = single(g.dir, "memory.current")
	}
	if err != nil {
		return s, err
	}
	if s.OOMKills, err = keyed(g.dir, "memory.events", "oom_kill"); err != nil {
		return s, err
	}
	s.PidsLimitHit, _ = keyed(g.dir, "pids.events", "max")
	return s, nil
}

// Kill uses cgroup.kill where the kernel has it (5.14) and signals the
// members one by one until the group is empty either way.
func (g *v2) Kill() error {
	writeIfExists(g.dir, "cgroup.kill", "1")
	return killAll(g.dir)
}

func (g *v2) Signal(sig syscall.Signal, except int) error { return signalAll(g.dir, sig, except) }

func (g *v2) Destroy() error {
	if err := g.Kill(); err != nil {
		return err
	}
	return removeDirs(g.Paths())
}
