package deps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlobShareFetchesInsteadOfBuilding(t *testing.T) {
	blobs := newMemBlobs()
	files := map[string]string{"pkg/__init__.py": "A = 1\n", "pkg/sub/data.txt": strings.Repeat("d", 5000), "empty.txt": ""}
	built := newFake(t, files)
	env := get(t, manager(t, t.TempDir(), built, Options{Blobs: blobs}), pySpec(t, "a==1"))
	if _, ok := blobs.blobs[blobKey(env.Key)]; !ok {
		t.Fatalf("nothing shared: %v", blobs.blobs)
	}

	// Another worker, its cache empty: it fetches.
	other := newFake(t, nil)
	fetched := get(t, manager(t, t.TempDir(), other, Options{Blobs: blobs}), pySpec(t, "a==1"))
	if other.builds.Load() != 0 {
		t.Fatalf("the second worker built it")
	}
	for name, want := range files {
		if b, err := os.ReadFile(filepath.Join(fetched.Mount.Source, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
}

func TestCorruptBlobDeletedAndBuilt(t *testing.T) {
	blobs := newMemBlobs()
	r := newFake(t, map[string]string{"a.py": "A = 1\n"})
	m := manager(t, t.TempDir(), r, Options{Blobs: blobs})
	key := Key(pySpec(t, "a==1"), []string{DefaultPythonIndex}, m.caHash)
	blobs.blobs[blobKey(key)] = []byte("not a gzip stream")
	get(t, m, pySpec(t, "a==1"))
	if r.builds.Load() != 1 {
		t.Fatalf("%d builds, want 1", r.builds.Load())
	}
	// Built, then shared again whole.
	if err := unpack(blobs.blobs[blobKey(key)], t.TempDir(), 1<<20, 10); err != nil {
		t.Errorf("the blob after the build: %v", err)
	}
}

// archive is a tar.gz of headers, each file's content a run of "x".
func archive(t *testing.T, headers ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range headers {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestUnpackRefusesWhatAnEnvironmentNeverHolds(t *testing.T) {
	file := func(name string, size int64) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
	}
	ok := archive(t, tar.Header{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755}, file("pkg/a.py", 3))
	truncated := ok[:len(ok)-10]
	cases := map[string][]byte{
		"dot dot":       archive(t, file("../escape", 1)),
		"inner dot dot": archive(t, file("pkg/../../escape", 1)),
		"absolute":      archive(t, file("/etc/passwd", 1)),
		"symlink":       archive(t, tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}),
		"hard link":     archive(t, file("a", 1), tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}),
		"device":        archive(t, tar.Header{Name: "dev", Typeflag: tar.TypeChar}),
		"too big":       archive(t, file("big", 2000)),
		"too many":      archive(t, file("a", 1), file("b", 1), file("c", 1), file("d", 1), file("e", 1)),
		"twice":         archive(t, file("a", 1), file("a", 1)),
		"truncated":     truncated,
		"not gzip":      []byte("PK\x03\x04"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "env")
			os.Mkdir(dir, 0o755)
			err := unpack(data, dir, 1000, 4)
			var bad *badArchive
			if !errors.As(err, &bad) {
				t.Fatalf("unpack: %v, want a bad archive", err)
			}
			if _, err := os.Stat(filepath.Join(root, "escape")); err == nil {
				t.Errorf("a file was written outside")
			}
		})
	}
	dir := t.TempDir()
	if err := unpack(ok, dir, 1000, 4); err != nil {
		t.Fatalf("a good archive: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pkg/a.py")); string(b) != "xxx" {
		t.Errorf("unpacked %q", b)
	}
}

func TestShareSkipsAnArchiveOverTheCap(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte{0, 1, 2, 3, 5, 7, 11}, 10000), 0o644)
	if _, err := pack(dir, 100); !errors.Is(err, errOverShare) {
		t.Fatalf("pack: %v, want errOverShare", err)
	}
	data, err := pack(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := unpack(data, t.TempDir(), 1<<20, 10); err != nil {
		t.Fatal(err)
	}
}
