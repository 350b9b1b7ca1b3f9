package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Tree is files and directories handed from one run to another, or back
// to the caller: their names and modes in memory, the data of their files
// in a file of its own (a memfd), holes left out. Nothing of it is ever
// expanded in memory: a sparse file costs what it really holds.
type Tree struct {
	Entries []Entry
	data    *os.File
}

// Entry is a directory (its Name ends with a slash) or a regular file of a
// Tree.
type Entry struct {
	Name    string
	Mode    uint32 // permission bits
	Size    int64  // a file's length; what Extents do not cover reads as zeros
	Extents []Extent
}

// Extent is a part of a file that holds data: Length bytes at Offset in
// the file, kept at At in the Tree's data.
type Extent struct {
	Offset, Length, At int64
}

// NewTree is entries whose data is in data, which the Tree then owns.
func NewTree(data *os.File, entries []Entry) *Tree {
	return &Tree{Entries: entries, data: data}
}

// Data is the file holding the entries' data, to pass on to another
// process; it stays the Tree's.
func (t *Tree) Data() *os.File { return t.data }

// Close releases the Tree's data. A nil Tree has nothing to release.
func (t *Tree) Close() error {
	if t == nil || t.data == nil {
		return nil
	}
	return t.data.Close()
}

// Allocated is the space the entries' data takes.
func (t *Tree) Allocated() int64 {
	var n int64
	for _, e := range t.Entries {
		for _, x := range e.Extents {
			n += x.Length
		}
	}
	return n
}

// Keep is the Tree with only the entries under names (as Spec.Collect
// names them), sharing its data.
func (t *Tree) Keep(names []string) *Tree {
	return &Tree{data: t.data, Entries: slices.DeleteFunc(slices.Clone(t.Entries), func(e Entry) bool {
		return !slices.ContainsFunc(names, func(n string) bool {
			n = path.Clean(n)
			return n == "." || e.Name == n || strings.HasPrefix(e.Name, n+"/")
		})
	})}
}

// Open reads a file entry's content, holes as zeros.
func (t *Tree) Open(e Entry) io.Reader {
	var parts []io.Reader
	var at int64
	for _, x := range e.Extents {
		parts = append(parts, io.LimitReader(zeros{}, x.Offset-at), io.NewSectionReader(t.data, x.At, x.Length))
		at = x.Offset + x.Length
	}
	return io.MultiReader(append(parts, io.LimitReader(zeros{}, e.Size-at))...)
}

// ErrTooBig is a file longer than a ReadFile may read.
var ErrTooBig = errors.New("file too big")

// ReadFile reads the file entry called name; ok is false when the Tree
// has no such file. A file longer than max is ErrTooBig, unread.
func (t *Tree) ReadFile(name string, max int64) (data []byte, ok bool, err error) {
	if t == nil {
		return nil, false, nil
	}
	for _, e := range t.Entries {
		if e.Name != name {
			continue
		}
		if e.Size > max {
			return nil, true, ErrTooBig
		}
		var buf bytes.Buffer
		buf.Grow(int(e.Size))
		_, err := io.Copy(&buf, t.Open(e))
		return buf.Bytes(), true, err
	}
	return nil, false, nil
}

// Extract writes the entries under the directory prefix (a name as
// Collect gives it, without its slash) to dir, prefix itself left out:
// directories 0755, files readable by all and writable by their owner
// only, each appearing whole or not at all for readers of dir meanwhile.
// An entry outside prefix is an error: the Tree holds more than asked.
func (t *Tree) Extract(dir, prefix string) error {
	for _, e := range t.Entries {
		if e.Name == prefix+"/" {
			continue
		}
		rel, ok := strings.CutPrefix(e.Name, prefix+"/")
		if !ok || !filepath.IsLocal(strings.TrimSuffix(rel, "/")) {
			return fmt.Errorf("the tree holds %q, outside %s/", e.Name, prefix)
		}
		name := filepath.Join(dir, rel)
		var err error
		if strings.HasSuffix(e.Name, "/") {
			err = os.MkdirAll(name, 0o755)
		} else {
			err = writeAtomically(name, t.Open(e), os.FileMode(e.Mode)&0o755|0o444)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeAtomically makes name appear whole or not at all.
func writeAtomically(name string, data io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
