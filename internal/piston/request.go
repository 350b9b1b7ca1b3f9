package piston

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
)

// runtime is a catalog language under Piston's name.
type runtime struct {
	Language string
	Version  string
	Aliases  []string
	Runtime  string // the interpreter behind it, when Piston names one
	catalog  *lang.Language
	// environment is the operator's named environment the runtime is
	// (its Language); "": a catalog language.
	environment string
}

// pistonNames are Piston's package names, aliases and runtimes for the
// catalog's languages, so clients that send Piston's names find them.
var pistonNames = map[string]struct {
	language, runtime string
	aliases           []string
}{
	"python":     {"python", "", []string{"py", "py3", "python3"}},
	"javascript": {"javascript", "node", []string{"node-javascript", "node-js", "javascript", "js"}},
	"typescript": {"typescript", "", []string{"ts", "node-ts", "tsc"}},
	"c":          {"c", "gcc", []string{"gcc"}},
	"cpp":        {"c++", "gcc", []string{"cpp", "g++"}},
	"go":         {"go", "", []string{"go", "golang"}},
	"java":       {"java", "", []string{}},
	"rust":       {"rust", "", []string{"rs"}},
	"bash":       {"bash", "", []string{"sh"}},
	"perl":       {"perl", "", []string{"pl"}},
}

// installed lists the runtimes this host has.
func (s *Server) installed(ctx context.Context) []runtime {
	var out []runtime
	for _, info := range s.opt.Engine.Languages(ctx, false) {
		l, err := s.opt.Engine.Catalog().Lookup(info.ID)
		if err != nil {
			continue
		}
		rt := runtime{Language: info.ID, Version: info.Version, Aliases: info.Aliases, catalog: l}
		if names, ok := pistonNames[info.ID]; ok {
			rt.Language, rt.Runtime, rt.Aliases = names.language, names.runtime, names.aliases
		}
		// Piston's Python packages also answer to python<major>.<minor>.
		if v, err := semver.NewVersion(info.Version); err == nil && info.ID == "python" {
			rt.Aliases = append(slices.Clip(rt.Aliases), fmt.Sprintf("python%d.%d", v.Major(), v.Minor()))
		}
		out = append(out, rt)
	}
	return append(out, s.environmentRuntimes(ctx)...)
}

// environmentRuntimes are the named environments, each a runtime of its
// name with its language's version, when this host has the language.
func (s *Server) environmentRuntimes(ctx context.Context) []runtime {
	var out []runtime
	for _, env := range s.opt.Engine.NamedEnvironments(ctx) {
		l, err := s.opt.Engine.Catalog().Lookup(env.Language)
		if err != nil || env.Version == "" {
			continue
		}
		out = append(out, runtime{Language: env.Name, Version: env.Version, Aliases: []string{}, catalog: l, environment: env.Name})
	}
	return out
}

// CheckEnvironments refuses a named environment whose name is one of
// Piston's names for a language (python3, node-js...), which would hide
// it: the catalog's ids and aliases are the engine's to refuse.
func CheckEnvironments(envs map[string]engine.Named) error {
	names := slices.Sorted(maps.Keys(envs))
	for _, name := range names {
		if pythonAlias.MatchString(name) {
			return fmt.Errorf("environment %q: Piston clients know the name as python (choose another)", name)
		}
		for id, names := range pistonNames {
			if name == names.language || slices.Contains(names.aliases, name) {
				return fmt.Errorf("environment %q: Piston clients know the name as %s (choose another)", name, id)
			}
		}
	}
	return nil
}

// pythonAlias is the python<major>.<minor> alias of Piston's Python.
var pythonAlias = regexp.MustCompile(`^python\d+\.\d+$`)

// find is Piston's get_latest_runtime_matching_language_version: the
// language by name or alias, its version within the semver range.
func (s *Server) find(ctx context.Context, language, version string) (runtime, bool) {
	for _, rt := range s.installed(ctx) {
		if rt.Language != language && !slices.Contains(rt.Aliases, language) {
			continue
		}
		if version == "*" || version == rt.Version {
			return rt, true
		}
		c, err := semver.NewConstraint(version)
		if err != nil {
			continue
		}
		if v, err := semver.NewVersion(rt.Version); err == nil && c.Check(v) {
			return rt, true
		}
	}
	return runtime{}, false
}

// Piston's default limits, in milliseconds.
const (
	defaultRunTimeout     = 3000
	defaultCompileTimeout = 10000
	defaultRunCPU         = 3000
	defaultCompileCPU     = 10000
)

