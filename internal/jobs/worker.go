package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/webhook"
	"github.com/airlock-dev/airlock/internal/wire"
)

// Run recovers what a previous process left unfinished (unless the
// queue is a fleet's, whose leases do that), then runs the worker pool
// until ctx ends. Then it stops taking jobs, lets running ones finish for
// the grace period, cancels and re-queues the rest, and returns.
func (s *Service) Run(ctx context.Context) error {
	if !s.opt.Distributed {
		if err := s.recover(ctx); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
	}
	// Running jobs outlive ctx by the grace period.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	s.mu.Lock()
	s.runCtx, s.runHard = ctx, hard
	s.mu.Unlock()
	var wg sync.WaitGroup
	for range s.opt.Workers {
		wg.Go(func() { s.work(ctx, hard) })
	}
	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Grace)
	defer cancel()
	if !waitFor(grace, func() { wg.Wait(); s.hereJobs.Wait() }) {
		stop()
		wg.Wait()
		s.hereJobs.Wait()
	}
	close(s.drained)
	// Every job has finished by now; their callbacks get what is left of
	// the grace period.
	if n := s.calling.Load(); n > 0 && !waitFor(grace, s.calls.Wait) {
		s.log.Warn("shutdown: callbacks still being delivered are abandoned", "callbacks", s.calling.Load())
	}
	return nil
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

// lifetime is Run's context and the one its running jobs get (which
// outlives it by the grace period); the background before Run.
func (s *Service) lifetime() (ctx, hard context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return context.Background(), context.Background()
	}
	return s.runCtx, s.runHard
}

// recover puts every unfinished job back in the queue: the ones that were
// running when a previous process died run again (their sandboxes died
// with it, and the native runner removes their cgroups when it starts).
func (s *Service) recover(ctx context.Context) error {
	jobs, err := s.store.Unfinished(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Status == airlock.StatusRunning {
			if err := s.store.Requeue(ctx, j.ID, j.Attempts); err != nil && !errors.Is(err, airlock.ErrConflict) {
				return err
			}
			s.log.Info("re-running a job interrupted by a restart", "job", j.ID, "attempts", j.Attempts)
		}
		if err := s.queue.Push(ctx, j.ID); err != nil {
			return err
		}
	}
	if len(jobs) > 0 {
		s.log.Info("recovered unfinished jobs", "count", len(jobs))
	}
	return nil
}

// runHere runs a job in this process outside the queue, as soon as one
// of its slots for them is free, under a lease of its own that never runs
// out. Were this process to die, the job would still be in the store,
// where SweepLost finds it: to cancel it (see unattended).
func (s *Service) runHere(id string) {
	s.here <- struct{}{}
	defer func() { <-s.here }()
	ctx, hard := s.lifetime()
	s.runOne(ctx, hard, ownLease(id))
}

// ownLease is the lease of a job no queue handed out.
type ownLease string

func (l ownLease) JobID() string                { return string(l) }
func (l ownLease) Extend(context.Context) error { return nil }
func (l ownLease) Ack(context.Context) error    { return nil }
func (l ownLease) Retaken() bool                { return false }

func (s *Service) work(ctx, hard context.Context) {
	var failed backoff
	for {
		lease, err := s.queue.Pop(ctx)
		if ctx.Err() != nil {
			return // shutting down
		}
		if err != nil {
			s.log.Error("take a job", "err", err)
			failed.wait(ctx)
			continue
		}
		failed.reset()
		if s.runOne(ctx, hard, lease) {
			if err := lease.Ack(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("ack job", "job", lease.JobID(), "err", err)
			}
		}
	}
}

// backoff spaces the retries of an operation that keeps failing (a
// server lost): 100 ms doubling up to 5 s.
type backoff struct{ next time.Duration }

func (b *backoff) wait(ctx context.Context) {
	b.next = min(max(2*b.next, 100*time.Millisecond), 5*time.Second)
	select {
	case <-time.After(b.next):
	case <-ctx.Done():
	}
}

func (b *backoff) reset() { b.next = 0 }

// opTimeout bounds one call of a retried operation.
const opTimeout = 10 * time.Second

