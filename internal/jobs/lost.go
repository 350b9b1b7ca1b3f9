package jobs

import (
	"context"
	"time"

	"github.com/airlock-dev/airlock"
)

// datedQueue is a queue that tells when its oldest entry was pushed. A job
// accepted well before that and still queued has no entry any more: the
// queue lost it (a Redis without persistence restarted, or was flushed).
type datedQueue interface {
	Oldest(ctx context.Context) (time.Time, error)
}

// SweepLost pushes again, every Options.LostAfter until ctx ends, the
// queued jobs a fleet's queue lost, and cancels the live sessions' jobs
// whose process died while running them. A job pushed twice is harmless:
// the second start of a queued job is refused. It does nothing for a
// queue that cannot date its entries, such as the embedded one, which a
// restart refills from the store.
func (s *Service) SweepLost(ctx context.Context) {
	q, ok := s.queue.(datedQueue)
	if !ok {
		return
	}
	tick := time.NewTicker(s.opt.LostAfter)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.pushLost(ctx, q); err != nil && ctx.Err() == nil {
			s.log.Warn("look for jobs the queue lost", "err", err)
		}
	}
}

// pushLost pushes the queued jobs accepted more than LostAfter before the
// oldest entry of the queue (or before now, when it is empty): each was
// pushed a moment after it was accepted, so its entry would be at least
// that old.
func (s *Service) pushLost(ctx context.Context, q datedQueue) error {
	oldest, err := q.Oldest(ctx)
	if err != nil {
		return err
	}
	jobs, err := s.store.Unfinished(ctx)
	if err != nil {
		return err
	}
	horizon := oldest
	if horizon.IsZero() {
		horizon = time.Now()
	}
	for _, j := range jobs {
		if j.Status == airlock.StatusRunning {
			s.cancelAbandoned(ctx, j)
			continue
		}
		if j.Status != airlock.StatusQueued || !j.CreatedAt.Add(s.opt.LostAfter).Before(horizon) {
			continue
		}
		capability, err := s.payloads.capability(ctx, j)
		if err != nil {
			return err
		}
		if err := s.queue.Push(ctx, capability, j.ID); err != nil {
			return err
		}
		s.log.Warn("pushed again a job the queue had lost", "job", j.ID, "accepted", j.CreatedAt)
	}
	return nil
}

// cancelAbandoned ends a live session's job that has been running longer
// than its compile and run steps could: the process that ran it, outside
// the queue and its leases, died. Jobs from the queue are left to their
// leases.
func (s *Service) cancelAbandoned(ctx context.Context, j *airlock.Job) {
	most := s.exec.Policy(airlock.Policy{}) // a key's are within the server's
	longest := most.CompileMax.Wall + most.Max.Wall + s.opt.LeaseTime
	if time.Since(j.StartedAt) < longest {
		return
	}
	if err := s.LoadRequest(ctx, j); err != nil {
		s.log.Warn("look for abandoned sessions", "job", j.ID, "err", err)
		return
	}
	if !j.Request.Interactive {
		return
	}
	s.log.Warn("cancelled the job of a live session whose process died", "job", j.ID, "started", j.StartedAt)
	s.finish(ctx, j, unattended())
}

// unattended is the result of a live session's job that lost its client:
// it is never run, or run on, without it.
func unattended() airlock.Result {
	var res airlock.Result
	res.Status, res.Message = airlock.StatusCancelled, "cancelled: its live client is gone (the process it was connected to stopped), and a live session never runs unattended"
	return res
}
