// Package config reads the service's settings from, in rising order of
// precedence, built-in defaults, a YAML file, AIRLOCK_* environment
// variables and command-line flags.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/egress"
	"github.com/airlock-dev/airlock/internal/units"
)

// Config is what `airlock serve` runs with.
type Config struct {
	Addr                string
	Data                string
	Workers             int
	MaxQueue            int
	MaxCode             int64
	MaxBody             int64
	Grace               time.Duration
	Audit               string // file to append to, "-" for stdout, "" for none
	LogFormat           string // json or text
	Languages           string // operator language file
	InsecureOpen        bool   // serve without keys on a non-loopback address
	AllowLocalCallbacks bool
	Judge0Delete        bool            // DELETE /submissions/{token} for admin keys
	Keys                []auth.Key      // from the file only
	Pools               map[string]Pool // warm pools by language; sizes also from the pool setting
	// Limits are the server's defaults and maxima of a job's limits, from
	// the file only; zero fields are airlock.DefaultPolicy's.
	Limits airlock.Policy
	// NetworkHosts are the hosts a job that asks for network may reach
	// when no keys are configured; with keys, each key's own (Key.Network).
	NetworkHosts []string

	// Dependency environments (internal/deps). EnvsDir is their cache
	// ("": envs under Data), EnvsMaxSize its cap. PythonIndexes (the
	// first is pip's index, the others extra ones) and NPMRegistry are
	// the only hosts a build reaches; CABundle is a PEM file of extra
	// authorities the installers trust (a TLS-intercepting proxy's).
	// Defaults come from the installers' own variables in the server's
	// environment (PIP_INDEX_URL, npm_config_registry, PIP_CERT,
	// NODE_EXTRA_CA_CERTS), else the public indexes.
	EnvsDir       string
	EnvsMaxSize   int64
	PythonIndexes []string
	NPMRegistry   string
	CABundle      string
	// Environments are the operator's named environments, from the file
	// only.
	Environments map[string]Environment

	// A fleet's shared servers; each empty one is the embedded default
	// under Data.
	Store string // postgres://…
	Queue string // redis://… or rediss://…
	Blobs string // s3://…
	// Lease is how long a job whose worker stopped extending it stays
	// with that worker before another takes it (Redis queue only).
	Lease       time.Duration
	LostAfter   time.Duration // a queued job missing from the queue this long is pushed again
	MaxAttempts int           // starts of a job before it is given up as internal_error
	NoWorkers   bool          // an API-only node: jobs run on `airlock worker` nodes
	// MaxConnections bounds the open HTTP connections; 0: derived from
	// the limit of open files (conns.DefaultMax).
	MaxConnections int
	// Retention is how long finished jobs are kept (0: for ever);
	// StoreTimeout bounds each store and queue call of a request; below
	// MinFree bytes free in Data, /healthz says the disk is full.
	Retention    time.Duration
	StoreTimeout time.Duration
	MinFree      int64

	// Not settings: knobs the end-to-end tests turn, their zero values
	// production's.
	//
	// WaitTimeout is the longest wait of a request that waits for its job
	// before it is answered with the job as it is (0: 60 s). Stream is
	// the queue's Redis stream ("": redis.DefaultStream): tests sharing
	// one Redis server take one each.
	WaitTimeout time.Duration
	Stream      string
}

// DefaultRetention keeps a finished job a week: long enough for a client
// to fetch its result after a weekend or an outage of its own, and for an
// operator to look into it; short enough that the store stays bounded (a
// job is about 1 KiB of SQLite, and up to some 170 MiB with its payloads).
const DefaultRetention = 7 * 24 * time.Hour

// Pool is one language's warm pool: sandboxes started ahead of their jobs.
type Pool struct {
	Size    int      `yaml:"size"`    // 0 disables it
	Preload []string `yaml:"preload"` // modules imported while waiting, when installed
}

// Environment is an operator's named environment: a language with
// packages, selectable by name.
type Environment struct {
	Language string `yaml:"language"`
	// Requirements are built into the environment at start, like a
	// job's; empty, the environment is the host's own packages.
	Requirements []string `yaml:"requirements"`
	// Check names modules that must import in a sandbox at start (the
	// host's python3-numpy, say); a missing one stops the start.
	Check []string `yaml:"check"`
	// Judge0ID offers the environment under that Judge0 language id (0:
	// not offered); Piston clients find it as a runtime of its name.
	Judge0ID int `yaml:"judge0_id"`
	// Pool is the environment's warm pool, its preloads imported while
	// its sandboxes wait.
	Pool Pool `yaml:"pool"`
}

