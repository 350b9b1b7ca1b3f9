package middleware

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// Class is how an error is answered over HTTP.
type Class struct {
	Status int
	// RetryAfter, when positive, is how long a client waits before it
	// tries again: a retry may cure the error. Every 429 and 503 has one.
	RetryAfter time.Duration
}

// retrySoon is the Retry-After of a refusal that has no known end: a full
// queue, a dependency down, a restart.
const retrySoon = time.Second

// Classify says how each face answers err: the same status and
// Retry-After whatever API the client speaks.
func Classify(err error) Class {
	var limited *RateLimitError
	var bad *engine.InvalidError
	var tooLarge *jobs.CodeTooLargeError
	switch {
	case errors.As(err, &limited):
		return Class{http.StatusTooManyRequests, max(limited.Wait, retrySoon)}
	case errors.Is(err, jobs.ErrTooManyActive):
		return Class{http.StatusTooManyRequests, retrySoon}
	case errors.Is(err, auth.ErrNoToken):
		return Class{Status: http.StatusUnauthorized}
	case errors.Is(err, auth.ErrBadToken):
		return Class{Status: http.StatusForbidden}
	case errors.As(err, &bad), errors.Is(err, jobs.ErrIdempotencyMismatch):
		return Class{Status: http.StatusUnprocessableEntity}
	case errors.As(err, &tooLarge):
		return Class{Status: http.StatusRequestEntityTooLarge}
	case errors.Is(err, airlock.ErrNotFound):
		return Class{Status: http.StatusNotFound}
	case errors.Is(err, airlock.ErrQueueFull), errors.Is(err, airlock.ErrUnavailable),
		errors.Is(err, jobs.ErrShuttingDown), errors.Is(err, context.Canceled):
		// Canceled: the request was abandoned (the server stopping under
		// it); another one may be served.
		return Class{http.StatusServiceUnavailable, retrySoon}
	}
	return Class{Status: http.StatusInternalServerError}
}

// Status classifies err, sets the Retry-After its class calls for, and
// returns its status: the face then writes the body in its own format.
func Status(w http.ResponseWriter, err error) int {
	c := Classify(err)
	if c.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(c.RetryAfter.Seconds()))))
	}
	return c.Status
}
