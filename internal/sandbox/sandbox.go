// Package sandbox defines the narrow interface between the engine and the
// isolation backends: one call, Run, that executes a Spec and returns a
// Result. It knows nothing of languages, HTTP or storage.
package sandbox

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock"
)

// Runner executes programs in isolation. An error means the sandbox itself
// failed; anything the program does is reported in the Result.
type Runner interface {
	Run(ctx context.Context, spec Spec) (Result, error)
}

// Preparer is a Runner that can also start sandboxes ahead of their job,
// so the program's own start-up is off the job's path.
type Preparer interface {
	Runner
	// Prepare puts every control of a run of spec in place, starts its
	// program and waits until it is ready for its job (see JobFD). Of spec,
	// Stdin, Live and Interleave are ignored (they belong to the Job), and
	// Limits.CPU is the most a job may ask for.
	Prepare(ctx context.Context, spec Spec) (Prepared, error)
}

// JobFD is a prepared program's job channel, a stream socket: the program
// writes one byte to it once it is ready, then reads its job to the end.
const JobFD = 3

// Prepared is a sandbox whose program has started and waits for its job.
// It runs one job at most; either Run or Close releases it.
type Prepared interface {
	// Run hands the program its job and then reports like Runner.Run.
	// Wall and CPU time count from the moment the job is handed over.
	// ErrStale means the program had ended before: nothing ran.
	Run(ctx context.Context, job Job) (Result, error)
	// Close destroys the sandbox without running anything.
	Close()
	// MemoryBytes is the memory the waiting sandbox holds.
	MemoryBytes() int64
}

// Job is what a Prepared sandbox runs.
type Job struct {
	Input []byte // written to the program's JobFD, which is then closed
	Stdin []byte
	// Limits apply from the job on; they must fit the prepared spec's
	// (see Fits).
	Limits     airlock.Limits
	Interleave bool
	Collect    []string // of the prepared spec's Collect, what to hand back
	Live       *Live
}

// Fits says whether a job's limits can apply in a sandbox prepared with
// the limits prepared: the same writable space, and no more memory,
// processes, CPU time, open files, file size or stack. Wall time and
// output are the job's own.
func Fits(job, prepared airlock.Limits) bool {
	return job.TmpBytes == prepared.TmpBytes && job.Memory <= prepared.Memory && job.Pids <= prepared.Pids &&
		job.CPU <= prepared.CPU && job.OpenFiles <= prepared.OpenFiles && job.FileSize <= prepared.FileSize &&
		job.Stack <= prepared.Stack
}

// ErrStale is a prepared sandbox whose program ended before its job.
var ErrStale = errors.New("the prepared sandbox ended before its job")

// Spec describes one run.
type Spec struct {
	Argv   []string // absolute path of the program first
	Env    []string // nothing is inherited from the host
	Dir    string   // working directory inside the sandbox; default WorkDir
	Files  []File   // placed under WorkDir before the program starts
	Stdin  []byte
	Mounts []Mount // read-only binds of host paths, added to the backend's base set
	Limits airlock.Limits
	// Tree is placed under WorkDir after Files: what an earlier run
	// collected (build artifacts). The caller keeps it and closes it.
	Tree *Tree
	// Collect names files or directories, relative to WorkDir, to hand
	// back after the program ends (build artifacts, a harness's result) as
	// Result.Tree. Directories come back as names with a trailing slash,
	// then their contents; only regular files are read; symlinks, sockets
	// and fifos are left out, never followed or opened. What the program
	// leaves there that cannot be handed back within MaxCollectFiles,
	// MaxCollectBytes and MaxCollectPath ends the run as
	// airlock.StatusOutputLimit, saying why.
	Collect []string
	// MergeStderr gives the program one pipe for stdout and stderr, as a
	// terminal would: Result.Stdout has both, in order; Stderr is empty.
	MergeStderr bool
	// Interleave also records stdout and stderr together in the order
	// they arrived, in Result.Interleaved.
	Interleave bool
	// Live, when set, connects the run to a client while it runs.
	Live *Live
	// Egress, when set, is the run's one way out of its network
	// namespace: an HTTP proxy listening at ProxyAddr inside the sandbox,
	// each connection to which is handed to Egress on the host (which
	// closes it). Without it a run has no network at all. The program
	// gets no DNS either way: the proxy resolves the names it allows.
	Egress func(net.Conn)
	// CollectBounds raise the bounds of Collect for this run (an
	// environment's build hands back thousands of files); zero fields are
	// the defaults, MaxCollectFiles and MaxCollectBytes.
	CollectBounds CollectBounds
}

// ProxyAddr is where a run with Spec.Egress finds its proxy, on its own
// loopback interface; it goes in HTTP_PROXY and HTTPS_PROXY.
const ProxyAddr = "127.0.0.1:3128"

// CollectBounds are the most a run's Collect hands back.
type CollectBounds struct {
	Files int   // entries
	Bytes int64 // allocated bytes of their data
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

// Bounds on what Collect hands back: entries, the space their contents
// really take (allocated blocks, so a sparse file's holes are free), and
// the length of a name.
const (
	MaxCollectFiles = 4096
	MaxCollectBytes = 256 << 20
	MaxCollectPath  = 1024
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

// Step is the result as a job reports the step it ran.
func (r Result) Step() airlock.Step {
	return airlock.Step{
		Status:          r.Status,
		ExitCode:        r.ExitCode,
		Signal:          r.Signal,
		Message:         r.Message,
		Stdout:          r.Stdout,
		Stderr:          r.Stderr,
		Interleaved:     r.Interleaved,
		StdoutTruncated: r.StdoutTruncated,
		StderrTruncated: r.StderrTruncated,
		Usage:           r.Usage,
		Startup:         r.Startup,
	}
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
	Tree            *Tree          `json:"-"` // what Spec.Collect found; the caller closes it
	// Startup is the time from the call to the program's start: what the
	// sandbox itself cost (for a prepared one, its hand-over).
	Startup time.Duration `json:"-"`
}
