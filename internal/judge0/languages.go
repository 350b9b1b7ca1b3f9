package judge0

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
)

// language is a Judge0 CE language id bound to a catalog language: the
// ids are Judge0's own, so clients that hard-code them keep working.
type language struct {
	id         int
	catalog    string // catalog id
	name       string // printf pattern taking the installed version
	sourceFile string
	// environment is the operator's named environment the language runs
	// in (an id of the config's judge0_id); "": the catalog's own.
	environment string
}

var languages = []language{
	{46, "bash", "Bash (%s)", "script.sh", ""},
	{50, "c", "C (GCC %s)", "main.c", ""},
	{54, "cpp", "C++ (GCC %s)", "main.cpp", ""},
	{60, "go", "Go (%s)", "main.go", ""},
	{62, "java", "Java (OpenJDK %s)", "Main.java", ""},
	{63, "javascript", "JavaScript (Node.js %s)", "script.js", ""},
	{71, "python", "Python (%s)", "script.py", ""},
	{73, "rust", "Rust (%s)", "main.rs", ""},
	{74, "typescript", "TypeScript (%s)", "script.ts", ""},
	{85, "perl", "Perl (%s)", "script.pl", ""},
	{89, "project", "Multi-file program", "", ""},
	// Judge0 CE's older GCC entries run the installed GCC too: SDKs map
	// names to them (judge0-python's CPP is 52).
	{48, "c", "C (GCC %s)", "main.c", ""},
	{49, "c", "C (GCC %s)", "main.c", ""},
	{52, "cpp", "C++ (GCC %s)", "main.cpp", ""},
	{53, "cpp", "C++ (GCC %s)", "main.cpp", ""},
}

// CheckEnvironments refuses named environments Judge0 clients could not
// tell apart: a judge0_id that is one of Judge0's built-in ids above, or
// that two environments share.
func CheckEnvironments(envs map[string]engine.Named) error {
	taken := map[int]string{}
	for _, l := range languages {
		taken[l.id] = "the built-in " + l.catalog
	}
	names := make([]string, 0, len(envs))
	for name := range envs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		id := envs[name].Judge0ID
		if id == 0 {
			continue
		}
		if other, ok := taken[id]; ok {
			return fmt.Errorf("environment %q: judge0_id %d is taken by %s (choose another)", name, id, other)
		}
		taken[id] = fmt.Sprintf("environment %q", name)
	}
	return nil
}

// environmentLanguages are the named environments offered under a
// Judge0 id, named "<language> (<environment>)", whose languages this
// host has (infos, by catalog id).
func (s *Server) environmentLanguages(ctx context.Context, infos map[string]engine.LanguageInfo) []language {
	var out []language
	for _, env := range s.opt.Engine.NamedEnvironments(ctx) {
		info, ok := infos[env.Language]
		if env.Judge0ID == 0 || !ok {
			continue
		}
		file := ""
		if id := judge0ID(env.Language); id != 0 {
			file = languages[slices.IndexFunc(languages, func(l language) bool { return l.id == id })].sourceFile
		} else if c, err := s.opt.Engine.Catalog().Lookup(env.Language); err == nil {
			file = c.File
		}
		out = append(out, language{env.Judge0ID, env.Language, strings.ReplaceAll(info.Name+" ("+env.Name+")", "%", "%%"), file, env.Name})
	}
	return out
}

// isProject says whether this is Judge0's multi-file program, which comes
// as additional_files with its own compile and run scripts.
func (l language) isProject() bool { return l.sourceFile == "" }

// installed is a Judge0 language this host has.
type installed struct {
	language
	Name    string
	Catalog *lang.Language
}

// installedLanguages lists the Judge0 languages this host runs, sorted by
// name as Judge0 sorts them.
func (s *Server) installedLanguages(ctx context.Context) []installed {
	infos := map[string]engine.LanguageInfo{}
	for _, info := range s.opt.Engine.Languages(ctx, false) {
		infos[info.ID] = info
	}
	var out []installed
	for _, l := range append(slices.Clip(languages), s.environmentLanguages(ctx, infos)...) {
		info, ok := infos[l.catalog]
		if !ok {
			continue
		}
		c, err := s.opt.Engine.Catalog().Lookup(l.catalog)
		if err != nil {
			continue
		}
		name := l.name
		if strings.Contains(name, "%s") {
			name = fmt.Sprintf(name, info.Version)
		}
		out = append(out, installed{language: l, Name: name, Catalog: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].id < out[j].id
	})
	return out
}

func (s *Server) languageByID(ctx context.Context, id int) (installed, bool) {
	for _, l := range s.installedLanguages(ctx) {
		if l.id == id {
			return l, true
		}
	}
	return installed{}, false
}

// judge0ID is the Judge0 id of a catalog language (its first, current
// one); 0 when it has none.
func judge0ID(catalog string) int {
	for _, l := range languages {
		if l.catalog == catalog {
			return l.id
		}
	}
	return 0
}

// command shows a catalog command line the way Judge0 shows its own.
func command(argv []string, l installed) any {
	if len(argv) == 0 || l.isProject() {
		return nil
	}
	vars := lang.Vars{Entry: l.sourceFile, Sources: []string{l.sourceFile}}
	return strings.Join(lang.Expand(argv, vars), " ")
}

// languageJSON is a language in /languages and /languages/all.
type languageJSON struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	IsArchived *bool  `json:"is_archived,omitempty"`
	SourceFile string `json:"source_file,omitempty"`
	CompileCmd any    `json:"compile_cmd,omitempty"`
	RunCmd     any    `json:"run_cmd,omitempty"`
}

// languages is GET /languages: the installed ones.
func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	out := []languageJSON{}
	for _, l := range s.installedLanguages(r.Context()) {
		out = append(out, languageJSON{ID: l.id, Name: l.Name})
	}
	reply(w, http.StatusOK, out)
}

// allLanguages is GET /languages/all: none is archived.
func (s *Server) allLanguages(w http.ResponseWriter, r *http.Request) {
	out := []languageJSON{}
	archived := false
	for _, l := range s.installedLanguages(r.Context()) {
		out = append(out, languageJSON{ID: l.id, Name: l.Name, IsArchived: &archived})
	}
	reply(w, http.StatusOK, out)
}

// language is GET /languages/{id}, with its commands.
func (s *Server) language(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	l, ok := s.languageByID(r.Context(), id)
	if err != nil || !ok {
		railsError(w, r, http.StatusNotFound)
		return
	}
	shown := struct {
		ID         int     `json:"id"`
		Name       string  `json:"name"`
		IsArchived bool    `json:"is_archived"`
		SourceFile *string `json:"source_file"`
		CompileCmd any     `json:"compile_cmd"`
		RunCmd     any     `json:"run_cmd"`
	}{l.id, l.Name, false, nil, command(l.Catalog.Compile, l), command(l.Catalog.Run, l)}
	if !l.isProject() {
		shown.SourceFile = &l.sourceFile
	}
	reply(w, http.StatusOK, shown)
}
