package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock"
)

// DefaultCallTimeout bounds each store, queue and blob call of a request
// unless Options.CallTimeout says otherwise. It is SQLite's busy timeout:
// a write waiting its turn behind others under load is not a hang, and
// gives up by itself then.
const DefaultCallTimeout = 10 * time.Second

// blobFactor stretches the deadline of a blob's transfer, whose time grows
// with its size (a result may be a hundred MiB and more).
const blobFactor = 10

// timed runs one call of a server with a deadline. A call the deadline
// ended, or a deadline of the driver's own (a connect timeout), the caller
// still waiting, fails as airlock.ErrUnavailable (a 503 with Retry-After):
// the server is frozen or overloaded, not the request wrong. Drivers end their calls on the context (SQLite interrupts its
// statement, pgx and the Redis client close the connection), so none
// outlives its deadline.
func timed[T any](ctx context.Context, d time.Duration, server string, call func(context.Context) (T, error)) (T, error) {
	callCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := call(callCtx)
	if err != nil && ctx.Err() == nil && (callCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("%w: %s: no answer within %v", airlock.ErrUnavailable, server, d)
	}
	return v, err
}

// timedStore is a JobStore whose every call has a deadline. It names
// every method rather than embedding the store, so that a method added to
// the contract cannot slip through without one.
type timedStore struct {
	s airlock.JobStore
	d time.Duration
}

var _ airlock.JobStore = timedStore{}

func (t timedStore) do(ctx context.Context, call func(context.Context) error) error {
	_, err := timed(ctx, t.d, "store", func(ctx context.Context) (struct{}, error) { return struct{}{}, call(ctx) })
	return err
}

func (t timedStore) Create(ctx context.Context, j *airlock.Job) error {
	return t.do(ctx, func(ctx context.Context) error { return t.s.Create(ctx, j) })
}

func (t timedStore) Idempotent(ctx context.Context, keyID, key string) (*airlock.Job, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (*airlock.Job, error) { return t.s.Idempotent(ctx, keyID, key) })
}

func (t timedStore) Get(ctx context.Context, id string) (*airlock.Job, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (*airlock.Job, error) { return t.s.Get(ctx, id) })
}

func (t timedStore) Start(ctx context.Context, id string, at time.Time, retake bool) (*airlock.Job, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (*airlock.Job, error) { return t.s.Start(ctx, id, at, retake) })
}

func (t timedStore) Finish(ctx context.Context, id string, attempt int, status airlock.Status, at time.Time, result []byte) (*airlock.Job, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (*airlock.Job, error) {
		return t.s.Finish(ctx, id, attempt, status, at, result)
	})
}

func (t timedStore) Cancel(ctx context.Context, id string, at time.Time) (airlock.Status, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (airlock.Status, error) { return t.s.Cancel(ctx, id, at) })
}

func (t timedStore) Requeue(ctx context.Context, id string, attempt int) error {
	return t.do(ctx, func(ctx context.Context) error { return t.s.Requeue(ctx, id, attempt) })
}

func (t timedStore) Release(ctx context.Context, id string, attempt int) error {
	return t.do(ctx, func(ctx context.Context) error { return t.s.Release(ctx, id, attempt) })
}

func (t timedStore) Unfinished(ctx context.Context) ([]*airlock.Job, error) {
	return timed(ctx, t.d, "store", t.s.Unfinished)
}

func (t timedStore) Active(ctx context.Context, keyID string) (int, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (int, error) { return t.s.Active(ctx, keyID) })
}

func (t timedStore) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	var total int
	list, err := timed(ctx, t.d, "store", func(ctx context.Context) (list []*airlock.Job, err error) {
		list, total, err = t.s.List(ctx, face, offset, limit)
		return list, err
	})
	return list, total, err
}

func (t timedStore) Delete(ctx context.Context, id string) error {
	return t.do(ctx, func(ctx context.Context) error { return t.s.Delete(ctx, id) })
}

func (t timedStore) Expired(ctx context.Context, before time.Time, limit int) ([]airlock.Expired, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) ([]airlock.Expired, error) { return t.s.Expired(ctx, before, limit) })
}

func (t timedStore) Purge(ctx context.Context, ids []string) (int, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (int, error) { return t.s.Purge(ctx, ids) })
}

func (t timedStore) Stats(ctx context.Context, since time.Time) (*airlock.JobStats, error) {
	return timed(ctx, t.d, "store", func(ctx context.Context) (*airlock.JobStats, error) { return t.s.Stats(ctx, since) })
}

func (t timedStore) Close() error { return t.s.Close() }

// timedQueue is a Queue whose calls have a deadline, but Pop: it waits
// for a job by design, and is the workers' alone.
type timedQueue struct {
	q airlock.Queue
	d time.Duration
}

var _ airlock.Queue = timedQueue{}

func (t timedQueue) Push(ctx context.Context, capability, id string) error {
	_, err := timed(ctx, t.d, "queue", func(ctx context.Context) (struct{}, error) { return struct{}{}, t.q.Push(ctx, capability, id) })
	return err
}

func (t timedQueue) Len(ctx context.Context) (int, error) { return timed(ctx, t.d, "queue", t.q.Len) }

func (t timedQueue) Pop(ctx context.Context, capabilities []string) (airlock.Lease, error) {
	return t.q.Pop(ctx, capabilities)
}

func (t timedQueue) Announce(ctx context.Context, node string, capabilities []string, ttl time.Duration) error {
	_, err := timed(ctx, t.d, "queue", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, t.q.Announce(ctx, node, capabilities, ttl)
	})
	return err
}

func (t timedQueue) Served(ctx context.Context, capability string) (bool, error) {
	return timed(ctx, t.d, "queue", func(ctx context.Context) (bool, error) { return t.q.Served(ctx, capability) })
}

// timedBlobs is a BlobStore whose every call has a deadline, blobFactor
// times longer for a transfer.
type timedBlobs struct {
	b airlock.BlobStore
	d time.Duration
}

var _ airlock.BlobStore = timedBlobs{}

func (t timedBlobs) Put(ctx context.Context, key string, data []byte) error {
	_, err := timed(ctx, blobFactor*t.d, "blob store", func(ctx context.Context) (struct{}, error) { return struct{}{}, t.b.Put(ctx, key, data) })
	return err
}

func (t timedBlobs) Get(ctx context.Context, key string) ([]byte, error) {
	return timed(ctx, blobFactor*t.d, "blob store", func(ctx context.Context) ([]byte, error) { return t.b.Get(ctx, key) })
}

func (t timedBlobs) Delete(ctx context.Context, key string) error {
	_, err := timed(ctx, t.d, "blob store", func(ctx context.Context) (struct{}, error) { return struct{}{}, t.b.Delete(ctx, key) })
	return err
}
