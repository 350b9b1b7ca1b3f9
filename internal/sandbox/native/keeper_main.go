package native

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/seccomp"
)

// keeperArg0 is the argv[0] that turns a re-executed airlock binary into a
// slot keeper.
const keeperArg0 = "airlock-sandbox-keeper"

// Stage runs the slot keeper when this process was started as one, and
// never returns in that case. Every binary that uses the native backend
// (airlock itself, test binaries) calls it first thing in main or TestMain.
func Stage() {
	if os.Args[0] == keeperArg0 {
		os.Exit(keeperMain())
	}
}

// keeperMain is PID 1 of a slot's namespaces (user, mount, PID, network,
// IPC, UTS, cgroup). It builds the read-only root once, then serves runs:
// for each it mounts a fresh tmpfs for /box, /tmp and /dev/shm, forks the
// program from its sandboxed spawner thread, reaps, reports and unmounts.
// Its exit (or its parent's) tears every namespace down.
func keeperMain() int {
	// Non-dumpable: the program can neither ptrace us nor open our /proc
	// files. Checked once the Runner listens (setupKeeper), so that it
	// hears why the keeper could not start.
	dumpable := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// No descriptor of ours may reach a program (runc CVE-2024-21626). They
	// are marked close-on-exec rather than closed: the Go runtime may
	// already own some (its netpoller's).
	if err := unix.CloseRange(controlFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 1
	}
	var cfg keeperConfig
	if _, err := recv(controlFD, &cfg, maxRequest); err != nil {
		return 1
	}
	sp, err := setupKeeper(&cfg, dumpable)
	if err != nil {
		// Exiting says as much, should the report not get through.
		_ = send(controlFD, report{Error: err.Error()}, nil)
		return 1
	}
	if err := send(controlFD, report{}, nil); err != nil {
		return 1
	}
	for {
		var req runRequest
		fds, err := recv(controlFD, &req, maxRequest)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			return 1
		}
		rep := sp.serve(&req, fds, func() { err = send(controlFD, report{}, nil) })
		if err != nil {
			return 1
		}
		err = rep.send()
		// Off the caller's path: the next request waits for this anyway.
		clearBox()
		if err != nil {
			return 1
		}
	}
}

// setupKeeper confines the keeper process (dumpable is how making it
// non-dumpable went), builds the slot's root and starts the spawner.
func setupKeeper(cfg *keeperConfig, dumpable error) (*spawner, error) {
	if dumpable != nil {
		return nil, fmt.Errorf("prctl PR_SET_DUMPABLE: %w", dumpable)
	}
	lastPid, err := setupRoot(cfg)
	if err != nil {
		return nil, fmt.Errorf("sandbox root: %w", err)
	}
	if err := unix.Sethostname([]byte("airlock")); err != nil {
		return nil, err
	}
	if err := zeroKeeperRlimits(); err != nil {
		return nil, err
	}
	filter, err := seccomp.Filter()
	if err != nil {
		return nil, err
	}
	sp := &spawner{lastPid: lastPid, reqs: make(chan func())}
	ready := make(chan error)
	go sp.loop(filter, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return sp, nil
}
