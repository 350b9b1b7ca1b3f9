package deps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
)

// MaxShareBytes bounds an environment's archive in the blob store: a
// bigger one is built on each worker rather than held in memory whole.
const MaxShareBytes = 512 << 20

// blobKey names key's archive in the blob store.
func blobKey(key string) string { return "envs/" + key + ".tar.gz" }

// share puts key's entry in the blob store, where other workers fetch it
// instead of building it. A failure costs them a build only: it is
// logged.
func (m *Manager) share(ctx context.Context, key string) {
	if m.opts.Blobs == nil {
		return
	}
	data, err := pack(m.envDir(key), MaxShareBytes)
	if errors.Is(err, errOverShare) {
		m.log.Info("environment not shared: its archive is over the cap", "key", key, "cap_mib", MaxShareBytes>>20)
		return
	}
	if err == nil {
		err = m.opts.Blobs.Put(ctx, blobKey(key), data)
	}
	if err != nil {
		m.log.Warn("environment not shared", "key", key, "err", err)
	}
}

// fetch makes key's entry from the blob store, and says whether it did.
// A corrupt archive is deleted, to be replaced after the build.
func (m *Manager) fetch(ctx context.Context, key string) bool {
	if m.opts.Blobs == nil {
		return false
	}
	data, err := m.opts.Blobs.Get(ctx, blobKey(key))
	if errors.Is(err, airlock.ErrNotFound) {
		return false
	}
	if err == nil {
		err = m.publish(key, func(dir string) error { return unpack(data, dir, m.envCap(), MaxEnvFiles) })
	}
	var bad *badArchive
	switch {
	case err == nil:
		m.log.Info("environment fetched from the blob store", "key", key, "bytes", len(data))
		return true
	case errors.As(err, &bad):
		m.log.Warn("environment's archive corrupt; deleting it and building", "key", key, "err", err)
		if err := m.opts.Blobs.Delete(ctx, blobKey(key)); err != nil {
			m.log.Warn("corrupt archive not deleted", "key", key, "err", err)
		}
	default:
		m.log.Warn("environment not fetched; building it", "key", key, "err", err)
	}
	return false
}

var errOverShare = errors.New("archive over the cap")

// pack is dir's tree as a tar.gz of directories and regular files, names
// relative to dir; errOverShare when it would be over max bytes.
func pack(dir string, max int64) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&capped{w: &buf, left: max})
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == dir {
			return err
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0)}
		if d.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			return tw.WriteHeader(h)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", name)
		}
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, h.Size)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	return buf.Bytes(), err
}

// capped writes at most left bytes to w, then fails.
type capped struct {
	w    io.Writer
	left int64
}

func (c *capped) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, errOverShare
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

// badArchive is an archive that is not one pack made: unreadable, or
// holding what an environment never holds.
type badArchive struct{ err error }

func (b *badArchive) Error() string { return "archive: " + b.err.Error() }

func bad(format string, args ...any) error {
	return &badArchive{fmt.Errorf(format, args...)}
}

// unpack writes the archive data into dir, taking only directories and
// regular files with local names, at most maxFiles entries and maxBytes
// of file data. Whatever it could not take is a *badArchive; what it could
// not write is the file system's error.
func unpack(data []byte, dir string, maxBytes int64, maxFiles int) error {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return &badArchive{err}
	}
	tr := tar.NewReader(gz)
	var size int64
	for files := 0; ; files++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &badArchive{err}
		}
		if files >= maxFiles {
			return bad("more than %d entries", maxFiles)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !filepath.IsLocal(name) || path.Clean(name) != name || strings.Contains(name, `\`) {
			return bad("entry %q: not a local name", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if size += h.Size; h.Size < 0 || size > maxBytes {
				return bad("over %d bytes of files", maxBytes)
			}
			if err := unpackFile(target, tr, h); err != nil {
				return err
			}
		default:
			return bad("entry %q: type %q is neither a directory nor a regular file", h.Name, h.Typeflag)
		}
	}
	// Reading to the end checks the gzip checksum.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return &badArchive{err}
	}
	return nil
}

// unpackFile writes one file of an archive; a name written before (twice
// in the archive) is a *badArchive.
func unpackFile(target string, tr *tar.Reader, h *tar.Header) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode)&0o755|0o444)
	if errors.Is(err, fs.ErrExist) {
		return bad("entry %q given twice", h.Name)
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(f, archiveReader{tr})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// archiveReader marks the errors of reading the archive as its own.
type archiveReader struct{ r io.Reader }

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = &badArchive{err}
	}
	return n, err
}
