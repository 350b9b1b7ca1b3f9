package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/seccomp"
)

// cmdDoctor checks each kernel feature the sandbox needs and, last, runs a
// real sandbox. It exits 1 when the sandbox cannot be safe.
func cmdDoctor(args []string) int {
	if len(args) > 0 {
		return usageErr(fmt.Errorf("doctor takes no arguments"))
	}
	failed := false
	check := func(name string, err error, fix string) {
		if err != nil {
			failed = true
			fmt.Printf("FAIL  %-22s %v\n      fix: %s\n", name, err, fix)
			return
		}
		fmt.Printf("ok    %s\n", name)
	}
	check("root", rootErr(), "run airlock as root (it creates namespaces and cgroups)")
	for _, ns := range []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"} {
		_, err := os.Stat("/proc/self/ns/" + ns)
		check(ns+" namespace", err, "a kernel built with CONFIG_"+ns+"_NS")
	}
	layout, err := cgroup.Detect()
	check("cgroups", err, "mount cgroup2 with memory, pids and cpu controllers (or v1 memory, pids, cpu, cpuacct)")
	if err == nil {
		fmt.Printf("      cgroup v%d\n", layout.Version)
		if layout.Version == cgroup.V2 {
			fmt.Printf("      subtree %s: under systemd give airlock's unit Delegate=yes; in a container, a writable cgroup namespace\n", layout.Root)
		}
	}
	_, err = seccomp.Filter()
	check("seccomp filter", err, "a kernel with CONFIG_SECCOMP_FILTER")
	check("tmpfs", fsErr("tmpfs"), "a kernel with tmpfs")
	check("proc", fsErr("proc"), "procfs")
	if !failed {
		check("sandboxed run", trialRun(), "see the error above")
	}
	if failed {
		fmt.Println("the sandbox cannot be made safe on this host")
		return 1
	}
	fmt.Println("this host can run airlock sandboxes")
	return 0
}

func rootErr() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("running as uid %d", os.Geteuid())
	}
	return nil
}

func fsErr(name string) error {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return nil
		}
	}
	return fmt.Errorf("%s not in /proc/filesystems", name)
}

// trialRun starts a real sandbox with /bin/true: it proves pivot_root, the
// user namespace, the cgroup and the seccomp filter together.
func trialRun() error {
	r, err := native.New(native.Config{})
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.Run(ctx, sandbox.Spec{Argv: []string{"/bin/true"}})
	if err != nil {
		return err
	}
	if res.Status != airlock.StatusOK {
		return fmt.Errorf("/bin/true ended %s: %s %s", res.Status, res.Message, res.Stderr)
	}
	return nil
}
