package native

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// keeper is the parent's handle on a slot keeper: a long-lived process
// holding the slot's namespaces and read-only root, which forks each
// program of the slot. Keeping it between runs takes namespace creation,
// root building and two Go process starts off every run.
type keeper struct {
	proc   *os.Process
	pidfd  int // the keeper's, for its namespaces; -1 without
	conn   int // control socket
	binds  []sandbox.Mount
	exited chan struct{}
	broken bool // the control channel failed: close and start another
	// reportLimit bounds the reports of the current run (reportBound).
	reportLimit uint32
}

// starter starts keepers from one OS thread that lives as long as the
// Runner: Pdeathsig fires when the forking thread exits (golang/go#27505).
type starter struct{ reqs chan func() }

func newStarter() *starter {
	s := &starter{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the Runner
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

func (s *starter) do(f func()) {
	done := make(chan struct{})
	s.reqs <- func() {
		f()
		close(done)
	}
	<-done
}

func (s *starter) stop() { close(s.reqs) }

// startKeeper starts sl's keeper in new user, mount, PID, network, IPC
// and UTS namespaces. Inside, uid 0 is the keeper (an unprivileged host
// uid) and innerID is the program (the slot's host uid); nothing else is
// mapped.
func (r *Runner) startKeeper(sl *slot, binds []sandbox.Mount) (*keeper, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	childEnd := os.NewFile(uintptr(pair[1]), "keeper-control")
	defer childEnd.Close()
	pidfd := -1
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{keeperArg0},
		Env:        []string{},
		Stderr:     os.Stderr, // a keeper's panic is ours to see
		ExtraFiles: []*os.File{childEnd},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
				syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			UidMappings: idMaps(r.slots.uid(sl), r.slots.keeperUID(sl)),
			GidMappings: idMaps(r.slots.uid(sl), r.slots.keeperUID(sl)),
			// The keeper clears the supplementary groups it inherited from
			// root when it becomes uid 0 inside, and so does each program.
			GidMappingsEnableSetgroups: true,
			Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
			Pdeathsig:                  syscall.SIGKILL,
			PidFD:                      &pidfd,
		},
	}
	r.starter.do(func() { err = cmd.Start() })
	if err != nil {
		unix.Close(pair[0])
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	k := &keeper{proc: cmd.Process, pidfd: pidfd, conn: pair[0], binds: binds, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(k.exited)
	}()
	if err := k.setup(r, cmd.Process.Pid); err != nil {
		k.close()
		return nil, fmt.Errorf("keeper: %w", err)
	}
	return k, nil
}

func (k *keeper) setup(r *Runner, pid int) error {
	// The keeper waits for its config, so it is in the keepers' group
	// before it makes its cgroup namespace.
	if err := r.keepers.AddProc(pid); err != nil {
		return err
	}
	if err := send(k.conn, keeperConfig{RootDir: r.rootDir, Binds: k.binds}, nil); err != nil {
		return err
	}
	var ready report
	if _, err := recv(k.conn, &ready, maxReport); err != nil {
		return err
	}
	if ready.Error != "" {
		return errors.New(ready.Error)
	}
	return nil
}

// start sends a run request; wait reads its report. Any failure of the
// channel marks the keeper broken.
func (k *keeper) start(req *runRequest, fds []int) error {
	if err := send(k.conn, req, fds); err != nil {
		k.broken = true
		return fmt.Errorf("keeper: %w", err)
	}
	return nil
}

// spawnGrace is how long a keeper may take to fork a program.
const spawnGrace = 10 * time.Second

// spawned waits for the keeper to say the run's program has started; a
// keeper that does not say so in time is killed.
func (k *keeper) spawned() error {
	hung := time.AfterFunc(spawnGrace, func() { k.proc.Kill() })
	defer hung.Stop()
	var rep report
	err := k.wait(&rep)
	rep.data.Close()
	return err
}

// A report's attached data becomes rep.data, the caller's to close.
func (k *keeper) wait(rep *report) error {
	fds, err := recv(k.conn, rep, max(k.reportLimit, maxReport))
	if err != nil {
		k.broken = true
		return fmt.Errorf("keeper: %w", err)
	}
	if len(fds) > 0 {
		rep.data = os.NewFile(uintptr(fds[0]), "airlock-collect")
		closeAll(fds[1:])
	}
	return nil
}

// gone says whether the keeper has died (killed from outside, say).
func (k *keeper) gone() bool {
	select {
	case <-k.exited:
		return true
	default:
		return false
	}
}

// close kills the keeper, which takes every process of its namespaces
// with it, and waits for it.
func (k *keeper) close() {
	k.proc.Kill()
	<-k.exited
	unix.Close(k.conn)
	if k.pidfd >= 0 {
		unix.Close(k.pidfd)
	}
}
