package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procs lists the processes in dir's group.
func procs(dir string) ([]int, error) {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, pid)
		}
	}
	return out, sc.Err()
}

// addProc moves pid into the group in every one of its directories.
func addProc(dirs []string, pid int) error {
	for _, p := range dirs {
		if err := write(p, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// openJoin opens file for writing in each distinct directory of dirs.
func openJoin(dirs []string, file string) ([]*os.File, error) {
	var files []*os.File
	seen := map[string]bool{}
	for _, p := range dirs {
		if seen[p] {
			continue // cpu and cpuacct often share one v1 hierarchy
		}
		seen[p] = true
		f, err := os.OpenFile(filepath.Join(p, file), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// killAll SIGKILLs the processes of dir's group until it is empty, for at
// most two seconds; a group that is gone is empty.
func killAll(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		pids, err := procs(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes after SIGKILL", dir)
		}
		time.Sleep(time.Millisecond)
	}
}

// signalAll sends sig to the processes of dir's group but except.
func signalAll(dir string, sig syscall.Signal, except int) error {
	pids, err := procs(dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid != except {
			syscall.Kill(pid, sig)
		}
	}
	return nil
}
