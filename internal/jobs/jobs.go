// Package jobs is the job lifecycle behind every API: accept (persist
// before answering), queue, run on a pool of workers through the engine,
// record the result exactly once, notify waiters and callbacks, audit,
// recover after a crash and drain on shutdown. Storage and queue are the
// small interfaces of the airlock package, so the embedded and the
// distributed deployments share this code.
package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// Service runs jobs. Create it with New, then call Run.
type Service struct {
	store   airlock.JobStore
	blobs   airlock.BlobStore
	queue   airlock.Queue
	engine  *engine.Engine
	opt     Options
	log     *slog.Logger
	audit   *audit.Log
	metrics *metrics.Metrics
	hooks   *webhook.Sender
	// The request path's store, queue and blobs: the same ones, every call
	// with a deadline (Options.CallTimeout).
	reqStore airlock.JobStore
	reqQueue airlock.Queue
	reqBlobs airlock.BlobStore

	callbacks map[string]CallbackFormat // by job face

	// admit orders the count and the creation of keys' jobs: a lock of
	// one slot, which a submission waits for no longer than a store call
	// (behind a frozen store, the queue of them would grow without end).
	admit     chan struct{}
	admitting atomic.Int64 // submissions between the queue's count and their push
	// here bounds the jobs of live sessions that run in this process
	// outside the queue (see accept).
	here     chan struct{}
	hereJobs sync.WaitGroup // Run waits for them as for its workers
	calls    sync.WaitGroup // callbacks being delivered, which Run waits for within the grace period
	calling  atomic.Int64   // how many
	// drained is closed once Run has stopped its workers and every job
	// they ran has finished or gone back to the queue: waiters then stop
	// waiting for jobs that will not finish in this process.
	drained chan struct{}

	mu              sync.Mutex
	runCtx, runHard context.Context                    // set by Run (see lifetime)
	running         map[string]context.CancelCauseFunc // by job id
	sessions        map[string]*engine.Session         // live clients, by job id
	waiters         map[string][]chan *airlock.Job     // each gets the finished job, or nil: read it from the store
}

// Deps are what a Service is built from; Audit, Metrics and Hooks may be
// nil.
type Deps struct {
	Store   airlock.JobStore
	Blobs   airlock.BlobStore
	Queue   airlock.Queue
	Engine  *engine.Engine
	Log     *slog.Logger
	Audit   *audit.Log
	Metrics *metrics.Metrics
	Hooks   *webhook.Sender
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
	return &Service{
		store: d.Store, blobs: d.Blobs, queue: d.Queue, engine: d.Engine, opt: opt, log: d.Log,
		reqStore: timedStore{d.Store, opt.CallTimeout}, reqQueue: timedQueue{d.Queue, opt.CallTimeout}, reqBlobs: timedBlobs{d.Blobs, opt.CallTimeout},
		audit: d.Audit, metrics: d.Metrics, hooks: d.Hooks, callbacks: map[string]CallbackFormat{},
		running: map[string]context.CancelCauseFunc{}, sessions: map[string]*engine.Session{}, waiters: map[string][]chan *airlock.Job{},
		here: make(chan struct{}, max(opt.Workers, 1)), drained: make(chan struct{}), admit: make(chan struct{}, 1),
	}
}

// Engine is the service's engine.
func (s *Service) Engine() *engine.Engine { return s.engine }

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

func requestKey(id string) string { return "requests/" + id + ".json" }
func resultKey(id string) string  { return "results/" + id + ".json" }

// place keeps a small payload for the job store, returning it, and puts a
// larger one in blobs under key, returning nil.
func (s *Service) place(ctx context.Context, blobs airlock.BlobStore, key string, data []byte) ([]byte, error) {
	if len(data) <= s.opt.InlineMax {
		return data, nil
	}
	return nil, blobs.Put(ctx, key, data)
}

