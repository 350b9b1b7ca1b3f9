package jobs

import (
	"context"
	"time"

	"github.com/airlock-dev/airlock"
)

// purgeBatch bounds the jobs one purge step lists and removes: a step is
// a short statement and a bounded number of blob deletes, however many
// jobs have expired, so the purge never holds the store for long.
const purgeBatch = 200

// purgeEvery is how often RunRetention looks for expired jobs.
const purgeEvery = time.Minute

// RunRetention purges the jobs that finished more than Options.Retention
// ago, every purgeEvery, until ctx ends; it returns at once when
// Retention is 0 (jobs are kept). Every API node of a fleet may run it:
// purges racing on a job remove it once.
func (s *Service) RunRetention(ctx context.Context) {
	if s.opt.Retention <= 0 {
		return
	}
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx, time.Now().Add(-s.opt.Retention)); err != nil && ctx.Err() == nil {
			s.log.Error("purge expired jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge removes the finished jobs that finished before a time, with their
// payloads and idempotency keys, in batches of purgeBatch, and counts
// them. A job's blobs go before its row, so a purge that fails half-way
// leaves no blob that nothing refers to: the next one finds the row and
// finishes the work.
func (s *Service) Purge(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		expired, err := s.reqStore.Expired(ctx, before, purgeBatch)
		if err != nil || len(expired) == 0 {
			return total, lost("store", err)
		}
		ids := make([]string, 0, len(expired))
		for _, e := range expired {
			if err := s.dropBlobs(ctx, e); err != nil {
				return total, err
			}
			ids = append(ids, e.ID)
		}
		n, err := s.reqStore.Purge(ctx, ids)
		total += n
		if s.metrics != nil {
			s.metrics.Purged.Add(float64(n))
		}
		if err != nil {
			return total, lost("store", err)
		}
		if len(expired) < purgeBatch {
			return total, nil
		}
	}
}

// dropBlobs deletes the payloads of an expired job that are not inline.
func (s *Service) dropBlobs(ctx context.Context, e airlock.Expired) error {
	var keys []string
	if e.RequestBlob {
		keys = append(keys, requestKey(e.ID))
	}
	if e.ResultBlob {
		keys = append(keys, resultKey(e.ID))
	}
	return s.payloads.drop(ctx, keys...)
}
