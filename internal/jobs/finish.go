package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/webhook"
	"github.com/airlock-dev/airlock/internal/wire"
)

// finish records the result and the status, then tells the audit log,
// metrics, the callback and waiters, and says whether the queue is done
// with the job. Waiters are told last, on every path out, so what they
// read (metrics included) is complete; they are handed the finished job
// rather than reading it back. A result that cannot be recorded before
// ctx ends (the store lost until shutdown) stays with the queue, whose
// lease hands the job to another worker.
func (s *Service) finish(ctx context.Context, j *airlock.Job, res airlock.Result) bool {
	var final *airlock.Job // nil until recorded: waiters then read the store
	defer func() { s.waiters.notify(j.ID, final) }()
	if res.Language == "" {
		res.Language = j.Language
	}
	err := retry(ctx, s.log, "record the result of job "+j.ID, func(ctx context.Context) (err error) {
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
	data, err := encodeResult(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	inline, err := s.payloads.place(ctx, s.blobs, resultKey(j.ID), data)
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
