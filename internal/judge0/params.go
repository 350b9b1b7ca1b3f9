package judge0

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// readParams decodes a JSON body of parameters; an empty body has none.
func (s *Server) readParams(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opt.MaxBody)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil, err == io.EOF:
		return true
	case errors.As(err, &tooBig):
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
	default:
		railsError(w, r, http.StatusBadRequest)
	}
	return false
}

// readSubmission gathers one submission's parameters as Rails does: from a
// JSON or a form body, then from the query string, whose values win.
func (s *Server) readSubmission(w http.ResponseWriter, r *http.Request) (params, bool) {
	p := params{}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBody)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			} else {
				railsError(w, r, http.StatusBadRequest)
			}
			return nil, false
		}
		addValues(p, r.PostForm)
	} else if !s.readParams(w, r, &p) {
		return nil, false
	}
	addValues(p, r.URL.Query())
	return p, true
}

// addValues sets each form or query value in p as a string (the last of a
// repeated name, as Rails takes it).
func addValues(p params, values url.Values) {
	for name, vs := range values {
		p[name], _ = json.Marshal(vs[len(vs)-1])
	}
}

// b64Param says whether the request's texts are in base64.
func b64Param(r *http.Request) bool { return r.URL.Query().Get("base64_encoded") == "true" }
