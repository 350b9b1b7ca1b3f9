package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/airlock-dev/airlock"
)

// Submission is a request as the native API's JSON writes it: source as
// text or base64, limits in API units. The engine turns it into an
// airlock.Request, with what needs its catalog and policy.
type Submission struct {
	Language       string          `json:"language"` // may be left out with an environment
	Version        string          `json:"version,omitempty"`
	Files          []File          `json:"files,omitempty"`
	Code           string          `json:"code,omitempty"` // one file under the language's default name
	Entry          string          `json:"entry,omitempty"`
	Stdin          string          `json:"stdin,omitempty"`
	Args           []string        `json:"args,omitempty"`
	CompileOptions []string        `json:"compile_options,omitempty"`
	Limits         *Limits         `json:"limits,omitempty"`
	Mode           airlock.Mode    `json:"mode,omitempty"`
	Inputs         json.RawMessage `json:"inputs,omitempty"`
	ExpectedOutput *string         `json:"expected_output,omitempty"`
	// Requirements are the packages the program imports: a list, or a
	// requirements file's text (see DecodeRequirements).
	Requirements json.RawMessage `json:"requirements,omitempty"`
	// Network asks for the hosts the submitting key allows, through an
	// allow-listing proxy; without it the program has no network.
	Network bool `json:"network,omitempty"`
	// Environment names one of the operator's environments; Language may
	// then be left out.
	Environment string `json:"environment,omitempty"`
}

// File is a submitted file; Encoding is "utf8" (default) or "base64".
type File struct {
	Name     string `json:"name"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"`
}

// Limits are limits in the native API's units; zero means default.
type Limits struct {
	WallMillis int64  `json:"wall_ms,omitempty"`
	CPUMillis  int64  `json:"cpu_ms,omitempty"`
	MemoryMB   int64  `json:"memory_mb,omitempty"`
	Pids       int64  `json:"pids,omitempty"`
	OutputKB   int64  `json:"output_kb,omitempty"`
	Network    string `json:"network,omitempty"` // only "none" so far
}

// FieldError is a submission field whose value does not decode; Field is
// its JSON path, such as "files[1].content".
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ExpectedOutputBytes keeps "absent" (nil) apart from "expected to print
// nothing" (empty).
func (s *Submission) ExpectedOutputBytes() []byte {
	if s.ExpectedOutput == nil {
		return nil
	}
	return []byte(*s.ExpectedOutput)
}

// DecodeFiles returns the submitted files with their contents decoded;
// the first that does not decode is a *FieldError.
func (s *Submission) DecodeFiles() ([]airlock.File, error) {
	var out []airlock.File
	for i, f := range s.Files {
		var content []byte
		switch f.Encoding {
		case "", "utf8", "utf-8":
			if !utf8.ValidString(f.Content) {
				return out, fieldError(fmt.Sprintf("files[%d].content", i), "not valid UTF-8 (send binary content with encoding base64)")
			}
			content = []byte(f.Content)
		case "base64":
			var err error
			if content, err = base64.StdEncoding.DecodeString(f.Content); err != nil {
				return out, fieldError(fmt.Sprintf("files[%d].content", i), "not valid base64: %v", err)
			}
		default:
			return out, fieldError(fmt.Sprintf("files[%d].encoding", i), "%q is not utf8 or base64", f.Encoding)
		}
		out = append(out, airlock.File{Name: f.Name, Content: content})
	}
	return out, nil
}

// Decode converts l to airlock's units. A negative limit, or one too large
// to convert without overflow, is a *FieldError; the operator's maxima
// are far lower and are checked later. Network is left to the engine.
func (l *Limits) Decode() (airlock.Limits, error) {
	for _, c := range []struct {
		name   string
		v, max int64
	}{
		{"wall_ms", l.WallMillis, math.MaxInt64 / int64(time.Millisecond)},
		{"cpu_ms", l.CPUMillis, math.MaxInt64 / int64(time.Millisecond)},
		{"memory_mb", l.MemoryMB, math.MaxInt64 >> 20},
		{"pids", l.Pids, math.MaxInt64},
		{"output_kb", l.OutputKB, math.MaxInt64 >> 10},
	} {
		switch {
		case c.v < 0:
			return airlock.Limits{}, fieldError("limits."+c.name, "negative")
		case c.v > c.max:
			return airlock.Limits{}, fieldError("limits."+c.name, "too large")
		}
	}
	return airlock.Limits{
		Wall:   time.Duration(l.WallMillis) * time.Millisecond,
		CPU:    time.Duration(l.CPUMillis) * time.Millisecond,
		Memory: l.MemoryMB << 20,
		Pids:   l.Pids,
		Output: l.OutputKB << 10,
	}, nil
}
