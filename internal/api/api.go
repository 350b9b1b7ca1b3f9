// Package api is the native HTTP API (docs/architecture.md, API faces):
// JSON in, JSON out, every error a JSON {error} with the status code that
// names its class.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/metrics"
	"github.com/airlock-dev/airlock/internal/middleware"
	"github.com/airlock-dev/airlock/internal/webhook"
	"github.com/airlock-dev/airlock/internal/wire"
)

// Options configure the API.
type Options struct {
	Keys        []auth.Key
	MaxBody     int64         // bytes of a request body; default 8 MiB
	WaitTimeout time.Duration // longest ?wait=true; default 60s, then 202
	Metrics     *metrics.Metrics
	Log         *slog.Logger
	Engine      *engine.Engine // checks requests, lists languages and policies
	// NetworkHosts are what a job asking for network may reach when no
	// keys are configured; with keys, each key's Network.
	NetworkHosts []string
}

// Server serves the API.
type Server struct {
	svc   *jobs.Service
	opt   Options
	keys  *auth.Keyring
	guard middleware.Guard
	mux   *http.ServeMux
}

// New builds the API over a job service.
func New(svc *jobs.Service, opt Options) (*Server, error) {
	if opt.MaxBody == 0 {
		opt.MaxBody = 8 << 20
	}
	if opt.WaitTimeout == 0 {
		opt.WaitTimeout = 60 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	keys, err := auth.NewKeyring(opt.Keys)
	if err != nil {
		return nil, err
	}
	s := &Server{svc: svc, opt: opt, keys: keys, mux: http.NewServeMux()}
	s.guard = middleware.Guard{Keys: keys, Refuse: s.refuse}
	authed := s.guard.Wrap
	s.route("/v1/executions", map[string]http.HandlerFunc{http.MethodPost: authed(s.create)})
	s.route("/v1/executions/{id}", map[string]http.HandlerFunc{http.MethodGet: authed(s.get), http.MethodDelete: authed(s.cancel)})
	s.route("/v1/languages", map[string]http.HandlerFunc{http.MethodGet: authed(s.languages)})
	s.route("/v1/environments", map[string]http.HandlerFunc{http.MethodGet: authed(s.environments)})
	s.route("/v1/limits", map[string]http.HandlerFunc{http.MethodGet: authed(s.limits)})
	s.route("/healthz", map[string]http.HandlerFunc{http.MethodGet: s.healthz})
	if opt.Metrics != nil {
		h := promhttp.HandlerFor(opt.Metrics.Registry, promhttp.HandlerOpts{})
		s.route("/metrics", map[string]http.HandlerFunc{http.MethodGet: h.ServeHTTP})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	})
	return s, nil
}

// Keys is the keyring, for the other API faces to share keys and limits.
func (s *Server) Keys() *auth.Keyring { return s.keys }

// Open says whether the API runs without keys.
func (s *Server) Open() bool { return s.keys.Open() }

// Handle adds routes of another API (Judge0, Piston) to the same server.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// route serves pattern with one handler per method; any other method is a
// JSON 405 naming the allowed ones.
func (s *Server) route(pattern string, byMethod map[string]http.HandlerFunc) {
	var allowed []string
	for m := range byMethod {
		allowed = append(allowed, m)
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if h := byMethod[r.Method]; h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		fail(w, http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
	})
}

// ServeHTTP counts and serves a request; a panic is a 500, never a crash.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			s.opt.Log.Error("handler panic", "path", r.URL.Path, "panic", p)
			fail(rec, http.StatusInternalServerError, "internal error")
		}
		if s.opt.Metrics != nil {
			_, pattern := s.mux.Handler(r)
			s.opt.Metrics.Requests.WithLabelValues(pattern, strconv.Itoa(rec.code)).Inc()
		}
	}()
	s.mux.ServeHTTP(rec, r)
}

type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets handlers reach the connection (a WebSocket upgrade hijacks it).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	reply(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func keyOf(r *http.Request) *auth.Key { return middleware.KeyOf(r.Context()) }

// createRequest is the body of POST /v1/executions.
type createRequest struct {
	wire.Submission
	CallbackURL string `json:"callback_url,omitempty"`
}

var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

// decode reads a JSON body strictly: unknown fields and wrong types are
// 422 naming the field, anything else unreadable is 400, too big is 413.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	code, msg := decodeJSON(http.MaxBytesReader(w, r.Body, s.opt.MaxBody), v)
	if code != 0 {
		fail(w, code, "%s", msg)
		return false
	}
	return true
}

