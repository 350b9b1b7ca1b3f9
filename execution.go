package airlock

import (
	"encoding/json"
	"time"
)

// MaxLimits are the operator's default ceilings: what a submission may ask
// for at most.
var MaxLimits = Limits{
	Wall:      5 * time.Minute,
	CPU:       5 * time.Minute,
	Memory:    8 << 30,
	Pids:      4096,
	OpenFiles: 4096,
	TmpBytes:  2 << 30,
	FileSize:  1 << 30,
	Output:    64 << 20,
	Stack:     1 << 30,
}

// Exceeding names the first field of l above max ("" when none is), in
// the native API's spelling.
func (l Limits) Exceeding(max Limits) string {
	checks := []struct {
		name   string
		v, max int64
	}{
		{"wall_ms", int64(l.Wall), int64(max.Wall)}, {"cpu_ms", int64(l.CPU), int64(max.CPU)},
		{"memory_mb", l.Memory, max.Memory}, {"pids", l.Pids, max.Pids}, {"open_files", l.OpenFiles, max.OpenFiles},
		{"tmp_mb", l.TmpBytes, max.TmpBytes}, {"file_size_mb", l.FileSize, max.FileSize},
		{"output_kb", l.Output, max.Output}, {"stack_mb", l.Stack, max.Stack},
	}
	for _, c := range checks {
		if c.max > 0 && c.v > c.max {
			return c.name
		}
	}
	return ""
}

// Mode says how a submission is run.
type Mode string

// Modes of DESIGN §3.
const (
	ModeScript   Mode = "script"   // run the entry file as a program
	ModeFunction Mode = "function" // call its calculate(inputs)
)

// File is a submitted source file.
type File struct {
	Name    string // relative path, forward slashes
	Content []byte
}

// Request is one execution as the engine takes it, whatever API it came
// through.
type Request struct {
	Language       string
	Version        string // empty: the installed one
	Files          []File
	Entry          string // the file to run; default the first
	Stdin          []byte
	Args           []string
	CompileOptions []string
	Limits         Limits // zero fields: the language's defaults
	Mode           Mode   // default ModeScript
	Inputs         json.RawMessage
	ExpectedOutput []byte // non-nil: compare stdout, giving StatusWrongAnswer (bytes: binary survives storage)
	// CompileLimits override the compile step's limits, field by field;
	// by default they derive from the language and Limits.
	CompileLimits Limits
	// Runs repeats the run step (an online judge's number_of_runs): usage
	// is the average, and the first run that is not ok ends the repeats.
	Runs        int
	MergeStderr bool // the program's stderr goes to its stdout, in order
	Interleave  bool // also record both streams as they came (Step.Interleaved)
	// Interactive is a live session's job: it runs only while its client
	// is attached, never unattended after a restart.
	Interactive bool `json:",omitempty"`
	// Origin is the submission as its API received it, for APIs that
	// answer with their own fields (Judge0's source_code, cpu_extra_time...).
	Origin json.RawMessage `json:",omitempty"`
}

// Step is one sandboxed step's outcome (the compile step of a Result).
type Step struct {
	Status          Status
	ExitCode        int
	Signal          string
	Message         string
	Stdout, Stderr  []byte
	Interleaved     []byte `json:",omitempty"` // Request.Interleave: stdout and stderr as they came
	StdoutTruncated bool
	StderrTruncated bool
	Usage           Usage
	// Startup is what the sandbox cost before the program started, for
	// metrics; not kept with the result.
	Startup time.Duration `json:"-"`
}

// Result is what an execution came to.
type Result struct {
	Step            // the run step, or the compile step's verdict when it failed
	Language string // id
	Version  string
	Compile  *Step           // nil for interpreted languages
	Output   json.RawMessage `json:",omitzero"` // function mode: calculate's return value
	Error    *FunctionError  // function mode: why there is no output
}

// FunctionError is a function-mode failure, in the user's terms.
type FunctionError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}
