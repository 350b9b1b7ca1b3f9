package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Environments finds or builds the environment of a job's requirements
// (*deps.Manager is one). Get blocks until the environment is ready; an
// environment that cannot be built is a *deps.BuildError, which ends the
// job as airlock.StatusDependencyError; any other error is the server
// failing (internal error).
type Environments interface {
	Get(ctx context.Context, spec deps.Spec) (*deps.Env, error)
}

// checkRequirements checks a submission's requirements for l, in the
// order a client can act on: whether the language takes any, how many,
// whether this server builds environments, then each entry.
func (e *Engine) checkRequirements(l *lang.Language, entries []string) ([]deps.Requirement, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	switch {
	case l.Installer == "":
		return nil, invalid("requirements", "%s takes none (python, javascript and typescript take requirements)", l.ID)
	case len(entries) > deps.MaxRequirements:
		return nil, invalid("requirements", "%d entries, at most %d allowed", len(entries), deps.MaxRequirements)
	case e.envs == nil:
		return nil, invalid("requirements", "this server builds no environments")
	}
	reqs, err := deps.Parse(l.Installer, entries)
	var bad *deps.RequirementError
	switch {
	case errors.As(err, &bad):
		return nil, invalid(fmt.Sprintf("requirements[%d]", bad.Index), "%q: %s", bad.Entry, bad.Problem)
	case err != nil:
		return nil, invalid("requirements", "%v", err)
	}
	return reqs, nil
}

// environment gets the environment of a planned job that has
// requirements. A build that failed is no error but the job's result:
// res ends as airlock.StatusDependencyError, with the installer's run,
// which sess is shown as a step "dependencies" at once (the build may
// have been another job's, so it is not live).
func (e *Engine) environment(ctx context.Context, l *lang.Language, p *plan, res *airlock.Result, sess *Session) (*deps.Env, error) {
	if e.envs == nil { // a named environment's, on a node that builds none
		return nil, errors.New("dependencies: this node builds no environments")
	}
	env, err := e.envs.Get(ctx, deps.Spec{Language: l, Version: p.version, Requirements: p.requirements})
	var failed *deps.BuildError
	switch {
	case errors.As(err, &failed):
		res.Status = airlock.StatusDependencyError
		res.Message = "dependencies: " + failed.Message
		step := failed.Step
		res.Dependencies = &step
		sess.replay("dependencies", step)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	return env, nil
}

// withEnv binds env into a step's spec (nil: none) and points the
// program at it. The slices are copied: spec's may be the catalog's.
func withEnv(spec *sandbox.Spec, env *deps.Env) {
	if env == nil {
		return
	}
	spec.Mounts = append(slices.Clone(spec.Mounts), env.Mount)
	spec.Env = append(slices.Clone(spec.Env), env.Vars...)
}
