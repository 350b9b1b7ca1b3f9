package engine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airlock-dev/airlock/internal/lang"
)

// The engine serves the catalog's languages whose toolchain this host
// has, and no other.
func TestCapabilities(t *testing.T) {
	file := filepath.Join(t.TempDir(), "langs.yaml")
	if err := os.WriteFile(file, []byte(`
- id: missing
  file: main.x
  run: [/nonexistent/airlock-test/x, "{entry}"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog, err := lang.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	caps := New(nil, catalog, Options{}).Capabilities()
	for _, l := range catalog.All() {
		if got, want := slices.Contains(caps, l.ID), l.Available() == nil; got != want {
			t.Errorf("%s: served %v, available %v", l.ID, got, want)
		}
	}
	if slices.Contains(caps, "missing") || !slices.Contains(caps, "python") {
		t.Errorf("Capabilities = %v, want python and not missing", caps)
	}
}