// DefaultPools are the warm pools a server keeps unless told otherwise.
func DefaultPools() map[string]Pool {
	return map[string]Pool{"python": {Size: 2}, "javascript": {Size: 2}}
}

// setting is one named value, settable from any source.
type setting struct {
	name, usage string
	set         func(c *Config, v string) error
	boolean     bool // a flag that needs no value: --insecure-open
}

var settings = []setting{
	{name: "addr", usage: "listen address", set: func(c *Config, v string) error { c.Addr = v; return nil }},
	{name: "data", usage: "data directory (SQLite file, blobs)", set: func(c *Config, v string) error { c.Data = v; return nil }},
	{name: "workers", usage: "concurrent executions (default: CPUs)", set: intSetting(func(c *Config) *int { return &c.Workers })},
	{name: "max-queue", usage: "jobs that may wait before 503", set: intSetting(func(c *Config) *int { return &c.MaxQueue })},
	{name: "max-code", usage: "bytes of submitted files (K, M suffixes)", set: sizeSetting(func(c *Config) *int64 { return &c.MaxCode })},
	{name: "max-body", usage: "bytes of a request body (K, M suffixes)", set: sizeSetting(func(c *Config) *int64 { return &c.MaxBody })},
	{name: "grace", usage: "on shutdown, how long running jobs may finish", set: durationSetting(func(c *Config) *time.Duration { return &c.Grace }, 0)},
	{name: "audit", usage: `audit log file ("-": stdout)`, set: func(c *Config, v string) error { c.Audit = v; return nil }},
	{name: "log-format", usage: "json or text", set: func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return fmt.Errorf("want json or text")
		}
		c.LogFormat = v
		return nil
	}},
	{name: "languages", usage: "operator language file", set: func(c *Config, v string) error { c.Languages = v; return nil }},
	{name: "insecure-open", usage: "serve without API keys on a non-loopback address", set: boolSetting(func(c *Config) *bool { return &c.InsecureOpen }), boolean: true},
	{name: "allow-local-callbacks", usage: "let callbacks reach this host", set: boolSetting(func(c *Config) *bool { return &c.AllowLocalCallbacks }), boolean: true},
	{name: "judge0-enable-delete", usage: "let admin keys delete Judge0 submissions", set: boolSetting(func(c *Config) *bool { return &c.Judge0Delete }), boolean: true},
	{name: "pool", usage: "warm pool sizes, e.g. python=4,javascript=2 (0 disables one)", set: poolSizes},
	{name: "store", usage: "job store: postgres://user:password@host:5432/db (default: SQLite in the data directory)", set: urlSetting(func(c *Config) *string { return &c.Store }, "postgres", "postgresql")},
	{name: "queue", usage: "job queue: redis://[:password@]host:6379/0 (default: in-process)", set: urlSetting(func(c *Config) *string { return &c.Queue }, "redis", "rediss")},
	{name: "blobs", usage: "payload store: s3://KEY:SECRET@host:port/bucket[/prefix] (default: files in the data directory)", set: urlSetting(func(c *Config) *string { return &c.Blobs }, "s3")},
	{name: "lease", usage: "how long a dead worker's job waits before another worker takes it (Redis queue)", set: durationSetting(func(c *Config) *time.Duration { return &c.Lease }, time.Second)},
	{name: "lost-after", usage: "push again a job still queued this long after it was accepted but missing from the Redis queue (which lost its data)", set: durationSetting(func(c *Config) *time.Duration { return &c.LostAfter }, time.Second)},
	{name: "max-attempts", usage: "starts of a job (after its workers died) before it ends as internal_error", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive number")
		}
		c.MaxAttempts = n
		return nil
	}},
	{name: "max-connections", usage: "open HTTP connections; at the bound the one idle longest is closed (default: half the open-file limit, at most 10000)", set: intSetting(func(c *Config) *int { return &c.MaxConnections })},
	{name: "retention", usage: "how long finished jobs, their payloads and idempotency keys are kept (0: for ever)", set: durationSetting(func(c *Config) *time.Duration { return &c.Retention }, 0)},
	{name: "store-timeout", usage: "longest store or queue call of a request before it is answered 503", set: durationSetting(func(c *Config) *time.Duration { return &c.StoreTimeout }, 10*time.Millisecond)},
	{name: "min-free", usage: "free space of the data directory below which /healthz reports the disk full (K, M, G suffixes)", set: sizeSetting(func(c *Config) *int64 { return &c.MinFree })},
	{name: "envs-dir", usage: "cache of dependency environments (default: envs in the data directory)", set: func(c *Config, v string) error { c.EnvsDir = v; return nil }},
	{name: "envs-max-size", usage: "cap of the environments' cache; the least recently used go first (K, M, G suffixes)", set: sizeSetting(func(c *Config) *int64 { return &c.EnvsMaxSize })},
	{name: "python-index", usage: "Python package indexes (PEP 503), comma-separated, the first pip's index [default: PIP_INDEX_URL, else PyPI]", set: func(c *Config, v string) (err error) {
		c.PythonIndexes, err = indexURLs(v)
		return err
	}},
	{name: "npm-registry", usage: "npm registry [default: npm_config_registry, else registry.npmjs.org]", set: func(c *Config, v string) error {
		urls, err := indexURLs(v)
		if err == nil && len(urls) != 1 {
			err = errors.New("want one URL")
		}
		if err == nil {
			c.NPMRegistry = urls[0]
		}
		return err
	}},
	{name: "ca-bundle", usage: "PEM file of extra certificate authorities for the installers [default: PIP_CERT, else NODE_EXTRA_CA_CERTS]", set: func(c *Config, v string) error { c.CABundle = v; return nil }},
	{name: "network-hosts", usage: "hosts a job that asks for network may reach when no API keys are configured (host or host:port, comma-separated; keys list their own)", set: func(c *Config, v string) error {
		hosts := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		if _, err := egress.New(egress.Options{Allow: hosts}); err != nil {
			return err
		}
		c.NetworkHosts = hosts
		return nil
	}},
	{name: "no-workers", usage: "run no jobs here: an API-only node of a fleet (needs --queue)", set: boolSetting(func(c *Config) *bool { return &c.NoWorkers }), boolean: true},
}

