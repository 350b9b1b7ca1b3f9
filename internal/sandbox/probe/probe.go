// Package probe is the Runner of an API-only node, which has no sandbox
// and runs no jobs, yet must say which language versions the fleet runs
// (the version commands of the catalog). It runs those commands, fixed by
// the operator, and nothing else, without isolation: anything that is not
// one of them, such as a job's program, is refused.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Runner runs the commands it was made with.
type Runner struct {
	allowed [][]string
}

var _ sandbox.Runner = (*Runner)(nil)

// New makes a Runner of the given command lines, compared whole.
func New(allowed [][]string) *Runner {
	return &Runner{allowed: allowed}
}

// ErrRefused is a run of anything but an allowed command line.
var ErrRefused = errors.New("probe: this node runs no jobs (an API-only node): only the languages' version commands")

// maxOutput bounds what a version command may print.
const maxOutput = 64 << 10

// Run runs spec's command line if it is one of the allowed ones, with its
// environment and wall-time limit; nothing else of spec applies.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if len(spec.Argv) == 0 || !slices.ContainsFunc(r.allowed, func(a []string) bool { return slices.Equal(a, spec.Argv) }) || len(spec.Files) > 0 {
		return sandbox.Result{}, fmt.Errorf("%w, not %q", ErrRefused, strings.Join(spec.Argv, " "))
	}
	wall := spec.Limits.Wall
	if wall <= 0 {
		wall = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wall)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &capped{&stdout}, &capped{&stderr}
	started := time.Now()
	err := cmd.Run()
	res := sandbox.Result{Status: airlock.StatusOK, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	res.Usage.WallMillis = time.Since(started).Milliseconds()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Status = airlock.StatusTimeLimit
	case errors.As(err, &exit):
		res.Status, res.ExitCode = airlock.StatusRuntimeError, exit.ExitCode()
	default:
		return sandbox.Result{}, fmt.Errorf("probe: %w", err)
	}
	return res, nil
}

// capped keeps the first maxOutput bytes written and drops the rest.
type capped struct{ b *bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
