package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Key is an API key as the config file holds it: never the token itself,
// only its SHA-256.
type Key struct {
	ID        string  `yaml:"id"`
	SHA256    string  `yaml:"sha256"`     // hex digest of the token
	Rate      float64 `yaml:"rate"`       // requests per second; 0: unlimited
	Burst     int     `yaml:"burst"`      // default: max(1, rate)
	MaxActive int     `yaml:"max_active"` // unfinished jobs at once; 0: unlimited
}

// HashToken is what a Key's SHA256 holds for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// keyring checks tokens and rate-limits keys.
type keyring struct {
	keys     []Key
	limiters map[string]*rate.Limiter
}

func newKeyring(keys []Key) (*keyring, error) {
	k := &keyring{keys: keys, limiters: map[string]*rate.Limiter{}}
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

func (k *keyring) open() bool { return len(k.keys) == 0 }

var (
	errNoToken  = errors.New("an API key is required (Authorization: Bearer KEY or X-Auth-Token: KEY)")
	errBadToken = errors.New("unknown API key")
)

// identify finds the request's key.
func (k *keyring) identify(r *http.Request) (*Key, error) {
	if k.open() {
		return &Key{}, nil
	}
	token := r.Header.Get("X-Auth-Token")
	if auth := r.Header.Get("Authorization"); token == "" && auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		if strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
		}
	}
	if token == "" {
		return nil, errNoToken
	}
	sum := HashToken(token)
	for i := range k.keys {
		if subtle.ConstantTimeCompare([]byte(sum), []byte(strings.ToLower(k.keys[i].SHA256))) == 1 {
			return &k.keys[i], nil
		}
	}
	return nil, errBadToken
}

// allow takes a token of key's rate; when refused it says how long to wait.
func (k *keyring) allow(key *Key) (bool, time.Duration) {
	l := k.limiters[key.ID]
	if l == nil {
		return true, 0
	}
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}
