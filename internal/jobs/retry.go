package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/airlock-dev/airlock"
)

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
func retry(ctx context.Context, log *slog.Logger, what string, op func(context.Context) error) error {
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
		log.Error(what+" (retrying)", "err", err)
		b.wait(ctx)
	}
}
