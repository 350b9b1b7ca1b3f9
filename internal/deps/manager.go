package deps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Options configure a Manager.
type Options struct {
	// Dir is the cache directory (under the data directory). Runs bind
	// its entries as other uids: it and its parents must be searchable by
	// all.
	Dir string
	// MaxBytes bounds the cache's entries together; default 10 GiB.
	MaxBytes int64
	// Runner runs the installers.
	Runner sandbox.Runner
	// PythonIndexes are pip's PEP 503 indexes, the first its index URL;
	// default https://pypi.org/simple.
	PythonIndexes []string
	// NPMRegistry is npm's registry; default https://registry.npmjs.org/.
	NPMRegistry string
	// CABundle is the PEM file of the CAs the installers trust (with a TLS
	// intercepting proxy's, if any); default the system's, SystemCABundle,
	// when it exists.
	CABundle string
	// Limits bound a build; zero fields take BuildLimits'.
	Limits airlock.Limits
	// Blobs, when set, shares built environments with the fleet.
	Blobs airlock.BlobStore
	Log   *slog.Logger
}

// BuildLimits are a build's default limits: an installer downloads and
// unpacks much more than a job writes.
var BuildLimits = airlock.Limits{
	Wall:      5 * time.Minute,
	CPU:       3 * time.Minute,
	Memory:    1 << 30,
	Pids:      256,
	OpenFiles: 1024,
	TmpBytes:  2 << 30,
	FileSize:  1 << 30,
	Output:    1 << 20,
	Stack:     8 << 20,
}

// Default settings.
const (
	DefaultMaxBytes    = 10 << 30
	DefaultPythonIndex = "https://pypi.org/simple"
	DefaultNPMRegistry = "https://registry.npmjs.org/"
	SystemCABundle     = "/etc/ssl/certs/ca-certificates.crt"
)

// Manager builds, caches and shares environments. It is safe for
// concurrent use, and processes may share its directory.
type Manager struct {
	opts   Options
	log    *slog.Logger
	caHash string
	group  singleflight.Group

	evicting sync.Mutex // one eviction at a time

	mu    sync.Mutex
	known map[string]*cached // entries checked whole
	holds map[string]*hold   // entries in use (or being got) here
}

// hold is this process's shared lock on <key>.use while any Get or Env
// needs the entry.
type hold struct {
	n     int
	f     *os.File
	err   error
	ready chan struct{} // closed once f or err is set
}

// New opens the cache directory, creating it, removes what a crashed
// process left there and evicts down to MaxBytes.
func New(opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("deps: no cache directory")
	}
	if opts.Runner == nil {
		return nil, errors.New("deps: no sandbox runner")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if len(opts.PythonIndexes) == 0 {
		opts.PythonIndexes = []string{DefaultPythonIndex}
	}
	if opts.NPMRegistry == "" {
		opts.NPMRegistry = DefaultNPMRegistry
	}
	for _, u := range append([]string{opts.NPMRegistry}, opts.PythonIndexes...) {
		if err := checkIndex(u); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(SystemCABundle); opts.CABundle == "" && err == nil {
		// Builds see no host file but those bound: pip (Debian's) would
		// find no CA at all.
		opts.CABundle = SystemCABundle
	}
	opts.Limits = opts.Limits.WithDefaults(BuildLimits)
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	m := &Manager{opts: opts, log: opts.Log, known: map[string]*cached{}, holds: map[string]*hold{}}
	if opts.CABundle != "" {
		if !filepath.IsAbs(opts.CABundle) {
			return nil, fmt.Errorf("deps: CA bundle %q: want an absolute path", opts.CABundle)
		}
		b, err := os.ReadFile(opts.CABundle)
		if err != nil {
			return nil, fmt.Errorf("deps: CA bundle: %w", err)
		}
		m.caHash = contentHash(b)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, m.cacheError(err)
	}
	if err := m.recover(); err != nil {
		return nil, err
	}
	m.evict()
	return m, nil
}

// checkIndex refuses an index URL an installer could not be pointed at.
func checkIndex(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("deps: index %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return fmt.Errorf("deps: index %q: want an http or https URL with a host and no credentials", raw)
	}
	return nil
}

// Get returns the environment spec asks for: from the cache, else from
// the blob store, else built (a *BuildError when the installer fails).
// Concurrent Gets of one environment, here or in other processes sharing
// the directory, wait for one build. The caller releases the Env when its
// runs are over.
func (m *Manager) Get(ctx context.Context, spec Spec) (*Env, error) {
	if spec.Language == nil {
		return nil, errors.New("deps: no language")
	}
	inst, ok := installers[spec.Language.Installer]
	if !ok {
		return nil, fmt.Errorf("deps: %s takes no requirements", spec.Language.ID)
	}
	key := Key(spec, inst.indexes(m.opts), m.caHash)
	release, err := m.hold(key)
	if err != nil {
		return nil, err
	}
	if !m.ready(key) {
		// The build goes on for the others should this caller leave.
		ch := m.group.DoChan(key, func() (any, error) {
			return nil, m.obtain(context.WithoutCancel(ctx), inst, spec, key)
		})
		select {
		case r := <-ch:
			err = r.Err
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			release()
			return nil, err
		}
	}
	return &Env{
		Key:     key,
		Mount:   sandbox.Mount{Source: m.envDir(key), Target: MountPoint},
		Vars:    inst.vars,
		release: release,
	}, nil
}

// MountPoint is where runs see their environment. It need not exist on
// the host: the sandbox's root is a tmpfs the binds are made in.
const MountPoint = "/opt/airlock/env"

// obtain makes key's entry present: found whole on disk (another process
// made it), fetched from the blob store, or built.
func (m *Manager) obtain(ctx context.Context, inst *installer, spec Spec, key string) error {
	lock, err := lockFile(ctx, m.lockPath(key, "lock"), unix.LOCK_EX)
	if err != nil {
		return m.cacheError(err)
	}
	defer lock.Close()
	if m.load(key) {
		return nil
	}
	if !m.fetch(ctx, key) {
		if err := m.build(ctx, inst, spec, key); err != nil {
			return err
		}
		m.share(ctx, key)
	}
	m.evict()
	return nil
}

// hold takes this process's share of <key>.use, keeping the entry from
// eviction anywhere until the returned release.
func (m *Manager) hold(key string) (release func(), err error) {
	m.mu.Lock()
	h := m.holds[key]
	first := h == nil
	if first {
		h = &hold{ready: make(chan struct{})}
		m.holds[key] = h
	}
	h.n++
	m.mu.Unlock()
	if first {
		// Only an eviction holds it exclusively, briefly: no deadline.
		f, err := lockFile(context.Background(), m.lockPath(key, "use"), unix.LOCK_SH)
		m.mu.Lock()
		h.f, h.err = f, err
		m.mu.Unlock()
		close(h.ready)
	}
	<-h.ready
	release = sync.OnceFunc(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if h.n--; h.n == 0 {
			if h.f != nil {
				h.f.Close()
			}
			delete(m.holds, key)
		}
	})
	if h.err != nil {
		release()
		return nil, m.cacheError(h.err)
	}
	return release, nil
}
