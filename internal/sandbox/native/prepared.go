package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Prepare starts spec's program in a sandbox of its own, every control in
// place, with the job channel on sandbox.JobFD, and returns once the
// program says it is ready. The sandbox holds its slot (uid, keeper,
// cgroup) until it is run or closed.
func (r *Runner) Prepare(ctx context.Context, spec sandbox.Spec) (sandbox.Prepared, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.Egress != nil {
		// A waiting sandbox would hold its way out open for no job.
		return nil, errors.New("a prepared sandbox cannot have Egress: run it with Run")
	}
	b, err := r.boot(spec, true)
	if err != nil {
		return nil, err
	}
	if err := b.ready(ctx); err != nil {
		b.abort()
		b.release()
		return nil, err
	}
	return &prepared{b: b, collect: spec.Collect}, nil
}

// readyTimeout bounds a prepared program's start-up.
const readyTimeout = 30 * time.Second

// ready waits for the program's byte on its job channel.
func (b *booted) ready(ctx context.Context) error {
	conn := b.pipes.job
	if err := conn.SetReadDeadline(time.Now().Add(readyTimeout)); err != nil {
		return err
	}
	// It fails only on a closed conn, whose Read has returned already.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	var buf [1]byte
	_, err := conn.Read(buf[:])
	stop()
	if err == nil {
		return conn.SetReadDeadline(time.Time{})
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// What the program said on its way out tells why; without a deadline
	// the read could wait for a program that is still running.
	var msg []byte
	if b.pipes.errR.SetReadDeadline(time.Now().Add(100*time.Millisecond)) == nil {
		msg, _ = io.ReadAll(io.LimitReader(b.pipes.errR, 4096))
	}
	return fmt.Errorf("the prepared program did not get ready (%v): %s", err, bytes.TrimSpace(msg))
}

// prepared is a booted sandbox whose program waits for its job.
type prepared struct {
	mu      sync.Mutex
	b       *booted // nil once used or closed
	collect []string
}

// take hands the booted sandbox to one caller, once.
func (p *prepared) take() (*booted, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.b
	if b == nil {
		return nil, errors.New("prepared sandbox already used")
	}
	p.b = nil
	return b, nil
}

func (p *prepared) Run(ctx context.Context, job sandbox.Job) (sandbox.Result, error) {
	began := time.Now()
	b, err := p.take()
	if err != nil {
		return sandbox.Result{}, err
	}
	defer b.release()
	lim := job.Limits.WithDefaults(b.r.cfg.Defaults)
	if !sandbox.Fits(lim, b.lim) {
		b.abort()
		return sandbox.Result{}, fmt.Errorf("job limits %+v do not fit the prepared sandbox's %+v", lim, b.lim)
	}
	for _, name := range job.Collect {
		if !slices.Contains(p.collect, name) {
			b.abort()
			return sandbox.Result{}, fmt.Errorf("job collects %q, which the sandbox was not prepared to collect", name)
		}
	}
	if b.ended() {
		b.abort()
		return sandbox.Result{}, sandbox.ErrStale
	}
	if err := b.tighten(lim); err != nil {
		// Most likely the program ended meanwhile; nothing of the job ran.
		b.abort()
		return sandbox.Result{}, fmt.Errorf("%w (%v)", sandbox.ErrStale, err)
	}
	res, err := b.finish(ctx, runParams{began: began, input: job.Input, stdin: job.Stdin, live: job.Live, interleave: job.Interleave, lim: lim})
	if res.Tree != nil {
		res.Tree = res.Tree.Keep(job.Collect)
	}
	return res, err
}

func (p *prepared) Close() {
	b, err := p.take()
	if err != nil {
		return
	}
	b.abort()
	b.release()
}

func (p *prepared) MemoryBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.b == nil || p.b.cg == nil {
		return 0
	}
	n, _ := p.b.cg.Memory()
	return n
}

// tighten puts the job's limits on the waiting program: the cgroup's where
// they are lower than those it was prepared with, and the rlimits of its
// processes, which it cannot raise again.
func (b *booted) tighten(lim airlock.Limits) error {
	lower := cgroup.Limits{}
	if lim.Memory < b.lim.Memory {
		lower.MemoryBytes = lim.Memory
	}
	if lim.Pids < b.lim.Pids {
		lower.Pids = lim.Pids
	}
	if err := b.cg.Tighten(lower); err != nil {
		return err
	}
	// The CPU backstop counts from the process's birth: what it spent
	// waiting is added to the job's allowance.
	spent, err := b.cg.CPU()
	if err != nil {
		return err
	}
	lim.CPU += spent
	pids, err := b.cg.Procs()
	if err != nil {
		return err
	}
	for _, rl := range rlimits(lim) {
		for _, pid := range pids {
			if err := unix.Prlimit(pid, rl.Resource, &unix.Rlimit{Cur: rl.Cur, Max: rl.Max}, nil); err != nil {
				return fmt.Errorf("rlimit %d of %d: %w", rl.Resource, pid, err)
			}
		}
	}
	return nil
}

// ended says whether the program is already gone: then its keeper has
// reported, or died.
func (b *booted) ended() bool {
	fds := []unix.PollFd{{Fd: int32(b.k.conn), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	// Even a poll that does not wait fails with EINTR when a signal is
	// pending, and the Go runtime signals its threads to preempt them.
	for err == unix.EINTR {
		n, err = unix.Poll(fds, 0)
	}
	return n > 0 || err != nil || b.k.gone()
}

// abort kills the program before or instead of its job and takes the
// keeper's report of it, so the keeper is ready for the slot's next run; a
// keeper that does not report in time is closed.
func (b *booted) abort() {
	b.cg.Kill()
	b.pipes.close()
	b.pipes = nil
	reported := make(chan struct{})
	go func() {
		var rep report
		b.k.wait(&rep)
		rep.data.Close()
		close(reported)
	}()
	select {
	case <-reported:
	case <-time.After(keeperGrace):
		b.k.proc.Kill()
		<-reported
		b.k.broken = true
	}
}
