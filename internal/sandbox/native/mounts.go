package native

import (
	"fmt"
	"os"
	"path/filepath"

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

// setupRoot builds the slot's root filesystem in the keeper's private
// mount namespace and pivots into it. It runs as root of the keeper's user
// namespace, so host mounts copied in are locked: the program can neither
// unmount them nor lift their flags, even with a kernel bug in
// capabilities, because it has none.
// It returns /proc/sys/kernel/ns_last_pid of the keeper's PID namespace,
// open for writing: the only writable file of /proc/sys, and only the
// keeper's.
func setupRoot(cfg *keeperConfig) (lastPid int, err error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return -1, fmt.Errorf("make mounts private: %w", err)
	}
	root := cfg.RootDir
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=4m,mode=755"); err != nil {
		return -1, fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, b := range cfg.Binds {
		if err := bindReadOnly(root, b); err != nil {
			return -1, err
		}
	}
	if err := setupDev(root); err != nil {
		return -1, err
	}
	for _, d := range writable {
		if err := os.MkdirAll(filepath.Join(root, d.target), 0o755); err != nil {
			return -1, err
		}
	}
	if err := os.Mkdir(filepath.Join(root, rwDir), 0o700); err != nil {
		return -1, err
	}
	if err := setupEtc(root); err != nil {
		return -1, err
	}
	if lastPid, err = setupProc(root); err != nil {
		return -1, err
	}
	if err := pivot(root); err != nil {
		unix.Close(lastPid)
		return -1, err
	}
	return lastPid, nil
}

// lockedFlags are the flags of the mount at path that a less privileged
// mount namespace must keep when it remounts a bind of it.
func lockedFlags(path string) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	var flags uintptr
	for _, f := range []struct{ st, ms int64 }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if st.Flags&f.st != 0 {
			flags |= uintptr(f.ms)
		}
	}
	return flags, nil
}

// remountBind remounts the bind at dst with extra flags on top of those it
// must keep.
func remountBind(dst string, extra uintptr) error {
	locked, err := lockedFlags(dst)
	if err != nil {
		return err
	}
	return unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|locked|extra, "")
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
		return fmt.Errorf("%w (keepers run as an unprivileged uid: a bound path must be reachable by any user)", err)
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
	if err := remountBind(dst, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return fmt.Errorf("remount %s read-only: %w", m.Source, err)
	}
	return nil
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
		if err := remountBind(dst, unix.MS_NOSUID|unix.MS_NOEXEC); err != nil {
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
// read-only (CVE-2022-0492 and friends). hidepid hides the keeper, whose
// uid the program does not share. Before that it opens ns_last_pid for
// the keeper (see spawn); the descriptor is close-on-exec.
func setupProc(root string) (lastPid int, err error) {
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return -1, err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "hidepid=2"); err != nil {
		return -1, fmt.Errorf("mount proc: %w", err)
	}
	lastPid, err = unix.Open(filepath.Join(proc, "sys/kernel/ns_last_pid"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open ns_last_pid: %w", err)
	}
	sys := filepath.Join(proc, "sys")
	if err := unix.Mount(sys, sys, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		unix.Close(lastPid)
		return -1, fmt.Errorf("bind /proc/sys: %w", err)
	}
	if err := remountBind(sys, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		unix.Close(lastPid)
		return -1, err
	}
	return lastPid, nil
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
	return remountBind("/", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV)
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