// badRequest is a request Piston refuses with 400 and this message.
type badRequest string

func (b badRequest) Error() string { return string(b) }

func reject(format string, args ...any) error { return badRequest(fmt.Sprintf(format, args...)) }

// file is an entry of Piston's files array, read as JavaScript reads it.
type file struct {
	name     json.RawMessage // a string, or falsy for file<i>.code
	content  string
	encoding string // utf8, base64 or hex: anything else counts as utf8, as in job.js
	// declaredUTF8 is what get_job's utf8 check counts: no encoding or "utf8".
	declaredUTF8 bool
}

// parse validates an execute body against this host's runtimes and the
// limits policy of the caller's key, whose own is own.
func (s *Server) parse(ctx context.Context, body map[string]json.RawMessage, own airlock.Policy) (airlock.Request, runtime, error) {
	find := func(language, version string) (runtime, bool) { return s.find(ctx, language, version) }
	return parseJob(body, find, s.opt.Engine.Policy(own))
}

// parseJob validates an execute body as Piston's get_job does, in its
// order and with its messages, and makes the job's request; pol is the
// configured limits.
func parseJob(body map[string]json.RawMessage, find func(language, version string) (runtime, bool), pol airlock.Policy) (airlock.Request, runtime, error) {
	var req airlock.Request
	language, ok := str(body["language"])
	if !ok || language == "" {
		return req, runtime{}, reject("language is required as a string")
	}
	version, ok := str(body["version"])
	if !ok || version == "" {
		return req, runtime{}, reject("version is required as a string")
	}
	var items []json.RawMessage
	if json.Unmarshal(body["files"], &items) != nil || items == nil {
		return req, runtime{}, reject("files is required as an array")
	}
	files := make([]file, len(items))
	for i, item := range items {
		var fields map[string]json.RawMessage // keys match exactly, as in JavaScript
		json.Unmarshal(item, &fields)         // an entry that is no object has no content
		content, ok := str(fields["content"])
		if !ok {
			return req, runtime{}, reject("files[%d].content is required as a string", i)
		}
		enc, _ := str(fields["encoding"])
		files[i] = file{name: fields["name"], content: content, encoding: "utf8",
			declaredUTF8: falsy(fields["encoding"]) || enc == "utf8"}
		if enc == "base64" || enc == "hex" {
			files[i].encoding = enc
		}
	}
	rt, ok := find(language, version)
	if !ok {
		return req, runtime{}, reject("%s-%s runtime is unknown", language, version)
	}
	if !slices.ContainsFunc(files, func(f file) bool { return f.declaredUTF8 }) {
		return req, runtime{}, reject("files must include at least one utf8 encoded file")
	}
	// The configured limit of each constraint; Piston's are per runtime too.
	most, compileMost := rt.catalog.MaxOver(pol.Max), pol.CompileMax
	limits := map[string]float64{
		"compile_memory_limit": float64(compileMost.Memory), "run_memory_limit": float64(most.Memory),
		"compile_timeout": float64(compileMost.Wall.Milliseconds()), "run_timeout": float64(most.Wall.Milliseconds()),
		"compile_cpu_time": float64(compileMost.CPU.Milliseconds()), "run_cpu_time": float64(most.CPU.Milliseconds()),
	}
	values := map[string]float64{}
	for _, constraint := range []string{"memory_limit", "timeout", "cpu_time"} {
		for _, step := range []string{"compile", "run"} {
			name := step + "_" + constraint
			v, err := number(body[name])
			switch {
			case err != nil:
				return req, runtime{}, reject("If specified, %s must be a number", name)
			case v == 0:
				continue // absent, null or 0: the default
			case constraint == "memory_limit" && v < 0:
				continue // Piston's "no limit": we keep the default instead
			case v > limits[name]:
				return req, runtime{}, reject("%s cannot exceed the configured limit of %s", name, jsNumber(limits[name]))
			case v < 0:
				return req, runtime{}, reject("%s must be non-negative", name)
			}
			values[name] = v
		}
	}
	ms := func(name string, def float64) time.Duration {
		def = min(def, limits[name]) // Piston's default, within the operator's maximum
		if v, ok := values[name]; ok {
			def = v
		}
		return time.Duration(def * float64(time.Millisecond))
	}
	req = airlock.Request{
		Language:    rt.catalog.ID,
		Environment: rt.environment,
		Interleave:  true,
		Limits: airlock.Limits{
			Wall: ms("run_timeout", defaultRunTimeout), CPU: ms("run_cpu_time", defaultRunCPU),
			Memory: int64(values["run_memory_limit"]),
		},
		CompileLimits: airlock.Limits{
			Wall: ms("compile_timeout", defaultCompileTimeout), CPU: ms("compile_cpu_time", defaultCompileCPU),
			Memory: int64(values["compile_memory_limit"]),
		},
	}
	var err error
	if req.Files, req.Entry, err = decodeFiles(files, rt.catalog); err != nil {
		return req, runtime{}, err
	}
	if req.Stdin, err = stdinOf(body["stdin"]); err != nil {
		return req, runtime{}, err
	}
	if req.Args, err = argsOf(body["args"]); err != nil {
		return req, runtime{}, err
	}
	return req, rt, nil
}

