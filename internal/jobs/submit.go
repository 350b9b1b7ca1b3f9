package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
)

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
	req.Network = meta.Network
	var hash string
	if meta.IdempotencyKey != "" {
		if err := CheckIdempotencyKey(meta.IdempotencyKey); err != nil {
			return nil, err
		}
		data, err := encodeRequest(req)
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
	if err := s.exec.Check(ctx, req); err != nil {
		return nil, err
	}
	j := s.newJob(req, meta, hash)
	capability := Capability(j)
	switch {
	case meta.Session == nil || !s.opt.Distributed:
		if err := s.routable(ctx, capability); err != nil {
			return nil, err
		}
	case s.opt.Workers == 0:
		return nil, fmt.Errorf("%w: a live session runs on the node that accepts it, and this one runs no jobs (an API-only node)", airlock.ErrUnavailable)
	case !s.workers.serves(capability):
		return nil, fmt.Errorf("%w: a live session runs on the node that accepts it, and this one's workers do not serve %s", airlock.ErrUnavailable, capability)
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
	j, err = s.accept(ctx, j, meta)
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

// newJob is the job a submission of a checked request makes, not yet
// stored.
func (s *Service) newJob(req airlock.Request, meta Meta, hash string) *airlock.Job {
	l, _ := s.exec.Catalog().Lookup(req.Language)
	return &airlock.Job{
		ID: newID(), Face: meta.Face, Status: airlock.StatusQueued, Language: l.ID, KeyID: meta.KeyID, ClientAddr: meta.ClientAddr,
		CallbackURL: meta.CallbackURL, CodeSHA256: codeHash(req.Files), CreatedAt: time.Now().UTC(), Request: &req,
		IdempotencyKey: meta.IdempotencyKey, RequestHash: hash,
	}
}

// accept stores a new job and queues it.
func (s *Service) accept(ctx context.Context, j *airlock.Job, meta Meta) (*airlock.Job, error) {
	data, err := encodeRequest(*j.Request)
	if err != nil {
		return nil, err
	}
	// A blob first, an inline request with the row: a job row always has
	// its request.
	if j.InlineRequest, err = s.payloads.place(ctx, s.payloads.reqBlobs, requestKey(j.ID), data); err != nil {
		return nil, lost("blob store", fmt.Errorf("store request: %w", err))
	}
	if err := s.reqStore.Create(ctx, j); err != nil {
		s.payloads.dropRequest(j)
		if errors.Is(err, airlock.ErrDuplicate) {
			return nil, err
		}
		return nil, lost("store", fmt.Errorf("store job: %w", err))
	}
	if meta.Session != nil {
		s.sessions.attach(j.ID, meta.Session)
		if s.opt.Distributed {
			// Its client is connected here, so it runs here: a fleet's
			// queue would hand it to any worker.
			s.workers.runHere(j.ID)
			return j, nil
		}
	}
	if err := s.reqQueue.Push(ctx, Capability(j), j.ID); err != nil {
		// Refused, so not left behind: nothing would ever run it.
		s.sessions.take(j.ID)
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
	s.payloads.dropRequest(j)
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
