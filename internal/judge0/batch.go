package judge0

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// batchCreate is POST /submissions/batch: each submission queued or
// refused on its own, the answers in the request's order.
func (s *Server) batchCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Submissions []params `json:"submissions"`
	}
	if !s.readParams(w, r, &body) {
		return
	}
	if len(r.Header.Values(jobs.IdempotencyHeader)) > 0 {
		// One key cannot name each of a batch's jobs; a client that
		// needs retries submits them one by one.
		fail(w, http.StatusBadRequest, "Idempotency-Key: not taken on a batch; submit one by one")
		return
	}
	switch n := len(body.Submissions); {
	case n > maxBatch:
		fail(w, http.StatusBadRequest, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", maxBatch))
		return
	case n == 0:
		fail(w, http.StatusBadRequest, "there should be at least one submission in a batch")
		return
	}
	waiting, err := s.svc.QueueLen(r.Context())
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if waiting+len(body.Submissions) > s.opt.MaxQueue {
		s.refuse(w, r, airlock.ErrQueueFull)
		return
	}
	b64 := b64Param(r)
	out := make([]any, len(body.Submissions))
	valid := false
	for i, p := range body.Submissions {
		j, errs, err := s.submit(r, p, b64, "")
		switch {
		case errors.Is(err, airlock.ErrQueueFull):
			out[i] = map[string]string{"error": "queue is full"}
		case errors.Is(err, jobs.ErrTooManyActive), errors.As(err, new(*jobs.CodeTooLargeError)):
			// Earlier items are queued: their tokens must reach the client.
			out[i] = map[string]string{"error": err.Error()}
		case err != nil:
			s.refuse(w, r, err)
			return
		case errs != nil:
			out[i] = errs
		default:
			out[i] = map[string]string{"token": j.ID}
			valid = true
		}
	}
	code := http.StatusCreated
	if !valid {
		code = http.StatusUnprocessableEntity
	}
	reply(w, code, out)
}

// batchShow is GET /submissions/batch?tokens=...: each submission, or
// null for one the caller cannot see.
func (s *Server) batchShow(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	list := r.Header.Get("tokens")
	if list == "" {
		list = r.URL.Query().Get("tokens")
	}
	var tokens []string
	for t := range strings.SplitSeq(strings.TrimSpace(list), ",") {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	switch {
	case len(tokens) > maxBatch:
		fail(w, http.StatusBadRequest, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", maxBatch))
		return
	case len(tokens) == 0:
		fail(w, http.StatusBadRequest, "there should be at least one submission in a batch")
		return
	}
	b64 := b64Param(r)
	out := make([]json.RawMessage, len(tokens))
	for i, t := range tokens {
		out[i] = json.RawMessage("null")
		j, err := s.svc.Get(r.Context(), t)
		if errors.Is(err, airlock.ErrNotFound) || err == nil && !s.visible(r, j) {
			continue
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		body, ok := s.renderListed(w, r, j, fields, b64)
		if !ok {
			return
		}
		out[i] = body
	}
	reply(w, http.StatusOK, map[string]any{"submissions": out})
}
