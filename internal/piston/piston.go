// Package piston is the Piston v2 face of the service (Piston v3.1.1's
// /api/v2): runtimes, execute and the interactive connect socket, with
// Piston's request fields, messages and result shapes, so Piston clients
// work unchanged. Executions go through the jobs service like every other
// API's: one queue, one store, one audit log, one set of keys and limits.
package piston

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/middleware"
)

// Face names Piston jobs in the store.
const Face = "piston"

// Version is the Piston release whose API this face speaks.
const Version = "3.1.1"

// Options configure the Piston face.
type Options struct {
	Keys    *auth.Keyring
	MaxBody int64 // bytes of a request body or socket message; default 8 MiB
	Log     *slog.Logger
	Engine  *engine.Engine // lists languages and policies
}

// Server serves Piston's routes.
type Server struct {
	svc   *jobs.Service
	opt   Options
	guard middleware.Guard
}

// New makes the face.
func New(svc *jobs.Service, opt Options) *Server {
	if opt.MaxBody == 0 {
		opt.MaxBody = 8 << 20
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	s := &Server{svc: svc, opt: opt}
	s.guard = middleware.Guard{Keys: opt.Keys, Refuse: s.refuse}
	return s
}

// Register adds the routes to mux.
func (s *Server) Register(mux interface {
	Handle(pattern string, h http.Handler)
}) {
	routes := map[string]http.HandlerFunc{
		"GET /api/v2/runtimes": s.guard.Wrap(s.runtimes),
		"POST /api/v2/execute": s.guard.Wrap(s.execute),
		"GET /api/v2/connect":  s.guard.Wrap(s.connect),
		"/api/v2/":             func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusNotFound, "Not Found") },
	}
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
}

// reply answers Piston's way: an error is {"message": ...}.
func reply(w http.ResponseWriter, code int, v any) {
	if msg, ok := v.(string); ok {
		v = map[string]string{"message": msg}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Banner is Piston's answer at /: its name and version.
func (s *Server) Banner(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, "Piston v"+Version)
}

// meta is what the service keeps of an admitted request.
func (s *Server) meta(r *http.Request) jobs.Meta {
	key := middleware.KeyOf(r.Context())
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return jobs.Meta{Face: Face, KeyID: key.ID, ClientAddr: host, MaxActive: key.MaxActive, Limits: key.Policy}
}

// refuse answers an error with its class's status (middleware.Status) and
// Piston's {"message": ...}. Piston knows no 403 nor 422: a request with
// a bad key is a 401, an invalid one a 400.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, err error) {
	code := middleware.Status(w, err)
	switch {
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrBadToken):
		w.Header().Set("WWW-Authenticate", "Bearer")
		code = http.StatusUnauthorized
	case errors.As(err, new(*engine.InvalidError)):
		code = http.StatusBadRequest
	case code == http.StatusInternalServerError:
		s.opt.Log.Error("piston execute", "err", err)
	}
	reply(w, code, wording(err))
}

// wording is an error in the words a client is shown.
func wording(err error) string {
	var bad *engine.InvalidError
	switch {
	case errors.As(err, &bad):
		return bad.Error()
	case errors.Is(err, airlock.ErrQueueFull):
		return "queue is full"
	case middleware.Classify(err).Status == http.StatusInternalServerError:
		return "internal error"
	}
	return err.Error()
}

