package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeHost is a temporary directory laid out like a host's /proc/self and
// /sys/fs/cgroup. It stands in for the kernel where cgroupfs is not a plain
// directory: a new group's directory comes with its controllers' files,
// removing a group removes them (EBUSY while it has members or children),
// and a member that exits leaves cgroup.procs.
type fakeHost struct {
	t    *testing.T
	root string
	// files are the control files of a new group in dir, with their
	// contents.
	files files
	mu    sync.Mutex // serialises the kernel's rewrites of cgroup.procs
}

const sysfs = "sys/fs/cgroup"

// files says which control files, with their contents, the kernel of h
// puts in a new group's directory dir.
type files func(h *fakeHost, dir string) map[string]string

// newFakeHost lays out /proc/self from mountinfo and selfCgroup, mounts
// the cgroup filesystems at mounts (below /sys/fs/cgroup, "" for itself)
// and routes the package's mkdir and rmdir through the fake kernel.
func newFakeHost(t *testing.T, mountinfo, selfCgroup string, files files, mounts ...string) *fakeHost {
	h := &fakeHost{t: t, root: t.TempDir(), files: files}
	h.put("proc/self/mountinfo", mountinfo)
	h.put("proc/self/cgroup", selfCgroup)
	for _, m := range mounts {
		dir := h.path(filepath.Join(sysfs, m))
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := h.mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldMkdir, oldRmdir := mkdir, rmdir
	mkdir, rmdir = h.mkdir, h.rmdir
	t.Cleanup(func() { mkdir, rmdir = oldMkdir, oldRmdir })
	return h
}

// path is rel below the fake root.
func (h *fakeHost) path(rel string) string { return filepath.Join(h.root, rel) }

// hierarchy is the first path element of dir below /sys/fs/cgroup.
func (h *fakeHost) hierarchy(dir string) string {
	rel, err := filepath.Rel(h.path(sysfs), dir)
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Split(rel, string(filepath.Separator))[0]
}

// mkdirAll makes the host's existing groups, as the kernel would.
func (h *fakeHost) mkdirAll(rel string) {
	if err := mkdirAll(h.path(rel)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) mkdir(dir string, perm os.FileMode) error {
	if err := os.Mkdir(dir, perm); err != nil {
		return err
	}
	for name, content := range h.files(h, dir) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (h *fakeHost) rmdir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	busy := &os.PathError{Op: "rmdir", Path: dir, Err: syscall.EBUSY}
	if pids, _ := procs(dir); len(pids) > 0 {
		return busy
	}
	for _, e := range ents {
		if e.IsDir() {
			return busy
		}
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// put writes a file as the kernel would: whole, replacing what was there.
func (h *fakeHost) put(rel, content string) {
	h.replace(h.path(rel), content)
}

func (h *fakeHost) replace(path, content string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		h.t.Fatal(err)
	}
}

// get reads a file; a missing one reads as "<none>".
func get(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if errors.Is(err, os.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// removeFile removes a control file the kernel does not have.
func removeFile(t *testing.T, dir, file string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
}

// itoa is pid as a control file holds it.
func itoa(pid int) string { return strconv.Itoa(pid) }

// setMembers makes pids the members of g in every hierarchy.
func (h *fakeHost) setMembers(g Group, pids ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lines []string
	for _, pid := range pids {
		lines = append(lines, strconv.Itoa(pid)+"\n")
	}
	for _, dir := range g.Paths() {
		h.replace(filepath.Join(dir, "cgroup.procs"), strings.Join(lines, ""))
	}
}

// exited drops pid from g's members in every hierarchy.
func (h *fakeHost) exited(g Group, pid int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, dir := range g.Paths() {
		pids, err := procs(dir)
		if err != nil {
			continue // the group is gone
		}
		var lines []string
		for _, p := range pids {
			if p != pid {
				lines = append(lines, strconv.Itoa(p)+"\n")
			}
		}
		h.replace(filepath.Join(dir, "cgroup.procs"), strings.Join(lines, ""))
	}
}

// member is a real process the fake kernel counts as in a group.
type member struct {
	cmd  *exec.Cmd
	done chan error // the process's exit
}

// start starts a process that the fake kernel drops from g when it exits.
func (h *fakeHost) start(g Group) *member {
	m := &member{cmd: exec.Command("sleep", "60"), done: make(chan error, 1)}
	if err := m.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { m.cmd.Process.Kill() })
	go func() {
		err := m.cmd.Wait()
		h.exited(g, m.cmd.Process.Pid)
		m.done <- err
	}()
	return m
}

// signalled says which signal ended m.
func (m *member) signalled(t *testing.T) syscall.Signal {
	t.Helper()
	err := <-m.done
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("member ended with %v", err)
	}
	return exit.Sys().(syscall.WaitStatus).Signal()
}

// alive says whether m has not exited.
func (m *member) alive() bool {
	select {
	case err := <-m.done:
		m.done <- err
		return false
	default:
		return true
	}
}

// names closes files and returns their paths, in order.
func names(files []*os.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name())
		f.Close()
	}
	return out
}

// gone checks that none of g's directories exists.
func gone(t *testing.T, g Group) {
	t.Helper()
	for _, p := range g.Paths() {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
}

// sameSet says whether a and b hold the same elements.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