// payload is a job's inline payload, or else the one in the blob store
// under key.
func (s *Service) payload(ctx context.Context, inline []byte, key string) ([]byte, error) {
	if inline != nil {
		return inline, nil
	}
	data, err := s.reqBlobs.Get(ctx, key)
	return data, lost("blob store", err)
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

// ErrIdempotencyMismatch is a submission whose idempotency key an earlier
// one with another request used.
var ErrIdempotencyMismatch = errors.New("Idempotency-Key: already used with a different request")

// IdempotencyHeader is the HTTP header of a client's idempotency key, on
// every API face that takes one.
const IdempotencyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest idempotency key taken.
const MaxIdempotencyKey = 255

// CheckIdempotencyKey says what is wrong with a client's idempotency key,
// as an *engine.InvalidError: it is 1 to MaxIdempotencyKey visible ASCII
// characters.
func CheckIdempotencyKey(key string) error {
	bad := len(key) == 0 || len(key) > MaxIdempotencyKey
	for i := 0; i < len(key) && !bad; i++ {
		bad = key[i] <= ' ' || key[i] > '~'
	}
	if bad {
		return &engine.InvalidError{Field: "Idempotency-Key", Problem: fmt.Sprintf("want 1 to %d visible ASCII characters", MaxIdempotencyKey)}
	}
	return nil
}

// Submit validates, persists and queues a job. When it returns without an
// error the job is on disk and will be run, whatever happens next.
//
// With an idempotency key, a submission of the same request (the same
// face, request and callback) with the same key by the same API key
// returns the job the first made, whatever became of it, and one of
// another request ErrIdempotencyMismatch; the keys live in the store with
// their jobs, so this holds across restarts and the nodes of a fleet, and
// of concurrent submissions exactly one makes a job.
func (s *Service) Submit(ctx context.Context, req airlock.Request, meta Meta) (*airlock.Job, error) {
	req.Interactive = meta.Session != nil
	var hash string
	if meta.IdempotencyKey != "" {
		if err := CheckIdempotencyKey(meta.IdempotencyKey); err != nil {
			return nil, err
		}
		data, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s", meta.Face, meta.CallbackURL, data))
		hash = hex.EncodeToString(sum[:])
		// A retry is answered before the limits: it asks for nothing new.
		if j, err := s.idempotent(ctx, meta, hash); !errors.Is(err, airlock.ErrNotFound) {
			return j, err
		}
	}
	var size int64
	for _, f := range req.Files {
		size += int64(len(f.Content))
	}
	if size > s.opt.MaxCode {
		return nil, &CodeTooLargeError{size, s.opt.MaxCode}
	}
	req.Policy = meta.Limits
	if err := s.engine.Check(ctx, req); err != nil {
		return nil, err
	}
	if meta.Session != nil && s.opt.Distributed && s.opt.Workers == 0 {
		return nil, fmt.Errorf("%w: a live session runs on the node that accepts it, and this one runs no jobs (an API-only node)", airlock.ErrUnavailable)
	}
	// Submissions still on their way to the queue count as waiting, so
	// concurrent ones cannot overshoot max_queue together.
	ahead := s.admitting.Add(1) - 1
	defer s.admitting.Add(-1)
	waiting, err := s.QueueLen(ctx)
	if err != nil {
		return nil, err
	}
	if waiting+int(ahead) >= s.opt.MaxQueue {
		return nil, airlock.ErrQueueFull
	}
	if meta.MaxActive > 0 {
		// Counted in the store, so every node of a fleet sees the jobs of
		// the others; exact within a process, which orders the count and
		// the creation, and nearly so across processes.
		select {
		case s.admit <- struct{}{}:
			defer func() { <-s.admit }()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.opt.CallTimeout):
			return nil, fmt.Errorf("%w: store: other submissions held it for %v", airlock.ErrUnavailable, s.opt.CallTimeout)
		}
		n, err := s.reqStore.Active(ctx, meta.KeyID)
		if err != nil {
			return nil, lost("store", err)
		}
		if n >= meta.MaxActive {
			return nil, ErrTooManyActive
		}
	}
	j, err := s.accept(ctx, req, meta, hash)
	if errors.Is(err, airlock.ErrDuplicate) {
		// Another submission with the key made its job meanwhile.
		return s.idempotent(ctx, meta, hash)
	}
	return j, err
}

