package judge0

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/middleware"
)

// reply answers with v as JSON, or v itself when it is JSON already.
func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if raw, ok := v.([]byte); ok {
		w.Write(raw)
		return
	}
	json.NewEncoder(w).Encode(v)
}

// fail answers with Judge0's {"error": msg}.
func fail(w http.ResponseWriter, code int, msg string) {
	reply(w, code, map[string]string{"error": msg})
}

// railsError answers as Rails' public exceptions app: a JSON body only
// when the client's first accepted type is JSON, else an empty one (what
// curl and most SDKs, sending */*, get from Judge0).
func railsError(w http.ResponseWriter, r *http.Request, code int) {
	accept, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
	if mt, _, _ := strings.Cut(accept, ";"); strings.TrimSpace(mt) == "application/json" {
		reply(w, code, struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}{code, http.StatusText(code)})
		return
	}
	w.WriteHeader(code)
}

// refuse answers an error with its class's status (middleware.Status)
// in Judge0's shapes: a request without a valid X-Auth-Token is a 401
// with an empty body, as in Judge0; what Rails itself would refuse (404,
// 500) is railsError's; the rest is {"error": ...}.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := middleware.Status(w, err)
	switch {
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrBadToken):
		w.WriteHeader(http.StatusUnauthorized)
	case errors.Is(err, airlock.ErrQueueFull):
		fail(w, code, "queue is full")
	case code == http.StatusNotFound:
		railsError(w, r, code)
	case code == http.StatusInternalServerError:
		s.opt.Log.Error("judge0 request failed", "err", err)
		railsError(w, r, code)
	default:
		fail(w, code, err.Error())
	}
}
