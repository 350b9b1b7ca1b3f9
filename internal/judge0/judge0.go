// Package judge0 is the Judge0 CE v1.13.1 face of the service: its routes,
// request fields, validation messages and response shapes, so Judge0
// clients work unchanged. Jobs go through the same service as the native
// API (one queue, one store, one audit log, one set of keys and limits).
package judge0

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/middleware"
)

// Version is the Judge0 version this face speaks; SDKs choose their
// language tables by it.
const Version = "1.13.1"

// Face names Judge0 jobs in the store.
const Face = "judge0"

// Options configure the Judge0 face.
type Options struct {
	Keys         *auth.Keyring
	EnableDelete bool          // DELETE /submissions/{token} (off in Judge0 by default)
	MaxBody      int64         // bytes of a request body
	MaxQueue     int           // reported by /config_info
	WaitTimeout  time.Duration // longest wait=true; then the submission as it is
	Log          *slog.Logger
	Engine       *engine.Engine // lists languages and policies
}

// Server serves the Judge0 routes.
type Server struct {
	svc   *jobs.Service
	opt   Options
	guard middleware.Guard

	statsMu    sync.Mutex
	stats      []byte    // the last /statistics, as Judge0 caches it
	statsUntil time.Time // when it expires
}

// New makes the face and registers its callback format with the service.
func New(svc *jobs.Service, opt Options) *Server {
	if opt.WaitTimeout == 0 {
		opt.WaitTimeout = 60 * time.Second
	}
	if opt.MaxBody == 0 {
		opt.MaxBody = 8 << 20
	}
	if opt.MaxQueue == 0 {
		opt.MaxQueue = 1000
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	s := &Server{svc: svc, opt: opt}
	// X-Auth-Token must name a key, then the key's rate limit applies.
	s.guard = middleware.Guard{Keys: opt.Keys, Token: func(r *http.Request) string { return token(r, "X-Auth-Token") }, Refuse: s.refuse}
	svc.SetCallbackFormat(Face, s.callbackBody)
	return s
}

// Register adds the routes to mux.
func (s *Server) Register(mux interface {
	Handle(pattern string, h http.Handler)
}) {
	routes := map[string]http.HandlerFunc{
		"POST /submissions":           s.create,
		"GET /submissions":            s.authorized(s.index),
		"GET /submissions/{token}":    s.show,
		"DELETE /submissions/{token}": s.authorized(s.destroy),
		"POST /submissions/batch":     s.batchCreate,
		"GET /submissions/batch":      s.batchShow,
		"GET /languages":              s.languages,
		"GET /languages/all":          s.allLanguages,
		"GET /languages/{id}":         s.language,
		"GET /statuses":               s.statuses,
		"GET /about":                  s.about,
		"GET /version":                s.version,
		"GET /config_info":            s.configInfo,
		"GET /system_info":            s.systemInfo,
		"GET /workers":                s.workers,
		"GET /statistics":             s.statistics,
		"POST /authenticate":          func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
		"POST /authorize":             s.authorized(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
	}
	for pattern, h := range routes {
		mux.Handle(pattern, s.guard.Wrap(h))
	}
}