func decodeJSON(body io.Reader, v any) (int, string) {
	data, err := io.ReadAll(body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("reading the body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			err = nil
		} else {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &typeErr):
		return http.StatusUnprocessableEntity, fmt.Sprintf("%s: want a JSON %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case unknownField.MatchString(err.Error()):
		name := unknownField.FindStringSubmatch(err.Error())[1]
		return http.StatusUnprocessableEntity, fmt.Sprintf("%s: unknown field", unknownPath(data, reflect.TypeOf(v), name))
	default:
		return http.StatusBadRequest, fmt.Sprintf("malformed JSON: %v", err)
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var body createRequest
	if !s.decode(w, r, &body) {
		return
	}
	req, err := s.opt.Engine.Request(body.Submission)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if body.CallbackURL != "" {
		if err := webhook.Validate(body.CallbackURL); err != nil {
			fail(w, http.StatusUnprocessableEntity, "callback_url: %v", err)
			return
		}
	}
	key := keyOf(r)
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	meta := jobs.Meta{KeyID: key.ID, ClientAddr: host, CallbackURL: body.CallbackURL, MaxActive: key.MaxActive, Limits: key.Policy}
	if body.Network {
		if meta.Network = s.networkHosts(key); len(meta.Network) == 0 {
			s.refuse(w, r, &engine.InvalidError{Field: "network", Problem: s.noNetwork()})
			return
		}
	}
	if v := r.Header.Values(jobs.IdempotencyHeader); len(v) > 0 {
		meta.IdempotencyKey = strings.Join(v, ",") // a repeated header is not one key
		if err := jobs.CheckIdempotencyKey(meta.IdempotencyKey); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	job, err := s.svc.Submit(r.Context(), req, meta)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if r.URL.Query().Get("wait") != "true" {
		reply(w, http.StatusAccepted, map[string]string{"id": job.ID, "status": string(job.Status)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.WaitTimeout)
	defer cancel()
	done, err := s.svc.Wait(ctx, job.ID)
	switch {
	case err == nil:
		reply(w, http.StatusOK, wire.JobOf(done))
	case r.Context().Err() == nil && (ctx.Err() != nil || errors.Is(err, jobs.ErrShuttingDown)):
		// Accepted, and not finished yet: the client comes back for it.
		if done == nil { // the wait ended during its first read
			done = job
		}
		reply(w, http.StatusAccepted, map[string]string{"id": job.ID, "status": string(done.Status)})
	default:
		s.refuse(w, r, err)
	}
}

// networkHosts are the hosts a job of key may reach when it asks for
// network: the key's, or the server's when it has no keys.
func (s *Server) networkHosts(key *auth.Key) []string {
	if s.keys.Open() {
		return s.opt.NetworkHosts
	}
	return key.Network
}

// noNetwork says why a job may not ask for network.
func (s *Server) noNetwork() string {
	if s.keys.Open() {
		return "this server allows jobs no network (network_hosts is not set)"
	}
	return "this API key allows no network (the operator lists the hosts a key's jobs may reach, network in its config)"
}

// refuse answers an error with its class's status (middleware.Status)
// and a JSON {error}.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, err error) {
	code := middleware.Status(w, err)
	msg := err.Error()
	switch {
	case errors.Is(err, auth.ErrNoToken):
		w.Header().Set("WWW-Authenticate", "Bearer")
	case errors.Is(err, airlock.ErrQueueFull):
		msg = "the queue is full; try again later"
	case code == http.StatusNotFound:
		msg = "no such execution"
	case errors.Is(err, context.Canceled):
		msg = "the request was abandoned"
	case code == http.StatusInternalServerError:
		s.opt.Log.Error("request failed", "err", err)
		msg = "internal error"
	}
	fail(w, code, "%s", msg)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	j, err := s.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if !s.owns(r, j) {
		fail(w, http.StatusNotFound, "no such execution") // others' jobs do not exist for you
		return
	}
	reply(w, http.StatusOK, wire.JobOf(j))
}

// owns says whether the request's key may see a job: one submitted
// through /v1 (each API face sees only its own jobs: the Judge0 and
// Piston faces have their own formats and rules, such as who may delete a
// Judge0 submission) by the same key, or by anyone in open mode.
func (s *Server) owns(r *http.Request, j *airlock.Job) bool {
	return j.Face == "" && (s.keys.Open() || j.KeyID == keyOf(r).ID)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, err := s.svc.Get(r.Context(), id)
	if err == nil && !s.owns(r, j) {
		err = airlock.ErrNotFound
	}
	if err == nil {
		j, err = s.svc.Cancel(r.Context(), id)
	}
	if err == nil && j.Status == airlock.StatusRunning {
		// Its sandbox is being killed (within a second on a fleet's
		// worker): answer with the end rather than "running".
		ctx, stop := context.WithTimeout(r.Context(), cancelWait)
		if done, werr := s.svc.Wait(ctx, id); werr == nil {
			j = done
		}
		stop()
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	reply(w, http.StatusOK, wire.JobOf(j))
}

// cancelWait bounds how long a cancel waits for a running job to end.
const cancelWait = 5 * time.Second

// languageJSON is a language with the limits of the caller's jobs in it.
type languageJSON struct {
	engine.LanguageInfo
	Limits wire.Policy `json:"limits"`
}

func (s *Server) languages(w http.ResponseWriter, r *http.Request) {
	eng := s.opt.Engine
	out := []languageJSON{}
	for _, info := range eng.Languages(r.Context(), false) {
		l, err := eng.Catalog().Lookup(info.ID)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		out = append(out, languageJSON{info, wire.PolicyOf(eng.LanguagePolicy(l, keyOf(r).Policy))})
	}
	reply(w, http.StatusOK, out)
}

// environments lists the operator's named environments.
func (s *Server) environments(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, s.opt.Engine.NamedEnvironments(r.Context()))
}

// limits shows the caller's key's defaults and maxima.
func (s *Server) limits(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, wire.PolicyOf(s.opt.Engine.Policy(keyOf(r).Policy)))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	Healthz(w, s.svc.Health(r.Context()))
}

// Healthz answers a health check: 200 when every dependency works, else
// 503 naming those down; every check and the queue's length either way.
func Healthz(w http.ResponseWriter, h *jobs.Health) {
	if !h.OK() {
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "down": h.Down(), "checks": h.Checks})
		return
	}
	reply(w, http.StatusOK, map[string]any{"status": "ok", "queue": h.Queued, "checks": h.Checks})
}
