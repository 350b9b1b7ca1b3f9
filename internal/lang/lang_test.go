package lang

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

func TestBuiltinCatalog(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bash", "c", "cpp", "go", "java", "javascript", "perl", "python", "rust", "typescript"} {
		l, err := c.Lookup(id)
		if err != nil || l.Test == "" || l.Tool() == "" {
			t.Errorf("%s: %v (test program %q, tool %q)", id, err, l.Test, l.Tool())
		}
	}
	for name, want := range map[string]string{"py": "python", "Python": "python", "node": "javascript", "c++": "cpp"} {
		if l, err := c.Lookup(name); err != nil || l.ID != want {
			t.Errorf("Lookup(%q): %v %v, want %s", name, l, err, want)
		}
	}
	if _, err := c.Lookup("cobol"); err == nil || !strings.Contains(err.Error(), "python") {
		t.Errorf("unknown language: %v", err)
	}
	if l, err := c.ForFile("a/b.JS"); err != nil || l.ID != "javascript" {
		t.Errorf("ForFile: %v %v", l, err)
	}
	if _, err := c.ForFile("notes.txt"); err == nil {
		t.Error("unknown extension accepted")
	}
	java, _ := c.Lookup("java")
	if lim := java.LimitsOver(airlock.DefaultLimits); lim.Memory != 512<<20 || lim.CPU != airlock.DefaultLimits.CPU {
		t.Errorf("java limits over the defaults: %+v", lim)
	}
	if lim := java.CompileLimitsOver(airlock.DefaultLimits); lim.CPU != 30*time.Second {
		t.Errorf("java compile limits: %+v", lim)
	}
}

func TestExpand(t *testing.T) {
	v := Vars{Entry: "src/Main.java", Sources: []string{"src/Main.java", "src/A.java"}, Options: []string{"-g", "-Xlint"}, Args: []string{"a b", "c"}}
	got := Expand([]string{"/usr/bin/javac", "-d", "out", "{options}", "{sources}"}, v)
	want := []string{"/usr/bin/javac", "-d", "out", "-g", "-Xlint", "src/Main.java", "src/A.java", "a b", "c"}
	if !slices.Equal(got, want) {
		t.Errorf("compile: %q", got)
	}
	got = Expand([]string{"/usr/bin/java", "{entry_stem}", "{args}", "--"}, v)
	if want := []string{"/usr/bin/java", "src/Main", "a b", "c", "--"}; !slices.Equal(got, want) {
		t.Errorf("run: %q", got)
	}
}

func TestOperatorFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "langs.yaml")
	os.WriteFile(file, []byte(`
- id: python
  name: Python (operator)
  file: main.py
  run: [/opt/python/bin/python3, "{entry}"]
- id: lua
  file: main.lua
  extensions: [.lua]
  run: [/usr/bin/lua5.4, "{entry}"]
  limits: {memory: 64M}
`), 0o644)
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	py, _ := c.Lookup("python")
	if py.Name != "Python (operator)" || py.Available() == nil {
		t.Errorf("override not taken: %+v", py)
	}
	if _, err := c.Lookup("py"); err == nil {
		t.Error("a replaced entry keeps the aliases of the old one")
	}
	lua, err := c.Lookup("lua")
	if err != nil || !strings.Contains(lua.Available().Error(), "/usr/bin/lua5.4 not found") {
		t.Errorf("lua: %v %v", err, lua.Available())
	}
	for name, text := range map[string]string{
		"no run":       "- id: x\n  file: x.x\n",
		"bad limit":    "- id: x\n  file: x.x\n  run: [/bin/x]\n  limits: {memory: 12Q}\n",
		"name taken":   "- id: x\n  aliases: [py]\n  file: x.x\n  run: [/bin/x]\n",
		"not a list":   "id: x\n",
		"path in file": "- id: x\n  file: a/x.x\n  run: [/bin/x]\n",
	} {
		os.WriteFile(file, []byte(text), 0o644)
		if _, err := Load(file); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
