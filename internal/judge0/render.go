package judge0

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
)

// Judge0's statuses.
type status struct {
	ID          int    `json:"id"`
	Description string `json:"description"`
}

var statuses = []status{
	{1, "In Queue"}, {2, "Processing"}, {3, "Accepted"}, {4, "Wrong Answer"},
	{5, "Time Limit Exceeded"}, {6, "Compilation Error"}, {7, "Runtime Error (SIGSEGV)"},
	{8, "Runtime Error (SIGXFSZ)"}, {9, "Runtime Error (SIGFPE)"}, {10, "Runtime Error (SIGABRT)"},
	{11, "Runtime Error (NZEC)"}, {12, "Runtime Error (Other)"}, {13, "Internal Error"},
	{14, "Exec Format Error"},
}

// statusOf is the Judge0 verdict of a job. A run over cpu_time_limit but
// within the extra time is a time limit, as in isolate. Judge0 has no
// verdict for requirements that cannot be installed: such a job is a
// Compilation Error, the installer's output its compile_output, which is
// what clients show of a program that could not be built.
func statusOf(j *airlock.Job, r *record) status {
	res := j.Result
	switch {
	case j.Status == airlock.StatusQueued:
		return statuses[0]
	case j.Status == airlock.StatusRunning:
		return statuses[1]
	case res == nil || j.Status == airlock.StatusInternalError || j.Status == airlock.StatusCancelled:
		return statuses[12]
	case j.Status == airlock.StatusCompileError, j.Status == airlock.StatusDependencyError:
		return statuses[5]
	case j.Status == airlock.StatusTimeLimit:
		return statuses[4]
	case (j.Status == airlock.StatusOK || j.Status == airlock.StatusWrongAnswer) && r != nil &&
		float64(res.Usage.CPUMillis) > r.CPUTimeLimit*1000:
		return statuses[4]
	case j.Status == airlock.StatusOK:
		return statuses[2]
	case j.Status == airlock.StatusWrongAnswer:
		return statuses[3]
	case j.Status == airlock.StatusOutputLimit:
		return statuses[7] // isolate's file size limit: SIGXFSZ
	case res.Signal != "":
		switch unix.SignalNum(res.Signal) {
		case unix.SIGSEGV:
			return statuses[6]
		case unix.SIGXFSZ:
			return statuses[7]
		case unix.SIGFPE:
			return statuses[8]
		case unix.SIGABRT:
			return statuses[9]
		}
		return statuses[11]
	case j.Status == airlock.StatusMemoryLimit:
		return statuses[11] // the OOM killer's SIGKILL, as isolate reports it
	}
	return statuses[10]
}

// fieldNames are the submission's attributes in Judge0's order (its table
// columns, then status and language): responses keep this order.
var fieldNames = []string{
	"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
	"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
	"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
	"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network", "status", "language",
}

var defaultFields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}

