package deps

import (
	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Spec asks for an environment: the packages of Requirements for
// Language, whose interpreter is at Version.
type Spec struct {
	Language     *lang.Language
	Version      string        // as the engine detected it
	Requirements []Requirement // from Parse, normalised
}

// Env is a built environment: a read-only directory on the host.
type Env struct {
	Key   string        // its content key, the cache's name for it
	Mount sandbox.Mount // binds it into a run, read-only
	Vars  []string      // a run's environment variables that point the interpreter at it

	release func() // drops the hold Get took
}

// Release says the runs that needed the environment are done with it:
// until then the cache never evicts it. Calling it again, or on a nil
// Env, does nothing.
func (e *Env) Release() {
	if e != nil && e.release != nil {
		e.release()
	}
}

// BuildError is an environment that could not be built: the job that
// needs it ends with airlock.StatusDependencyError, Message and the
// installer's run.
type BuildError struct {
	// Message is one line: the package, version or index at fault when
	// the installer's output says which.
	Message string
	// Step is the installer's run: its status (time_limit, ...) and
	// output.
	Step airlock.Step
}

func (e *BuildError) Error() string { return "dependencies: " + e.Message }