// retry calls op until it succeeds or answers about the job (not found,
// conflict), or until ctx has ended and op failed: the store or blob
// store it needs may be back in a moment, and a worker holding a job must
// not drop it. A call is not cut short by ctx, only by opTimeout, so an
// operation begun just before a shutdown still completes.
func (s *Service) retry(ctx context.Context, what string, op func(context.Context) error) error {
	var b backoff
	for {
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		err := op(callCtx)
		cancel()
		if err == nil || errors.Is(err, airlock.ErrNotFound) || errors.Is(err, airlock.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %v)", what, err, context.Cause(ctx))
		}
		s.log.Error(what+" (retrying)", "err", err)
		b.wait(ctx)
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
func (s *Service) tend(lease airlock.Lease, attempt *atomic.Int64, stopRun context.CancelCauseFunc, done <-chan struct{}) {
	// Three extensions per lease time: one lost or late does not lose it.
	renew := time.NewTicker(s.opt.LeaseTime / 3)
	defer renew.Stop()
	renewed := renew.C
	var poll <-chan time.Time
	if s.opt.Distributed {
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
				if !s.stillOurs(ctx, id, attempt.Load()) {
					stopRun(errLeaseLost)
					return
				}
				// No other worker took it: the queue forgot the entry.
				s.log.Warn("the queue lost the lease of a running job no other worker took (did Redis lose its data?): it runs on without one", "job", id)
				renewed = nil
				continue
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("extend the lease of a running job", "job", id, "err", err)
			}
		case <-poll:
			if j, err := s.store.Get(ctx, id); err == nil && j.CancelRequested {
				stopRun(errCancelled)
			}
		}
	}
}

// stillOurs says whether a job still runs the attempt this worker
// started: a worker that took it over would have counted another.
func (s *Service) stillOurs(ctx context.Context, id string, attempt int64) bool {
	j, err := s.store.Get(ctx, id)
	return attempt > 0 && err == nil && j.Status == airlock.StatusRunning && int64(j.Attempts) == attempt
}

