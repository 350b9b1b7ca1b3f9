package units

import (
	"fmt"
	"time"

	"github.com/airlock-dev/airlock"
)

// LimitSpec is how limits are written in YAML files: durations such as
// 10s, sizes such as 256M. Empty fields are left zero (someone else's).
type LimitSpec struct {
	Wall      string `yaml:"wall"`
	CPU       string `yaml:"cpu"`
	Memory    string `yaml:"memory"`
	Pids      int64  `yaml:"pids"`
	OpenFiles int64  `yaml:"open_files"`
	Tmp       string `yaml:"tmp"`
	FileSize  string `yaml:"file_size"`
	Output    string `yaml:"output"`
	Stack     string `yaml:"stack"`
}

// Parse reads the spec; a negative or zero limit is refused.
func (s LimitSpec) Parse() (airlock.Limits, error) {
	l := airlock.Limits{Pids: s.Pids, OpenFiles: s.OpenFiles}
	if s.Pids < 0 || s.OpenFiles < 0 {
		return l, fmt.Errorf("pids and open_files must be positive")
	}
	durations := []struct {
		text string
		dst  *time.Duration
	}{{s.Wall, &l.Wall}, {s.CPU, &l.CPU}}
	for _, d := range durations {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil || v <= 0 {
			return l, fmt.Errorf("invalid duration %q", d.text)
		}
		*d.dst = v
	}
	sizes := []struct {
		text string
		dst  *int64
	}{{s.Memory, &l.Memory}, {s.Tmp, &l.TmpBytes}, {s.FileSize, &l.FileSize}, {s.Output, &l.Output}, {s.Stack, &l.Stack}}
	for _, sz := range sizes {
		if sz.text == "" {
			continue
		}
		v, err := ParseSize(sz.text)
		if err != nil {
			return l, err
		}
		*sz.dst = v
	}
	return l, nil
}

// PolicySpec is an operator's limits policy as the config file writes it:
//
//	limits:
//	  default: {wall: 10s, memory: 256M}
//	  max: {wall: 1m, memory: 1G}
//	  compile: {default: {...}, max: {...}}
type PolicySpec struct {
	Default LimitSpec `yaml:"default"`
	Max     LimitSpec `yaml:"max"`
	Compile struct {
		Default LimitSpec `yaml:"default"`
		Max     LimitSpec `yaml:"max"`
	} `yaml:"compile"`
}

// Parse reads the spec; errors name the part (max.wall…).
func (s PolicySpec) Parse() (airlock.Policy, error) {
	var p airlock.Policy
	for _, part := range []struct {
		name string
		spec LimitSpec
		dst  *airlock.Limits
	}{
		{"default", s.Default, &p.Default}, {"max", s.Max, &p.Max},
		{"compile.default", s.Compile.Default, &p.CompileDefault}, {"compile.max", s.Compile.Max, &p.CompileMax},
	} {
		l, err := part.spec.Parse()
		if err != nil {
			return p, fmt.Errorf("%s: %w", part.name, err)
		}
		*part.dst = l
	}
	return p, nil
}
