package judge0

import (
	"net/http"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/middleware"
)

// keyOf is the key the request was admitted with.
func keyOf(r *http.Request) *auth.Key { return middleware.KeyOf(r.Context()) }

// token reads a Judge0 credential: the header, or a query parameter of
// the same name.
func token(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.URL.Query().Get(name)
}

// authorized: X-Auth-User must be an admin key's token; with none
// configured these calls are forbidden, as in Judge0.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := s.opt.Keys.IdentifyToken(token(r, "X-Auth-User"))
		if s.opt.Keys.Open() || err != nil || !key.Admin {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// visible says whether the caller may see a job: with keys, only its own
// (an admin sees all).
func (s *Server) visible(r *http.Request, j *airlock.Job) bool {
	key := keyOf(r)
	return j.Face == Face && (s.opt.Keys.Open() || key.Admin || j.KeyID == key.ID)
}
