package deps

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// fakeRunner "installs" by handing back a Tree of files under env/, as
// a build's sandbox collects them.
type fakeRunner struct {
	t      *testing.T
	files  map[string]string // under env/
	builds *atomic.Int64     // may be shared by several runners
	// started, when set, gets a value as a build starts; gate, when set,
	// holds it until closed.
	started chan struct{}
	gate    chan struct{}
	// fail, when set, is the run's result instead.
	fail *sandbox.Result

	mu    sync.Mutex
	specs []sandbox.Spec
}

func newFake(t *testing.T, files map[string]string) *fakeRunner {
	return &fakeRunner{t: t, files: files, builds: new(atomic.Int64)}
}

func (f *fakeRunner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	f.builds.Add(1)
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return sandbox.Result{}, ctx.Err()
		}
	}
	if f.fail != nil {
		return *f.fail, nil
	}
	return sandbox.Result{Status: airlock.StatusOK, Tree: makeTree(f.t, "env", f.files)}, nil
}

// makeTree is a Tree holding files under the directory top, with the
// directories they need, as a sandbox's collection lists them.
func makeTree(t *testing.T, top string, files map[string]string) *sandbox.Tree {
	t.Helper()
	data, err := os.CreateTemp(t.TempDir(), "tree-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(data.Name())
	entries := []sandbox.Entry{{Name: top + "/", Mode: 0o755}}
	dirs := map[string]bool{}
	var at int64
	for _, name := range slices.Sorted(maps.Keys(files)) {
		full := top + "/" + name
		for d := path.Dir(full); d != top && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			entries = append(entries, sandbox.Entry{Name: d + "/", Mode: 0o755})
		}
		content := files[name]
		if _, err := io.WriteString(data, content); err != nil {
			t.Fatal(err)
		}
		e := sandbox.Entry{Name: full, Mode: 0o644, Size: int64(len(content))}
		if len(content) > 0 {
			e.Extents = []sandbox.Extent{{Offset: 0, Length: int64(len(content)), At: at}}
		}
		at += int64(len(content))
		entries = append(entries, e)
	}
	// Parents before children, as a walk lists them.
	slices.SortStableFunc(entries, func(a, b sandbox.Entry) int { return strings.Compare(a.Name, b.Name) })
	return sandbox.NewTree(data, entries)
}

// memBlobs is a BlobStore in memory.
type memBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte
	gets  int
}

func newMemBlobs() *memBlobs { return &memBlobs{blobs: map[string][]byte{}} }

func (b *memBlobs) Put(_ context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[key] = slices.Clone(data)
	return nil
}

func (b *memBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets++
	data, ok := b.blobs[key]
	if !ok {
		return nil, airlock.ErrNotFound
	}
	return slices.Clone(data), nil
}

func (b *memBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.blobs, key)
	return nil
}

var python = &lang.Language{ID: "python", Installer: "pip"}

// pySpec asks for a Python environment of the requirements given.
func pySpec(t *testing.T, reqs ...string) Spec {
	t.Helper()
	parsed, err := Parse("pip", reqs)
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Language: python, Version: "3.11.2", Requirements: parsed}
}

// manager is a Manager over the fake runner in dir.
func manager(t *testing.T, dir string, r sandbox.Runner, opts Options) *Manager {
	t.Helper()
	opts.Dir, opts.Runner = dir, r
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// get calls Get and fails the test on error; the Env is released at the
// test's end.
func get(t *testing.T, m *Manager, spec Spec) *Env {
	t.Helper()
	env, err := m.Get(context.Background(), spec)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	t.Cleanup(env.Release)
	return env
}

// leftovers lists what the cache directory holds beside entries and lock
// files: temporary directories.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			left = append(left, e.Name())
		}
	}
	return left
}
