// Package airlock holds the domain types shared by every layer: statuses,
// limits and resource usage. It imports nothing of the project.
package airlock

import "time"

// Status is the outcome class of a sandboxed run or of a job.
type Status string

// Statuses (docs/architecture.md, Statuses). The sandbox produces the run
// statuses; the engine and the service add the job-level ones.
const (
	StatusQueued        Status = "queued"
	StatusRunning       Status = "running"
	StatusOK            Status = "ok"
	StatusCompileError  Status = "compile_error"
	StatusRuntimeError  Status = "runtime_error"
	StatusTimeLimit     Status = "time_limit"
	StatusMemoryLimit   Status = "memory_limit"
	StatusOutputLimit   Status = "output_limit"
	StatusWrongAnswer   Status = "wrong_answer"
	StatusCancelled     Status = "cancelled"
	StatusInternalError Status = "internal_error"
	// StatusDependencyError is a job whose requirements could not be
	// installed: an unknown package, an impossible version, a conflict,
	// a build over its limits or an index that cannot be reached.
	StatusDependencyError Status = "dependency_error"
)

// Limits bound one sandboxed run. A zero field means "use the default".
type Limits struct {
	Wall      time.Duration `json:"Wall"`      // wall-clock time
	CPU       time.Duration `json:"CPU"`       // CPU time summed over all processes
	Memory    int64         `json:"Memory"`    // bytes, no swap
	Pids      int64         `json:"Pids"`      // processes and threads
	OpenFiles int64         `json:"OpenFiles"` // RLIMIT_NOFILE
	TmpBytes  int64         `json:"TmpBytes"`  // size of the writable tmpfs (/box, /tmp, /dev/shm)
	FileSize  int64         `json:"FileSize"`  // RLIMIT_FSIZE, bytes
	Output    int64         `json:"Output"`    // bytes per stream (stdout and stderr each)
	Stack     int64         `json:"Stack"`     // RLIMIT_STACK, bytes
}

// DefaultLimits are the operator defaults (docs/architecture.md, Limits).
var DefaultLimits = Limits{
	Wall:      10 * time.Second,
	CPU:       5 * time.Second,
	Memory:    256 << 20,
	Pids:      64,
	OpenFiles: 128,
	TmpBytes:  64 << 20,
	FileSize:  16 << 20,
	Output:    1 << 20,
	Stack:     8 << 20,
}

// WithDefaults returns l with every zero field taken from d.
func (l Limits) WithDefaults(d Limits) Limits {
	return l.fieldwise(d, func(v, def int64) int64 {
		if v == 0 {
			return def
		}
		return v
	})
}

// fieldwise returns the Limits whose every field is f of l's and o's.
func (l Limits) fieldwise(o Limits, f func(v, o int64) int64) Limits {
	return Limits{
		Wall:      time.Duration(f(int64(l.Wall), int64(o.Wall))),
		CPU:       time.Duration(f(int64(l.CPU), int64(o.CPU))),
		Memory:    f(l.Memory, o.Memory),
		Pids:      f(l.Pids, o.Pids),
		OpenFiles: f(l.OpenFiles, o.OpenFiles),
		TmpBytes:  f(l.TmpBytes, o.TmpBytes),
		FileSize:  f(l.FileSize, o.FileSize),
		Output:    f(l.Output, o.Output),
		Stack:     f(l.Stack, o.Stack),
	}
}

// Usage is what a run consumed.
type Usage struct {
	CPUMillis  int64 `json:"cpu_ms"`
	WallMillis int64 `json:"wall_ms"`
	MemoryKB   int64 `json:"memory_kb"`
}
