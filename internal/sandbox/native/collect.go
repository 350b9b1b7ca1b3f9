package native

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// collect copies the named files and directories of the box, once the
// program is gone, into a memfd: the data of each file, extent by extent,
// holes left out, so no file is held in the keeper's memory and a sparse
// file costs what it really holds. The program had the box to itself, so every path
// is resolved beneath it with no symlink followed (Judge0 CVE-2024-28185);
// only directories and regular files are taken (a socket, fifo or link is
// looked at through O_PATH, never opened), and the totals are bounded by
// the blocks really allocated.
//
// A *refusal is what the program left that cannot be handed back: the
// run's fault, told to its caller, not the sandbox's.
func collect(names []string, bounds sandbox.CollectBounds) (*os.File, []sandbox.Entry, error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	box, err := unix.Open(sandbox.WorkDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(box)
	fd, err := unix.MemfdCreate("airlock-collect", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, err
	}
	c := collector{box: box, bounds: bounds, data: os.NewFile(uintptr(fd), "airlock-collect"), buf: make([]byte, 128<<10)}
	for _, name := range names {
		if err := c.walk(path.Clean(name)); err != nil {
			c.data.Close()
			return nil, nil, err
		}
	}
	return c.data, c.entries, nil
}

// collectBounds fills in the defaults of a run's bounds on what it
// collects, and refuses negative ones.
func collectBounds(b sandbox.CollectBounds) (sandbox.CollectBounds, error) {
	if b.Files < 0 || b.Bytes < 0 {
		return b, fmt.Errorf("negative collect bounds %+v", b)
	}
	if b.Files == 0 {
		b.Files = sandbox.MaxCollectFiles
	}
	if b.Bytes == 0 {
		b.Bytes = sandbox.MaxCollectBytes
	}
	return b, nil
}

// reportBound is the most a keeper's report of a run collecting within
// b may take: its entries' names and fields (at most about 2 KiB each),
// and their extents (one per 4 KiB block at least, some 60 bytes each).
// Never less than maxReport.
func reportBound(b sandbox.CollectBounds) uint32 {
	n := int64(b.Files)*2048 + b.Bytes/32
	return uint32(min(max(n, maxReport), math.MaxUint32))
}

// refusal is what a program left that cannot be collected.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error {
	return &refusal{fmt.Sprintf(format, args...)}
}

type collector struct {
	box     int
	bounds  sandbox.CollectBounds
	data    *os.File
	at      int64 // end of the data so far
	entries []sandbox.Entry
	bytes   int64 // allocated blocks and names so far
	buf     []byte
}

func (c *collector) open(name string, flags uint64) (int, error) {
	return unix.Openat2(c.box, name, &unix.OpenHow{
		Flags:   flags | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

func (c *collector) walk(name string) error {
	if len(name) > sandbox.MaxCollectPath {
		return refuse("a path left to collect is longer than %d bytes: %.64q…", sandbox.MaxCollectPath, name)
	}
	// O_PATH opens nothing: a fifo cannot block us, a socket cannot refuse.
	fd, err := c.open(name, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
		return nil // not made, or a link: nothing to take
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	mode := st.Mode & 0o777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := c.add(sandbox.Entry{Name: name + "/", Mode: mode}); err != nil {
			return err
		}
		dir, err := c.open(name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return c.unreadable(name, err)
		}
		names, err := c.list(os.NewFile(uintptr(dir), name))
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := c.walk(path.Join(name, n)); err != nil {
				return err
			}
		}
	case unix.S_IFREG:
		// Charged before a byte is read: the blocks the file really takes.
		c.bytes += st.Blocks * 512
		if err := c.add(sandbox.Entry{Name: name, Mode: mode, Size: st.Size}); err != nil {
			return err
		}
		fd, err := c.open(name, unix.O_RDONLY|unix.O_NONBLOCK)
		if err != nil {
			return c.unreadable(name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		return c.copy(f, &c.entries[len(c.entries)-1], st.Blocks*512)
	}
	return nil
}

// list reads a directory's names, and closes it: in batches, so that a
// directory of a million files is refused after a few thousand names.
func (c *collector) list(dir *os.File) ([]string, error) {
	defer dir.Close()
	var names []string
	for {
		batch, err := dir.Readdirnames(256)
		names = append(names, batch...)
		if len(c.entries)+len(names) > c.bounds.Files {
			return nil, refuse("more than %d files and directories left to collect", c.bounds.Files)
		}
		if errors.Is(err, io.EOF) {
			slices.Sort(names)
			return names, nil
		}
		if err != nil {
			return nil, c.unreadable(dir.Name(), err)
		}
	}
}

func (c *collector) unreadable(name string, err error) error {
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return refuse("cannot read %q left to collect: %v", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func (c *collector) add(e sandbox.Entry) error {
	c.bytes += int64(len(e.Name))
	switch {
	case len(c.entries) >= c.bounds.Files:
		return refuse("more than %d files and directories left to collect", c.bounds.Files)
	case c.bytes > c.bounds.Bytes:
		return refuse("the files left to collect take more than %d MiB", c.bounds.Bytes>>20)
	}
	c.entries = append(c.entries, e)
	return nil
}

// copy appends f's data extents to c.data, within the blocks the file was
// charged for: it cannot grow meanwhile, its program being gone.
func (c *collector) copy(f *os.File, e *sandbox.Entry, charged int64) error {
	fd := int(f.Fd())
	var copied int64
	for off := int64(0); off < e.Size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		end = min(end, e.Size)
		if copied += end - start; copied > charged+int64(len(c.buf)) {
			return refuse("%q left to collect holds more than its blocks", e.Name)
		}
		x := sandbox.Extent{Offset: start, Length: end - start, At: c.at}
		for pos := start; pos < end; {
			n, err := unix.Pread(fd, c.buf[:min(int64(len(c.buf)), end-pos)], pos)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: shorter than its extents", e.Name)
			}
			if _, err := c.data.WriteAt(c.buf[:n], c.at); err != nil {
				return err
			}
			pos += int64(n)
			c.at += int64(n)
		}
		e.Extents = append(e.Extents, x)
		off = end
	}
	return nil
}
