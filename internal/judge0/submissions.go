package judge0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// create is POST /submissions: the token, or with wait=true the result.
func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	wait := r.URL.Query().Get("wait") == "true"
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	p, ok := s.readSubmission(w, r)
	if !ok {
		return
	}
	b64 := b64Param(r)
	var idem string
	if v := r.Header.Values(jobs.IdempotencyHeader); len(v) > 0 {
		if idem = strings.Join(v, ","); idem == "" {
			idem = " " // present but empty: refused as a bad key
		}
	}
	j, errs, err := s.submit(r, p, b64, idem)
	switch {
	case err != nil:
		s.refuse(w, r, err)
		return
	case errs != nil:
		reply(w, http.StatusUnprocessableEntity, errs)
		return
	case !wait:
		reply(w, http.StatusCreated, map[string]string{"token": j.ID})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.WaitTimeout)
	defer cancel()
	if done, _ := s.svc.Wait(ctx, j.ID); done != nil {
		j = done // finished, or as it is when the wait ended (a timeout, a shutdown)
	}
	body, err := s.render(r.Context(), j, fields, b64)
	if errors.Is(err, errNotUTF8) {
		reply(w, http.StatusCreated, struct {
			Error string `json:"error"`
			Token string `json:"token"`
		}{err.Error(), j.ID})
		return
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	reply(w, http.StatusCreated, body)
}

// submit validates and queues one submission; errs are Judge0's 422 body.
// With an idempotency key (the Idempotency-Key header of a single
// create), a retry of the same submission is the first one's job.
func (s *Server) submit(r *http.Request, p params, b64 bool, idempotencyKey string) (*airlock.Job, *fieldErrors, error) {
	ctx := r.Context()
	key := keyOf(r)
	pol := s.opt.Engine.Policy(key.Policy)
	rec, errs := parseSubmission(p, b64, func(id int) (installed, bool) { return s.languageByID(ctx, id) }, boundsOf(pol))
	if !errs.empty() {
		return nil, errs, nil
	}
	req, err := rec.request(pol)
	if err != nil {
		return nil, nil, err
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	meta := jobs.Meta{Face: Face, KeyID: key.ID, ClientAddr: host, MaxActive: key.MaxActive, Limits: key.Policy, IdempotencyKey: idempotencyKey}
	if rec.CallbackURL != nil {
		meta.CallbackURL = *rec.CallbackURL
	}
	j, err := s.svc.Submit(ctx, req, meta)
	var bad *engine.InvalidError
	if errors.As(err, &bad) {
		errs.add(judgeField(bad.Field), "%s", bad.Problem)
		return nil, errs, nil
	}
	return j, nil, err
}

// judgeField names an engine field in Judge0's words.
func judgeField(f string) string {
	switch {
	case strings.HasPrefix(f, "files"):
		return "additional_files"
	case f == "args":
		return "command_line_arguments"
	case f == "compile_options":
		return "compiler_options"
	case strings.HasPrefix(f, "limits."):
		// The engine's refusals, should a limit pass Judge0's checks.
		switch strings.TrimPrefix(f, "limits.") {
		case "wall_ms":
			return "wall_time_limit"
		case "cpu_ms":
			return "cpu_time_limit"
		case "pids":
			return "max_processes_and_or_threads"
		case "stack_mb":
			return "stack_limit"
		case "file_size_mb", "output_kb":
			return "max_file_size"
		}
		return "memory_limit"
	}
	return f
}

// render shows a job in the requested fields.
func (s *Server) render(ctx context.Context, j *airlock.Job, fields []string, b64 bool) ([]byte, error) {
	v, err := s.view(ctx, j, b64)
	if err != nil {
		return nil, err
	}
	return v.render(fields)
}

// renderListed renders one job of a list (a batch, the admin listing),
// answering the request itself when it cannot: a job whose output JSON
// cannot carry fails the whole list, as in Judge0.
func (s *Server) renderListed(w http.ResponseWriter, r *http.Request, j *airlock.Job, fields []string, b64 bool) ([]byte, bool) {
	body, err := s.render(r.Context(), j, fields, b64)
	if errors.Is(err, errNotUTF8) {
		fail(w, http.StatusBadRequest, "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter")
		return nil, false
	}
	if err != nil {
		s.refuse(w, r, err)
		return nil, false
	}
	return body, true
}

func (s *Server) view(ctx context.Context, j *airlock.Job, b64 bool) (view, error) {
	if err := s.svc.LoadRequest(ctx, j); err != nil {
		return view{}, err
	}
	var rec record
	if err := json.Unmarshal(j.Request.Origin, &rec); err != nil {
		return view{}, fmt.Errorf("judge0 submission %s: %w", j.ID, err)
	}
	name := ""
	if l, ok := s.languageByID(ctx, rec.LanguageID); ok {
		name = l.Name
	}
	return view{job: j, rec: &rec, lang: name, b64: b64}, nil
}

// show is GET /submissions/{token}.
func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	j, err := s.svc.Get(r.Context(), r.PathValue("token"))
	if err == nil && !s.visible(r, j) {
		err = airlock.ErrNotFound
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	body, err := s.render(r.Context(), j, fields, b64Param(r))
	if errors.Is(err, errNotUTF8) {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	reply(w, http.StatusOK, body)
}
