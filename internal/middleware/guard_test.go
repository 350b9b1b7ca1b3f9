package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/middleware"
)

// guarded serves a handler that names the admitted key behind a Guard
// over keys; a refusal is answered with its class's status and the
// error's text.
func guarded(t *testing.T, keys []auth.Key, token func(*http.Request) string) http.Handler {
	t.Helper()
	ring, err := auth.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	g := middleware.Guard{Keys: ring, Token: token, Refuse: func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, err.Error(), middleware.Status(w, err))
	}}
	return g.Wrap(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("key " + middleware.KeyOf(r.Context()).ID))
	})
}

func serve(h http.Handler, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/x?token=query-token", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGuard(t *testing.T) {
	h := guarded(t, []auth.Key{
		{ID: "alice", SHA256: auth.HashToken("alice-token"), Rate: 1, Burst: 2},
		{ID: "query", SHA256: auth.HashToken("query-token")},
	}, nil)
	cases := []struct {
		name    string
		headers []string
		code    int
		body    string
	}{
		{"no token", nil, http.StatusUnauthorized, auth.ErrNoToken.Error()},
		{"unknown token", []string{"Authorization", "Bearer wrong"}, http.StatusForbidden, auth.ErrBadToken.Error()},
		{"bearer", []string{"Authorization", "Bearer alice-token"}, http.StatusOK, "key alice"},
		{"X-Auth-Token", []string{"X-Auth-Token", "alice-token"}, http.StatusOK, "key alice"},
	}
	for _, c := range cases {
		w := serve(h, c.headers...)
		if body := w.Body.String(); w.Code != c.code || body != c.body && body != c.body+"\n" {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, body, c.code, c.body)
		}
		if w.Header().Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After %q on a refusal no retry cures", c.name, w.Header().Get("Retry-After"))
		}
	}
	// Alice's burst of 2 is spent: the third request within the second
	// is refused until a token is back.
	w := serve(h, "X-Auth-Token", "alice-token")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || w.Body.String() != "rate limit of key alice exceeded\n" {
		t.Errorf("over the rate: %d, Retry-After %q, %q; want 429 with Retry-After 1", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
}

// A face may read its credential elsewhere (Judge0's query parameter).
func TestGuardToken(t *testing.T) {
	h := guarded(t, []auth.Key{{ID: "query", SHA256: auth.HashToken("query-token")}},
		func(r *http.Request) string { return r.URL.Query().Get("token") })
	if w := serve(h); w.Code != http.StatusOK || w.Body.String() != "key query" {
		t.Errorf("token from the query: %d %q", w.Code, w.Body.String())
	}
}

// Without keys everyone is admitted, with the empty key.
func TestGuardOpen(t *testing.T) {
	h := guarded(t, nil, nil)
	if w := serve(h); w.Code != http.StatusOK || w.Body.String() != "key " {
		t.Errorf("open keyring: %d %q", w.Code, w.Body.String())
	}
}

func TestKeyOfOutsideGuard(t *testing.T) {
	if key := middleware.KeyOf(t.Context()); key != nil {
		t.Errorf("KeyOf a context without a key: %v", key)
	}
}