// parseFields reads the fields parameter: a comma list, * for all; an
// unknown name is an error naming every unknown one.
func parseFields(param string) ([]string, error) {
	var asked, unknown []string
	all := false
	for f := range strings.SplitSeq(param, ",") {
		switch {
		case f == "":
		case f == "*":
			all = true
		case indexOf(fieldNames, f) < 0:
			unknown = append(unknown, f)
		default:
			asked = append(asked, f)
		}
	}
	switch {
	case len(unknown) > 0:
		return nil, fmt.Errorf("invalid fields: [%s]", strings.Join(unknown, ", "))
	case all:
		return fieldNames, nil
	case len(asked) == 0:
		return defaultFields, nil
	}
	return asked, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// errNotUTF8 is Judge0's answer for output JSON cannot carry.
var errNotUTF8 = errors.New("some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter")

// view is one submission as a client sees it.
type view struct {
	job  *airlock.Job
	rec  *record
	lang string // Judge0 language name
	b64  bool
}

// decimal is how Rails writes a decimal column: a JSON string.
func decimal(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func railsTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// render writes the fields in Judge0's order.
func (v view) render(fields []string) ([]byte, error) {
	wanted := map[string]bool{}
	for _, f := range fields {
		wanted[f] = true
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, name := range fieldNames {
		if !wanted[name] {
			continue
		}
		val, err := v.field(name)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:", name)
		b.Write(data)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// text is a text attribute: nil stays null, base64 when asked, and raw
// bytes that are not UTF-8 are an error.
func (v view) text(b []byte, isNil bool) (any, error) {
	switch {
	case isNil:
		return nil, nil
	case v.b64:
		return encodeBase64(b), nil
	case !utf8.Valid(b):
		return nil, errNotUTF8
	}
	return string(b), nil
}

// orNil is an output stream: empty shows as null, as Judge0 stores it.
func orNil(b []byte) ([]byte, bool) { return b, len(b) == 0 }

// column is a text the client sent: nil is null, empty stays "".
func column(b []byte) ([]byte, bool) { return b, b == nil }

func (v view) field(name string) (any, error) {
	j, r, res := v.job, v.rec, v.job.Result
	compileFailed := j.Status == airlock.StatusCompileError || j.Status == airlock.StatusDependencyError
	ran := res != nil && !compileFailed && j.Status != airlock.StatusCancelled && j.Status != airlock.StatusInternalError
	st := statusOf(j, r)
	switch name {
	case "source_code":
		return v.text(column(r.SourceCode))
	case "stdin":
		return v.text(column(r.Stdin))
	case "expected_output":
		return v.text(column(r.ExpectedOutput))
	case "stdout", "stderr":
		if !ran {
			return nil, nil
		}
		if name == "stdout" {
			return v.text(orNil(res.Stdout))
		}
		return v.text(orNil(res.Stderr))
	case "compile_output":
		if res != nil && j.Status == airlock.StatusDependencyError {
			return v.text(dependencyOutput(res), false)
		}
		if res == nil || res.Compile == nil {
			return nil, nil
		}
		if res.Compile.Status == airlock.StatusTimeLimit {
			return v.text([]byte("Compilation time limit exceeded."), false)
		}
		return v.text(orNil(append(append([]byte{}, res.Compile.Stdout...), res.Compile.Stderr...)))
	case "message":
		msg := messageOf(j, st)
		if msg == "" {
			return nil, nil
		}
		return v.text([]byte(msg), false)
	case "language_id":
		return r.LanguageID, nil
	case "status_id":
		return st.ID, nil
	case "status":
		return st, nil
	case "language":
		return struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}{r.LanguageID, v.lang}, nil
	case "created_at":
		return railsTime(j.CreatedAt), nil
	case "finished_at":
		return railsTime(j.FinishedAt), nil
	case "time":
		if !ran {
			return nil, nil
		}
		return decimal(float64(res.Usage.CPUMillis) / 1000), nil
	case "wall_time":
		if !ran {
			return nil, nil
		}
		return decimal(float64(res.Usage.WallMillis) / 1000), nil
	case "memory":
		if !ran {
			return nil, nil
		}
		return res.Usage.MemoryKB, nil
	case "exit_code":
		if !ran {
			return nil, nil
		}
		if res.Signal != "" {
			return 0, nil
		}
		return res.ExitCode, nil
	case "exit_signal":
		if sig := signalOf(j); ran && sig != 0 {
			return int(sig), nil
		}
		return nil, nil
	case "token":
		return j.ID, nil
	case "number_of_runs":
		return r.NumberOfRuns, nil
	case "cpu_time_limit":
		return decimal(r.CPUTimeLimit), nil
	case "cpu_extra_time":
		return decimal(r.CPUExtraTime), nil
	case "wall_time_limit":
		return decimal(r.WallTimeLimit), nil
	case "memory_limit":
		return r.MemoryLimit, nil
	case "stack_limit":
		return r.StackLimit, nil
	case "max_processes_and_or_threads":
		return r.MaxProcesses, nil
	case "enable_per_process_and_thread_time_limit":
		return r.PerProcessTime, nil
	case "enable_per_process_and_thread_memory_limit":
		return r.PerProcessMemory, nil
	case "max_file_size":
		return r.MaxFileSize, nil
	case "compiler_options":
		return r.CompilerOptions, nil
	case "command_line_arguments":
		return r.CommandLineArgs, nil
	case "redirect_stderr_to_stdout":
		return r.RedirectStderr, nil
	case "callback_url":
		return r.CallbackURL, nil
	case "additional_files":
		if r.AdditionalFiles == nil {
			return nil, nil
		}
		return encodeBase64(r.AdditionalFiles), nil // always base64: it is a zip
	case "enable_network":
		return r.EnableNetwork, nil
	}
	return nil, fmt.Errorf("no field %s", name)
}

// dependencyOutput is a failed environment build as compile output: the
// line that says what failed, then the installer's output when it ran.
func dependencyOutput(res *airlock.Result) []byte {
	out := []byte(res.Message + "\n")
	if d := res.Dependencies; d != nil {
		out = append(append(out, d.Stdout...), d.Stderr...)
	}
	return out
}

// signalOf is the signal isolate would report the program died of: its
// file size limit's SIGXFSZ when it wrote too much (Judge0's output goes
// to files), the OOM killer's SIGKILL when it used too much memory; 0 for
// none.
func signalOf(j *airlock.Job) unix.Signal {
	switch {
	case j.Result == nil:
		return 0
	case j.Status == airlock.StatusOutputLimit:
		return unix.SIGXFSZ
	case j.Status == airlock.StatusMemoryLimit:
		return unix.SIGKILL
	case j.Result.Signal != "":
		return unix.SignalNum(j.Result.Signal)
	}
	return 0
}

// messageOf words the verdict as isolate does.
func messageOf(j *airlock.Job, st status) string {
	res := j.Result
	switch {
	case res == nil || st.ID <= 3 || st.ID == 4 || st.ID == 6:
		return ""
	case st.ID == 5:
		if j.Status == airlock.StatusTimeLimit && strings.Contains(res.Message, "wall") {
			return "Time limit exceeded (wall clock)"
		}
		return "Time limit exceeded"
	case signalOf(j) != 0:
		return fmt.Sprintf("Caught fatal signal %d", signalOf(j))
	case j.Status == airlock.StatusRuntimeError:
		return fmt.Sprintf("Exited with error status %d", res.ExitCode)
	}
	return res.Message
}
