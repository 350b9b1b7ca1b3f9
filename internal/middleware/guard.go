// Package middleware is what every API face (native, Judge0, Piston) does
// before and around its handlers: it authenticates a request with a key
// of the shared keyring, takes one request from the key's rate limit,
// puts the key in the request's context, and classifies errors into an
// HTTP status and a Retry-After. Each face renders the error's body in its
// own wire format.
package middleware

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-dev/airlock/internal/auth"
)

// Guard admits a request to a face's handlers: its key must be one of
// Keys and within its rate.
type Guard struct {
	Keys *auth.Keyring
	// Token reads the request's credential, for a face with its own
	// header; nil: the keyring's (X-Auth-Token or a Bearer Authorization).
	Token func(*http.Request) string
	// Refuse answers a request that is not admitted, in the face's
	// format. Its error is auth.ErrNoToken, auth.ErrBadToken or a
	// *RateLimitError; Status gives the status and sets Retry-After.
	Refuse func(w http.ResponseWriter, r *http.Request, err error)
}

// RateLimitError is a key over its rate limit.
type RateLimitError struct {
	KeyID string
	Wait  time.Duration // until the key may make a request again
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit of key %s exceeded", e.KeyID)
}

// Admit finds the request's key and takes a request from its rate.
func (g Guard) Admit(r *http.Request) (*auth.Key, error) {
	var key *auth.Key
	var err error
	if g.Token != nil {
		key, err = g.Keys.IdentifyToken(g.Token(r))
	} else {
		key, err = g.Keys.Identify(r)
	}
	if err != nil {
		return nil, err
	}
	if ok, wait := g.Keys.Allow(r.Context(), key); !ok {
		return nil, &RateLimitError{KeyID: key.ID, Wait: wait}
	}
	return key, nil
}

// Wrap serves h to admitted requests, their key in the context (KeyOf),
// and refuses the others.
func (g Guard) Wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := g.Admit(r)
		if err != nil {
			g.Refuse(w, r, err)
			return
		}
		h(w, r.WithContext(WithKey(r.Context(), key)))
	}
}

type keyCtx struct{}

// WithKey is ctx carrying the request's key.
func WithKey(ctx context.Context, key *auth.Key) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyOf is the key of an admitted request (Wrap put it in its context);
// nil outside one.
func KeyOf(ctx context.Context) *auth.Key {
	key, _ := ctx.Value(keyCtx{}).(*auth.Key)
	return key
}
