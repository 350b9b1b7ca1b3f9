package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/middleware"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err   error
		code  int
		retry string // the Retry-After header; "" for none
	}{
		{&middleware.RateLimitError{KeyID: "k", Wait: 1500 * time.Millisecond}, 429, "2"},
		{&middleware.RateLimitError{KeyID: "k", Wait: 10 * time.Millisecond}, 429, "1"},
		{&middleware.RateLimitError{KeyID: "k"}, 429, "1"},
		{jobs.ErrTooManyActive, 429, "1"},
		{airlock.ErrQueueFull, 503, "1"},
		{fmt.Errorf("%w: store: no answer", airlock.ErrUnavailable), 503, "1"},
		{jobs.ErrShuttingDown, 503, "1"},
		{context.Canceled, 503, "1"},
		{auth.ErrNoToken, 401, ""},
		{auth.ErrBadToken, 403, ""},
		{&engine.InvalidError{Field: "language", Problem: "unknown"}, 422, ""},
		{jobs.ErrIdempotencyMismatch, 422, ""},
		{&jobs.CodeTooLargeError{}, 413, ""},
		{fmt.Errorf("get: %w", airlock.ErrNotFound), 404, ""},
		{errors.New("disk on fire"), 500, ""},
		{context.DeadlineExceeded, 500, ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		code := middleware.Status(w, c.err)
		if retry := w.Header().Get("Retry-After"); code != c.code || retry != c.retry {
			t.Errorf("%v: %d, Retry-After %q; want %d, %q", c.err, code, retry, c.code, c.retry)
		}
		// The rule: every 429 and 503 says when to retry.
		if cl := middleware.Classify(c.err); (cl.Status == http.StatusTooManyRequests || cl.Status == http.StatusServiceUnavailable) != (cl.RetryAfter > 0) {
			t.Errorf("%v: %+v breaks the Retry-After rule", c.err, cl)
		}
	}
}
