// Package lang is the language catalog: how submitted files become a
// compile command and a run command. The built-in catalog is embedded
// (languages.yaml); an operator file adds entries or replaces entries of
// the same id. It knows nothing of sandboxes: the engine runs what it says.
package lang

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/units"
)

//go:embed languages.yaml
var builtin []byte

// Language is one catalog entry.
type Language struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Aliases    []string `yaml:"aliases"`
	Extensions []string `yaml:"extensions"`
	File       string   `yaml:"file"`     // entry file name for single-source submissions
	Compile    []string `yaml:"compile"`  // empty: interpreted
	Run        []string `yaml:"run"`      // templates, see languages.yaml
	Function   []string `yaml:"function"` // function mode, if the language has a harness
	Version    []string `yaml:"version"`  // prints the version
	// Installer installs a submission's requirements: "pip" or "npm"
	// (internal/deps); empty, the language takes none.
	Installer string   `yaml:"installer"`
	Binds     []string `yaml:"binds"` // host paths beyond the base set, read-only
	Env       []string `yaml:"env"`
	Test      string   `yaml:"test"` // a program that prints OK
	Cache     *Cache   `yaml:"cache"`
	// CompileIf names a file the compile step needs: without it in the
	// submission there is no compile step (a project's optional build
	// script).
	CompileIf string `yaml:"compile_if"`
	// KeepWorkDir hands the compile step's whole work dir to the run step
	// (a project's build script leaves its output where it likes), instead
	// of only its Artifacts.
	KeepWorkDir bool `yaml:"keep_work_dir"`

	CompileLimits units.LimitSpec `yaml:"compile_limits"`
	Limits        units.LimitSpec `yaml:"limits"` // defaults of the run step
	Max           units.LimitSpec `yaml:"max"`    // the most a submission may ask for (within the operator's)

	compileLimits, limits, max airlock.Limits
}

// Cache is a compiler cache that sandboxes read but never write: filled
// once by compiling Warm in a sandbox, then bound read-only at Path (a host
// directory) with Env naming it, so the standard library is not compiled
// again for every submission.
type Cache struct {
	Path string `yaml:"path"`
	Env  string `yaml:"env"`
	Warm string `yaml:"warm"` // a program whose compilation fills the cache
}

// Artifacts is where a compile step leaves what the run step needs.
const Artifacts = "out"

// Compiles says whether a submission of these files has a compile step.
func (l *Language) Compiles(files []airlock.File) bool {
	return len(l.Compile) > 0 && (l.CompileIf == "" || slices.ContainsFunc(files, func(f airlock.File) bool { return f.Name == l.CompileIf }))
}

// CompileLimitsOver are the compile step's limits on top of base.
func (l *Language) CompileLimitsOver(base airlock.Limits) airlock.Limits {
	return l.compileLimits.WithDefaults(base)
}

// LimitsOver are the run step's defaults on top of base.
func (l *Language) LimitsOver(base airlock.Limits) airlock.Limits {
	return l.limits.WithDefaults(base)
}

// MaxOver is the most a submission may ask for, within base (the
// operator's maxima, which a language file cannot raise).
func (l *Language) MaxOver(base airlock.Limits) airlock.Limits {
	return l.max.WithDefaults(base).Within(base)
}

// Tool is the program whose presence makes the language available: the
// compiler, or else the interpreter.
func (l *Language) Tool() string {
	for _, argv := range [][]string{l.Compile, l.Run} {
		if len(argv) > 0 && path.IsAbs(argv[0]) {
			return argv[0]
		}
	}
	return ""
}

// Available says why the language cannot run on this host, or nil.
func (l *Language) Available() error {
	tool := l.Tool()
	if tool == "" {
		return nil
	}
	fi, err := os.Stat(tool)
	if err != nil {
		return fmt.Errorf("%s not found", tool)
	}
	if fi.Mode()&0o001 == 0 {
		return fmt.Errorf("%s is not executable by other users (sandboxes run as one)", tool)
	}
	return nil
}

// Vars fill a command template.
type Vars struct {
	Entry   string   // entry file, relative to the work dir
	Sources []string // every submitted file with one of the language's extensions
	Options []string // compile options
	Args    []string // program arguments
	Harness string   // function-mode harness file
}

// Expand fills a template. Each element is one argv element (never a
// shell word); list placeholders expand to as many elements as they hold.
// {args} is appended when the template does not place it.
func Expand(tmpl []string, v Vars) []string {
	stem := strings.TrimSuffix(v.Entry, path.Ext(v.Entry))
	var out []string
	placedArgs := false
	for _, t := range tmpl {
		switch t {
		case "{sources}":
			out = append(out, v.Sources...)
		case "{options}":
			out = append(out, v.Options...)
		case "{args}":
			out = append(out, v.Args...)
			placedArgs = true
		default:
			out = append(out, strings.NewReplacer("{entry_stem}", stem, "{entry}", v.Entry, "{harness}", v.Harness).Replace(t))
		}
	}
	if !placedArgs {
		out = append(out, v.Args...)
	}
	return out
}

