package native

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Mount points of the per-run writable tmpfs, made while the root is still
// writable. rwDir is where a fresh tmpfs is staged before its binds.
const rwDir = "/.rw"

var writable = []struct {
	name, target string
	mode         os.FileMode
}{
	{"box", sandbox.WorkDir, 0o755},
	{"tmp", "/tmp", 0o777 | os.ModeSticky},
	{"shm", "/dev/shm", 0o777 | os.ModeSticky},
}

// freshBox mounts a new size-capped tmpfs and binds its box, tmp and shm
// directories at /box, /tmp and /dev/shm, so one cap covers all three and
// nothing of an earlier run is left. Then it writes the run's files, and
// its Tree from the data in tree. Files that do not fit are a *refusal.
func freshBox(req *runRequest, tree int) (err error) {
	opts := fmt.Sprintf("size=%d,mode=700", req.TmpBytes)
	if err := unix.Mount("tmpfs", rwDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount writable tmpfs: %w", err)
	}
	// The binds keep the tmpfs alive. Left mounted, it would hold on to
	// this run's files past the run.
	defer func() {
		if uerr := unix.Unmount(rwDir, unix.MNT_DETACH); uerr != nil && err == nil {
			err = fmt.Errorf("detach staged tmpfs: %w", uerr)
		}
	}()
	for _, d := range writable {
		src := filepath.Join(rwDir, d.name)
		if err := os.Mkdir(src, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(src, d.mode); err != nil {
			return err
		}
		if err := unix.Mount(src, d.target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d.target, err)
		}
	}
	box := filepath.Join(rwDir, "box")
	if err := os.Chown(box, innerID, innerID); err != nil {
		return err
	}
	for _, f := range req.Files {
		if err := placeFile(box, f); err != nil {
			return noSpace(err)
		}
	}
	buf := make([]byte, 128<<10)
	for _, e := range fromWire(req.Tree) {
		if err := placeEntry(box, e, tree, buf); err != nil {
			return noSpace(err)
		}
	}
	return nil
}

// noSpace is err, or the refusal it stands for: files too big for the
// run's writable space.
func noSpace(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return refuse("the files handed to the run do not fit in its writable space: %v", err)
	}
	return err
}

// placeEntry writes an entry of a collected Tree, its data read from the
// Tree's data file tree, its holes left as holes.
func placeEntry(box string, e sandbox.Entry, tree int, buf []byte) (err error) {
	if e.Name == "./" {
		return nil // the box itself
	}
	if strings.HasSuffix(e.Name, "/") {
		return placeFile(box, sandbox.File{Name: e.Name})
	}
	if dir := path.Dir(e.Name); dir != "." {
		if err := placeFile(box, sandbox.File{Name: dir + "/"}); err != nil {
			return err
		}
	}
	fd, err := unix.Open(filepath.Join(box, filepath.Clean(e.Name)), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := unix.Close(fd); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for _, x := range e.Extents {
		for done := int64(0); done < x.Length; {
			n, err := unix.Pread(tree, buf[:min(int64(len(buf)), x.Length-done)], x.At+done)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%s: tree data cut short", e.Name)
			}
			if _, err := unix.Pwrite(fd, buf[:n], x.Offset+done); err != nil {
				return err
			}
			done += int64(n)
		}
	}
	if err := unix.Ftruncate(fd, e.Size); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, e.Mode&0o777); err != nil {
		return err
	}
	return unix.Fchown(fd, innerID, innerID)
}

// clearBox detaches the run's writable dirs; the tmpfs is freed when the
// last process that used it is gone.
func clearBox() {
	for _, d := range writable {
		// Until it fails: EINVAL, no mount left there. Any other failure
		// leaves a bind that the next run's freshBox covers anyway.
		for unix.Unmount(d.target, unix.MNT_DETACH) == nil {
		}
	}
}

// placeFile writes a submitted file. Nothing untrusted has run yet, so the
// box holds no links planted by a program.
func placeFile(box string, f sandbox.File) error {
	name := filepath.Clean(f.Name)
	if name == "." || name == ".." || filepath.IsAbs(name) || strings.HasPrefix(name, "../") {
		return fmt.Errorf("invalid file name %q", f.Name)
	}
	path := filepath.Join(box, name)
	dirs := filepath.Dir(path)
	if strings.HasSuffix(f.Name, "/") {
		dirs = path
	}
	for dir := dirs; dir != box; dir = filepath.Dir(dir) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(dir, innerID, innerID); err != nil {
			return err
		}
	}
	if dirs == path {
		return nil
	}
	mode := os.FileMode(f.Mode)
	if mode == 0 {
		mode = 0o644
	}
	if err := os.WriteFile(path, f.Content, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chown(path, innerID, innerID)
}
