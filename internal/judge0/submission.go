package judge0

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// Judge0 CE's defaults and maxima (its config.rb), which /config_info reports.
const (
	defaultCPUTime   = 5.0
	maxCPUTime       = 15.0
	defaultExtraTime = 1.0
	maxExtraTime     = 5.0
	defaultWallTime  = 10.0
	maxWallTime      = 20.0
	defaultMemoryKB  = 128000
	maxMemoryKB      = 512000
	defaultStackKB   = 64000
	maxStackKB       = 128000
	defaultProcesses = 60
	maxProcesses     = 120
	defaultFileKB    = 1024
	maxFileKB        = 4096
	maxRuns          = 20
	maxExtractKB     = 10240
	maxZipEntries    = 1024 // ours: files, directories and links; the engine runs at most 256 files
	maxOptionChars   = 512
	maxBatch         = 20
)

// bound is one of Judge0's limits: its default and its maximum.
type bound struct{ def, max float64 }

// bounds are Judge0's limits for one key: Judge0 CE's, each lowered to
// the operator's maximum so that /config_info and the 422s name what the
// engine allows.
type bounds struct {
	cpu, extra, wall, memoryKB, stackKB, processes, fileKB bound
}

func boundsOf(p airlock.Policy) bounds {
	b := bounds{
		cpu: bound{defaultCPUTime, maxCPUTime}, extra: bound{defaultExtraTime, maxExtraTime},
		wall: bound{defaultWallTime, maxWallTime}, memoryKB: bound{defaultMemoryKB, maxMemoryKB},
		stackKB: bound{defaultStackKB, maxStackKB}, processes: bound{defaultProcesses, maxProcesses},
		fileKB: bound{defaultFileKB, maxFileKB},
	}
	for _, w := range []struct {
		b    *bound
		most float64
	}{
		{&b.cpu, p.Max.CPU.Seconds()}, {&b.wall, p.Max.Wall.Seconds()}, {&b.memoryKB, float64(p.Max.Memory >> 10)},
		{&b.stackKB, float64(p.Max.Stack >> 10)}, {&b.processes, float64(p.Max.Pids)},
		{&b.fileKB, float64(min(p.Max.FileSize, p.Max.Output) >> 10)},
	} {
		w.b.max = min(w.b.max, w.most)
		w.b.def = min(w.b.def, w.b.max)
	}
	return b
}

// record is a submission as Judge0 keeps it: what the client sent, with
// defaults filled in. It travels in the job's request (Origin), so GET
// answers with the same fields Judge0 would. Judge0's text columns hold
// bytes (base64 may carry any), so they are []byte here, nil for null.
type record struct {
	SourceCode       []byte  `json:"source_code"`
	LanguageID       int     `json:"language_id"`
	Stdin            []byte  `json:"stdin"`
	ExpectedOutput   []byte  `json:"expected_output"`
	NumberOfRuns     int     `json:"number_of_runs"`
	CPUTimeLimit     float64 `json:"cpu_time_limit"`
	CPUExtraTime     float64 `json:"cpu_extra_time"`
	WallTimeLimit    float64 `json:"wall_time_limit"`
	MemoryLimit      int     `json:"memory_limit"`
	StackLimit       int     `json:"stack_limit"`
	MaxProcesses     int     `json:"max_processes_and_or_threads"`
	PerProcessTime   bool    `json:"enable_per_process_and_thread_time_limit"`
	PerProcessMemory bool    `json:"enable_per_process_and_thread_memory_limit"`
	MaxFileSize      int     `json:"max_file_size"`
	CompilerOptions  *string `json:"compiler_options"`
	CommandLineArgs  *string `json:"command_line_arguments"`
	RedirectStderr   bool    `json:"redirect_stderr_to_stdout"`
	CallbackURL      *string `json:"callback_url"`
	AdditionalFiles  []byte  `json:"additional_files"`
	EnableNetwork    bool    `json:"enable_network"`

	lang  installed      // the language, once validated
	extra []airlock.File // additional_files, extracted
}

// fieldErrors are Rails validation errors: field → messages, in the order
// the validations ran.
type fieldErrors struct {
	order []string
	msgs  map[string][]string
}

func (e *fieldErrors) add(field, format string, args ...any) {
	if e.msgs == nil {
		e.msgs = map[string][]string{}
	}
	if _, ok := e.msgs[field]; !ok {
		e.order = append(e.order, field)
	}
	e.msgs[field] = append(e.msgs[field], fmt.Sprintf(format, args...))
}

func (e *fieldErrors) empty() bool { return len(e.order) == 0 }