// Catalog is a set of languages.
type Catalog struct {
	langs []*Language
}

// Load reads the built-in catalog and, when operatorFile is not empty,
// the operator's entries on top.
func Load(operatorFile string) (*Catalog, error) {
	var langs []*Language
	if err := yaml.Unmarshal(builtin, &langs); err != nil {
		return nil, fmt.Errorf("built-in catalog: %w", err)
	}
	if operatorFile != "" {
		data, err := os.ReadFile(operatorFile)
		if err != nil {
			return nil, err
		}
		var extra []*Language
		if err := yaml.Unmarshal(data, &extra); err != nil {
			return nil, fmt.Errorf("%s: %w", operatorFile, err)
		}
		for _, e := range extra {
			i := slices.IndexFunc(langs, func(l *Language) bool { return l.ID == e.ID })
			if i >= 0 {
				langs[i] = e
			} else {
				langs = append(langs, e)
			}
		}
	}
	c := &Catalog{}
	seen := map[string]string{}
	for _, l := range langs {
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("language %q: %w", l.ID, err)
		}
		for _, name := range append([]string{l.ID}, l.Aliases...) {
			if other, ok := seen[name]; ok {
				return nil, fmt.Errorf("language %q: name %q is taken by %q", l.ID, name, other)
			}
			seen[name] = l.ID
		}
		c.langs = append(c.langs, l)
	}
	sort.Slice(c.langs, func(i, j int) bool { return c.langs[i].ID < c.langs[j].ID })
	return c, nil
}

func (l *Language) check() error {
	if l.ID == "" || strings.ToLower(l.ID) != l.ID {
		return errors.New("id must be set and lower case")
	}
	if len(l.Run) == 0 {
		return errors.New("run is empty")
	}
	if l.File == "" || strings.Contains(l.File, "/") {
		return errors.New("file must be a plain file name")
	}
	if l.Name == "" {
		l.Name = l.ID
	}
	if l.Installer != "" && l.Installer != "pip" && l.Installer != "npm" {
		return fmt.Errorf("installer %q: want pip or npm", l.Installer)
	}
	if c := l.Cache; c != nil && (!path.IsAbs(c.Path) || c.Env == "" || c.Warm == "" || len(l.Compile) == 0) {
		return errors.New("cache needs an absolute path, an env name, a warm program and a compile step")
	}
	var err error
	if l.compileLimits, err = l.CompileLimits.Parse(); err != nil {
		return fmt.Errorf("compile_limits: %w", err)
	}
	if l.limits, err = l.Limits.Parse(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if l.max, err = l.Max.Parse(); err != nil {
		return fmt.Errorf("max: %w", err)
	}
	return nil
}

// HostPaths are the host paths the catalog's languages bind, for the
// sandbox's base set; cache directories are created (empty) so that
// sandboxes bind them before they are filled.
func (c *Catalog) HostPaths() ([]string, error) {
	var paths []string
	for _, l := range c.langs {
		paths = append(paths, l.Binds...)
		if l.Cache != nil && l.Available() == nil {
			if err := os.MkdirAll(l.Cache.Path, 0o755); err != nil {
				return nil, fmt.Errorf("%s cache: %w", l.ID, err)
			}
			paths = append(paths, l.Cache.Path)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// All lists every language, by id.
func (c *Catalog) All() []*Language { return slices.Clone(c.langs) }

// Lookup finds a language by id or alias, in any case.
func (c *Catalog) Lookup(name string) (*Language, error) {
	name = strings.ToLower(name)
	for _, l := range c.langs {
		if l.ID == name || slices.Contains(l.Aliases, name) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("unknown language %q (known: %s)", name, strings.Join(c.IDs(), ", "))
}

// ForFile guesses the language from a file name's extension.
func (c *Catalog) ForFile(name string) (*Language, error) {
	ext := strings.ToLower(path.Ext(name))
	for _, l := range c.langs {
		if ext != "" && slices.Contains(l.Extensions, ext) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("cannot guess the language of %q from its extension (known: %s)", name, strings.Join(c.IDs(), ", "))
}

// IDs lists the language ids.
func (c *Catalog) IDs() []string {
	ids := make([]string, len(c.langs))
	for i, l := range c.langs {
		ids[i] = l.ID
	}
	return ids
}
