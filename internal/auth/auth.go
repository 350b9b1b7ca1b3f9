// Package auth checks API keys and rate-limits them, for every API face:
// one set of keys, one limit per key, whichever API a client speaks.
package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/units"
)

// Key is an API key as the config file holds it: never the token itself,
// only its SHA-256.
type Key struct {
	ID        string  `yaml:"id"`
	SHA256    string  `yaml:"sha256"`     // hex digest of the token
	Rate      float64 `yaml:"rate"`       // requests per second; 0: unlimited
	Burst     int     `yaml:"burst"`      // default: max(1, rate)
	MaxActive int     `yaml:"max_active"` // unfinished jobs at once; 0: unlimited
	Admin     bool    `yaml:"admin"`      // may list and delete every job (Judge0's X-Auth-User)
	// Limits are the key's own defaults and maxima, within the server's.
	Limits units.PolicySpec `yaml:"limits"`
	// Policy is Limits read (config.Load does): zero fields are the
	// server's.
	Policy airlock.Policy `yaml:"-"`
	// Network lists the hosts the key's jobs may reach when they ask for
	// network ("host" for ports 80 and 443, or "host:port"); without it
	// a job of the key may not ask.
	Network []string `yaml:"network"`
}

// HashToken is what a Key's SHA256 holds for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Keyring checks tokens and rate-limits keys.
type Keyring struct {
	keys     []Key
	limiters map[string]*rate.Limiter // this process's, and the fallback of a shared RateStore
	shared   RateStore
	log      *slog.Logger
	degraded atomic.Bool // the shared store failed last time
}

// RateStore keeps the keys' rate limits where every node of a fleet
// takes from the same budget.
type RateStore interface {
	// Take takes one request from key id's budget of rate per second with
	// burst; when none is left it says how long until one is.
	Take(ctx context.Context, id string, rate float64, burst int) (ok bool, wait time.Duration, err error)
}

// ShareRates makes the keys' limits hold across every process that shares
// s, rather than in each. When s fails, each process limits on its own
// until it answers again. Call it before serving.
func (k *Keyring) ShareRates(s RateStore, log *slog.Logger) {
	k.shared, k.log = s, cmp.Or(log, slog.Default())
}

// NewKeyring checks the keys and makes their limiters.
func NewKeyring(keys []Key) (*Keyring, error) {
	k := &Keyring{keys: keys, limiters: map[string]*rate.Limiter{}}
	seen := map[string]bool{}
	for _, key := range keys {
		if key.ID == "" || seen[key.ID] {
			return nil, fmt.Errorf("api keys: id %q is empty or repeated", key.ID)
		}
		seen[key.ID] = true
		if b, err := hex.DecodeString(key.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("api key %s: sha256 must be 64 hex digits (airlock key hash TOKEN)", key.ID)
		}
		if key.Rate > 0 {
			burst := key.Burst
			if burst <= 0 {
				burst = max(1, int(math.Ceil(key.Rate)))
			}
			k.limiters[key.ID] = rate.NewLimiter(rate.Limit(key.Rate), burst)
		}
	}
	return k, nil
}

// Open says no keys are configured: everyone is let in.
func (k *Keyring) Open() bool { return len(k.keys) == 0 }

// Errors of Identify.
var (
	ErrNoToken  = errors.New("an API key is required (Authorization: Bearer KEY or X-Auth-Token: KEY)")
	ErrBadToken = errors.New("unknown API key")
)

// Identify finds the request's key from X-Auth-Token or a Bearer
// Authorization header; an open keyring gives everyone the empty key.
func (k *Keyring) Identify(r *http.Request) (*Key, error) {
	token := r.Header.Get("X-Auth-Token")
	if auth := r.Header.Get("Authorization"); token == "" && auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		if strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
		}
	}
	return k.IdentifyToken(token)
}

// IdentifyToken finds the key of a token.
func (k *Keyring) IdentifyToken(token string) (*Key, error) {
	if k.Open() {
		return &Key{}, nil
	}
	if token == "" {
		return nil, ErrNoToken
	}
	sum := HashToken(token)
	for i := range k.keys {
		if subtle.ConstantTimeCompare([]byte(sum), []byte(strings.ToLower(k.keys[i].SHA256))) == 1 {
			return &k.keys[i], nil
		}
	}
	return nil, ErrBadToken
}

// Allow takes a token of key's rate; when refused it says how long to wait.
func (k *Keyring) Allow(ctx context.Context, key *Key) (bool, time.Duration) {
	l := k.limiters[key.ID]
	if l == nil {
		return true, 0
	}
	if k.shared != nil {
		ok, wait, err := k.shared.Take(ctx, key.ID, float64(l.Limit()), l.Burst())
		if err == nil {
			if k.degraded.CompareAndSwap(true, false) {
				k.log.Info("shared rate limits are back")
			}
			return ok, wait
		}
		if k.degraded.CompareAndSwap(false, true) {
			k.log.Warn("shared rate limits unavailable: each process limits on its own", "err", err)
		}
	}
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}
