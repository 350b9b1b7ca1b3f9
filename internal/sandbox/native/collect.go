package native

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// collect reads the named files and directories of the box once the
// program is gone. The program had the box to itself, so every path is
// resolved beneath it with no symlink followed (Judge0 CVE-2024-28185),
// only regular files are read, and the totals are bounded.
func collect(names []string) ([]sandbox.File, error) {
	if len(names) == 0 {
		return nil, nil
	}
	box, err := unix.Open(sandbox.WorkDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(box)
	c := collector{box: box}
	for _, name := range names {
		if err := c.walk(path.Clean(name)); err != nil {
			return nil, err
		}
	}
	return c.files, nil
}

type collector struct {
	box   int
	files []sandbox.File
	bytes int64
}

func (c *collector) open(name string, flags uint64) (int, error) {
	return unix.Openat2(c.box, name, &unix.OpenHow{
		Flags:   flags | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

func (c *collector) walk(name string) error {
	fd, err := c.open(name, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
		return nil // not made, or a link: nothing to take
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := c.add(sandbox.File{Name: name + "/", Mode: uint32(fi.Mode().Perm())}); err != nil {
			return err
		}
		entries, err := f.ReadDir(-1)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := c.walk(path.Join(name, e.Name())); err != nil {
				return err
			}
		}
	case fi.Mode().IsRegular():
		data, err := io.ReadAll(io.LimitReader(f, sandbox.MaxCollectBytes-c.bytes+1))
		if err != nil {
			return err
		}
		return c.add(sandbox.File{Name: name, Content: data, Mode: uint32(fi.Mode().Perm())})
	}
	return nil
}

func (c *collector) add(f sandbox.File) error {
	c.bytes += int64(len(f.Content))
	if len(c.files) >= sandbox.MaxCollectFiles || c.bytes > sandbox.MaxCollectBytes {
		return fmt.Errorf("more than %d files or %d bytes to collect", sandbox.MaxCollectFiles, sandbox.MaxCollectBytes)
	}
	c.files = append(c.files, f)
	return nil
}