// MarshalJSON keeps Rails' order.
func (e *fieldErrors) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range e.order {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f)
		v, _ := json.Marshal(e.msgs[f])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// params are the raw submission fields; Rails' permit drops any others.
type params map[string]json.RawMessage

// str reads a string parameter as Rails would: numbers and booleans
// become their text, null and structures nil.
func (p params) str(name string) *string {
	raw, ok := p[name]
	if !ok {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case float64, bool:
		s = strings.TrimSpace(string(raw))
	default:
		return nil
	}
	return &s
}

// num reads a number parameter: JSON numbers and numeric strings; blank
// is absent. ok is false for anything else ("is not a number").
func (p params) num(name string) (v float64, present, ok bool) {
	s := p.str(name)
	if s == nil || strings.TrimSpace(*s) == "" {
		return 0, false, true
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(*s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, true, false
	}
	return v, true, true
}

// boolean reads a boolean parameter with Rails' casting: false, 0, "0",
// "f", "false", "off" (any case) are false, blank is absent, the rest true.
func (p params) boolean(name string, def bool) bool {
	s := p.str(name)
	if s == nil || *s == "" {
		return def
	}
	switch strings.ToLower(*s) {
	case "false", "0", "f", "off":
		return false
	}
	return true
}

// decodeBase64 is Ruby's lenient Base64.decode64: characters outside the
// alphabet are skipped and missing padding is forgiven.
func decodeBase64(s string) []byte {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' {
			return r
		}
		return -1
	}, s)
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // half a byte: dropped, as Ruby does
	}
	out, _ := base64.RawStdEncoding.DecodeString(clean)
	return out
}

