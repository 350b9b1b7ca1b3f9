package engine

import (
	"errors"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/wire"
)

// Request turns a native API submission into a request; errors are
// *InvalidError naming the field. The wire package decodes the contents
// and units; the engine adds what needs its catalog (the language's
// default file name, for Code).
func (e *Engine) Request(s wire.Submission) (airlock.Request, error) {
	req := airlock.Request{
		Language:       s.Language,
		Version:        s.Version,
		Entry:          s.Entry,
		Stdin:          []byte(s.Stdin),
		Args:           s.Args,
		CompileOptions: s.CompileOptions,
		Mode:           s.Mode,
		Inputs:         s.Inputs,
		ExpectedOutput: s.ExpectedOutputBytes(),
		Environment:    s.Environment,
	}
	if s.Language == "" && s.Environment == "" {
		return req, invalid("language", "missing (name a language or an environment)")
	}
	if s.Language == "" {
		nm, err := e.namedFor(s.Environment, "", nil)
		if err != nil {
			return req, err
		}
		req.Language = nm.lang.ID // stored with the job, as a client naming it would
	}
	switch {
	case s.Code != "" && len(s.Files) > 0:
		return req, invalid("code", "give code or files, not both")
	case s.Code != "":
		l, err := e.catalog.Lookup(req.Language)
		if err != nil {
			return req, invalid("language", "%v", err)
		}
		req.Files = []airlock.File{{Name: l.File, Content: []byte(s.Code)}}
	}
	files, err := s.DecodeFiles()
	req.Files = append(req.Files, files...)
	if err != nil {
		return req, fieldInvalid(err)
	}
	if req.Requirements, err = s.DecodeRequirements(); err != nil {
		return req, fieldInvalid(err)
	}
	if l := s.Limits; l != nil {
		lim, err := l.Decode()
		if err != nil {
			return req, fieldInvalid(err)
		}
		if l.Network != "" && l.Network != "none" {
			return req, invalid("limits.network", "%q: only \"none\" (a job asks for network with \"network\": true)", l.Network)
		}
		req.Limits = lim
	}
	return req, nil
}

// fieldInvalid is the wire's field error as the engine's.
func fieldInvalid(err error) error {
	var bad *wire.FieldError
	if errors.As(err, &bad) {
		return invalid(bad.Field, "%s", bad.Problem)
	}
	return err
}
