package native

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Files written into the fresh /etc; nothing of the host's /etc is visible
// except what the binds name.
var etcFiles = map[string]string{
	"passwd":   "root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/box:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	"group":    "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
	"hosts":    "127.0.0.1 localhost\n::1 localhost\n",
	"hostname": "airlock\n",
}

var devNodes = []string{"null", "zero", "full", "random", "urandom"}

// setupRoot builds the sandbox's root filesystem in the (private) mount
// namespace of the calling process and pivots into it. It runs as host root
// in the new mount namespace, before any untrusted code exists.
func setupRoot(cfg *initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := cfg.RootDir
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=4m,mode=755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, b := range cfg.Binds {
		if err := bindReadOnly(root, b); err != nil {
			return err
		}
	}
	if err := writableDirs(root, cfg); err != nil {
		return err
	}
	if err := setupDev(root); err != nil {
		return err
	}
	if err := setupEtc(root); err != nil {
		return err
	}
	if err := setupProc(root); err != nil {
		return err
	}
	return pivot(root)
}

// bindReadOnly binds a host path read-only, nosuid and nodev. A host
// symlink (merged-/usr /bin, /lib) is recreated as the same symlink.
func bindReadOnly(root string, m sandbox.Mount) error {
	target := m.Target
	if target == "" {
		target = m.Source
	}
	fi, err := os.Lstat(m.Source)
	if os.IsNotExist(err) {
		return nil // recipes list paths that exist on some hosts only
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(root, target)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		link, err := os.Readlink(m.Source)
		if err != nil {
			return err
		}
		if err := os.Symlink(link, dst); err != nil && !os.IsExist(err) {
			return err
		}
		return nil
	}
	if fi.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else {
		err = touch(dst)
	}
	if err != nil {
		return err
	}
	if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", m.Source, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", m.Source, err)
	}
	return nil
}

// writableDirs makes /box, /tmp and /dev/shm: three binds of one size-capped
// tmpfs, so the cap covers all of them together.
func writableDirs(root string, cfg *initConfig) error {
	rw := filepath.Join(root, ".rw")
	if err := os.Mkdir(rw, 0o700); err != nil {
		return err
	}
	opts := fmt.Sprintf("size=%d,mode=755", cfg.TmpBytes)
	if err := unix.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount writable tmpfs: %w", err)
	}
	dirs := []struct {
		name, target string
		mode         os.FileMode
	}{
		{"box", sandbox.WorkDir, 0o755},
		{"tmp", "/tmp", 0o777 | os.ModeSticky},
		{"shm", "/dev/shm", 0o777 | os.ModeSticky},
	}
	for _, d := range dirs {
		src := filepath.Join(rw, d.name)
		if err := os.Mkdir(src, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(src, d.mode); err != nil {
			return err
		}
		dst := filepath.Join(root, d.target)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d.target, err)
		}
	}
	box := filepath.Join(rw, "box")
	if err := os.Chown(box, cfg.UID, cfg.GID); err != nil {
		return err
	}
	for _, f := range cfg.Files {
		if err := placeFile(box, f, cfg.UID, cfg.GID); err != nil {
			return err
		}
	}
	if err := unix.Unmount(rw, unix.MNT_DETACH); err != nil {
		return err
	}
	return os.Remove(rw)
}

// placeFile writes a submitted file. Nothing untrusted has run yet, so the
// box holds no links planted by a program.
func placeFile(box string, f sandbox.File, uid, gid int) error {
	name := filepath.Clean(f.Name)
	if name == "." || filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
		return fmt.Errorf("invalid file name %q", f.Name)
	}
	path := filepath.Join(box, name)
	for dir := filepath.Dir(path); dir != box; dir = filepath.Dir(dir) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
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
	return os.Chown(path, uid, gid)
}

func setupDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	for _, n := range devNodes {
		dst := filepath.Join(dev, n)
		if err := touch(dst); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+n, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
		if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("remount /dev/%s: %w", n, err)
		}
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

func setupEtc(root string) error {
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	for name, content := range etcFiles {
		path := filepath.Join(etc, name)
		if _, err := os.Lstat(path); err == nil {
			continue // a bind from the recipe wins
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// setupProc mounts a proc for the new PID namespace and makes /proc/sys
// read-only (CVE-2022-0492 and friends).
func setupProc(root string) error {
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	sys := filepath.Join(proc, "sys")
	if err := unix.Mount(sys, sys, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind /proc/sys: %w", err)
	}
	return unix.Mount("", sys, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// pivot makes root the new root (pivot_root, not chroot), drops the old
// root entirely and makes the new root itself read-only.
func pivot(root string) error {
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	return unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