// encodeBase64 is Ruby's Base64.encode64: a newline after every 60
// characters and at the end.
func encodeBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60])
		sb.WriteByte('\n')
		enc = enc[60:]
	}
	if enc != "" {
		sb.WriteString(enc)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// parseSubmission turns request parameters into a record, validating as
// Judge0's Submission model does: every check runs, in the model's order,
// so a 422 names the same fields in the same order. lookup finds an
// installed language by id; most are the caller's bounds.
func parseSubmission(p params, b64 bool, lookup func(int) (installed, bool), most bounds) (*record, *fieldErrors) {
	r := &record{}
	var errs fieldErrors
	text := func(name string) []byte {
		s := p.str(name)
		switch {
		case s == nil:
			return nil
		case b64:
			return decodeBase64(*s)
		}
		return []byte(*s)
	}
	r.SourceCode, r.Stdin, r.ExpectedOutput = text("source_code"), text("stdin"), text("expected_output")
	r.CompilerOptions, r.CommandLineArgs, r.CallbackURL = p.str("compiler_options"), p.str("command_line_arguments"), p.str("callback_url")
	if s := p.str("additional_files"); s != nil {
		r.AdditionalFiles = decodeBase64(*s) // always base64, as in Judge0
	}
	r.PerProcessTime = p.boolean("enable_per_process_and_thread_time_limit", false)
	r.PerProcessMemory = p.boolean("enable_per_process_and_thread_memory_limit", false)
	r.RedirectStderr = p.boolean("redirect_stderr_to_stdout", false)
	r.EnableNetwork = p.boolean("enable_network", false)

	languageID, hasLanguage, languageOK := p.num("language_id")
	r.LanguageID = int(languageID)
	l, known := installed{}, false
	if languageOK {
		l, known = lookup(r.LanguageID)
	}
	// A multi-file program is all in additional_files.
	project := known && l.isProject()
	switch blank := strings.TrimSpace(string(r.SourceCode)) == ""; {
	case project && !blank:
		errs.add("source_code", "must be blank")
	case !project && blank:
		errs.add("source_code", "can't be blank")
	}
	if project && strings.TrimSpace(string(r.AdditionalFiles)) == "" {
		errs.add("additional_files", "can't be blank")
	}
	if !hasLanguage {
		errs.add("language_id", "can't be blank")
	}
	// Numeric fields: the value (default when absent), then Rails' checks.
	numeric := []struct {
		name      string
		def       float64
		low       float64
		lowIncl   bool
		high      float64
		highShown string
		integer   bool
		set       func(float64)
	}{
		{"number_of_runs", 1, 0, false, maxRuns, "20", true, func(v float64) { r.NumberOfRuns = int(v) }},
		{"cpu_time_limit", most.cpu.def, 0, true, most.cpu.max, decimal(most.cpu.max), false, func(v float64) { r.CPUTimeLimit = v }},
		{"cpu_extra_time", most.extra.def, 0, true, most.extra.max, decimal(most.extra.max), false, func(v float64) { r.CPUExtraTime = v }},
		{"wall_time_limit", most.wall.def, 1, true, most.wall.max, decimal(most.wall.max), false, func(v float64) { r.WallTimeLimit = v }},
		{"memory_limit", most.memoryKB.def, 2048, true, most.memoryKB.max, integer(most.memoryKB.max), true, func(v float64) { r.MemoryLimit = int(v) }},
		{"stack_limit", most.stackKB.def, 0, true, most.stackKB.max, integer(most.stackKB.max), true, func(v float64) { r.StackLimit = int(v) }},
		{"max_processes_and_or_threads", most.processes.def, 0, false, most.processes.max, integer(most.processes.max), true, func(v float64) { r.MaxProcesses = int(v) }},
		{"max_file_size", most.fileKB.def, 0, true, most.fileKB.max, integer(most.fileKB.max), true, func(v float64) { r.MaxFileSize = int(v) }},
	}
	for _, n := range numeric {
		if n.name == "max_file_size" {
			// The model validates the per-process options just before.
			if r.PerProcessTime {
				errs.add("enable_per_process_and_thread_time_limit", "this option cannot be enabled")
			}
			if r.PerProcessMemory {
				errs.add("enable_per_process_and_thread_memory_limit", "this option cannot be enabled")
			}
		}
		v, present, ok := p.num(n.name)
		if !present {
			v = n.def
		}
		if n.integer {
			v = math.Trunc(v)
		}
		n.set(v)
		switch {
		case !ok:
			errs.add(n.name, "is not a number")
		case n.lowIncl && v < n.low:
			errs.add(n.name, "must be greater than or equal to %s", strconv.FormatFloat(n.low, 'f', -1, 64))
		case !n.lowIncl && v <= n.low:
			errs.add(n.name, "must be greater than %s", strconv.FormatFloat(n.low, 'f', -1, 64))
		case v > n.high:
			errs.add(n.name, "must be less than or equal to %s", n.highShown)
		}
	}
	for _, o := range []struct {
		name string
		v    *string
	}{{"compiler_options", r.CompilerOptions}, {"command_line_arguments", r.CommandLineArgs}} {
		if o.v != nil && len([]rune(*o.v)) > maxOptionChars {
			errs.add(o.name, "is too long (maximum is %d characters)", maxOptionChars)
		}
	}
	// A missing language_id fails both checks, as in Judge0 (whose
	// message then shows the nil id as nothing).
	if !known {
		id := ""
		if hasLanguage {
			id = languageText(p)
		}
		errs.add("language_id", "language with id %s doesn't exist", id)
	}
	if known && r.CompilerOptions != nil && strings.TrimSpace(*r.CompilerOptions) != "" && (len(l.Catalog.Compile) == 0 || project) {
		errs.add("compiler_options", "setting compiler options is only allowed for compiled languages")
	}
	// Judge0 takes any callback_url; one that cannot be called is refused
	// here rather than failing silently later.
	if r.CallbackURL != nil && *r.CallbackURL != "" {
		if err := webhook.Validate(*r.CallbackURL); err != nil {
			errs.add("callback_url", "%v", err)
		}
	}
	if known && len(r.AdditionalFiles) > 0 {
		var err error
		if r.extra, err = unzipFiles(r.AdditionalFiles, l.sourceFile); err != nil {
			errs.add("additional_files", "%v", err)
		}
	}
	if r.EnableNetwork {
		errs.add("enable_network", "enabling network is not allowed")
	}
	r.lang = l
	return r, &errs
}

func integer(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// languageText is language_id as Rails would print it after casting.
func languageText(p params) string {
	v, _, ok := p.num("language_id")
	if !ok {
		return "0"
	}
	return strconv.Itoa(int(v))
}

// forbidden are the characters Judge0 strips from options and arguments
// before its shell sees them.
const forbidden = "$&;<>|`"

// shellWords splits options as the shell of Judge0's compile and run
// scripts does: blanks separate words, quotes group, a backslash escapes
// (in double quotes only " and \), backslash-newline joins lines and #
// starts a comment.
func shellWords(s string) []string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(forbidden, r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	var words []string
	var cur strings.Builder
	inWord, escaped, comment := false, false, false
	var quote rune
	for _, r := range s {
		switch {
		case comment:
			comment = r != '\n'
		case escaped:
			escaped = false
			if r == '\n' {
				continue // a line continuation
			}
			if quote == '"' && r != '"' && r != '\\' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			inWord = true
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			comment = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// unzipFiles extracts additional_files: regular files only, names kept
// inside the box; like `unzip -n`, an entry never replaces the source
// file. The zip's central directory must list at most maxZipEntries
// entries and maxExtractKB in all, checked before anything is extracted.
func unzipFiles(data []byte, source string) ([]airlock.File, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("is not a valid zip archive")
	}
	if len(zr.File) > maxZipEntries {
		return nil, fmt.Errorf("has more than %d entries", maxZipEntries)
	}
	var declared uint64
	for _, f := range zr.File {
		if f.UncompressedSize64 > maxExtractKB<<10-declared {
			return nil, fmt.Errorf("extracts to more than %d KB", maxExtractKB)
		}
		declared += f.UncompressedSize64
	}
	var files []airlock.File
	seen := map[string]bool{source: true}
	for _, f := range zr.File {
		name := path.Clean(strings.TrimPrefix(f.Name, "/"))
		if f.FileInfo().IsDir() || !f.Mode().IsRegular() || seen[name] || name == "." || strings.HasPrefix(name, "../") || name == ".." {
			continue
		}
		seen[name] = true
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("entry %s: %v", f.Name, err)
		}
		// An entry may inflate past its declared size (a decompression
		// bomb): the read stops one byte past it, which archive/zip
		// refuses, as it checks the CRC at an entry's end.
		content, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("entry %s: %v", f.Name, err)
		}
		files = append(files, airlock.File{Name: name, Content: content})
	}
	return files, nil
}

// request is the job the record asks for. Limits follow isolate's
// meaning: the CPU limit is enforced at cpu_time_limit + cpu_extra_time,
// and a run that used more than cpu_time_limit is a time limit when shown;
// max_file_size bounds written files and the output alike (Judge0's
// output goes to files). pol is the caller's: cpu_extra_time is cut to
// its CPU maximum (cpu_time_limit is within it), and Judge0's own compile
// limits are lowered to its compile maxima.
func (r *record) request(pol airlock.Policy) (airlock.Request, error) {
	l := r.lang
	files, entry := append([]airlock.File{{Name: l.sourceFile, Content: r.SourceCode}}, r.extra...), l.sourceFile
	if l.isProject() {
		files, entry = r.extra, "" // its run script is the program
	}
	req := airlock.Request{
		Language:    l.catalog,
		Environment: l.environment,
		Files:       files,
		Entry:       entry,
		Stdin:       r.Stdin,
		Runs:        r.NumberOfRuns,
		MergeStderr: r.RedirectStderr,
		Limits: airlock.Limits{
			CPU:      min(seconds(r.CPUTimeLimit+r.CPUExtraTime), pol.Max.CPU),
			Wall:     seconds(r.WallTimeLimit),
			Memory:   int64(r.MemoryLimit) << 10,
			Stack:    int64(r.StackLimit) << 10,
			Pids:     int64(r.MaxProcesses),
			FileSize: int64(max(r.MaxFileSize, 1)) << 10,
			Output:   int64(max(r.MaxFileSize, 1)) << 10,
		},
	}
	// Judge0 compiles under its maxima whatever the submission asks for
	// its run (a Go binary outgrows the default max_file_size, and gcc
	// needs more processes than max_processes_and_or_threads may allow);
	// the catalog's compile limits come first. Files get the service's
	// default size instead of Judge0's 4096 KB, which today's rustc
	// outgrows.
	req.CompileLimits = l.Catalog.CompileLimitsOver(airlock.Limits{}).WithDefaults(airlock.Limits{
		CPU: seconds(maxCPUTime), Wall: seconds(maxWallTime), Memory: maxMemoryKB << 10, Stack: maxStackKB << 10,
		Pids: maxProcesses, FileSize: airlock.DefaultLimits.FileSize, Output: maxFileKB << 10,
	}).Within(pol.CompileMax)
	req.ExpectedOutput = r.ExpectedOutput
	if r.CompilerOptions != nil {
		req.CompileOptions = shellWords(*r.CompilerOptions)
	}
	if r.CommandLineArgs != nil && !l.isProject() { // a project's run script has its own
		req.Args = shellWords(*r.CommandLineArgs)
	}
	if r.CPUTimeLimit+r.CPUExtraTime == 0 {
		req.Limits.CPU = time.Millisecond // isolate's -t 0 means no time at all
	}
	origin, err := json.Marshal(r)
	if err != nil {
		return airlock.Request{}, err
	}
	req.Origin = origin
	return req, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
