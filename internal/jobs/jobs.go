// Package jobs is the job lifecycle behind every API: accept (persist
// before answering), queue, run on a pool of workers through the engine,
// record the result exactly once, notify waiters and callbacks, audit,
// recover after a crash and drain on shutdown. Storage and queue are the
// small interfaces of the airlock package, so the embedded and the
// distributed deployments share this code.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// Options configure a Service.
type Options struct {
	// Workers is how many jobs this process runs at once: 0 is the number
	// of CPUs, negative none (an API-only node of a fleet).
	Workers  int
	MaxQueue int           // waiting jobs before Submit refuses; default 1000
	MaxCode  int64         // bytes of a job's files, every API alike; default 256 KiB
	Grace    time.Duration // on shutdown, how long running jobs may finish; default 30s
	// InlineMax is the largest encoded request or result kept in the job
	// store with the job; larger ones go to the blob store. Default
	// DefaultInlineMax; negative: every payload goes to the blob store.
	InlineMax int
	// MaxAttempts is how many times a job is started before it is given
	// up as an internal error: each start after the first follows a run
	// whose worker died (or a shutdown that outlasted its grace), so a
	// job that kills its worker every time does not loop for ever.
	// Default 3.
	MaxAttempts int
	// Distributed says other processes share the store and the queue
	// (a fleet): jobs left running by a dead process come back through
	// the queue's leases instead of this process's recovery at start,
	// cancels of jobs running here may come from other processes (the
	// store is polled for them), and waiters poll the store for jobs run
	// elsewhere.
	Distributed bool
	// LeaseTime is the queue's lease time: a running job's lease is
	// extended three times within it. Default 30 s.
	LeaseTime time.Duration
	// LostAfter is how long after its acceptance a queued job may be
	// missing from a fleet's queue before SweepLost pushes it again;
	// default 1 minute. It must exceed the clock skew between the nodes
	// and the queue's server.
	LostAfter time.Duration
	// CallTimeout bounds each store and queue call of a request (blob
	// transfers get blobFactor times more): a server that does not
	// answer in time is unavailable, a 503. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// Retention is how long a finished job is kept, with its payloads
	// and idempotency key, before RunRetention purges it; 0 keeps jobs
	// for ever.
	Retention time.Duration
	// DataDir is the directory of the embedded store and blobs, whose
	// free space Health checks (with MinFree, default DefaultMinFree);
	// "" when there is none.
	DataDir string
	MinFree int64
}

// DefaultInlineMax keeps a typical submission and its output out of the
// blob store (a file write and fsync each) and large ones out of the job
// rows.
const DefaultInlineMax = 64 << 10

// Service is the job lifecycle: it accepts jobs (Submit), reads,
// cancels and deletes them, and records what they came to (finish). Its
// parts are the payloads, the waiters, the live sessions and the worker
// pool. Create it with New, then call Run.
type Service struct {
	store   airlock.JobStore
	blobs   airlock.BlobStore
	queue   airlock.Queue
	exec    Executor
	opt     Options
	log     *slog.Logger
	audit   *audit.Log
	metrics *metrics.Metrics
	hooks   Deliverer
	// The request path's store and queue: the same ones, every call with
	// a deadline (Options.CallTimeout).
	reqStore airlock.JobStore
	reqQueue airlock.Queue

	payloads *payloads
	waiters  *waiters
	sessions *sessions
	workers  *workers

	callbacks map[string]CallbackFormat // by job face

	// admit orders the count and the creation of keys' jobs: a lock of
	// one slot, which a submission waits for no longer than a store call
	// (behind a frozen store, the queue of them would grow without end).
	admit     chan struct{}
	admitting atomic.Int64   // submissions between the queue's count and their push
	calls     sync.WaitGroup // callbacks being delivered, which Run waits for within the grace period
	calling   atomic.Int64   // how many
}

// Deps are what a Service is built from; Audit, Metrics and Hooks may be
// nil.
type Deps struct {
	Store   airlock.JobStore
	Blobs   airlock.BlobStore
	Queue   airlock.Queue
	Engine  Executor // the engine, or a test's fake
	Log     *slog.Logger
	Audit   *audit.Log
	Metrics *metrics.Metrics
	Hooks   Deliverer // callbacks: a *webhook.Sender
}