// urlSetting takes a URL with one of the given schemes; the error never
// shows the URL, which may hold a password.
func urlSetting(field func(*Config) *string, schemes ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		scheme, _, ok := strings.Cut(v, "://")
		if !ok || !slices.Contains(schemes, scheme) {
			return fmt.Errorf("want a URL starting %s://", strings.Join(schemes, ":// or "))
		}
		*field(c) = v
		return nil
	}
}

// poolSizes reads "lang=n,lang=n" into the pools, keeping their preloads.
func poolSizes(c *Config, v string) error {
	for _, item := range strings.Split(v, ",") {
		name, size, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(size)
		if !ok || name == "" || err != nil || n < 0 {
			return fmt.Errorf("%q: want language=size, the size a non-negative number", item)
		}
		p := c.Pools[name]
		p.Size = n
		c.Pools[name] = p
	}
	return nil
}

// indexURLs reads comma- or space-separated http(s) URLs of package
// indexes (PIP_EXTRA_INDEX_URL separates them with spaces).
func indexURLs(v string) ([]string, error) {
	var urls []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q: want an http(s) URL", f)
		}
		urls = append(urls, f)
	}
	if len(urls) == 0 {
		return nil, errors.New("want a URL")
	}
	return urls, nil
}

// InstallerDefaults fills the installers' settings left unset from the
// variables the installers themselves read, so an operator's pip and
// npm configuration carries through to the builds.
func (c *Config) InstallerDefaults(getenv func(string) string) error {
	if len(c.PythonIndexes) == 0 && getenv("PIP_INDEX_URL") != "" {
		urls, err := indexURLs(getenv("PIP_INDEX_URL") + " " + getenv("PIP_EXTRA_INDEX_URL"))
		if err != nil {
			return fmt.Errorf("PIP_INDEX_URL, PIP_EXTRA_INDEX_URL: %w", err)
		}
		c.PythonIndexes = urls
	}
	if c.NPMRegistry == "" {
		c.NPMRegistry = getenv("npm_config_registry")
	}
	for _, name := range []string{"PIP_CERT", "NODE_EXTRA_CA_CERTS"} {
		if c.CABundle == "" {
			c.CABundle = getenv(name)
		}
	}
	return nil
}

func intSetting(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative number")
		}
		*field(c) = n
		return nil
	}
}

func durationSetting(field func(*Config) *time.Duration, least time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < least {
			return fmt.Errorf("want at least %v", least)
		}
		*field(c) = d
		return nil
	}
}

func sizeSetting(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*field(c), err = units.ParseSize(v)
		return err
	}
}

func boolSetting(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*field(c), err = strconv.ParseBool(v)
		return err
	}
}

