package cgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuPeriodMicros is the CPU bandwidth period; a quota of q CPUs is
// q×period per period.
const cpuPeriodMicros = 100000

// mkdir and rmdir make and remove a group's directory. On cgroupfs a new
// directory comes with its controllers' files and a group is removed with
// them; the fake-filesystem tests stand in for the kernel here.
var (
	mkdir = os.Mkdir
	rmdir = os.Remove
)

// mkdirAll is os.MkdirAll through mkdir.
func mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if err := mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// removeDirs removes a group's directories, which must be empty of
// processes. A dying task may keep a group busy briefly.
func removeDirs(dirs []string) error {
	var errs []error
	for _, p := range dirs {
		var err error
		for range 100 {
			if err = rmdir(p); err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// write writes value to a control file, which the kernel made: it is
// never created here.
func write(dir, file, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// writeIfExists writes a file that not every kernel has (swap accounting,
// cgroup.kill).
func writeIfExists(dir, file, value string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return write(dir, file, value)
}

// single reads a file holding one number.
func single(dir, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// keyed reads "key value" lines (cpu.stat, memory.events, oom_control); a
// missing key is 0.
func keyed(dir, file, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, nil
}
