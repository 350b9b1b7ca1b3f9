package localblob

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Open did not make %s: %v", dir, err)
	}
	return s, dir
}

func TestRoundTrip(t *testing.T) {
	s, dir := open(t)
	ctx := t.Context()
	blobs := map[string][]byte{
		"flat":                []byte("one"),
		"requests/abc.json":   []byte(`{"language":"python"}`),
		"results/abc.json":    []byte(`{"status":"ok"}`),
		"deep/er/still/x.bin": {0, 1, 2, 0xff},
		"empty":               {},
	}
	for k, v := range blobs {
		if err := s.Put(ctx, k, v); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for k, v := range blobs {
		got, err := s.Get(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, err, v)
		}
		// The blob is a file under the directory, under its key.
		if onDisk, err := os.ReadFile(filepath.Join(dir, k)); err != nil || !bytes.Equal(onDisk, v) {
			t.Errorf("file for %q = %q, %v", k, onDisk, err)
		}
	}

	// Put replaces.
	if err := s.Put(ctx, "requests/abc.json", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "requests/abc.json"); err != nil || string(got) != "v2" {
		t.Errorf("Get after a second Put = %q, %v; want v2", got, err)
	}

	// Delete removes that key only.
	if err := s.Delete(ctx, "requests/abc.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, err := s.Get(ctx, "requests/abc.json"); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Get after Delete = %q, %v; want ErrNotFound", got, err)
	}
	if got, err := s.Get(ctx, "results/abc.json"); err != nil || string(got) != `{"status":"ok"}` {
		t.Errorf("Delete removed a neighbour: %q, %v", got, err)
	}
	// A missing key is no error, twice over.
	for _, k := range []string{"requests/abc.json", "never", "no/such/dir"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v", k, err)
		}
	}

	// Writes leave no temporary files behind.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if rel, _ := filepath.Rel(dir, p); blobs[rel] == nil {
				t.Errorf("stray file %s", rel)
			}
		}
		return nil
	})
}

func TestPutKeepsCallerData(t *testing.T) {
	s, _ := open(t)
	data := []byte("hello")
	if err := s.Put(t.Context(), "k", data); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXX")
	if got, err := s.Get(t.Context(), "k"); err != nil || string(got) != "hello" {
		t.Errorf("Get = %q, %v; want hello", got, err)
	}
}

func TestGetUnknown(t *testing.T) {
	s, _ := open(t)
	if err := s.Put(t.Context(), "present", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"absent", "results/absent.json", "present/child"} {
		got, err := s.Get(t.Context(), k)
		if k == "present/child" {
			// Below a file: not found is not the only honest answer, but
			// it must not succeed.
			if err == nil {
				t.Errorf("Get(%q) = %q, want an error", k, got)
			}
			continue
		}
		if !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Get(%q) = %q, %v; want ErrNotFound", k, got, err)
		}
	}
}

// A key never reaches outside the directory: the jobs service builds keys
// from ids, and a bad id must not turn into a path elsewhere.
func TestKeysStayInside(t *testing.T) {
	s, dir := open(t)
	ctx := t.Context()
	parent := filepath.Dir(dir)
	// Files outside the store, where escaping keys would land.
	outside := map[string]string{
		"../x":                       filepath.Join(parent, "x"),
		"a/../../b":                  filepath.Join(parent, "b"),
		"../blobs2/c":                filepath.Join(parent, "blobs2", "c"),
		filepath.Join(parent, "abs"): filepath.Join(parent, "abs"),
	}
	for key, path := range outside {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("outside"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, key, []byte("evil")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if got, err := s.Get(ctx, key); err == nil || errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Get(%q) = %q, %v; want a refusal", key, got, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
		if data, err := os.ReadFile(path); err != nil || string(data) != "outside" {
			t.Errorf("after operations on key %q, %s = %q, %v; want it untouched", key, path, data, err)
		}
	}
	for _, key := range []string{"", ".", "..", "/", "a/.."} {
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
	}
	// Nothing is left beside the store...
	around, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range around {
		switch e.Name() {
		case "blobs", "blobs2", "x", "b", "abs":
		default:
			t.Errorf("stray entry %s beside the store", e.Name())
		}
	}
	// ...nor inside it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("stray entry %s in the store", e.Name())
	}
	// A key with a dot-dot that stays inside is an ordinary key.
	if err := s.Put(ctx, "a/../b", []byte("inside")); err != nil {
		t.Fatalf("Put(a/../b): %v", err)
	}
	if got, err := s.Get(ctx, "b"); err != nil || string(got) != "inside" {
		t.Errorf("Get(b) = %q, %v", got, err)
	}
}
