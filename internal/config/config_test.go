package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/spf13/pflag"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "airlock.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, args []string, vars map[string]string) *Config {
	t.Helper()
	var usage bytes.Buffer
	c, err := Load(args, env(vars), &usage)
	if err != nil {
		t.Fatalf("Load(%q): %v (output %q)", args, err, usage.String())
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := load(t, nil, nil)
	want := &Config{
		Addr: "127.0.0.1:2358", Data: "airlock-data", Workers: runtime.NumCPU(), MaxQueue: 1000,
		MaxCode: 256 << 10, MaxBody: 8 << 20, Grace: 30 * time.Second, LogFormat: "text",
		Pools: map[string]Pool{"python": {Size: 2}, "javascript": {Size: 2}}, Lease: 30 * time.Second, LostAfter: time.Minute, MaxAttempts: 3,
		Retention: 7 * 24 * time.Hour, StoreTimeout: 10 * time.Second, MinFree: 64 << 20, EnvsMaxSize: 10 << 30,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestFile(t *testing.T) {
	path := writeFile(t, `
addr: 0.0.0.0:9000
data: /var/lib/airlock
workers: 3
max_queue: 50
max-code: 64K
max_body: 2M
grace: 90s
audit: "-"
log_format: json
languages: /etc/airlock/languages.yaml
insecure_open: true
allow_local_callbacks: true
keys:
  - id: alice
    sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
    rate: 2.5
    burst: 5
    max_active: 3
  - id: bob
    sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
pools:
  python: {size: 4, preload: [json, numpy]}
  ruby: {size: 0}
`)
	c := load(t, []string{"--config", path}, nil)
	want := &Config{
		Addr: "0.0.0.0:9000", Data: "/var/lib/airlock", Workers: 3, MaxQueue: 50, MaxCode: 64 << 10, MaxBody: 2 << 20,
		Grace: 90 * time.Second, Audit: "-", LogFormat: "json", Languages: "/etc/airlock/languages.yaml",
		InsecureOpen: true, AllowLocalCallbacks: true, Lease: 30 * time.Second, LostAfter: time.Minute, MaxAttempts: 3,
		Retention: 7 * 24 * time.Hour, StoreTimeout: 10 * time.Second, MinFree: 64 << 20, EnvsMaxSize: 10 << 30,
		Keys: []auth.Key{
			{ID: "alice", SHA256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", Rate: 2.5, Burst: 5, MaxActive: 3},
			{ID: "bob", SHA256: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"},
		},
		Pools: map[string]Pool{"python": {Size: 4, Preload: []string{"json", "numpy"}}, "javascript": {Size: 2}, "ruby": {}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("from the file:\n got %+v\nwant %+v", c, want)
	}

	// AIRLOCK_CONFIG names the file too, and --config wins over it.
	if c := load(t, nil, map[string]string{"AIRLOCK_CONFIG": path}); c.Addr != "0.0.0.0:9000" || len(c.Keys) != 2 {
		t.Errorf("AIRLOCK_CONFIG was not read: %+v", c)
	}
	other := writeFile(t, "addr: 10.0.0.1:1\n")
	if c := load(t, []string{"--config=" + other}, map[string]string{"AIRLOCK_CONFIG": path}); c.Addr != "10.0.0.1:1" || len(c.Keys) != 0 {
		t.Errorf("--config did not win over AIRLOCK_CONFIG: %+v", c)
	}

	// An empty file changes nothing.
	if c := load(t, []string{"--config", writeFile(t, "")}, nil); !reflect.DeepEqual(c, load(t, nil, nil)) {
		t.Errorf("an empty file changed the defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "addr: file:1\ndata: file-data\nworkers: 2\nmax_queue: 20\ngrace: 2s\npools: {python: {size: 3, preload: [math]}}\n")
	vars := map[string]string{
		"AIRLOCK_DATA":      "env-data",
		"AIRLOCK_WORKERS":   "5",
		"AIRLOCK_MAX_QUEUE": "30",
		"AIRLOCK_AUDIT":     "env-audit",
	}
	c := load(t, []string{"--config", path, "--workers", "9", "--audit=flag-audit", "--log-format=json", "--pool", "python=7, javascript=0"}, vars)
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr (file over default)", c.Addr, "file:1"},
		{"grace (file over default)", c.Grace, 2 * time.Second},
		{"data (env over file)", c.Data, "env-data"},
		{"max-queue (env over file)", c.MaxQueue, 30},
		{"workers (flag over env over file)", c.Workers, 9},
		{"audit (flag over env)", c.Audit, "flag-audit"},
		{"log-format (flag over default)", c.LogFormat, "json"},
		{"pool sizes (flag over file, preloads kept)", len(c.Pools["python"].Preload), 1},
		{"pool size of python", c.Pools["python"].Size, 7},
		{"pool size of javascript", c.Pools["javascript"].Size, 0},
		{"max-body (default)", c.MaxBody, int64(8 << 20)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// Every setting is reachable from the environment and from a flag,
	// under the names the usage text gives.
	for _, s := range settings {
		value := map[string]string{"workers": "4", "max-queue": "4", "max-code": "4K", "max-body": "4K", "grace": "4s",
			"log-format": "json", "insecure-open": "true", "allow-local-callbacks": "true", "judge0-enable-delete": "true",
			"pool": "python=5", "store": "postgres://u:p@db/airlock", "queue": "redis://cache:6379/0", "blobs": "s3://k:s@s3:9000/b",
			"lease": "5s", "lost-after": "5s", "max-attempts": "5", "no-workers": "true",
			"max-connections": "500",
			"retention":       "0", "store-timeout": "2s", "min-free": "1M",
			"envs-max-size": "1G", "python-index": "https://pypi.corp.example/simple", "npm-registry": "https://npm.corp.example/"}[s.name]
		if value == "" {
			value = "x-" + s.name
		}
		fromEnv := load(t, nil, map[string]string{envName(s.name): value})
		fromFlag := load(t, []string{"--" + s.name + "=" + value}, nil)
		if reflect.DeepEqual(fromEnv, load(t, nil, nil)) {
			t.Errorf("%s=%s changed nothing", envName(s.name), value)
		}
		if !reflect.DeepEqual(fromEnv, fromFlag) {
			t.Errorf("--%s and %s disagree: %+v vs %+v", s.name, envName(s.name), fromFlag, fromEnv)
		}
	}
}

func TestEnvNames(t *testing.T) {
	for name, want := range map[string]string{"addr": "AIRLOCK_ADDR", "max-queue": "AIRLOCK_MAX_QUEUE", "allow-local-callbacks": "AIRLOCK_ALLOW_LOCAL_CALLBACKS"} {
		if got := envName(name); got != want {
			t.Errorf("envName(%s) = %s, want %s", name, got, want)
		}
	}
	// An empty variable is unset: the file's value stands.
	path := writeFile(t, "addr: file:1\n")
	if c := load(t, []string{"--config", path}, map[string]string{"AIRLOCK_ADDR": ""}); c.Addr != "file:1" {
		t.Errorf("an empty AIRLOCK_ADDR overrode the file: %q", c.Addr)
	}
}

func TestBadValues(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		vars    map[string]string
		file    string
		mention []string // what the error must name
	}{
		{"env workers", nil, map[string]string{"AIRLOCK_WORKERS": "many"}, "", []string{"AIRLOCK_WORKERS", "many"}},
		{"env negative workers", nil, map[string]string{"AIRLOCK_WORKERS": "-2"}, "", []string{"AIRLOCK_WORKERS"}},
		{"env size", nil, map[string]string{"AIRLOCK_MAX_BODY": "12Q"}, "", []string{"AIRLOCK_MAX_BODY"}},
		{"env bool", nil, map[string]string{"AIRLOCK_INSECURE_OPEN": "maybe"}, "", []string{"AIRLOCK_INSECURE_OPEN"}},
		{"env log format", nil, map[string]string{"AIRLOCK_LOG_FORMAT": "xml"}, "", []string{"AIRLOCK_LOG_FORMAT", "json or text"}},
		{"flag max-queue", []string{"--max-queue", "lots"}, nil, "", []string{"--max-queue", "lots"}},
		{"flag grace", []string{"--grace=soon"}, nil, "", []string{"--grace"}},
		{"flag max-code", []string{"--max-code=1.5M"}, nil, "", []string{"--max-code"}},
		{"flag bool", []string{"--allow-local-callbacks=perhaps"}, nil, "", []string{"--allow-local-callbacks"}},
		{"file workers", nil, nil, "workers: two\n", []string{"workers", "airlock.yaml"}},
		{"file grace", nil, nil, "grace: 10\n", []string{"grace"}},
		{"file log format", nil, nil, "log_format: yaml\n", []string{"log_format"}},
		{"file list for a scalar", nil, nil, "addr: [a, b]\n", []string{"addr"}},
		{"file unknown setting", nil, nil, "workerz: 2\n", []string{"workerz", "unknown"}},
		{"file bad keys", nil, nil, "keys: nope\n", []string{"keys"}},
		{"file not yaml", nil, nil, "addr: [\n", []string{"airlock.yaml"}},
		{"file not a mapping", nil, nil, "- addr\n", []string{"airlock.yaml"}},
		{"unknown flag", []string{"--wrokers=2"}, nil, "", []string{"wrokers"}},
		{"flag pool without size", []string{"--pool=python"}, nil, "", []string{"--pool", "language=size"}},
		{"env pool negative", nil, map[string]string{"AIRLOCK_POOL": "python=-1"}, "", []string{"AIRLOCK_POOL"}},
		{"file pool field", nil, nil, "pools: {python: {sise: 2}}\n", []string{"pools", "python", "sise"}},
		{"file pool negative", nil, nil, "pools: {python: {size: -2}}\n", []string{"pools", "negative"}},
		{"file pools not a mapping", nil, nil, "pools: [python]\n", []string{"pools"}},
		{"stray argument", []string{"extra"}, nil, "", []string{"extra"}},
		{"file limits unknown", nil, nil, "limits: {max: {memroy: 1G}}\n", []string{"limits", "memroy"}},
		{"file limits bad size", nil, nil, "limits: {default: {memory: lots}}\n", []string{"limits", "default", "lots"}},
		{"file limits bad duration", nil, nil, "limits: {compile: {max: {wall: 0s}}}\n", []string{"limits", "compile.max", "0s"}},
		{"file default above max", nil, nil, "limits: {default: {memory: 2G}}\n", []string{"limits", "default", "memory_mb", "max (1024)"}},
		{"file compile default above max", nil, nil, "limits: {compile: {default: {wall: 3m}, max: {wall: 2m}}}\n", []string{"compile.default", "wall_ms", "120000"}},
		{"file key max above the server's", nil, nil, "limits: {max: {memory: 512M}}\nkeys: [{id: a, sha256: " + strings.Repeat("0", 64) + ", limits: {max: {memory: 1G}}}]\n",
			[]string{"key a", "max", "memory_mb", "server's max (512)"}},
		{"file key default above its max", nil, nil, "keys: [{id: a, sha256: " + strings.Repeat("0", 64) + ", limits: {default: {wall: 20s}, max: {wall: 15s}}}]\n",
			[]string{"key a", "default", "wall_ms", "max (15000)"}},
		{"file environment field misspelt", nil, nil, "environments: {sci: {language: python, requirement: [numpy]}}\n", []string{"environments", "requirement"}},
		{"file environment without language", nil, nil, "environments: {sci: {requirements: [numpy]}}\n", []string{"environments", "sci", "language"}},
		{"file environment bad name", nil, nil, "environments: {Sci/Py: {language: python}}\n", []string{"environments", "Sci/Py"}},
		{"flag python index not a URL", []string{"--python-index=pypi.org"}, nil, "", []string{"--python-index", "http(s) URL"}},
		{"flag two npm registries", []string{"--npm-registry=https://a.example/,https://b.example/"}, nil, "", []string{"--npm-registry", "one URL"}},
		{"env PIP_INDEX_URL not a URL", nil, map[string]string{"PIP_INDEX_URL": "file:///srv/wheels"}, "", []string{"PIP_INDEX_URL", "file:///srv/wheels"}},
		{"file key network a URL", nil, nil, "keys: [{id: a, sha256: " + strings.Repeat("0", 64) + ", network: [\"https://api.example.com/\"]}]\n",
			[]string{"key a", "network", "https://api.example.com/"}},
		{"flag network host with a bad port", []string{"--network-hosts=api.example.com:99999"}, nil, "", []string{"--network-hosts", "api.example.com:99999"}},
		{"file network hosts a mapping", nil, nil, "network_hosts: {a: b}\n", []string{"network_hosts"}},
		{"file key field misspelt", nil, nil, "keys: [{id: a, sha256: " + strings.Repeat("0", 64) + ", limits: {max: {wal: 15s}}}]\n", []string{"keys", "wal"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			var usage bytes.Buffer
			c, err := Load(args, env(tc.vars), &usage)
			if err == nil {
				t.Fatalf("Load accepted it: %+v", c)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	for _, tc := range []struct {
		args []string
		vars map[string]string
	}{
		{[]string{"--config", path}, nil},
		{nil, map[string]string{"AIRLOCK_CONFIG": path}},
	} {
		_, err := Load(tc.args, env(tc.vars), &bytes.Buffer{})
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%q, %v) with a missing file: %v; want a not-exist error naming it", tc.args, tc.vars, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var usage bytes.Buffer
	_, err := Load([]string{"-h"}, env(nil), &usage)
	if !errors.Is(err, pflag.ErrHelp) {
		t.Fatalf("Load(-h) = %v, want pflag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(usage.String(), "--"+s.name) || !strings.Contains(usage.String(), envName(s.name)) {
			t.Errorf("usage does not list --%s with %s", s.name, envName(s.name))
		}
	}
}

// A bad server URL is refused without showing it: it may hold a password.
func TestServerURLs(t *testing.T) {
	for _, tc := range []struct{ flag, value, want string }{
		{"store", "mysql://root:hunter2@db/x", "postgres://"},
		{"queue", "memcached://:hunter2@cache", "redis://"},
		{"blobs", "https://KEY:hunter2@s3/b", "s3://"},
		{"store", "hunter2", "postgres://"},
	} {
		_, err := Load([]string{"--" + tc.flag + "=" + tc.value}, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--%s=%s: err = %v; want one naming %s and not the password", tc.flag, tc.value, err, tc.want)
		}
		_, err = Load(nil, func(k string) string {
			if k == envName(tc.flag) {
				return tc.value
			}
			return ""
		}, io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s=%s: err = %v; want one not showing the password", envName(tc.flag), tc.value, err)
		}
	}
}

// A boolean flag needs no value, and takes the next argument for a flag
// of its own.
func TestBooleanFlags(t *testing.T) {
	c := load(t, []string{"--no-workers", "--insecure-open", "--addr", "10.0.0.1:1", "--allow-local-callbacks=false"}, nil)
	if !c.NoWorkers || !c.InsecureOpen || c.AllowLocalCallbacks || c.Addr != "10.0.0.1:1" {
		t.Errorf("got %+v", c)
	}
}

func TestLimits(t *testing.T) {
	path := writeFile(t, `
limits:
  default: {wall: 5s, memory: 128MiB, output: 64K}
  max: {wall: 30s, cpu: 20s, memory: 4GiB, pids: 32}
  compile:
    default: {wall: 30s}
    max: {wall: 90s, memory: 1G}
keys:
  - id: grader
    sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
    limits:
      default: {memory: 1G}
      max: {memory: 2G}
      compile: {max: {wall: 60s}}
  - id: plain
    sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
`)
	c := load(t, []string{"--config", path}, nil)
	want := airlock.Policy{
		Default:        airlock.Limits{Wall: 5 * time.Second, Memory: 128 << 20, Output: 64 << 10},
		Max:            airlock.Limits{Wall: 30 * time.Second, CPU: 20 * time.Second, Memory: 4 << 30, Pids: 32},
		CompileDefault: airlock.Limits{Wall: 30 * time.Second},
		CompileMax:     airlock.Limits{Wall: 90 * time.Second, Memory: 1 << 30},
	}
	if c.Limits != want {
		t.Errorf("server limits:\n got %+v\nwant %+v", c.Limits, want)
	}
	grader := airlock.Policy{
		Default: airlock.Limits{Memory: 1 << 30}, Max: airlock.Limits{Memory: 2 << 30},
		CompileMax: airlock.Limits{Wall: time.Minute},
	}
	if len(c.Keys) != 2 || c.Keys[0].Policy != grader || c.Keys[1].Policy != (airlock.Policy{}) {
		t.Errorf("key limits: %+v", c.Keys)
	}
	// Without the section, the built-in policy (zero: airlock.DefaultPolicy).
	if c := load(t, nil, nil); c.Limits != (airlock.Policy{}) {
		t.Errorf("limits without a file: %+v", c.Limits)
	}
}

// The hosts jobs may reach: each key's own, and the server's when it has
// no keys, as a list in the file or comma-separated.
func TestNetworkSettings(t *testing.T) {
	path := writeFile(t, `
network_hosts: [api.example.com, "data.example.org:8443"]
keys:
  - id: fetcher
    sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
    network: [api.example.com, "127.0.0.1:8080"]
  - id: plain
    sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
`)
	c := load(t, []string{"--config", path}, nil)
	if !slices.Equal(c.NetworkHosts, []string{"api.example.com", "data.example.org:8443"}) {
		t.Errorf("network_hosts: %q", c.NetworkHosts)
	}
	if len(c.Keys) != 2 || !slices.Equal(c.Keys[0].Network, []string{"api.example.com", "127.0.0.1:8080"}) || c.Keys[1].Network != nil {
		t.Errorf("keys' network: %+v", c.Keys)
	}
	if c := load(t, nil, map[string]string{"AIRLOCK_NETWORK_HOSTS": "a.example, b.example:81"}); !slices.Equal(c.NetworkHosts, []string{"a.example", "b.example:81"}) {
		t.Errorf("AIRLOCK_NETWORK_HOSTS: %q", c.NetworkHosts)
	}
}

// The installers' settings: the operator's pip and npm configuration in
// the server's environment carries through unless a setting says
// otherwise; named environments come from the file.
func TestEnvironmentSettings(t *testing.T) {
	vars := map[string]string{
		"PIP_INDEX_URL": "https://pypi.corp.example/simple", "PIP_EXTRA_INDEX_URL": "https://extra.corp.example/simple",
		"npm_config_registry": "https://npm.corp.example/", "PIP_CERT": "/etc/corp-ca.pem", "NODE_EXTRA_CA_CERTS": "/etc/other.pem",
	}
	c := load(t, nil, vars)
	if want := []string{"https://pypi.corp.example/simple", "https://extra.corp.example/simple"}; !reflect.DeepEqual(c.PythonIndexes, want) {
		t.Errorf("python indexes %q, want %q", c.PythonIndexes, want)
	}
	if c.NPMRegistry != "https://npm.corp.example/" || c.CABundle != "/etc/corp-ca.pem" {
		t.Errorf("registry %q, CA bundle %q", c.NPMRegistry, c.CABundle)
	}
	path := writeFile(t, `
envs_dir: /var/cache/airlock-envs
envs_max_size: 2G
python_index: http://127.0.0.1:8080/simple
environments:
  scientific: {language: python, check: [numpy, scipy], judge0_id: 10, pool: {size: 1, preload: [numpy]}}
  lodash: {language: javascript, requirements: [lodash@4.17.21]}
`)
	c = load(t, []string{"--config", path, "--ca-bundle", "/etc/ca.pem"}, vars)
	if c.EnvsDir != "/var/cache/airlock-envs" || c.EnvsMaxSize != 2<<30 || c.CABundle != "/etc/ca.pem" ||
		!reflect.DeepEqual(c.PythonIndexes, []string{"http://127.0.0.1:8080/simple"}) {
		t.Errorf("from the file and flags: %+v", c)
	}
	want := map[string]Environment{
		"scientific": {Language: "python", Check: []string{"numpy", "scipy"}, Judge0ID: 10, Pool: Pool{Size: 1, Preload: []string{"numpy"}}},
		"lodash":     {Language: "javascript", Requirements: []string{"lodash@4.17.21"}},
	}
	if !reflect.DeepEqual(c.Environments, want) {
		t.Errorf("environments %+v, want %+v", c.Environments, want)
	}
}
