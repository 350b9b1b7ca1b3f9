package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/seccomp"
	"github.com/spf13/cobra"
)

func doctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can sandbox safely",
		Long:  "Check each kernel feature the sandbox needs and, last, run a real sandbox; exit 1 when the sandbox cannot be safe.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return exited(cmdDoctor(args, cmd.OutOrStdout()))
		},
	}
}

// cmdDoctor checks each kernel feature the sandbox needs and, last, runs a
// real sandbox. It exits 1 when the sandbox cannot be safe.
func cmdDoctor(args []string, out io.Writer) int {
	if len(args) > 0 {
		return usageErr(fmt.Errorf("doctor takes no arguments"))
	}
	failed := false
	check := func(name string, err error, fix string) {
		if err != nil {
			failed = true
			fmt.Fprintf(out, "FAIL  %-22s %v\n      fix: %s\n", name, err, fix)
			return
		}
		fmt.Fprintf(out, "ok    %s\n", name)
	}
	check("root", rootErr(), "run airlock as root (it creates namespaces and cgroups)")
	for _, ns := range []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"} {
		_, err := os.Stat("/proc/self/ns/" + ns)
		check(ns+" namespace", err, "a kernel built with CONFIG_"+ns+"_NS")
	}
	check("user namespace limit", userNSErr(), "sysctl user.max_user_namespaces=10000 (it is 0)")
	own, err := cgroup.Detect()
	check("cgroups", err, "mount cgroup2 with memory, pids and cpu controllers (or v1 memory, pids, cpu, cpuacct)")
	if err == nil {
		fmt.Fprintf(out, "      cgroup v%d\n", own.Version())
		mgr, err := cgroup.NewManager(own, "airlock")
		fix := "make the v1 hierarchies of memory, pids, cpu and cpuacct writable by root"
		if own.Version() == cgroup.V2 {
			fix = cgroup.V2Requirement
		}
		check("cgroup subtree", err, fix)
		if err == nil {
			fmt.Fprintf(out, "      sandboxes go under %s\n", strings.Join(mgr.Dirs(), ", "))
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
		fmt.Fprintln(out, "the sandbox cannot be made safe on this host")
		return 1
	}
	fmt.Fprintln(out, "this host can run airlock sandboxes")
	return 0
}

func rootErr() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("running as uid %d", os.Geteuid())
	}
	return nil
}

func userNSErr() error {
	data, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) == "0" {
		return fmt.Errorf("user.max_user_namespaces is 0")
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