// idempotent is the job of an earlier submission with meta's idempotency
// key, if it asked for the request whose hash is given; ErrNotFound if
// there is none.
func (s *Service) idempotent(ctx context.Context, meta Meta, hash string) (*airlock.Job, error) {
	j, err := s.reqStore.Idempotent(ctx, meta.KeyID, meta.IdempotencyKey)
	switch {
	case err != nil:
		return nil, lost("store", err)
	case j.RequestHash != hash:
		return nil, ErrIdempotencyMismatch
	}
	return j, nil
}

func (s *Service) accept(ctx context.Context, req airlock.Request, meta Meta, hash string) (*airlock.Job, error) {
	l, _ := s.engine.Catalog().Lookup(req.Language)
	j := &airlock.Job{
		ID: newID(), Face: meta.Face, Status: airlock.StatusQueued, Language: l.ID, KeyID: meta.KeyID, ClientAddr: meta.ClientAddr,
		CallbackURL: meta.CallbackURL, CodeSHA256: codeHash(req.Files), CreatedAt: time.Now().UTC(), Request: &req,
		IdempotencyKey: meta.IdempotencyKey, RequestHash: hash,
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	// A blob first, an inline request with the row: a job row always has
	// its request.
	if j.InlineRequest, err = s.place(ctx, s.reqBlobs, requestKey(j.ID), data); err != nil {
		return nil, lost("blob store", fmt.Errorf("store request: %w", err))
	}
	if err := s.reqStore.Create(ctx, j); err != nil {
		s.dropRequest(j)
		if errors.Is(err, airlock.ErrDuplicate) {
			return nil, err
		}
		return nil, lost("store", fmt.Errorf("store job: %w", err))
	}
	if meta.Session != nil {
		s.mu.Lock()
		s.sessions[j.ID] = meta.Session
		s.mu.Unlock()
		if s.opt.Distributed {
			// Its client is connected here, so it runs here: a fleet's
			// queue would hand it to any worker.
			s.hereJobs.Add(1)
			go func() {
				defer s.hereJobs.Done()
				s.runHere(j.ID)
			}()
			return j, nil
		}
	}
	if err := s.reqQueue.Push(ctx, j.ID); err != nil {
		// Refused, so not left behind: nothing would ever run it.
		s.takeSession(j.ID)
		s.unaccept(j)
		return nil, lost("queue", err)
	}
	return j, nil
}

// unaccept removes a job the queue refused, which its client is told was
// not accepted. What cannot be removed is left cancelled, never queued.
func (s *Service) unaccept(j *airlock.Job) {
	ctx := context.Background()
	_, err := s.reqStore.Cancel(ctx, j.ID, time.Now().UTC())
	if err == nil {
		err = s.reqStore.Delete(ctx, j.ID)
	}
	if err != nil {
		s.log.Error("remove a job the queue refused", "job", j.ID, "err", err)
		return
	}
	s.dropRequest(j)
}

// dropRequest deletes the request blob of a job that was not created.
func (s *Service) dropRequest(j *airlock.Job) {
	if j.InlineRequest == nil {
		s.reqBlobs.Delete(context.Background(), requestKey(j.ID))
	}
}

// newID makes a random (version 4) UUID: Judge0's tokens look so, and
// every face shares the ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// codeHash identifies the code for the audit log without keeping it.
func codeHash(files []airlock.File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d:%s\x00%d:", len(f.Name), f.Name, len(f.Content))
		h.Write(f.Content)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Get reads a job, with its result once finished.
func (s *Service) Get(ctx context.Context, id string) (*airlock.Job, error) {
	j, err := s.reqStore.Get(ctx, id)
	if err != nil {
		return nil, lost("store", err)
	}
	if err := s.loadResult(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

// loadResult fills in the result of a finished job.
func (s *Service) loadResult(ctx context.Context, j *airlock.Job) error {
	if !j.Status.Finished() {
		return nil
	}
	data, err := s.payload(ctx, j.InlineResult, resultKey(j.ID))
	if errors.Is(err, airlock.ErrNotFound) {
		return nil // cancelled before it ran: no result
	}
	if err != nil {
		return fmt.Errorf("result of %s: %w", j.ID, err)
	}
	var res airlock.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("result of %s: %w", j.ID, err)
	}
	res.Status = j.Status // a cancel requested during the run wins
	j.Result = &res
	return nil
}

// ErrShuttingDown ends a Wait for a job that will not finish in this
// process, which is shutting down: it stays queued, and runs after the
// restart or on another node.
var ErrShuttingDown = errors.New("shutting down: the job runs after the restart")

// Wait returns the job once finished. It returns sooner with an error:
// ctx's when ctx ends, with the job as last read (nil if ctx ended during
// the first read); ErrShuttingDown, with the job, when this process is
// shutting down and the job has not finished; any error reading it.
func (s *Service) Wait(ctx context.Context, id string) (*airlock.Job, error) {
	// A job run here wakes its waiters; one run by another process of a
	// fleet is seen by reading the store, soon after a short job ends
	// and rarely for a long one.
	poll := time.Second
	if s.opt.Distributed {
		poll = 20 * time.Millisecond
	}
	for {
		ch := make(chan *airlock.Job, 1)
		s.mu.Lock()
		s.waiters[id] = append(s.waiters[id], ch)
		s.mu.Unlock()
		j, err := s.Get(ctx, id)
		if err != nil || j.Status.Finished() {
			s.unwait(id, ch)
			return j, err
		}
		select {
		case final := <-ch:
			if final != nil {
				return final, nil // finished here: no need to read it back
			}
		case <-time.After(poll):
			s.unwait(id, ch)
			poll = min(2*poll, time.Second)
		case <-ctx.Done():
			s.unwait(id, ch)
			return j, ctx.Err()
		case <-s.drained:
			s.unwait(id, ch)
			if j, err = s.Get(ctx, id); err != nil || j.Status.Finished() {
				return j, err
			}
			return j, ErrShuttingDown
		}
	}
}

func (s *Service) unwait(id string, ch chan *airlock.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.waiters[id]
	for i, c := range list {
		if c == ch {
			s.waiters[id] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(s.waiters[id]) == 0 {
		delete(s.waiters, id)
	}
}

// notify wakes the waiters of a job, handing each its own copy of the
// finished job (what one caller fills in is not another's), or nil when
// they must read it from the store.
func (s *Service) notify(id string, final *airlock.Job) {
	s.mu.Lock()
	list := s.waiters[id]
	delete(s.waiters, id)
	s.mu.Unlock()
	for _, ch := range list {
		if final == nil {
			ch <- nil
			continue
		}
		c := *final
		ch <- &c
	}
}

// Cancel ends a queued job, or kills a running job's sandbox.
func (s *Service) Cancel(ctx context.Context, id string) (*airlock.Job, error) {
	status, err := s.reqStore.Cancel(ctx, id, time.Now().UTC())
	if err != nil {
		return nil, lost("store", err)
	}
	switch status {
	case airlock.StatusCancelled:
		s.takeSession(id)
		s.notify(id, nil)
	case airlock.StatusRunning:
		// Running here, or else its worker sees the store's flag.
		s.mu.Lock()
		if cancel := s.running[id]; cancel != nil {
			cancel(errCancelled)
		}
		s.mu.Unlock()
	}
	return s.Get(ctx, id)
}

// takeSession removes and returns the live client of a job, if any.
func (s *Service) takeSession(id string) *engine.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	delete(s.sessions, id)
	return sess
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opt.Workers, len(s.running)
}

// LoadRequest fills in j.Request unless it is there already, from the
// job's inline request or the blob store.
func (s *Service) LoadRequest(ctx context.Context, j *airlock.Job) error {
	if j.Request != nil {
		return nil
	}
	data, err := s.payload(ctx, j.InlineRequest, requestKey(j.ID))
	if err != nil {
		return fmt.Errorf("request of %s: %w", j.ID, err)
	}
	var req airlock.Request
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("request of %s: %w", j.ID, err)
	}
	j.Request = &req
	return nil
}

// List pages through the jobs of one API face, newest first, with results.
func (s *Service) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	list, total, err := s.reqStore.List(ctx, face, offset, limit)
	if err != nil {
		return nil, 0, lost("store", err)
	}
	for _, j := range list {
		if err := s.loadResult(ctx, j); err != nil {
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
		if err := s.reqBlobs.Delete(ctx, key); err != nil && !errors.Is(err, airlock.ErrNotFound) {
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
