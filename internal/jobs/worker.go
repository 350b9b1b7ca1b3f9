package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/wire"
)

// Run recovers what a previous process left unfinished, then runs the
// worker pool until ctx ends. Then it stops taking jobs, lets running ones
// finish for the grace period, cancels and re-queues the rest, and
// returns.
func (s *Service) Run(ctx context.Context) error {
	if err := s.recover(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// Running jobs outlive ctx by the grace period.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	for range s.opt.Workers {
		wg.Go(func() { s.work(ctx, hard) })
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.opt.Grace):
		stop()
		<-done
	}
	return nil
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
			if err := s.store.Requeue(ctx, j.ID); err != nil && !errors.Is(err, airlock.ErrConflict) {
				return err
			}
			s.log.Info("re-running a job interrupted by a restart", "job", j.ID, "attempts", j.Attempts)
		}
		s.mu.Lock()
		s.perKey[j.KeyID]++
		s.mu.Unlock()
		if err := s.queue.Push(ctx, j.ID); err != nil {
			return err
		}
	}
	if len(jobs) > 0 {
		s.log.Info("recovered unfinished jobs", "count", len(jobs))
	}
	return nil
}

func (s *Service) work(ctx, hard context.Context) {
	for {
		lease, err := s.queue.Pop(ctx)
		if ctx.Err() != nil {
			return // shutting down
		}
		if err != nil {
			s.log.Error("take a job", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		if s.runOne(ctx, hard, lease) {
			if err := lease.Ack(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("ack job", "job", lease.JobID(), "err", err)
			}
		}
	}
}

// leaseRenewal is how often a running job's lease is extended.
const leaseRenewal = 5 * time.Second

// keepLease extends a running job's lease until done is closed.
func (s *Service) keepLease(lease airlock.Lease, done <-chan struct{}) {
	tick := time.NewTicker(leaseRenewal)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if err := lease.Extend(context.Background()); err != nil {
				s.log.Error("extend the lease of a running job", "job", lease.JobID(), "err", err)
			}
		}
	}
}

// runOne runs a job once and says whether the queue is done with it. The
// job's context ends when the job is cancelled or when the grace period of
// a shutdown is over; in the second case the job goes back to the queue
// instead of finishing.
func (s *Service) runOne(ctx, hard context.Context, lease airlock.Lease) bool {
	id := lease.JobID()
	start := time.Now().UTC()
	j, err := s.store.Start(hard, id, start)
	if errors.Is(err, airlock.ErrConflict) {
		return true // cancelled while queued
	}
	if err != nil {
		s.log.Error("start job", "job", id, "err", err)
		return false
	}
	leased := make(chan struct{})
	defer close(leased)
	go s.keepLease(lease, leased)
	if s.metrics != nil {
		s.metrics.WaitSecs.Observe(start.Sub(j.CreatedAt).Seconds())
		s.metrics.Running.Inc()
		defer s.metrics.Running.Dec()
	}
	jobCtx, cancel := context.WithCancel(hard)
	defer cancel()
	s.mu.Lock()
	s.running[id] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()

	res, err := s.execute(jobCtx, j)
	switch {
	case err != nil && hard.Err() != nil:
		// Shutdown outlasted the grace period: run it again next time.
		if err := s.store.Requeue(context.WithoutCancel(ctx), id); err != nil {
			s.log.Error("requeue job", "job", id, "err", err)
		}
		return false
	case err != nil && jobCtx.Err() != nil:
		res.Status, res.Message = airlock.StatusCancelled, "cancelled"
	case err != nil:
		var bad *engine.InvalidError
		if !errors.As(err, &bad) {
			s.log.Error("execution failed", "job", id, "err", err)
		}
		res.Status, res.Message = airlock.StatusInternalError, err.Error()
	}
	s.finish(context.WithoutCancel(ctx), j, res)
	return true
}

// execute runs a started job. Its request came with it from Start when
// inline, so only a large one is read, from the blob store.
func (s *Service) execute(ctx context.Context, j *airlock.Job) (airlock.Result, error) {
	if err := s.LoadRequest(ctx, j); err != nil {
		return airlock.Result{}, fmt.Errorf("load request: %w", err)
	}
	return s.engine.ExecuteLive(ctx, *j.Request, s.takeSession(j.ID))
}

// finish records the result and the status, then tells the audit log,
// metrics, the callback and waiters. Waiters are told last, on every path
// out, so what they read (metrics included) is complete; they are handed
// the finished job rather than reading it back.
func (s *Service) finish(ctx context.Context, j *airlock.Job, res airlock.Result) {
	var final *airlock.Job // nil until recorded: waiters then read the store
	defer s.release(j.KeyID)
	defer func() { s.notify(j.ID, final) }()
	if res.Language == "" {
		res.Language = j.Language
	}
	var err error
	if final, err = s.record(ctx, j, res); err != nil {
		s.log.Error("record result", "job", j.ID, "err", err)
		return
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
	}
	if final.CallbackURL != "" && s.hooks != nil {
		c := *final // the callback's own: a format may fill in its request while waiters are handed theirs
		go s.callback(&c)
	}
}

// record stores the result with the final status in one write when it is
// small, else in the blob store first, so a finished job always has its
// result. It returns the finished job, result and request filled in.
func (s *Service) record(ctx context.Context, j *airlock.Job, res airlock.Result) (*airlock.Job, error) {
	data, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	inline, err := s.place(ctx, resultKey(j.ID), data)
	if err != nil {
		return nil, fmt.Errorf("store result: %w", err)
	}
	final, err := s.store.Finish(ctx, j.ID, res.Status, time.Now().UTC(), inline)
	if err != nil {
		return nil, fmt.Errorf("finish job: %w", err)
	}
	res.Status = final.Status // a cancel requested during the run wins
	final.Result, final.Request = &res, j.Request
	return final, nil
}

func (s *Service) callback(j *airlock.Job) {
	method, body := http.MethodPost, []byte(nil)
	var err error
	if format := s.callbacks[j.Face]; format != nil {
		method, body, err = format(j)
	} else {
		body, err = json.Marshal(wire.JobOf(j))
	}
	if err == nil {
		err = s.hooks.Deliver(context.Background(), method, j.CallbackURL, body)
	}
	if err != nil {
		s.log.Warn("callback failed", "job", j.ID, "err", err)
	}
}
