// Package cgroup creates, limits, measures and removes the per-sandbox
// control groups, on cgroup v1 (one hierarchy per controller) and v2
// (unified), detected at start. Each version is one type behind the Group
// interface; Detect is the only place that tells them apart.
package cgroup

import (
	"os"
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

// V2Requirement says what a cgroup v2 host must give airlock.
const V2Requirement = "on cgroup v2 airlock needs a writable cgroup subtree of its own with the memory, pids and cpu controllers available: " +
	"run it as a systemd service with Delegate=yes, or in a container with its own cgroup namespace and /sys/fs/cgroup mounted read-write"

// SupervisorLeaf is the child cgroup into which airlock moves the processes
// of its own cgroup, so that cgroup may delegate controllers to sandboxes.
const SupervisorLeaf = "airlock.supervisor"

// Limits are what a group enforces.
type Limits struct {
	MemoryBytes int64   // 0: none; swap is always off
	Pids        int64   // 0: none
	CPUQuota    float64 // CPUs; 0: none
}

// Stats are the group's counters.
type Stats struct {
	CPU          time.Duration
	MemoryPeak   int64
	OOMKills     int64
	PidsLimitHit int64
}

// Group is one control group on either version: airlock's own, the subtree
// it manages, a sandbox's group or the keepers'. Only this package
// implements it.
type Group interface {
	// Version says which hierarchy the group is on.
	Version() Version
	// Paths are the group's directories: one on v2; on v1 one per
	// controller (memory, pids, cpu, cpuacct), which may coincide.
	Paths() []string

	// AddProc moves pid into the group.
	AddProc(pid int) error
	// OpenJoin opens, for writing, the files (one per hierarchy) through
	// which a writer of "0" joins the group: on v1 the writing thread alone
	// (tasks), which is cheap; on v2, where a thread cannot leave its
	// process's domain, the whole writing process (cgroup.procs), which
	// costs an RCU grace period per move unless cgroup2 is mounted with
	// favordynmods. The kernel checks the opener's credentials, not the
	// writer's, so root can hand them to an unprivileged helper that must
	// move only itself.
	OpenJoin() ([]*os.File, error)
	// Procs lists the processes in the group.
	Procs() ([]int, error)

	// Tighten lowers the group's memory and process limits to lim's
	// non-zero ones (a prepared sandbox taking a job that asks less than
	// it was prepared with). Memory below what the group holds fails or
	// reclaims.
	Tighten(lim Limits) error

	// CPU is the CPU time of every process that was in the group.
	CPU() (time.Duration, error)
	// Memory is what the group's processes hold in memory now.
	Memory() (int64, error)
	// Stats reads CPU, peak memory, OOM kills and pids-limit hits.
	Stats() (Stats, error)

	// Kill kills every process in the group and waits until it is empty.
	Kill() error
	// Signal sends sig to every process in the group but except (a helper
	// that may be passing through the group).
	Signal(sig syscall.Signal, except int) error
	// Destroy kills what is left and removes the group's directories.
	Destroy() error

	// child is the group name below this one; nothing is created.
	child(name string) Group
	// setLimits writes lim's non-zero limits.
	setLimits(lim Limits) error
	// delegate makes the controllers sandboxes need available to the
	// group's children.
	delegate() error
}
