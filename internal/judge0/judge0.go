// Package judge0 is the Judge0 CE v1.13.1 face of the service: its routes,
// request fields, validation messages and response shapes, so Judge0
// clients work unchanged. Jobs go through the same service as the native
// API (one queue, one store, one audit log, one set of keys and limits).
package judge0

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/middleware"
	"github.com/airlock-dev/airlock/internal/webhook"
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

// statsCache is how long /statistics is answered from the cache, as in
// Judge0 (invalidate_cache=true refreshes it).
const statsCache = 10 * time.Minute

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

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if raw, ok := v.([]byte); ok {
		w.Write(raw)
		return
	}
	json.NewEncoder(w).Encode(v)
}

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

// submit validates and queues one submission; errs are Judge0's 422 body.
// With an idempotency key (the Idempotency-Key header of a single
// create), a retry of the same submission is the first one's job.
func (s *Server) submit(r *http.Request, p params, b64 bool, idempotencyKey string) (*airlock.Job, *fieldErrors, error) {
	ctx := r.Context()
	key := keyOf(r)
	pol := s.svc.Engine().Policy(key.Policy)
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

func b64Param(r *http.Request) bool { return r.URL.Query().Get("base64_encoded") == "true" }

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

// render shows a job in the requested fields.
func (s *Server) render(ctx context.Context, j *airlock.Job, fields []string, b64 bool) ([]byte, error) {
	v, err := s.view(ctx, j, b64)
	if err != nil {
		return nil, err
	}
	return v.render(fields)
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

func (s *Server) batchCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Submissions []params `json:"submissions"`
	}
	if !s.readParams(w, r, &body) {
		return
	}
	if len(r.Header.Values(jobs.IdempotencyHeader)) > 0 {
		// One key cannot name each of a batch's jobs; a client that
		// needs retries submits them one by one.
		fail(w, http.StatusBadRequest, "Idempotency-Key: not taken on a batch; submit one by one")
		return
	}
	switch n := len(body.Submissions); {
	case n > maxBatch:
		fail(w, http.StatusBadRequest, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", maxBatch))
		return
	case n == 0:
		fail(w, http.StatusBadRequest, "there should be at least one submission in a batch")
		return
	}
	waiting, err := s.svc.QueueLen(r.Context())
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if waiting+len(body.Submissions) > s.opt.MaxQueue {
		s.refuse(w, r, airlock.ErrQueueFull)
		return
	}
	b64 := b64Param(r)
	out := make([]any, len(body.Submissions))
	valid := false
	for i, p := range body.Submissions {
		j, errs, err := s.submit(r, p, b64, "")
		switch {
		case errors.Is(err, airlock.ErrQueueFull):
			out[i] = map[string]string{"error": "queue is full"}
		case errors.Is(err, jobs.ErrTooManyActive), errors.As(err, new(*jobs.CodeTooLargeError)):
			// Earlier items are queued: their tokens must reach the client.
			out[i] = map[string]string{"error": err.Error()}
		case err != nil:
			s.refuse(w, r, err)
			return
		case errs != nil:
			out[i] = errs
		default:
			out[i] = map[string]string{"token": j.ID}
			valid = true
		}
	}
	code := http.StatusCreated
	if !valid {
		code = http.StatusUnprocessableEntity
	}
	reply(w, code, out)
}

func (s *Server) batchShow(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	list := r.Header.Get("tokens")
	if list == "" {
		list = r.URL.Query().Get("tokens")
	}
	var tokens []string
	for t := range strings.SplitSeq(strings.TrimSpace(list), ",") {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	switch {
	case len(tokens) > maxBatch:
		fail(w, http.StatusBadRequest, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", maxBatch))
		return
	case len(tokens) == 0:
		fail(w, http.StatusBadRequest, "there should be at least one submission in a batch")
		return
	}
	b64 := b64Param(r)
	out := make([]json.RawMessage, len(tokens))
	for i, t := range tokens {
		out[i] = json.RawMessage("null")
		j, err := s.svc.Get(r.Context(), t)
		if errors.Is(err, airlock.ErrNotFound) || err == nil && !s.visible(r, j) {
			continue
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		body, err := s.render(r.Context(), j, fields, b64)
		if errors.Is(err, errNotUTF8) {
			fail(w, http.StatusBadRequest, "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter")
			return
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		out[i] = body
	}
	reply(w, http.StatusOK, map[string]any{"submissions": out})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	page, perPage := 1, 20
	if v := r.URL.Query().Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		perPage, _ = strconv.Atoi(v)
	}
	switch {
	case page <= 0:
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid page: %d", page))
		return
	case perPage <= 0:
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid per_page: %d", perPage))
		return
	}
	list, total, err := s.svc.List(r.Context(), Face, (page-1)*perPage, perPage)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	subs := []json.RawMessage{}
	for _, j := range list {
		body, err := s.render(r.Context(), j, fields, b64Param(r))
		if errors.Is(err, errNotUTF8) {
			fail(w, http.StatusBadRequest, "some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter")
			return
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		subs = append(subs, body)
	}
	pages := (total + perPage - 1) / perPage
	var next, prev any
	if page < pages {
		next = page + 1
	}
	if page > 1 {
		prev = page - 1
	}
	type meta struct {
		CurrentPage int `json:"current_page"`
		NextPage    any `json:"next_page"`
		PrevPage    any `json:"prev_page"`
		TotalPages  int `json:"total_pages"`
		TotalCount  int `json:"total_count"`
	}
	reply(w, http.StatusOK, struct {
		Submissions []json.RawMessage `json:"submissions"`
		Meta        meta              `json:"meta"`
	}{subs, meta{page, next, prev, pages, total}})
}

func (s *Server) destroy(w http.ResponseWriter, r *http.Request) {
	fields, err := parseFields(r.URL.Query().Get("fields"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.opt.EnableDelete {
		fail(w, http.StatusBadRequest, "delete not allowed")
		return
	}
	j, err := s.svc.Get(r.Context(), r.PathValue("token"))
	if err == nil && j.Face != Face {
		err = airlock.ErrNotFound
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if st := statusOf(j, nil); st.ID <= 2 {
		fail(w, http.StatusBadRequest, fmt.Sprintf("submission cannot be deleted because its status is %d (%s)", st.ID, st.Description))
		return
	}
	body, err := s.render(r.Context(), j, fields, true) // base64: the data must survive the delete
	if err == nil {
		err = s.svc.Delete(r.Context(), j.ID)
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	reply(w, http.StatusOK, body)
}

// callbackBody is Judge0's callback: a PUT of the default fields in
// base64, each of its tries bounded by 5 s, retried only when it fails.
func (s *Server) callbackBody(j *airlock.Job) (webhook.Call, error) {
	body, err := s.render(context.Background(), j, defaultFields, true)
	return webhook.Call{Method: http.MethodPut, Body: body, Timeout: callbackTimeout, AnyAnswer: true}, err
}

// callbackTimeout is Judge0's CALLBACKS_TIMEOUT default.
const callbackTimeout = 5 * time.Second

type languageJSON struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	IsArchived *bool  `json:"is_archived,omitempty"`
	SourceFile string `json:"source_file,omitempty"`
	CompileCmd any    `json:"compile_cmd,omitempty"`
	RunCmd     any    `json:"run_cmd,omitempty"`
}

func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	out := []languageJSON{}
	for _, l := range s.installedLanguages(r.Context()) {
		out = append(out, languageJSON{ID: l.id, Name: l.Name})
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) allLanguages(w http.ResponseWriter, r *http.Request) {
	out := []languageJSON{}
	archived := false
	for _, l := range s.installedLanguages(r.Context()) {
		out = append(out, languageJSON{ID: l.id, Name: l.Name, IsArchived: &archived})
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) language(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	l, ok := s.languageByID(r.Context(), id)
	if err != nil || !ok {
		railsError(w, r, http.StatusNotFound)
		return
	}
	shown := struct {
		ID         int     `json:"id"`
		Name       string  `json:"name"`
		IsArchived bool    `json:"is_archived"`
		SourceFile *string `json:"source_file"`
		CompileCmd any     `json:"compile_cmd"`
		RunCmd     any     `json:"run_cmd"`
	}{l.id, l.Name, false, nil, command(l.Catalog.Compile, l), command(l.Catalog.Run, l)}
	if !l.isProject() {
		shown.SourceFile = &l.sourceFile
	}
	reply(w, http.StatusOK, shown)
}

func (s *Server) statuses(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, statuses) }

func (s *Server) about(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, struct {
		Version    string `json:"version"`
		Homepage   string `json:"homepage"`
		SourceCode string `json:"source_code"`
		Maintainer string `json:"maintainer"`
	}{Version, "https://github.com/airlock-dev/airlock", "https://github.com/airlock-dev/airlock", "airlock (Judge0 CE " + Version + " compatible API)"})
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, Version)
}

// configInfo reports the settings in Judge0's keys and order.
// The limits are the server's (a key may have lower maxima).
func (s *Server) configInfo(w http.ResponseWriter, _ *http.Request) {
	type kv struct {
		k string
		v any
	}
	lim := boundsOf(s.svc.Engine().Policy(airlock.Policy{}))
	settings := []kv{
		{"maintenance_mode", false}, {"enable_wait_result", true}, {"enable_compiler_options", true},
		{"allowed_languages_for_compile_options", []string{}}, {"enable_command_line_arguments", true},
		{"enable_submission_delete", s.opt.EnableDelete}, {"enable_callbacks", true}, {"callbacks_max_tries", 3},
		{"callbacks_timeout", callbackTimeout.Seconds()}, {"enable_additional_files", true}, {"max_queue_size", s.opt.MaxQueue},
		{"cpu_time_limit", lim.cpu.def}, {"max_cpu_time_limit", lim.cpu.max}, {"cpu_extra_time", lim.extra.def},
		{"max_cpu_extra_time", lim.extra.max}, {"wall_time_limit", lim.wall.def}, {"max_wall_time_limit", lim.wall.max},
		{"memory_limit", int(lim.memoryKB.def)}, {"max_memory_limit", int(lim.memoryKB.max)}, {"stack_limit", int(lim.stackKB.def)},
		{"max_stack_limit", int(lim.stackKB.max)}, {"max_processes_and_or_threads", int(lim.processes.def)},
		{"max_max_processes_and_or_threads", int(lim.processes.max)}, {"enable_per_process_and_thread_time_limit", false},
		{"allow_enable_per_process_and_thread_time_limit", false}, {"enable_per_process_and_thread_memory_limit", false},
		{"allow_enable_per_process_and_thread_memory_limit", false}, {"max_file_size", int(lim.fileKB.def)},
		{"max_max_file_size", int(lim.fileKB.max)}, {"number_of_runs", 1}, {"max_number_of_runs", maxRuns},
		{"redirect_stderr_to_stdout", false}, {"max_extract_size", maxExtractKB}, {"enable_batched_submissions", true},
		{"max_submission_batch_size", maxBatch}, {"submission_cache_duration", 0.0}, {"use_docs_as_homepage", false},
		{"allow_enable_network", false}, {"enable_network", false},
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range settings {
		if i > 0 {
			b.WriteByte(',')
		}
		v, _ := json.Marshal(s.v)
		if f, ok := s.v.(float64); ok {
			v = []byte(decimal(f)) // Ruby floats print as 5.0
		}
		fmt.Fprintf(&b, "%q:%s", s.k, v)
	}
	b.WriteByte('}')
	reply(w, http.StatusOK, []byte(b.String()))
}

// systemInfo gives lscpu's and free's main lines, as Judge0 does.
func (s *Server) systemInfo(w http.ResponseWriter, _ *http.Request) {
	info := map[string]string{"Architecture": runtime.GOARCH, "CPU(s)": strconv.Itoa(runtime.NumCPU())}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				info["Model name"] = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var name string
			var kb int64
			if _, err := fmt.Sscanf(sc.Text(), "%s %d kB", &name, &kb); err != nil {
				continue
			}
			switch name {
			case "MemTotal:":
				info["Mem"] = fmt.Sprintf("%.1fGi", float64(kb)/(1<<20))
			case "SwapTotal:":
				info["Swap"] = fmt.Sprintf("%.1fGi", float64(kb)/(1<<20))
			}
		}
		f.Close()
	}
	reply(w, http.StatusOK, info)
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	waiting, err := s.svc.QueueLen(r.Context())
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	total, busy := s.svc.Workers()
	type queue struct {
		Queue     string `json:"queue"`
		Size      int    `json:"size"`
		Available int    `json:"available"`
		Idle      int    `json:"idle"`
		Working   int    `json:"working"`
		Paused    int    `json:"paused"`
		Failed    int    `json:"failed"`
	}
	reply(w, http.StatusOK, []queue{{Version, waiting, total, total - busy, busy, 0, 0}})
}

// statistics counts submissions of every face: Judge0 counts its whole
// database too. Statuses are counted by airlock status, named in Judge0's
// words (a runtime error counts as NZEC: the signal is not in the count).
func (s *Server) statistics(w http.ResponseWriter, r *http.Request) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	now := time.Now().UTC()
	if s.stats == nil || now.After(s.statsUntil) || r.URL.Query().Get("invalidate_cache") == "true" {
		body, err := s.countAll(r.Context(), now)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		s.stats, s.statsUntil = body, now.Add(statsCache)
	}
	reply(w, http.StatusOK, s.stats)
}

// countAll renders the statistics of every submission as of now.
func (s *Server) countAll(ctx context.Context, now time.Time) ([]byte, error) {
	today := now.Truncate(24 * time.Hour)
	st, err := s.svc.Stats(ctx, today.AddDate(0, 0, -30))
	if err != nil {
		return nil, err
	}
	type named struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	type languageCount struct {
		Language named `json:"language"`
		Count    int   `json:"count"`
	}
	type statusCount struct {
		Status named `json:"status"`
		Count  int   `json:"count"`
	}
	byLanguage, byStatus := []languageCount{}, []statusCount{}
	for l, n := range st.ByLanguage {
		name := l
		if il, ok := s.languageByID(ctx, judge0ID(l)); ok {
			name = il.Name
		}
		byLanguage = append(byLanguage, languageCount{named{judge0ID(l), name}, n})
	}
	byID := map[int]int{}
	for status, n := range st.ByStatus {
		byID[statusOf(&airlock.Job{Status: status, Result: &airlock.Result{}}, nil).ID] += n
	}
	for id, n := range byID {
		byStatus = append(byStatus, statusCount{named{id, statuses[id-1].Description}, n})
	}
	sort.SliceStable(byLanguage, func(i, j int) bool { return byLanguage[i].Count > byLanguage[j].Count })
	sort.SliceStable(byStatus, func(i, j int) bool { return byStatus[i].Count > byStatus[j].Count })
	days := map[string]int{}
	var keys []string
	for d := range 30 {
		day := today.AddDate(0, 0, -30+d).Format("2006-01-02")
		days[day] = st.ByDay[day]
		keys = append(keys, day)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var last30 strings.Builder
	last30.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			last30.WriteByte(',')
		}
		fmt.Fprintf(&last30, "%q:%d", k, days[k])
	}
	last30.WriteByte('}')
	type counts struct {
		Total      int             `json:"total"`
		Today      int             `json:"today"`
		Last30Days json.RawMessage `json:"last_30_days"`
	}
	type database struct {
		SizePretty  string `json:"size_pretty"`
		SizeInBytes int64  `json:"size_in_bytes"`
	}
	stamp := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-07:00") } // Rails' DateTime
	return json.Marshal(struct {
		CreatedAt   string          `json:"created_at"`
		CachedUntil string          `json:"cached_until"`
		Submissions counts          `json:"submissions"`
		Languages   []languageCount `json:"languages"`
		Statuses    []statusCount   `json:"statuses"`
		Database    database        `json:"database"`
	}{stamp(now), stamp(now.Add(statsCache)), counts{st.Total, st.ByDay[today.Format("2006-01-02")], json.RawMessage(last30.String())},
		byLanguage, byStatus, database{prettySize(st.DatabaseBytes), st.DatabaseBytes}})
}

// prettySize writes a size as PostgreSQL's pg_size_pretty, which Judge0's
// statistics show: bytes below 10240, else the largest unit that keeps the
// number (rounded half up) below 10240.
func prettySize(n int64) string {
	const limit = 10 * 1024
	if n < limit {
		return fmt.Sprintf("%d bytes", n)
	}
	half := n >> 9 // in halves of the unit, for the rounding
	units := []string{"kB", "MB", "GB", "TB"}
	for _, unit := range units[:len(units)-1] {
		if half < 2*limit-1 {
			return fmt.Sprintf("%d %s", (half+1)/2, unit)
		}
		half >>= 10
	}
	return fmt.Sprintf("%d %s", (half+1)/2, units[len(units)-1])
}
