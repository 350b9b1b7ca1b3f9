package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree is a Tree of entries whose files all hold content.
func tree(t *testing.T, content string, names ...string) *Tree {
	t.Helper()
	data, err := os.CreateTemp(t.TempDir(), "data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	data.WriteString(content)
	var entries []Entry
	for _, n := range names {
		e := Entry{Name: n, Mode: 0o755}
		if !strings.HasSuffix(n, "/") {
			e.Mode, e.Size = 0o600, int64(len(content))
			e.Extents = []Extent{{Offset: 0, Length: int64(len(content)), At: 0}}
		}
		entries = append(entries, e)
	}
	return NewTree(data, entries)
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	if err := tree(t, "data", "out/", "out/a/", "out/a/f", "out/g").Extract(dir, "out"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a/f", "g"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != "data" {
			t.Errorf("%s: %q %v", name, b, err)
		}
		// Readable by all, whatever the run left.
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", name, fi.Mode())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("the prefix itself was extracted")
	}
	for _, bad := range []string{"elsewhere/f", "out/../f", "outside"} {
		if err := tree(t, "x", "out/", bad).Extract(t.TempDir(), "out"); err == nil || !strings.Contains(err.Error(), "outside out/") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
