package native

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/seccomp"
)

// innerID is the uid and gid the program sees inside its user namespace.
const innerID = 1000

// Stage runs a sandbox stage when this process was started as one, and
// never returns in that case. Every binary that uses the native backend
// (airlock itself, test binaries) calls it first thing in main or TestMain.
func Stage() {
	switch os.Args[0] {
	case initArg0:
		os.Exit(initMain())
	case execArg0:
		execMain()
	}
}

// initMain is PID 1 of the sandbox: it builds the root, starts the exec
// stage in a new user namespace, reaps every orphan and reports how the
// program ended. Its exit tears the whole PID namespace down.
func initMain() int {
	runtime.LockOSThread() // namespaces below are per thread; the fork must come from this one
	status := os.NewFile(statusFD, "status")
	fail := func(err error) int {
		json.NewEncoder(status).Encode(report{Error: err.Error()})
		return 1
	}
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var cfg initConfig
	if err := readConfig(&cfg); err != nil {
		return fail(err)
	}
	if err := setupRoot(&cfg); err != nil {
		return fail(fmt.Errorf("sandbox root: %w", err))
	}
	if err := unix.Sethostname([]byte("airlock")); err != nil {
		return fail(err)
	}
	// The parent moved us into the sandbox cgroup before sending the
	// config, so the new cgroup namespace is rooted at that cgroup.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fail(fmt.Errorf("cgroup namespace: %w", err))
	}
	pid, err := startExecStage(&cfg)
	if err != nil {
		return fail(err)
	}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("wait: %w", err))
		}
		if got != pid {
			continue
		}
		r := report{Exited: ws.Exited(), ExitCode: ws.ExitStatus()}
		if ws.Signaled() {
			r.Signal = int(ws.Signal())
		}
		json.NewEncoder(status).Encode(r)
		return 0
	}
}

// startExecStage forks the exec stage into a fresh user namespace in which
// only innerID exists, mapped to the slot's host uid and gid.
func startExecStage(cfg *initConfig) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{execArg0},
		Env:        []string{},
		Dir:        "/",
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: innerID, HostID: cfg.UID, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: innerID, HostID: cfg.GID, Size: 1}},
			// Setgroups must be allowed so the Credential can clear the
			// supplementary groups inherited from root; without
			// CAP_SETGID the program cannot add any back.
			GidMappingsEnableSetgroups: true,
			Credential:                 &syscall.Credential{Uid: innerID, Gid: innerID},
			Setsid:                     true,
			Pdeathsig:                  syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("start program stage: %w", err)
	}
	err = json.NewEncoder(w).Encode(cfg.Exec)
	w.Close()
	if err != nil {
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// execMain runs as the program's uid inside its user namespace with no
// capabilities: it sets rlimits, no_new_privs and seccomp, then execs the
// program. Nothing of ours stays in the process after the exec.
func execMain() {
	runtime.LockOSThread()
	var cfg execConfig
	if err := readConfig(&cfg); err != nil {
		die(err)
	}
	for _, rl := range cfg.Rlimits {
		if err := unix.Setrlimit(rl.Resource, &unix.Rlimit{Cur: rl.Cur, Max: rl.Max}); err != nil {
			die(fmt.Errorf("rlimit %d: %w", rl.Resource, err))
		}
	}
	if err := unix.Chdir(cfg.Dir); err != nil {
		die(err)
	}
	if err := seccomp.Install(cfg.Seccomp); err != nil {
		die(fmt.Errorf("seccomp: %w", err))
	}
	// Leak no descriptor but the standard three (runc CVE-2024-21626).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		die(err)
	}
	err := unix.Exec(cfg.Argv[0], cfg.Argv, cfg.Env)
	die(fmt.Errorf("exec %s: %w", cfg.Argv[0], err))
}

// die reports a failure to start the program the way a shell does.
func die(err error) {
	fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
	os.Exit(127)
}
