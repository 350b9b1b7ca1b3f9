package airlock

import (
	"encoding/json"
	"time"
)

// MaxLimits are the operator's default ceilings of the run step: what a
// submission may ask for at most unless the config says otherwise.
var MaxLimits = Limits{
	Wall:      time.Minute,
	CPU:       30 * time.Second,
	Memory:    1 << 30,
	Pids:      256,
	OpenFiles: 1024,
	TmpBytes:  512 << 20,
	FileSize:  256 << 20,
	Output:    16 << 20,
	Stack:     256 << 20,
}

// MaxCompileLimits are the default ceilings of the compile step, above
// the run's: the catalog's compilers take up to 2 minutes and 1 GiB.
var MaxCompileLimits = Limits{
	Wall:      2 * time.Minute,
	CPU:       time.Minute,
	Memory:    2 << 30,
	Pids:      256,
	OpenFiles: 1024,
	TmpBytes:  1 << 30,
	FileSize:  512 << 20,
	Output:    16 << 20,
	Stack:     256 << 20,
}

// Policy is what an operator allows a submission: the limits it gets
// when it names none and the most it may ask for, for the run step and
// the compile step. A zero field falls back to a wider policy's (Over).
type Policy struct {
	Default Limits `json:"Default"`
	Max     Limits `json:"Max"`
	// CompileDefault's zero fields come from the language's compile
	// limits, then from the run step's.
	CompileDefault Limits `json:"CompileDefault"`
	CompileMax     Limits `json:"CompileMax"`
}

// DefaultPolicy is the built-in policy under the operator's.
var DefaultPolicy = Policy{Default: DefaultLimits, Max: MaxLimits, CompileMax: MaxCompileLimits}

// Over returns p with every zero field taken from base.
func (p Policy) Over(base Policy) Policy {
	return Policy{
		Default:        p.Default.WithDefaults(base.Default),
		Max:            p.Max.WithDefaults(base.Max),
		CompileDefault: p.CompileDefault.WithDefaults(base.CompileDefault),
		CompileMax:     p.CompileMax.WithDefaults(base.CompileMax),
	}
}

// Within returns l with every field lowered to max's where max sets one.
func (l Limits) Within(max Limits) Limits {
	return l.fieldwise(max, func(v, m int64) int64 {
		if m > 0 && v > m {
			return m
		}
		return v
	})
}

// Exceeding names the first field of l above max ("" when none is), in
// the native API's spelling, with max's value in that field's units
// (wall_ms in milliseconds, memory_mb in MiB, output_kb in KiB).
func (l Limits) Exceeding(max Limits) (field string, most int64) {
	checks := []struct {
		name   string
		v, max int64
		unit   int64
	}{
		{"wall_ms", int64(l.Wall), int64(max.Wall), int64(time.Millisecond)},
		{"cpu_ms", int64(l.CPU), int64(max.CPU), int64(time.Millisecond)},
		{"memory_mb", l.Memory, max.Memory, 1 << 20}, {"pids", l.Pids, max.Pids, 1},
		{"open_files", l.OpenFiles, max.OpenFiles, 1}, {"tmp_mb", l.TmpBytes, max.TmpBytes, 1 << 20},
		{"file_size_mb", l.FileSize, max.FileSize, 1 << 20}, {"output_kb", l.Output, max.Output, 1 << 10},
		{"stack_mb", l.Stack, max.Stack, 1 << 20},
	}
	for _, c := range checks {
		if c.max > 0 && c.v > c.max {
			return c.name, c.max / c.unit
		}
	}
	return "", 0
}

// Mode says how a submission is run.
type Mode string

// Modes of a submission (docs/architecture.md, The flow of a job).
const (
	ModeScript   Mode = "script"   // run the entry file as a program
	ModeFunction Mode = "function" // call its calculate(inputs)
)

// File is a submitted source file.
type File struct {
	Name    string `json:"Name"` // relative path, forward slashes
	Content []byte `json:"Content"`
}

