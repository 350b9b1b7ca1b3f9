package engine

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/airlock-dev/airlock"
)

// Submission is a request as the native API's JSON writes it
// (docs/architecture.md, API faces): source as text or base64, limits in
// API units.
type Submission struct {
	Language       string          `json:"language"`
	Version        string          `json:"version,omitempty"`
	Files          []FileJSON      `json:"files,omitempty"`
	Code           string          `json:"code,omitempty"` // one file under the language's default name
	Entry          string          `json:"entry,omitempty"`
	Stdin          string          `json:"stdin,omitempty"`
	Args           []string        `json:"args,omitempty"`
	CompileOptions []string        `json:"compile_options,omitempty"`
	Limits         *LimitsJSON     `json:"limits,omitempty"`
	Mode           airlock.Mode    `json:"mode,omitempty"`
	Inputs         json.RawMessage `json:"inputs,omitempty"`
	ExpectedOutput *string         `json:"expected_output,omitempty"`
}

// expectedOutput keeps "absent" apart from "expected to print nothing".
func (s *Submission) expectedOutput() []byte {
	if s.ExpectedOutput == nil {
		return nil
	}
	return []byte(*s.ExpectedOutput)
}

// FileJSON is a submitted file; Encoding is "utf8" (default) or "base64".
type FileJSON struct {
	Name     string `json:"name"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"`
}

// LimitsJSON are limits in the native API's units; zero means default.
type LimitsJSON struct {
	WallMillis int64  `json:"wall_ms,omitempty"`
	CPUMillis  int64  `json:"cpu_ms,omitempty"`
	MemoryMB   int64  `json:"memory_mb,omitempty"`
	Pids       int64  `json:"pids,omitempty"`
	OutputKB   int64  `json:"output_kb,omitempty"`
	Network    string `json:"network,omitempty"` // only "none" so far
}

// Request decodes the submission; errors name the field. The language's
// default file name (for Code) comes from the engine's catalog.
func (e *Engine) Request(s Submission) (airlock.Request, error) {
	req := airlock.Request{
		Language:       s.Language,
		Version:        s.Version,
		Entry:          s.Entry,
		Stdin:          []byte(s.Stdin),
		Args:           s.Args,
		CompileOptions: s.CompileOptions,
		Mode:           s.Mode,
		Inputs:         s.Inputs,
		ExpectedOutput: s.expectedOutput(),
	}
	if s.Language == "" {
		return req, invalid("language", "missing")
	}
	switch {
	case s.Code != "" && len(s.Files) > 0:
		return req, invalid("code", "give code or files, not both")
	case s.Code != "":
		l, err := e.catalog.Lookup(s.Language)
		if err != nil {
			return req, invalid("language", "%v", err)
		}
		req.Files = []airlock.File{{Name: l.File, Content: []byte(s.Code)}}
	}
	for i, f := range s.Files {
		var content []byte
		switch f.Encoding {
		case "", "utf8", "utf-8":
			if !utf8.ValidString(f.Content) {
				return req, invalid(fmt.Sprintf("files[%d].content", i), "not valid UTF-8 (send binary content with encoding base64)")
			}
			content = []byte(f.Content)
		case "base64":
			var err error
			if content, err = base64.StdEncoding.DecodeString(f.Content); err != nil {
				return req, invalid(fmt.Sprintf("files[%d].content", i), "not valid base64: %v", err)
			}
		default:
			return req, invalid(fmt.Sprintf("files[%d].encoding", i), "%q is not utf8 or base64", f.Encoding)
		}
		req.Files = append(req.Files, airlock.File{Name: f.Name, Content: content})
	}
	if l := s.Limits; l != nil {
		// The bounds keep the conversions below from overflowing; the
		// operator's maxima are far lower and are checked later.
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
				return req, invalid("limits."+c.name, "negative")
			case c.v > c.max:
				return req, invalid("limits."+c.name, "too large")
			}
		}
		if l.Network != "" && l.Network != "none" {
			return req, invalid("limits.network", "%q: network access is not enabled on this server", l.Network)
		}
		req.Limits = airlock.Limits{
			Wall:   time.Duration(l.WallMillis) * time.Millisecond,
			CPU:    time.Duration(l.CPUMillis) * time.Millisecond,
			Memory: l.MemoryMB << 20,
			Pids:   l.Pids,
			Output: l.OutputKB << 10,
		}
	}
	return req, nil
}

// PolicyJSON is a limits policy in the native API's units, as GET
// /v1/limits shows it.
type PolicyJSON struct {
	Run     StepPolicyJSON `json:"run"`
	Compile StepPolicyJSON `json:"compile"`
}

// StepPolicyJSON are one step's defaults and maxima; a default left out
// of the compile step's comes from the language, then from the run's.
type StepPolicyJSON struct {
	Default AllLimitsJSON `json:"default"`
	Max     AllLimitsJSON `json:"max"`
}

// AllLimitsJSON are every limit in the native API's units.
type AllLimitsJSON struct {
	WallMillis int64 `json:"wall_ms,omitempty"`
	CPUMillis  int64 `json:"cpu_ms,omitempty"`
	MemoryMB   int64 `json:"memory_mb,omitempty"`
	Pids       int64 `json:"pids,omitempty"`
	OpenFiles  int64 `json:"open_files,omitempty"`
	TmpMB      int64 `json:"tmp_mb,omitempty"`
	FileSizeMB int64 `json:"file_size_mb,omitempty"`
	OutputKB   int64 `json:"output_kb,omitempty"`
	StackMB    int64 `json:"stack_mb,omitempty"`
}

// PolicyOf is p in the native API's units.
func PolicyOf(p airlock.Policy) PolicyJSON {
	all := func(l airlock.Limits) AllLimitsJSON {
		return AllLimitsJSON{
			WallMillis: l.Wall.Milliseconds(), CPUMillis: l.CPU.Milliseconds(), MemoryMB: l.Memory >> 20,
			Pids: l.Pids, OpenFiles: l.OpenFiles, TmpMB: l.TmpBytes >> 20, FileSizeMB: l.FileSize >> 20,
			OutputKB: l.Output >> 10, StackMB: l.Stack >> 20,
		}
	}
	return PolicyJSON{
		Run:     StepPolicyJSON{Default: all(p.Default), Max: all(p.Max)},
		Compile: StepPolicyJSON{Default: all(p.CompileDefault), Max: all(p.CompileMax)},
	}
}