// envName is the variable of a setting: AIRLOCK_MAX_QUEUE for max-queue.
func envName(name string) string {
	return "AIRLOCK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Default is the config of a server given no settings.
func Default() *Config {
	return &Config{
		Addr: "127.0.0.1:2358", Data: "airlock-data", Workers: runtime.NumCPU(), MaxQueue: 1000,
		MaxCode: 256 << 10, MaxBody: 8 << 20, Grace: 30 * time.Second, LogFormat: "text", Pools: DefaultPools(),
		Lease: 30 * time.Second, LostAfter: time.Minute, MaxAttempts: 3,
		Retention: DefaultRetention, StoreTimeout: 10 * time.Second, MinFree: 64 << 20, EnvsMaxSize: 10 << 30,
	}
}

// Flags are the settings as the command-line flags of a command (serve,
// worker), bound to its flag set so that its help lists them.
type Flags struct {
	fs     *pflag.FlagSet
	file   *string
	values map[string]*flagValue
}

// Bind adds --config and a flag for each setting to fs; getenv gives
// --config its default, AIRLOCK_CONFIG.
func Bind(fs *pflag.FlagSet, getenv func(string) string) *Flags {
	f := &Flags{fs: fs, values: map[string]*flagValue{}}
	f.file = fs.String("config", getenv("AIRLOCK_CONFIG"), "YAML config file [AIRLOCK_CONFIG]")
	for _, s := range settings {
		v := &flagValue{boolean: s.boolean}
		f.values[s.name] = v
		flag := fs.VarPF(v, s.name, "", s.usage+" ["+envName(s.name)+"]")
		if s.boolean {
			flag.NoOptDefVal = "true" // --insecure-open alone sets it
		}
	}
	return f
}

// Load reads the settings: the defaults, then the file, the environment
// and the flags, once fs has parsed the command line.
func (f *Flags) Load(getenv func(string) string) (*Config, error) {
	c := Default()
	if *f.file != "" {
		if err := c.loadFile(*f.file); err != nil {
			return nil, err
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	var err error
	f.fs.Visit(func(fl *pflag.Flag) {
		if s := find(fl.Name); s != nil && err == nil {
			if e := s.set(c, f.values[fl.Name].s); e != nil {
				err = fmt.Errorf("--%s=%s: %w", fl.Name, shown(fl.Name, f.values[fl.Name].s), e)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return c, c.InstallerDefaults(getenv)
}

// FromEnv is the config of the defaults and the AIRLOCK_* environment
// variables alone: what a command without a config file (airlock run)
// takes.
func FromEnv(getenv func(string) string) (*Config, error) {
	c := Default()
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	return c, c.InstallerDefaults(getenv)
}

// applyEnv sets what the AIRLOCK_* variables name.
func (c *Config) applyEnv(getenv func(string) string) error {
	for _, s := range settings {
		if v := getenv(envName(s.name)); v != "" {
			if err := s.set(c, v); err != nil {
				return fmt.Errorf("%s=%s: %w", envName(s.name), shown(s.name, v), err)
			}
		}
	}
	return nil
}

// shown is a setting's value as errors quote it: not at all for the
// servers' URLs, which may hold passwords.
func shown(name, v string) string {
	switch name {
	case "store", "queue", "blobs":
		return "…"
	}
	return strconv.Quote(v)
}

// flagValue holds a flag's text until the settings are applied in order;
// a boolean one may be given without a value.
type flagValue struct {
	s       string
	boolean bool
}

func (v *flagValue) String() string     { return v.s }
func (v *flagValue) Set(s string) error { v.s = s; return nil }

// Type names the value in the usage as the standard library's flag
// package did: "value", or nothing for a boolean.
func (v *flagValue) Type() string {
	if v.boolean {
		return "bool"
	}
	return "value"
}

func find(name string) *setting {
	for i := range settings {
		if settings[i].name == name {
			return &settings[i]
		}
	}
	return nil
}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for name, node := range raw {
		if name == "keys" {
			// Strict: a misspelt limit would silently leave a key the server's.
			if err := decodeStrict(node, &c.Keys); err != nil {
				return fmt.Errorf("%s: keys: %w", path, err)
			}
			continue
		}
		if name == "limits" {
			if err := c.decodeLimits(node); err != nil {
				return fmt.Errorf("%s: limits: %w", path, err)
			}
			continue
		}
		if name == "environments" {
			if err := decodeEnvironments(node, &c.Environments); err != nil {
				return fmt.Errorf("%s: environments: %w", path, err)
			}
			continue
		}
		if name == "pools" {
			if err := decodePools(node, c.Pools); err != nil {
				return fmt.Errorf("%s: pools: %w", path, err)
			}
			continue
		}
		s := find(strings.ReplaceAll(name, "_", "-"))
		if s == nil {
			return fmt.Errorf("%s: unknown setting %q", path, name)
		}
		value := node.Value
		switch {
		case name == "network_hosts" && node.Kind == yaml.SequenceNode:
			// A list of hosts reads as the comma-separated one.
			var hosts []string
			if err := node.Decode(&hosts); err != nil {
				return fmt.Errorf("%s: %s: want a list of hosts: %w", path, name, err)
			}
			value = strings.Join(hosts, ",")
		case node.Kind != yaml.ScalarNode:
			return fmt.Errorf("%s: %s: want a single value", path, name)
		}
		if err := s.set(c, value); err != nil {
			return fmt.Errorf("%s: %s: %w", path, name, err)
		}
	}
	if err := c.keyLimits(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// envNamePattern matches the names of operator environments, which are also
// Piston runtime names.
var envNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// decodeEnvironments reads the operator's named environments, strictly.
func decodeEnvironments(node yaml.Node, envs *map[string]Environment) error {
	if err := decodeStrict(node, envs); err != nil {
		return err
	}
	for name, e := range *envs {
		switch {
		case !envNamePattern.MatchString(name):
			return fmt.Errorf("%q: want a lower-case name of letters, digits, '.', '_' and '-'", name)
		case e.Language == "":
			return fmt.Errorf("%s: language is missing", name)
		case e.Judge0ID < 0 || e.Pool.Size < 0:
			return fmt.Errorf("%s: judge0_id and pool size must not be negative", name)
		}
	}
	return nil
}

// decodeLimits reads the server's limits; its defaults must be within
// its maxima (which may be above the built-in ones).
func (c *Config) decodeLimits(node yaml.Node) error {
	var spec units.PolicySpec
	if err := decodeStrict(node, &spec); err != nil {
		return err
	}
	p, err := spec.Parse()
	if err != nil {
		return err
	}
	eff := p.Over(airlock.DefaultPolicy)
	if err := within("default", p.Default, eff.Max, "max"); err != nil {
		return err
	}
	if err := within("compile.default", p.CompileDefault, eff.CompileMax, "compile.max"); err != nil {
		return err
	}
	c.Limits = p
	return nil
}

// keyLimits reads each key's own limits, which must be within the
// server's maxima: those are the most any job runs with, which the warm
// pools are prepared for and the fleet's sweep of abandoned jobs counts on.
func (c *Config) keyLimits() error {
	server := c.Limits.Over(airlock.DefaultPolicy)
	for i := range c.Keys {
		k := &c.Keys[i]
		p, err := k.Limits.Parse()
		if err != nil {
			return fmt.Errorf("key %s: limits: %w", k.ID, err)
		}
		eff := p.Over(server)
		for _, w := range []struct {
			name     string
			l, max   airlock.Limits
			maxNamed string
		}{
			{"max", p.Max, server.Max, "server's max"}, {"compile.max", p.CompileMax, server.CompileMax, "server's compile.max"},
			{"default", p.Default, eff.Max, "max"}, {"compile.default", p.CompileDefault, eff.CompileMax, "compile.max"},
		} {
			if err := within(w.name, w.l, w.max, w.maxNamed); err != nil {
				return fmt.Errorf("key %s: limits: %w", k.ID, err)
			}
		}
		k.Policy = p
		if _, err := egress.New(egress.Options{Allow: k.Network}); err != nil {
			return fmt.Errorf("key %s: network: %w", k.ID, err)
		}
	}
	return nil
}

// within says which field of l, named name, is above max, named maxNamed.
func within(name string, l, max airlock.Limits, maxNamed string) error {
	if field, most := l.Exceeding(max); field != "" {
		return fmt.Errorf("%s: %s is above the %s (%d)", name, field, maxNamed, most)
	}
	return nil
}

// decodePools reads the file's pools over the defaults: a language named
// there takes its settings from there.
func decodePools(node yaml.Node, pools map[string]Pool) error {
	var named map[string]yaml.Node
	if err := node.Decode(&named); err != nil {
		return err
	}
	for name, n := range named {
		var p Pool
		if err := decodeStrict(n, &p); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if p.Size < 0 {
			return fmt.Errorf("%s: size %d is negative", name, p.Size)
		}
		pools[name] = p
	}
	return nil
}

// decodeStrict decodes node into v, refusing unknown fields.
func decodeStrict(node yaml.Node, v any) error {
	data, err := yaml.Marshal(&node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// ErrOpen refuses to expose a server without keys.
var ErrOpen = errors.New("no API keys are configured: refusing to listen on a non-loopback address (add keys to the config file, or pass --insecure-open)")
