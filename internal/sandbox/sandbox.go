// Package sandbox defines the narrow interface between the engine and the
// isolation backends: one call, Run, that executes a Spec and returns a
// Result. It knows nothing of languages, HTTP or storage.
package sandbox

import (
	"context"
	"syscall"

	"github.com/airlock-dev/airlock"
)

// Runner executes programs in isolation. An error means the sandbox itself
// failed; anything the program does is reported in the Result.
type Runner interface {
	Run(ctx context.Context, spec Spec) (Result, error)
}

// Spec describes one run.
type Spec struct {
	Argv   []string // absolute path of the program first
	Env    []string // nothing is inherited from the host
	Dir    string   // working directory inside the sandbox; default WorkDir
	Files  []File   // placed under WorkDir before the program starts
	Stdin  []byte
	Mounts []Mount // read-only binds of host paths, added to the backend's base set
	Limits airlock.Limits
	// Collect names files or directories, relative to WorkDir, to hand
	// back after the program ends (build artifacts, a harness's result).
	// Directories come back as names with a trailing slash, then their
	// contents; only regular files are read; symlinks are never followed.
	Collect []string
	// MergeStderr gives the program one pipe for stdout and stderr, as a
	// terminal would: Result.Stdout has both, in order; Stderr is empty.
	MergeStderr bool
	// Interleave also records stdout and stderr together in the order
	// they arrived, in Result.Interleaved.
	Interleave bool
	// Live, when set, connects the run to a client while it runs.
	Live *Live
}

// Live is an interactive run: input as the client types it, output as the
// program writes it, signals when asked. Output streamed live still counts
// against the output limit and is kept in the Result too.
type Live struct {
	// Stdin is written to the program after Spec.Stdin, chunk by chunk;
	// closing it closes the program's stdin.
	Stdin <-chan []byte
	// Signals are sent to every process of the run.
	Signals <-chan syscall.Signal
	// Output gets each chunk the program writes, with its stream name
	// ("stdout" or "stderr"), in order per stream. It must not block long:
	// it runs on the goroutine that drains the program's pipe.
	Output func(stream string, data []byte)
}

// Bounds on what Collect hands back.
const (
	MaxCollectFiles = 4096
	MaxCollectBytes = 256 << 20
)

// WorkDir is the writable working directory every sandbox gets.
const WorkDir = "/box"

// File is a file placed in the work directory.
type File struct {
	Name    string // relative to WorkDir; a trailing slash makes a directory
	Content []byte
	Mode    uint32 // 0 means 0644
}

// Mount is a read-only bind of a host path at the same path inside.
type Mount struct {
	Source string
	Target string // default Source
}

// Result is what the untrusted program did.
type Result struct {
	Status          airlock.Status `json:"status"`
	ExitCode        int            `json:"exit_code"`
	Signal          string         `json:"signal"`
	Message         string         `json:"message,omitempty"`
	Stdout          []byte         `json:"-"`
	Stderr          []byte         `json:"-"`
	Interleaved     []byte         `json:"-"` // Spec.Interleave: both streams as they came
	StdoutTruncated bool           `json:"stdout_truncated"`
	StderrTruncated bool           `json:"stderr_truncated"`
	Usage           airlock.Usage  `json:"usage"`
	Files           []File         `json:"-"` // what Spec.Collect found
}
