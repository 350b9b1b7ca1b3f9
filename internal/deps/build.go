package deps

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/egress"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Bounds of one environment: what a build may hand back. The cache's own
// bound (MaxBytes) lowers the size further.
const (
	MaxEnvBytes = 1 << 30
	MaxEnvFiles = 200_000
)

// envCap is the most one environment may take.
func (m *Manager) envCap() int64 { return min(MaxEnvBytes, m.opts.MaxBytes) }

// build runs the installer in a sandbox whose one way out is a proxy to
// its indexes, and publishes what it installed as key's entry.
func (m *Manager) build(ctx context.Context, inst *installer, spec Spec, key string) error {
	indexes := inst.indexes(m.opts)
	proxy, err := egress.New(egress.Options{Allow: allowed(indexes), Log: m.log})
	if err != nil {
		return fmt.Errorf("deps: the build's proxy: %w", err)
	}
	argv, env, files := inst.job(m.opts, spec)
	env = append(env, "PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8",
		"HTTP_PROXY="+proxyURL, "HTTPS_PROXY="+proxyURL, "http_proxy="+proxyURL, "https_proxy="+proxyURL)
	var mounts []sandbox.Mount
	if m.opts.CABundle != "" {
		mounts = append(mounts, sandbox.Mount{Source: m.opts.CABundle, Target: caTarget})
		env = append(env, "SSL_CERT_FILE="+caTarget)
	}
	limit := m.envCap()
	m.log.Info("building an environment", "key", key, "language", spec.Language.ID, "requirements", len(spec.Requirements))
	out, err := m.opts.Runner.Run(ctx, sandbox.Spec{
		Argv:          argv,
		Env:           env,
		Files:         files,
		Mounts:        mounts,
		Limits:        m.opts.Limits,
		Egress:        proxy.ServeConn,
		Collect:       []string{envDir + "/"},
		CollectBounds: sandbox.CollectBounds{Files: MaxEnvFiles, Bytes: limit},
	})
	if err != nil {
		return fmt.Errorf("deps: the build's sandbox: %w", err)
	}
	defer out.Tree.Close()
	step := out.Step()
	if out.Status != airlock.StatusOK {
		return &BuildError{Message: diagnose(step, indexes, proxy.Refused(), proxy.Unreachable(), limit), Step: step}
	}
	var size int64
	if out.Tree != nil {
		for _, e := range out.Tree.Entries {
			size += e.Size
		}
	}
	if size > limit {
		return &BuildError{Message: fmt.Sprintf("the environment is over %d MiB (%d MiB)", limit>>20, size>>20), Step: step}
	}
	return m.publish(key, func(dir string) error {
		if out.Tree == nil {
			return nil
		}
		return out.Tree.Extract(dir, envDir)
	})
}
