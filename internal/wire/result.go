package wire

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
)

// Step is a sandboxed step.
type Step struct {
	Status          airlock.Status `json:"status"`
	ExitCode        int            `json:"exit_code"`
	Signal          string         `json:"signal"`
	Message         string         `json:"message,omitempty"`
	Stdout          string         `json:"stdout"`
	Stderr          string         `json:"stderr"`
	StdoutTruncated bool           `json:"stdout_truncated"`
	StderrTruncated bool           `json:"stderr_truncated"`
	Usage           airlock.Usage  `json:"usage"`
}

// Result is an execution's outcome.
type Result struct {
	Step
	Language string `json:"language"`
	Version  string `json:"version,omitempty"`
	Compile  *Step  `json:"compile,omitempty"`
	// Dependencies is the installer's run when the job's environment
	// could not be built (status dependency_error).
	Dependencies *Step                  `json:"dependencies,omitempty"`
	Output       json.RawMessage        `json:"output,omitempty"`
	Error        *airlock.FunctionError `json:"error,omitempty"`
}

// Job is a job with its result once there is one.
type Job struct {
	ID string `json:"id"`
	Result
	Attempts   int        `json:"attempts"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

func text(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// StepOf converts a step.
func StepOf(s airlock.Step) Step {
	return Step{s.Status, s.ExitCode, s.Signal, s.Message, text(s.Stdout), text(s.Stderr), s.StdoutTruncated, s.StderrTruncated, s.Usage}
}

// ResultOf converts a result.
func ResultOf(r airlock.Result) Result {
	out := Result{Step: StepOf(r.Step), Language: r.Language, Version: r.Version, Output: r.Output, Error: r.Error}
	if r.Compile != nil {
		c := StepOf(*r.Compile)
		out.Compile = &c
	}
	if r.Dependencies != nil {
		d := StepOf(*r.Dependencies)
		out.Dependencies = &d
	}
	return out
}

// JobOf converts a job; its status is the job's (queued, running, a
// cancel that won over the run).
func JobOf(j *airlock.Job) Job {
	out := Job{ID: j.ID, Attempts: j.Attempts, CreatedAt: j.CreatedAt}
	if j.Result != nil {
		out.Result = ResultOf(*j.Result)
	}
	out.Status, out.Language = j.Status, j.Language
	if !j.StartedAt.IsZero() {
		out.StartedAt = &j.StartedAt
	}
	if !j.FinishedAt.IsZero() {
		out.FinishedAt = &j.FinishedAt
	}
	return out
}
