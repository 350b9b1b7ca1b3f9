package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/metrics"
)

// workers are the worker loop: a pool that takes jobs from the queue,
// starts them in the store, runs them through the executor under their
// lease, and hands what they came to to finish. They stop taking jobs
// when Run's context ends, and give running ones the grace period.
type workers struct {
	opt      Options
	store    airlock.JobStore
	queue    airlock.Queue
	exec     Executor
	payloads *payloads
	sessions *sessions
	metrics  *metrics.Metrics
	log      *slog.Logger
	// finish records a job's result (Service.finish) and says whether
	// the queue is done with the job.
	finish func(ctx context.Context, j *airlock.Job, res airlock.Result) bool
	// caps are the capabilities of the jobs this node runs, which its
	// workers take from the queue and announce as node.
	caps []string
	node string

	// drained is closed once run has stopped the workers and every job
	// they ran has finished or gone back to the queue: waiters then stop
	// waiting for jobs that will not finish in this process.
	drained chan struct{}

	mu              sync.Mutex
	runCtx, runHard context.Context                    // set by run (see lifetime)
	running         map[string]context.CancelCauseFunc // by job id
}

// run runs the pool until ctx ends, then stops taking jobs, lets running
// ones (the queue's and the sessions' run here) finish for the grace
// period, cancels and re-queues the rest, and returns the end of the
// grace period.
func (w *workers) run(ctx context.Context) time.Time {
	// Running jobs outlive ctx by the grace period.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	w.mu.Lock()
	w.runCtx, w.runHard = ctx, hard
	w.mu.Unlock()
	var wg sync.WaitGroup
	for range w.opt.Workers {
		wg.Go(func() { w.work(ctx, hard) })
	}
	var announcing sync.WaitGroup
	defer announcing.Wait()
	announcing.Go(func() { w.heartbeat(ctx) })
	<-ctx.Done()
	end := time.Now().Add(w.opt.Grace)
	grace, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	defer cancel()
	if !waitFor(grace, func() { wg.Wait(); w.sessions.wait() }) {
		stop()
		wg.Wait()
		w.sessions.wait()
	}
	close(w.drained)
	return end
}

