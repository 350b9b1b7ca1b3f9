package native

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// runParams is what a run needs once its program has started.
type runParams struct {
	began      time.Time // when the run was asked for
	input      []byte    // the prepared program's job, written to JobFD
	stdin      []byte
	live       *sandbox.Live
	interleave bool
	lim        airlock.Limits // Wall, CPU and Output count here
}

// finish runs the started program to its end under p's limits, counted
// from now, and reports what it did.
func (b *booted) finish(ctx context.Context, p runParams) (res sandbox.Result, err error) {
	cg, k, pipes, lim := b.cg, b.k, b.pipes, p.lim
	var reason killReason
	kill := func(s airlock.Status, msg string) {
		reason.set(s, msg)
		cg.Kill()
	}
	out := newRunOutput(lim.Output, p.interleave, p.live, kill)

	// A prepared program spent CPU starting up before its job: that is not
	// the job's.
	var cpuBefore time.Duration
	if pipes.job != nil {
		if cpuBefore, err = cg.CPU(); err != nil {
			k.broken = true // its report of this program is never read
			return res, err
		}
	}
	start := time.Now()
	res.Startup = start.Sub(p.began)
	rep, waitErr := b.supervise(ctx, p, out, cpuBefore, &reason, kill)
	defer func() {
		if res.Tree == nil {
			rep.data.Close()
		}
	}()
	res.Usage.WallMillis = time.Since(start).Milliseconds()
	killErr := cg.Kill() // whatever the program left running
	out.wait()
	stats, statsErr := cg.Stats()
	stats.CPU -= cpuBefore
	out.fill(&res)
	res.Usage.CPUMillis = stats.CPU.Milliseconds()
	res.Usage.MemoryKB = stats.MemoryPeak / 1024
	if killErr != nil {
		return res, killErr
	}
	if err := cg.Destroy(); err != nil {
		return res, fmt.Errorf("remove cgroup: %w", err)
	}
	b.cg = nil

	status, msg, killed := reason.get()
	v, err := classify(outcome{
		killed: killed, killStatus: status, killMessage: msg,
		waitErr: waitErr, report: rep,
		oomKilled: statsErr == nil && stats.OOMKills > 0,
		cpu:       stats.CPU, cpuLimit: lim.CPU,
		pidsLimitHit: stats.PidsLimitHit > 0,
	})
	if errors.Is(err, errCancelled) {
		return res, ctx.Err()
	}
	if err != nil {
		return res, err
	}
	res.Status, res.Message, res.ExitCode, res.Signal = v.status, v.message, v.exitCode, v.signal
	if rep.data != nil {
		res.Tree = sandbox.NewTree(rep.data, fromWire(rep.Files))
	}
	return res, nil
}

// supervise hands a prepared program its job, copies the program's
// output, feeds its stdin, forwards a live client's signals and enforces
// the run's limits until the keeper reports how the program ended.
func (b *booted) supervise(ctx context.Context, p runParams, out *runOutput, cpuBefore time.Duration, reason *killReason, kill func(airlock.Status, string)) (report, error) {
	cg, k, pipes := b.cg, b.k, b.pipes
	if pipes.job != nil {
		// A program that closes its job channel early has its own run
		// to answer for it: the write's error says nothing more.
		go func() {
			pipes.job.Write(p.input)
			pipes.job.CloseWrite()
		}()
	}
	out.copy(pipes.outR, pipes.errR)
	done, watched := make(chan struct{}), make(chan struct{})
	// A feed blocked on a program that does not read ends when the pipe
	// is closed under it, on return.
	go feed(pipes.inW, p.stdin, p.live, done)
	var signals sync.WaitGroup
	if p.live != nil && p.live.Signals != nil {
		signals.Go(func() { forwardSignals(p.live.Signals, cg, k.proc.Pid, done) })
	}
	go func() {
		watch(ctx, done, p.lim, cpuBefore, cg, reason, kill, k)
		close(watched)
	}()
	var rep report
	err := k.wait(&rep)
	close(done)
	<-watched // the next run of this slot reuses the group's name
	signals.Wait()
	return rep, err
}

// feed writes the program's stdin: the submitted bytes, then a live
// client's chunks until it closes the channel or the run ends.
func feed(w *os.File, stdin []byte, live *sandbox.Live, done <-chan struct{}) {
	defer w.Close()
	if _, err := w.Write(stdin); err != nil || live == nil || live.Stdin == nil {
		return
	}
	for {
		// A run that has ended takes no more input, even when some is
		// waiting: it belongs to the session's next step.
		select {
		case <-done:
			return
		default:
		}
		select {
		case chunk, ok := <-live.Stdin:
			if !ok {
				return
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		case <-done:
			return
		}
	}
}

// forwardSignals sends a live client's signals to the run's processes,
// never to the keeper, which passes through the group while it forks.
func forwardSignals(signals <-chan syscall.Signal, cg cgroup.Group, keeper int, done <-chan struct{}) {
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				return
			}
			cg.Signal(sig, keeper)
		case <-done:
			return
		}
	}
}
