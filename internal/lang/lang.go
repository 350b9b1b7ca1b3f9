// Package lang holds the language recipes: how a source file becomes a
// sandboxed command. This minimal built-in set covers the interpreters the
// sandbox core is tested with; the full catalog replaces it.
package lang

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Recipe runs one source file with an interpreter called by absolute path
// (a PATH lookup may hit a slow shim such as pyenv's).
type Recipe struct {
	ID         string
	Extensions []string
	Run        func(file string) []string
	Env        []string
}

var recipes = []Recipe{
	{
		ID:         "python",
		Extensions: []string{".py"},
		Run:        func(f string) []string { return []string{"/usr/bin/python3", f} },
		Env:        []string{"PATH=/usr/bin:/bin", "HOME=/box", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"},
	},
	{
		ID:         "javascript",
		Extensions: []string{".js", ".mjs", ".cjs"},
		Run:        func(f string) []string { return []string{"/usr/bin/node", f} },
		Env:        []string{"PATH=/usr/bin:/bin", "HOME=/box", "LANG=C.UTF-8"},
	},
}

var aliases = map[string]string{"py": "python", "python3": "python", "js": "javascript", "node": "javascript"}

// Lookup finds a recipe by id or alias.
func Lookup(name string) (Recipe, error) {
	name = strings.ToLower(name)
	if a, ok := aliases[name]; ok {
		name = a
	}
	for _, r := range recipes {
		if r.ID == name {
			return r, nil
		}
	}
	return Recipe{}, fmt.Errorf("unknown language %q (known: %s)", name, strings.Join(IDs(), ", "))
}

// ForFile guesses the recipe from a file extension.
func ForFile(path string) (Recipe, error) {
	ext := strings.ToLower(filepath.Ext(path))
	for _, r := range recipes {
		for _, e := range r.Extensions {
			if e == ext {
				return r, nil
			}
		}
	}
	return Recipe{}, fmt.Errorf("cannot guess the language of %q: use -l (known: %s)", path, strings.Join(IDs(), ", "))
}

// IDs lists the known recipe ids.
func IDs() []string {
	var ids []string
	for _, r := range recipes {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}