// New makes a Service.
func New(d Deps, opt Options) *Service {
	switch {
	case opt.Workers == 0:
		opt.Workers = runtime.NumCPU()
	case opt.Workers < 0:
		opt.Workers = 0
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 3
	}
	if opt.LeaseTime <= 0 {
		opt.LeaseTime = 30 * time.Second
	}
	if opt.LostAfter <= 0 {
		opt.LostAfter = time.Minute
	}
	if opt.MaxQueue <= 0 {
		opt.MaxQueue = 1000
	}
	if opt.MaxCode <= 0 {
		opt.MaxCode = 256 << 10
	}
	if opt.Grace == 0 {
		opt.Grace = 30 * time.Second
	}
	if opt.InlineMax == 0 {
		opt.InlineMax = DefaultInlineMax
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = DefaultCallTimeout
	}
	if opt.MinFree <= 0 {
		opt.MinFree = DefaultMinFree
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	reqBlobs := timedBlobs{d.Blobs, opt.CallTimeout}
	p := &payloads{blobs: d.Blobs, reqBlobs: reqBlobs, inlineMax: opt.InlineMax}
	live := newSessions(max(opt.Workers, 1))
	s := &Service{
		store: d.Store, blobs: d.Blobs, queue: d.Queue, exec: d.Engine, opt: opt, log: d.Log,
		reqStore: timedStore{d.Store, opt.CallTimeout}, reqQueue: timedQueue{d.Queue, opt.CallTimeout},
		audit: d.Audit, metrics: d.Metrics, hooks: d.Hooks, callbacks: map[string]CallbackFormat{},
		payloads: p, waiters: newWaiters(), sessions: live, admit: make(chan struct{}, 1),
	}
	s.workers = &workers{
		opt: opt, store: d.Store, queue: d.Queue, exec: d.Engine, payloads: p, sessions: live,
		metrics: d.Metrics, log: d.Log, finish: s.finish,
		caps: capabilities(d.Engine, opt.Workers), node: nodeName(),
		drained: make(chan struct{}), running: map[string]context.CancelCauseFunc{},
	}
	return s
}

// CallbackFormat renders a finished job for its callback_url the way the
// API that accepted it promises: the method, the body and how it is
// retried (the service sets the URL).
type CallbackFormat func(*airlock.Job) (webhook.Call, error)

// SetCallbackFormat makes jobs of a face call back in its own format;
// call it before Run. Other jobs get a POST of the native JSON.
func (s *Service) SetCallbackFormat(face string, f CallbackFormat) { s.callbacks[face] = f }

// Meta is who submitted a job and where its result goes.
type Meta struct {
	Face        string // the API: "" native, "judge0", "piston"
	KeyID       string
	ClientAddr  string
	CallbackURL string
	MaxActive   int // the key's limit of unfinished jobs; 0: none
	// Limits is the key's own limits policy (the job's Request.Policy).
	Limits airlock.Policy
	// Network are the hosts the job asked for and its key allows (the
	// job's Request.Network); nil: no network.
	Network []string
	// IdempotencyKey is the client's Idempotency-Key: a retry with it
	// and the same request is answered with the first job (see Submit).
	IdempotencyKey string
	// Session attaches a live client (an interactive API). It lives in
	// this process only: a job re-run after a restart runs without it.
	Session *engine.Session
}

// ErrTooManyActive is a key over its limit of unfinished jobs.
var ErrTooManyActive = errors.New("too many unfinished jobs for this key")

// CodeTooLargeError is a job whose files exceed Options.MaxCode.
type CodeTooLargeError struct{ Size, Max int64 }

func (e *CodeTooLargeError) Error() string {
	return fmt.Sprintf("files: %d bytes of code, at most %d allowed", e.Size, e.Max)
}

// lost marks the failure of a server the service depends on as
// airlock.ErrUnavailable (a 503: try again later), leaving as they are
// the answers about jobs (not found, conflict) and the end of the
// caller's context.
func lost(server string, err error) error {
	switch {
	case err == nil, errors.Is(err, airlock.ErrNotFound), errors.Is(err, airlock.ErrConflict),
		errors.Is(err, airlock.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %s: %v", airlock.ErrUnavailable, server, err)
}

// Get reads a job, with its result once finished.
func (s *Service) Get(ctx context.Context, id string) (*airlock.Job, error) {
	j, err := s.reqStore.Get(ctx, id)
	if err != nil {
		return nil, lost("store", err)
	}
	if err := s.payloads.loadResult(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

// Cancel ends a queued job, or kills a running job's sandbox.
func (s *Service) Cancel(ctx context.Context, id string) (*airlock.Job, error) {
	status, err := s.reqStore.Cancel(ctx, id, time.Now().UTC())
	if err != nil {
		return nil, lost("store", err)
	}
	switch status {
	case airlock.StatusCancelled:
		s.sessions.take(id)
		s.waiters.notify(id, nil)
	case airlock.StatusRunning:
		// Running here, or else its worker sees the store's flag.
		s.workers.stop(id, errCancelled)
	}
	return s.Get(ctx, id)
}

// QueueLen is the number of jobs waiting for a worker. An error is
// airlock.ErrUnavailable: the queue cannot be reached.
func (s *Service) QueueLen(ctx context.Context) (int, error) {
	n, err := s.reqQueue.Len(ctx)
	if err != nil {
		return 0, lost("queue", err)
	}
	return n, nil
}

// Workers says how many workers this process runs and how many are busy.
func (s *Service) Workers() (total, busy int) {
	return s.opt.Workers, s.workers.busy()
}

// LoadRequest fills in j.Request unless it is there already, from the
// job's inline request or the blob store.
func (s *Service) LoadRequest(ctx context.Context, j *airlock.Job) error {
	return s.payloads.loadRequest(ctx, j)
}

// List pages through the jobs of one API face, newest first, with results.
func (s *Service) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	list, total, err := s.reqStore.List(ctx, face, offset, limit)
	if err != nil {
		return nil, 0, lost("store", err)
	}
	for _, j := range list {
		if err := s.payloads.loadResult(ctx, j); err != nil {
			return nil, 0, err
		}
	}
	return list, total, nil
}

// Delete removes a finished job and its payloads; airlock.ErrConflict if
// it has not finished.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.reqStore.Delete(ctx, id); err != nil {
		return lost("store", err)
	}
	// The row is gone, so nobody can reach these any more.
	for _, key := range []string{requestKey(id), resultKey(id)} {
		if err := s.payloads.drop(ctx, key); err != nil {
			s.log.Warn("delete payload", "key", key, "err", err)
		}
	}
	return nil
}

// Stats counts jobs (see airlock.JobStore.Stats).
func (s *Service) Stats(ctx context.Context, since time.Time) (*airlock.JobStats, error) {
	st, err := s.reqStore.Stats(ctx, since)
	return st, lost("store", err)
}
