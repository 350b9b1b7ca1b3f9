package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock"
)

// Run recovers what a previous process left unfinished (unless the
// queue is a fleet's, whose leases do that), then runs the worker pool
// until ctx ends. Then it stops taking jobs, lets running ones finish for
// the grace period, cancels and re-queues the rest, gives the callbacks
// of finished jobs what is left of the grace period, and returns.
func (s *Service) Run(ctx context.Context) error {
	if !s.opt.Distributed {
		if err := s.recover(ctx); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
	}
	end := s.workers.run(ctx)
	grace, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	defer cancel()
	if n := s.calling.Load(); n > 0 && !waitFor(grace, s.calls.Wait) {
		s.log.Warn("shutdown: callbacks still being delivered are abandoned", "callbacks", s.calling.Load())
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
			if err := s.store.Requeue(ctx, j.ID, j.Attempts); err != nil && !errors.Is(err, airlock.ErrConflict) {
				return err
			}
			s.log.Info("re-running a job interrupted by a restart", "job", j.ID, "attempts", j.Attempts)
		}
		capability, err := s.payloads.capability(ctx, j)
		if err != nil {
			return err
		}
		if err := s.queue.Push(ctx, capability, j.ID); err != nil {
			return err
		}
	}
	if len(jobs) > 0 {
		s.log.Info("recovered unfinished jobs", "count", len(jobs))
	}
	return nil
}