// runOne runs a job once and says whether the queue is done with it. The
// job's context ends when the job is cancelled, when its lease is lost or
// when the grace period of a shutdown is over; in the last case the job
// goes back to the queue instead of finishing.
func (s *Service) runOne(ctx, hard context.Context, lease airlock.Lease) bool {
	id := lease.JobID()
	jobCtx, stopRun := context.WithCancelCause(hard)
	defer stopRun(nil)
	tended := make(chan struct{})
	defer close(tended)
	var attempt atomic.Int64
	go s.tend(lease, &attempt, stopRun, tended)

	start := time.Now().UTC()
	var j *airlock.Job
	retake := lease.Retaken()
	err := s.retry(jobCtx, "start job "+id, func(ctx context.Context) (err error) {
		j, err = s.store.Start(ctx, id, start, retake)
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
	if s.metrics != nil {
		s.metrics.WaitSecs.Observe(start.Sub(j.CreatedAt).Seconds())
		s.metrics.Running.Inc()
		defer s.metrics.Running.Dec()
	}
	s.mu.Lock()
	s.running[id] = stopRun
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()

	var res airlock.Result
	switch {
	case j.CancelRequested: // before its last worker died
		res.Status, res.Message = airlock.StatusCancelled, "cancelled"
	case j.Attempts > s.opt.MaxAttempts:
		s.log.Error("giving up a job whose every run ended its worker", "job", id, "attempts", j.Attempts-1)
		res.Status = airlock.StatusInternalError
		res.Message = fmt.Sprintf("given up after %d attempts: each run ended before it finished (its worker died or was stopped)", j.Attempts-1)
	default:
		res, err = s.execute(jobCtx, j)
		switch cause := context.Cause(jobCtx); {
		case err == nil:
		case errors.Is(cause, errLeaseLost):
			s.log.Warn("stopped a job another worker took over", "job", id)
			return false
		case hard.Err() != nil:
			// Shutdown outlasted the grace period: back to the queue.
			return s.requeue(context.WithoutCancel(ctx), j)
		case errors.Is(cause, errCancelled):
			res.Status, res.Message = airlock.StatusCancelled, "cancelled"
		default:
			var bad *engine.InvalidError
			if !errors.As(err, &bad) {
				s.log.Error("execution failed", "job", id, "err", err)
			}
			res.Status, res.Message = airlock.StatusInternalError, err.Error()
		}
	}
	return s.finish(hard, j, res)
}

// requeue puts a job interrupted by a shutdown back in the queue, under a
// new entry so that it is taken again at once rather than when its lease
// runs out, and says whether the old entry may go. The attempt is not
// counted: the job did not end its worker. A crash between the two
// leaves it queued twice, which is harmless: the second start of a queued
// job is refused.
func (s *Service) requeue(ctx context.Context, j *airlock.Job) bool {
	if err := s.store.Release(ctx, j.ID, j.Attempts); err != nil {
		s.log.Error("requeue job", "job", j.ID, "err", err)
		return false
	}
	if err := s.queue.Push(ctx, j.ID); err != nil {
		s.log.Error("requeue job", "job", j.ID, "err", err)
		return false
	}
	return true
}

// execute runs a started job. Its request came with it from Start when
// inline, so only a large one is read, from the blob store.
func (s *Service) execute(ctx context.Context, j *airlock.Job) (airlock.Result, error) {
	if err := s.LoadRequest(ctx, j); err != nil {
		return airlock.Result{}, fmt.Errorf("load request: %w", err)
	}
	sess := s.takeSession(j.ID)
	if j.Request.Interactive && sess == nil {
		// Its client was connected to a process that stopped before the
		// job ran to its end.
		return unattended(), nil
	}
	return s.engine.ExecuteLive(ctx, *j.Request, sess)
}

// finish records the result and the status, then tells the audit log,
// metrics, the callback and waiters, and says whether the queue is done
// with the job. Waiters are told last, on every path out, so what they
// read (metrics included) is complete; they are handed the finished job
// rather than reading it back. A result that cannot be recorded before
// ctx ends (the store lost until shutdown) stays with the queue, whose
// lease hands the job to another worker.
func (s *Service) finish(ctx context.Context, j *airlock.Job, res airlock.Result) bool {
	var final *airlock.Job // nil until recorded: waiters then read the store
	defer func() { s.notify(j.ID, final) }()
	if res.Language == "" {
		res.Language = j.Language
	}
	err := s.retry(ctx, "record the result of job "+j.ID, func(ctx context.Context) (err error) {
		final, err = s.record(ctx, j, res)
		return err
	})
	if errors.Is(err, airlock.ErrConflict) {
		s.log.Warn("result not recorded: another worker took the job over", "job", j.ID)
		return false
	}
	if err != nil {
		s.log.Error("record result", "job", j.ID, "err", err)
		return false
	}
	s.log.Info("job finished", "job", j.ID, "language", final.Language, "status", final.Status, "wall_ms", res.Usage.WallMillis)
	if s.audit != nil {
		if err := s.audit.Write(final, res.Usage); err != nil {
			s.log.Error("audit", "err", err)
		}
	}
	if s.metrics != nil {
		s.metrics.Executions.WithLabelValues(final.Language, string(final.Status)).Inc()
		s.metrics.RunSeconds.WithLabelValues(final.Language).Observe(final.FinishedAt.Sub(final.StartedAt).Seconds())
		start := s.metrics.SandboxStart.WithLabelValues(final.Language)
		if res.Compile != nil {
			start.Observe(res.Compile.Startup.Seconds())
		}
		if res.Status != airlock.StatusCompileError && res.Startup > 0 {
			start.Observe(res.Startup.Seconds())
		}
	}
	if final.CallbackURL != "" && s.hooks != nil {
		c := *final // the callback's own: a format may fill in its request while waiters are handed theirs
		s.calling.Add(1)
		s.calls.Go(func() {
			defer s.calling.Add(-1)
			s.callback(&c)
		})
	}
	return true
}

// record stores the result with the final status in one write when it is
// small, else in the blob store first, so a finished job always has its
// result. It returns the finished job, result and request filled in.
func (s *Service) record(ctx context.Context, j *airlock.Job, res airlock.Result) (*airlock.Job, error) {
	data, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	inline, err := s.place(ctx, s.blobs, resultKey(j.ID), data)
	if err != nil {
		return nil, fmt.Errorf("store result: %w", err)
	}
	final, err := s.store.Finish(ctx, j.ID, j.Attempts, res.Status, time.Now().UTC(), inline)
	if errors.Is(err, airlock.ErrConflict) {
		// An earlier call whose answer was lost may have recorded it: a
		// job finished by this attempt can only have been finished here.
		if done, gerr := s.store.Get(ctx, j.ID); gerr == nil && done.Status.Finished() && done.Attempts == j.Attempts {
			final, err = done, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("finish job: %w", err)
	}
	res.Status = final.Status // a cancel requested during the run wins
	final.Result, final.Request = &res, j.Request
	return final, nil
}

func (s *Service) callback(j *airlock.Job) {
	var call webhook.Call
	var err error
	if format := s.callbacks[j.Face]; format != nil {
		call, err = format(j)
	} else {
		call.Body, err = json.Marshal(wire.JobOf(j))
	}
	if err == nil {
		call.URL = j.CallbackURL
		err = s.hooks.Deliver(context.Background(), call)
	}
	if err != nil {
		s.log.Warn("callback failed", "job", j.ID, "err", err)
	}
}