// Request is one execution as the engine takes it, whatever API it came
// through. Jobs store it as JSON: the tags fix the stored keys (today's
// are the fields' first Go names), so keep them when renaming a field.
type Request struct {
	Language       string          `json:"Language"`
	Version        string          `json:"Version"` // empty: the installed one
	Files          []File          `json:"Files"`
	Entry          string          `json:"Entry"` // the file to run; default the first
	Stdin          []byte          `json:"Stdin"`
	Args           []string        `json:"Args"`
	CompileOptions []string        `json:"CompileOptions"`
	Limits         Limits          `json:"Limits"` // zero fields: the language's defaults
	Mode           Mode            `json:"Mode"`   // default ModeScript
	Inputs         json.RawMessage `json:"Inputs"`
	ExpectedOutput []byte          `json:"ExpectedOutput"` // non-nil: compare stdout, giving StatusWrongAnswer (bytes: binary survives storage)
	// CompileLimits override the compile step's limits, field by field;
	// by default they derive from the language and Limits.
	CompileLimits Limits `json:"CompileLimits"`
	// Runs repeats the run step (an online judge's number_of_runs): usage
	// is the average, and the first run that is not ok ends the repeats.
	Runs        int  `json:"Runs"`
	MergeStderr bool `json:"MergeStderr"` // the program's stderr goes to its stdout, in order
	Interleave  bool `json:"Interleave"`  // also record both streams as they came (Step.Interleaved)
	// Requirements are the packages the program imports, installed into
	// an environment of their own before it runs: PEP 508 requirements
	// for Python, npm package specs for JavaScript and TypeScript.
	Requirements []string `json:"Requirements,omitempty"`
	// Environment names one of the operator's environments (the config
	// file's environments): the job runs in it, with its language. It
	// travels with the job, so whichever worker runs it binds it.
	Environment string `json:"Environment,omitempty"`
	// Policy is the submitting key's own limits policy; its zero fields
	// are the engine's. It travels with the job, so whichever worker
	// runs it applies the key's defaults.
	Policy Policy `json:"Policy,omitzero"`
	// Network are the hosts ("host" for ports 80 and 443, or
	// "host:port") the run step may reach through an allow-listing
	// proxy: the job asked for network and its key allows these. Empty,
	// the run has no network at all. It travels with the job, so
	// whichever worker runs it allows the same hosts.
	Network []string `json:"Network,omitempty"`
	// Interactive is a live session's job: it runs only while its client
	// is attached, never unattended after a restart.
	Interactive bool `json:"Interactive,omitempty"`
	// Origin is the submission as its API received it, for APIs that
	// answer with their own fields (Judge0's source_code, cpu_extra_time...).
	Origin json.RawMessage `json:"Origin,omitempty"`
}

// Step is one sandboxed step's outcome (the compile step of a Result).
type Step struct {
	Status          Status `json:"Status"`
	ExitCode        int    `json:"ExitCode"`
	Signal          string `json:"Signal"`
	Message         string `json:"Message"`
	Stdout          []byte `json:"Stdout"`
	Stderr          []byte `json:"Stderr"`
	Interleaved     []byte `json:"Interleaved,omitempty"` // Request.Interleave: stdout and stderr as they came
	StdoutTruncated bool   `json:"StdoutTruncated"`
	StderrTruncated bool   `json:"StderrTruncated"`
	Usage           Usage  `json:"Usage"`
	// Startup is what the sandbox cost before the program started, for
	// metrics; not kept with the result.
	Startup time.Duration `json:"-"`
}

// Result is what an execution came to. Jobs store it as JSON, keyed by
// the tags as Request is.
type Result struct {
	Step            // the run step, or the compile step's verdict when it failed
	Language string `json:"Language"` // id
	Version  string `json:"Version"`
	Compile  *Step  `json:"Compile"` // nil for interpreted languages
	// Dependencies is the build of the job's environment when one ran
	// for it and failed (StatusDependencyError): the installer's output.
	Dependencies *Step           `json:"Dependencies,omitempty"`
	Output       json.RawMessage `json:"Output,omitzero"` // function mode: calculate's return value
	Error        *FunctionError  `json:"Error"`           // function mode: why there is no output
}

// FunctionError is a function-mode failure, in the user's terms.
type FunctionError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}
