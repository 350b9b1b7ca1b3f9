package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock"
)

// payloads keeps the encoded requests and results of jobs: inline with
// the job in the store when small, else in the blob store under a key of
// the job's.
type payloads struct {
	// blobs is the workers' blob store, whose calls are retried; reqBlobs
	// the same with a deadline on every call, for the request path.
	blobs, reqBlobs airlock.BlobStore
	inlineMax       int // see Options.InlineMax
}

func requestKey(id string) string { return "requests/" + id + ".json" }
func resultKey(id string) string  { return "results/" + id + ".json" }

// place keeps a small payload for the job store, returning it, and puts a
// larger one in blobs under key, returning nil.
func (p *payloads) place(ctx context.Context, blobs airlock.BlobStore, key string, data []byte) ([]byte, error) {
	if len(data) <= p.inlineMax {
		return data, nil
	}
	return nil, blobs.Put(ctx, key, data)
}

// read is a job's inline payload, or else the one in the blob store
// under key.
func (p *payloads) read(ctx context.Context, inline []byte, key string) ([]byte, error) {
	if inline != nil {
		return inline, nil
	}
	data, err := p.reqBlobs.Get(ctx, key)
	return data, lost("blob store", err)
}

// loadRequest fills in j.Request unless it is there already.
func (p *payloads) loadRequest(ctx context.Context, j *airlock.Job) error {
	if j.Request != nil {
		return nil
	}
	data, err := p.read(ctx, j.InlineRequest, requestKey(j.ID))
	if err != nil {
		return fmt.Errorf("request of %s: %w", j.ID, err)
	}
	req, err := decodeRequest(data)
	if err != nil {
		return fmt.Errorf("request of %s: %w", j.ID, err)
	}
	j.Request = &req
	return nil
}

// loadResult fills in the result of a finished job.
func (p *payloads) loadResult(ctx context.Context, j *airlock.Job) error {
	if !j.Status.Finished() {
		return nil
	}
	data, err := p.read(ctx, j.InlineResult, resultKey(j.ID))
	if errors.Is(err, airlock.ErrNotFound) {
		return nil // cancelled before it ran: no result
	}
	if err != nil {
		return fmt.Errorf("result of %s: %w", j.ID, err)
	}
	res, err := decodeResult(data)
	if err != nil {
		return fmt.Errorf("result of %s: %w", j.ID, err)
	}
	res.Status = j.Status // a cancel requested during the run wins
	j.Result = &res
	return nil
}

// dropRequest deletes the request blob of a job that was not created.
func (p *payloads) dropRequest(j *airlock.Job) {
	if j.InlineRequest == nil {
		p.reqBlobs.Delete(context.Background(), requestKey(j.ID))
	}
}

// drop deletes the blobs under keys; a blob already gone is no error.
func (p *payloads) drop(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := p.reqBlobs.Delete(ctx, key); err != nil && !errors.Is(err, airlock.ErrNotFound) {
			return lost("blob store", err)
		}
	}
	return nil
}
