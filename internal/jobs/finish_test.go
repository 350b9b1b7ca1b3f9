package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// lostAnswer is a store whose first Finish is recorded but answered with
// an error, as when the connection drops after the commit.
type lostAnswer struct {
	airlock.JobStore
	lost atomic.Bool
}

func (s *lostAnswer) Finish(ctx context.Context, id string, attempt int, status airlock.Status, at time.Time, result []byte) (*airlock.Job, error) {
	j, err := s.JobStore.Finish(ctx, id, attempt, status, at, result)
	if err == nil && s.lost.CompareAndSwap(false, true) {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return j, err
}

// A result recorded by a call whose answer was lost is known for what it
// is when the retry finds the job finished by the same attempt: the job is
// audited once, and its waiters get it.
func TestFinishAnswerLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		e := newEnvWith(t, t.TempDir(), jobs.Options{Workers: 1}, func(d *jobs.Deps) {
			d.Store, d.Audit = &lostAnswer{JobStore: d.Store}, audit.New(&log)
		})
		e.run(t)
		j := e.wait(t, e.submit(t, "out once").ID, "once\n")
		if j.Status != airlock.StatusOK {
			t.Fatalf("job: %+v", j)
		}
		if n := strings.Count(log.String(), j.ID); n != 1 {
			t.Errorf("the job is audited %d times, want once:\n%s", n, log.String())
		}
	})
}