// waitFor runs wait until it returns or ctx ends; false if ctx ended first.
func waitFor(ctx context.Context, wait func()) bool {
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// lifetime is run's context and the one its running jobs get (which
// outlives it by the grace period); the background before run.
func (w *workers) lifetime() (ctx, hard context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.runCtx == nil {
		return context.Background(), context.Background()
	}
	return w.runCtx, w.runHard
}

// busy counts the jobs running in this process.
func (w *workers) busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// stop ends the run of a job running in this process, if it is, with a
// cause.
func (w *workers) stop(id string, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cancel := w.running[id]; cancel != nil {
		cancel(cause)
	}
}

// runHere runs a job in this process outside the queue, as soon as one
// of the sessions' slots is free, under a lease of its own that never
// runs out. Were this process to die, the job would still be in the
// store, where SweepLost finds it: to cancel it (see unattended).
func (w *workers) runHere(id string) {
	w.sessions.runHere(func() {
		ctx, hard := w.lifetime()
		w.runOne(ctx, hard, ownLease(id))
	})
}

// ownLease is the lease of a job no queue handed out.
type ownLease string

func (l ownLease) JobID() string                { return string(l) }
func (l ownLease) Extend(context.Context) error { return nil }
func (l ownLease) Ack(context.Context) error    { return nil }
func (l ownLease) Retaken() bool                { return false }

func (w *workers) work(ctx, hard context.Context) {
	var failed backoff
	for {
		lease, err := w.queue.Pop(ctx, w.caps)
		if ctx.Err() != nil {
			return // shutting down
		}
		if err != nil {
			w.log.Error("take a job", "err", err)
			failed.wait(ctx)
			continue
		}
		failed.reset()
		if w.runOne(ctx, hard, lease) {
			if err := lease.Ack(context.WithoutCancel(ctx)); err != nil {
				w.log.Error("ack job", "job", lease.JobID(), "err", err)
			}
		}
	}
}

// Why a running job's context ends, besides a shutdown.
var (
	errCancelled = errors.New("cancelled")
	errLeaseLost = errors.New("the job's lease ran out and another worker took it over")
)

// cancelPoll is how often a fleet's worker reads a running job's cancel
// flag, which another process may have set.
const cancelPoll = time.Second

// tend keeps a job's lease while it runs, and ends the run when the lease
// is lost or, in a fleet, when a cancel is requested through another
// process, until done is closed. attempt is the job's attempt once it has
// started, 0 before.
func (w *workers) tend(lease airlock.Lease, attempt *atomic.Int64, stopRun context.CancelCauseFunc, done <-chan struct{}) {
	// Three extensions per lease time: one lost or late does not lose it.
	renew := time.NewTicker(w.opt.LeaseTime / 3)
	defer renew.Stop()
	renewed := renew.C
	var poll <-chan time.Time
	if w.opt.Distributed {
		t := time.NewTicker(cancelPoll)
		defer t.Stop()
		poll = t.C
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-done
		cancel()
	}()
	id := lease.JobID()
	for {
		select {
		case <-done:
			return
		case <-renewed:
			err := lease.Extend(ctx)
			if errors.Is(err, airlock.ErrConflict) {
				if !w.stillOurs(ctx, id, attempt.Load()) {
					stopRun(errLeaseLost)
					return
				}
				// No other worker took it: the queue forgot the entry.
				w.log.Warn("the queue lost the lease of a running job no other worker took (did Redis lose its data?): it runs on without one", "job", id)
				renewed = nil
				continue
			}
			if err != nil && ctx.Err() == nil {
				w.log.Error("extend the lease of a running job", "job", id, "err", err)
			}
		case <-poll:
			if j, err := w.store.Get(ctx, id); err == nil && j.CancelRequested {
				stopRun(errCancelled)
			}
		}
	}
}

// stillOurs says whether a job still runs the attempt this worker
// started: a worker that took it over would have counted another.
func (w *workers) stillOurs(ctx context.Context, id string, attempt int64) bool {
	j, err := w.store.Get(ctx, id)
	return attempt > 0 && err == nil && j.Status == airlock.StatusRunning && int64(j.Attempts) == attempt
}

// runOne runs a job once and says whether the queue is done with it. The
// job's context ends when the job is cancelled, when its lease is lost or
// when the grace period of a shutdown is over; in the last case the job
// goes back to the queue instead of finishing.
func (w *workers) runOne(ctx, hard context.Context, lease airlock.Lease) bool {
	id := lease.JobID()
	jobCtx, stopRun := context.WithCancelCause(hard)
	defer stopRun(nil)
	tended := make(chan struct{})
	defer close(tended)
	var attempt atomic.Int64
	go w.tend(lease, &attempt, stopRun, tended)

	start := time.Now().UTC()
	var j *airlock.Job
	retake := lease.Retaken()
	err := retry(jobCtx, w.log, "start job "+id, func(ctx context.Context) (err error) {
		j, err = w.store.Start(ctx, id, start, retake)
		// A call that failed may have started the job all the same: the
		// lease makes it this worker's to take over.
		retake = true
		return err
	})
	switch {
	case errors.Is(err, airlock.ErrConflict), errors.Is(err, airlock.ErrNotFound):
		return true // cancelled while queued, or gone: nothing to run
	case err != nil:
		return false // shutting down, or the lease is lost
	}
	attempt.Store(int64(j.Attempts))
	// A request that cannot be read fails the job below, in execute.
	if capability, err := w.payloads.capability(jobCtx, j); err == nil && !w.serves(capability) {
		// From a queue that does not route (a Redis stream from before
		// routing, which every worker drains): on to its own.
		w.log.Info("passing on a job this node does not serve", "job", id, "capability", capability)
		return w.requeue(context.WithoutCancel(ctx), j)
	}
	if w.metrics != nil {
		w.metrics.WaitSecs.Observe(start.Sub(j.CreatedAt).Seconds())
		w.metrics.Running.Inc()
		defer w.metrics.Running.Dec()
	}
	w.mu.Lock()
	w.running[id] = stopRun
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, id)
		w.mu.Unlock()
	}()

	var res airlock.Result
	switch {
	case j.CancelRequested: // before its last worker died
		res.Status, res.Message = airlock.StatusCancelled, "cancelled"
	case j.Attempts > w.opt.MaxAttempts:
		w.log.Error("giving up a job whose every run ended its worker", "job", id, "attempts", j.Attempts-1)
		res.Status = airlock.StatusInternalError
		res.Message = fmt.Sprintf("given up after %d attempts: each run ended before it finished (its worker died or was stopped)", j.Attempts-1)
	default:
		res, err = w.execute(jobCtx, j)
		switch cause := context.Cause(jobCtx); {
		case err == nil:
		case errors.Is(cause, errLeaseLost):
			w.log.Warn("stopped a job another worker took over", "job", id)
			return false
		case hard.Err() != nil:
			// Shutdown outlasted the grace period: back to the queue.
			return w.requeue(context.WithoutCancel(ctx), j)
		case errors.Is(cause, errCancelled):
			res.Status, res.Message = airlock.StatusCancelled, "cancelled"
		default:
			var bad *engine.InvalidError
			if !errors.As(err, &bad) {
				w.log.Error("execution failed", "job", id, "err", err)
			}
			res.Status, res.Message = airlock.StatusInternalError, err.Error()
		}
	}
	return w.finish(hard, j, res)
}

// requeue puts a job interrupted by a shutdown (or one this node does not
// serve) back in the queue, under a new entry of its capability so that
// it is taken again at once rather than when its lease runs out, and says
// whether the old entry may go. The attempt is not counted: the job did
// not end its worker. A crash between the two leaves it queued twice,
// which is harmless: the second start of a queued job is refused.
func (w *workers) requeue(ctx context.Context, j *airlock.Job) bool {
	if err := w.store.Release(ctx, j.ID, j.Attempts); err != nil {
		w.log.Error("requeue job", "job", j.ID, "err", err)
		return false
	}
	if err := w.queue.Push(ctx, Capability(j), j.ID); err != nil {
		w.log.Error("requeue job", "job", j.ID, "err", err)
		return false
	}
	return true
}

// execute runs a started job. Its request came with it from Start when
// inline, so only a large one is read, from the blob store.
func (w *workers) execute(ctx context.Context, j *airlock.Job) (airlock.Result, error) {
	if err := w.payloads.loadRequest(ctx, j); err != nil {
		return airlock.Result{}, fmt.Errorf("load request: %w", err)
	}
	sess := w.sessions.take(j.ID)
	if j.Request.Interactive && sess == nil {
		// Its client was connected to a process that stopped before the
		// job ran to its end.
		return unattended(), nil
	}
	return w.exec.ExecuteLive(ctx, *j.Request, sess)
}
