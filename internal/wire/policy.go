package wire

import "github.com/airlock-dev/airlock"

// Policy is a limits policy in the native API's units, as GET /v1/limits
// shows it.
type Policy struct {
	Run     StepPolicy `json:"run"`
	Compile StepPolicy `json:"compile"`
}

// StepPolicy are one step's defaults and maxima; a default left out of the
// compile step's comes from the language, then from the run's.
type StepPolicy struct {
	Default AllLimits `json:"default"`
	Max     AllLimits `json:"max"`
}

// AllLimits are every limit in the native API's units.
type AllLimits struct {
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

// AllLimitsOf is l in the native API's units.
func AllLimitsOf(l airlock.Limits) AllLimits {
	return AllLimits{
		WallMillis: l.Wall.Milliseconds(), CPUMillis: l.CPU.Milliseconds(), MemoryMB: l.Memory >> 20,
		Pids: l.Pids, OpenFiles: l.OpenFiles, TmpMB: l.TmpBytes >> 20, FileSizeMB: l.FileSize >> 20,
		OutputKB: l.Output >> 10, StackMB: l.Stack >> 20,
	}
}

// PolicyOf is p in the native API's units.
func PolicyOf(p airlock.Policy) Policy {
	return Policy{
		Run:     StepPolicy{Default: AllLimitsOf(p.Default), Max: AllLimitsOf(p.Max)},
		Compile: StepPolicy{Default: AllLimitsOf(p.CompileDefault), Max: AllLimitsOf(p.CompileMax)},
	}
}