// str reads a JSON string; ok is false for anything else.
func str(raw json.RawMessage) (string, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// falsy says whether JavaScript finds a JSON value false (absent, null,
// false, 0 or "").
func falsy(raw json.RawMessage) bool {
	var v any
	if raw == nil || json.Unmarshal(raw, &v) != nil {
		return true
	}
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	}
	return false
}

// number reads a limit: 0 when falsy (get_job's `if (!value)`), an error
// when present and not a number.
func number(raw json.RawMessage) (float64, error) {
	if falsy(raw) {
		return 0, nil
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil {
		return 0, errors.New("not a number")
	}
	return v, nil
}

// jsNumber prints a number as JavaScript does.
func jsNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// decodeFiles makes the submitted files and names the one to run: the
// first utf8 file, as Piston's run scripts take it. A file without a name
// is file<i>.code as in Piston, except that one, which takes the language's
// own file name (when no other file has it): Piston's scripts rename
// sources for their compilers, ours pass names through. Names are joined
// under the work directory as Piston does, so "/a.py" is "a.py".
func decodeFiles(files []file, l *lang.Language) ([]airlock.File, string, error) {
	names := make([]string, len(files))
	for i, f := range files {
		name := fmt.Sprintf("file%d.code", i)
		if !falsy(f.name) {
			var ok bool
			if name, ok = str(f.name); !ok {
				return nil, "", reject("files[%d].name must be a string", i)
			}
		}
		// Piston's own test (its path.relative starts with ".."), which
		// also refuses names such as "..x".
		switch names[i] = path.Clean("./" + name); {
		case strings.HasPrefix(names[i], ".."):
			return nil, "", reject(`File path "%s" tries to escape parent directory: %s`, name, names[i])
		case names[i] == ".":
			return nil, "", reject(`File path "%s" names no file`, name)
		}
	}
	entry := slices.IndexFunc(files, func(f file) bool { return f.encoding == "utf8" })
	if falsy(files[entry].name) && l.File != "" && !slices.Contains(names, l.File) {
		names[entry] = l.File
	}
	out := make([]airlock.File, len(files))
	for i, f := range files {
		var content []byte
		var err error
		switch f.encoding {
		case "base64":
			content, err = base64.StdEncoding.DecodeString(f.content)
		case "hex":
			content, err = hex.DecodeString(f.content)
		default:
			content = []byte(f.content)
		}
		if err != nil {
			return nil, "", reject("files[%d].content is not valid %s", i, f.encoding)
		}
		out[i] = airlock.File{Name: names[i], Content: content}
	}
	return out, names[entry], nil
}

// stdinOf is the program's input; Piston adds a newline when it lacks one.
func stdinOf(raw json.RawMessage) ([]byte, error) {
	stdin := ""
	if raw != nil && string(raw) != "null" {
		var ok bool
		if stdin, ok = str(raw); !ok {
			return nil, reject("stdin must be a string")
		}
	}
	if !strings.HasSuffix(stdin, "\n") {
		stdin += "\n"
	}
	return []byte(stdin), nil
}

// argsOf reads args; scalars become their text, as a shell would see them.
func argsOf(raw json.RawMessage) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var list []any
	if json.Unmarshal(raw, &list) != nil {
		return nil, reject("args must be an array")
	}
	args := make([]string, len(list))
	for i, a := range list {
		switch a := a.(type) {
		case string:
			args[i] = a
		case float64, bool:
			b, _ := json.Marshal(a)
			args[i] = string(b)
		default:
			return nil, reject("args[%d] must be a string", i)
		}
	}
	return args, nil
}

// signalNumber is a signal's number from its name (SIGKILL → 9).
func signalNumber(name string) int { return int(unix.SignalNum(name)) }