type runtimeJSON struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`
}

func (s *Server) runtimes(w http.ResponseWriter, r *http.Request) {
	out := []runtimeJSON{}
	for _, rt := range s.installed(r.Context()) {
		out = append(out, runtimeJSON{rt.Language, rt.Version, rt.Aliases, rt.Runtime})
	}
	reply(w, http.StatusOK, out)
}

// jsonBody says whether the request declares a body this face reads.
// Piston takes application/json only; text/plain is taken too because
// fetch-based clients (the npm piston-client among them) send their JSON
// string with fetch's default type.
func jsonBody(r *http.Request) bool {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	return strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/plain")
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(r) {
		reply(w, http.StatusUnsupportedMediaType, "requests must be of type application/json")
		return
	}
	var body map[string]json.RawMessage
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opt.MaxBody)).Decode(&body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
		return
	case err != nil:
		// Piston's body parser answers with the error's stack alone; the
		// message is ours, for clients that show one.
		reply(w, http.StatusBadRequest, map[string]string{"message": "malformed JSON: " + err.Error(), "stack": "SyntaxError: " + err.Error()})
		return
	}
	meta := s.meta(r)
	req, rt, err := s.parse(r.Context(), body, meta.Limits)
	if err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	if v := r.Header.Values(jobs.IdempotencyHeader); len(v) > 0 {
		meta.IdempotencyKey = strings.Join(v, ",")
		if err := jobs.CheckIdempotencyKey(meta.IdempotencyKey); err != nil {
			reply(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	j, err := s.svc.Submit(r.Context(), req, meta)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	done, err := s.svc.Wait(r.Context(), j.ID)
	if err != nil && meta.IdempotencyKey == "" {
		// The wait ended before the job: the client is gone, the server is
		// shutting down or the store cannot be read. A Piston client has
		// no id to come back for the result, so the job is cancelled: a
		// retry then runs it once. Unless it finished meanwhile. With an
		// idempotency key the job runs on, and a retry with the key gets
		// its result.
		if cur, cerr := s.svc.Cancel(context.WithoutCancel(r.Context()), j.ID); cerr == nil && cur.Status.Finished() && cur.Status != airlock.StatusCancelled {
			done, err = cur, nil
		}
	}
	switch {
	case err == nil:
		reply(w, http.StatusOK, resultOf(done, rt))
	case r.Context().Err() != nil: // nobody to answer
	case errors.Is(err, jobs.ErrShuttingDown):
		msg := "the server is restarting: the job was cancelled; try again"
		if meta.IdempotencyKey != "" {
			msg = "the server is restarting: try again with the same Idempotency-Key for the job's result"
		}
		reply(w, middleware.Status(w, err), msg)
	default:
		s.refuse(w, r, err)
	}
}

// result is Piston's answer to execute; compile is absent for languages
// that have no compile step.
type result struct {
	Compile  *stage `json:"compile,omitempty"`
	Run      *stage `json:"run"`
	Language string `json:"language"`
	Version  string `json:"version"`
}

// stage is one step as Piston reports it from isolate's metadata, its
// fields in job.js's order.
type stage struct {
	Signal   *string `json:"signal"`
	Stdout   string  `json:"stdout"`
	Stderr   string  `json:"stderr"`
	Code     *int    `json:"code"`
	Output   string  `json:"output"`
	Memory   int64   `json:"memory"`
	Message  *string `json:"message"`
	Status   *string `json:"status"`
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
}

func resultOf(j *airlock.Job, rt runtime) result {
	out := result{Language: rt.Language, Version: rt.Version}
	res := j.Result
	if res == nil || j.Status == airlock.StatusCancelled || j.Status == airlock.StatusInternalError {
		msg := "the execution failed"
		if res != nil && res.Message != "" {
			msg = res.Message
		}
		out.Run = &stage{Status: ptr("XX"), Message: &msg}
		return out
	}
	if j.Status == airlock.StatusDependencyError {
		out.Compile = dependencyStage(res)
		out.Run = out.Compile // nothing ran, as after a failed compile
		return out
	}
	if res.Compile != nil {
		out.Compile = stageOf(*res.Compile)
	}
	if j.Status == airlock.StatusCompileError {
		out.Run = out.Compile // as Piston does when the run never started
		return out
	}
	out.Run = stageOf(res.Step)
	return out
}

func ptr[T any](v T) *T { return &v }

// dependencyStage is a job whose requirements could not be installed, as
// Piston's compile stage: Piston has no stage for it, and its clients
// show a failed compile's output. The stage is the installer's run, its
// message the line that says what failed; a build refused after an
// installer that ended well (over its size, say) still reads as failed.
func dependencyStage(res *airlock.Result) *stage {
	var installer airlock.Step
	if res.Dependencies != nil {
		installer = *res.Dependencies
	}
	st := stageOf(installer)
	msg := res.Message
	st.Message = &msg
	if st.Status == nil {
		st.Status = ptr("RE")
	}
	return st
}

// stageOf renders a step with isolate's status codes and messages: RE
// (exited non-zero), SG (killed by a signal), TO (time), OL and EL (stdout
// and stderr over the limit), XX (internal).
func stageOf(s airlock.Step) *stage {
	st := &stage{
		Stdout: string(s.Stdout), Stderr: string(s.Stderr), Output: string(s.Interleaved),
		CPUTime: float64(s.Usage.CPUMillis), WallTime: float64(s.Usage.WallMillis), Memory: s.Usage.MemoryKB * 1000, // as Piston scales isolate's KB
	}
	signal := s.Signal
	var status, message string
	switch s.Status {
	case airlock.StatusOK, airlock.StatusWrongAnswer:
	case airlock.StatusTimeLimit:
		status, message = "TO", "Time limit exceeded"
		if strings.Contains(s.Message, "wall") {
			message += " (wall clock)"
		}
	case airlock.StatusOutputLimit:
		status, message = "OL", "stdout length exceeded"
		if s.StderrTruncated {
			status, message = "EL", "stderr length exceeded"
		}
	case airlock.StatusMemoryLimit:
		status, message = "SG", "Memory limit exceeded"
	case airlock.StatusInternalError, airlock.StatusCancelled:
		status, message = "XX", s.Message
	default:
		if signal != "" {
			status, message = "SG", fmt.Sprintf("Caught fatal signal %d", signalNumber(signal))
		} else {
			status, message = "RE", fmt.Sprintf("Exited with error status %d", s.ExitCode)
		}
	}
	if status == "TO" || status == "OL" || status == "EL" {
		signal = "SIGKILL" // job.js reports every stage stopped at a limit as killed
	}
	if signal != "" {
		st.Signal = &signal
	} else {
		st.Code = ptr(s.ExitCode)
	}
	if status != "" {
		st.Status, st.Message = &status, &message
	}
	return st
}
