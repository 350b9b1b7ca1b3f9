package deps

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

func TestKey(t *testing.T) {
	base := pySpec(t, "numpy==1.24.0", "scipy==1.10.0")
	k := Key(base, []string{DefaultPythonIndex}, "")
	if !isKey(k) {
		t.Fatalf("key %q is not 64 hex digits", k)
	}
	if again := Key(pySpec(t, "scipy==1.10.0", "numpy==1.24.0"), []string{DefaultPythonIndex}, ""); again != k {
		t.Errorf("the order of the requirements changed the key")
	}
	other := func(s Spec) Spec { return s }
	different := map[string]string{
		"version":     Key(func() Spec { s := other(base); s.Version = "3.12.0"; return s }(), []string{DefaultPythonIndex}, ""),
		"requirement": Key(pySpec(t, "numpy==1.24.1", "scipy==1.10.0"), []string{DefaultPythonIndex}, ""),
		"fewer":       Key(pySpec(t, "numpy==1.24.0"), []string{DefaultPythonIndex}, ""),
		"language":    Key(func() Spec { s := other(base); s.Language = &lang.Language{ID: "python2", Installer: "pip"}; return s }(), []string{DefaultPythonIndex}, ""),
		"installer":   Key(func() Spec { s := other(base); s.Language = &lang.Language{ID: "python", Installer: "npm"}; return s }(), []string{DefaultPythonIndex}, ""),
		"index":       Key(base, []string{"https://mirror.example/simple"}, ""),
		"extra index": Key(base, []string{DefaultPythonIndex, "https://mirror.example/simple"}, ""),
		"CA":          Key(base, []string{DefaultPythonIndex}, contentHash([]byte("a CA"))),
	}
	seen := map[string]string{k: "base"}
	for what, key := range different {
		if prev, dup := seen[key]; dup {
			t.Errorf("%s gives the same key as %s", what, prev)
		}
		seen[key] = what
	}
}

func TestGetBuildsOnceAndBindsTheTree(t *testing.T) {
	dir := t.TempDir()
	r := newFake(t, map[string]string{"pkga/__init__.py": "VALUE = 1\n", "pkga-1.0.dist-info/METADATA": "Name: pkga\n"})
	m := manager(t, dir, r, Options{})
	env := get(t, m, pySpec(t, "pkga==1.0"))
	if env.Mount.Target != MountPoint || env.Mount.Source != filepath.Join(dir, env.Key, "env") {
		t.Errorf("mount %+v", env.Mount)
	}
	if !slices.Equal(env.Vars, []string{"PYTHONPATH=" + MountPoint}) {
		t.Errorf("vars %q", env.Vars)
	}
	b, err := os.ReadFile(filepath.Join(env.Mount.Source, "pkga/__init__.py"))
	if err != nil || string(b) != "VALUE = 1\n" {
		t.Fatalf("installed file: %q %v", b, err)
	}
	for _, p := range []string{dir, filepath.Join(dir, env.Key), env.Mount.Source, filepath.Join(env.Mount.Source, "pkga")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o005 != 0o005 {
			t.Errorf("%s is not readable and searchable by all: %v %v", p, fi.Mode(), err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(env.Mount.Source, "pkga/__init__.py")); fi.Mode().Perm() != 0o644 {
		t.Errorf("installed file mode %v", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, env.Key, manifestName)); err != nil {
		t.Errorf("no manifest: %v", err)
	}

	spec := r.specs[0]
	argv := strings.Join(spec.Argv, " ")
	for _, want := range []string{"/usr/bin/python3 -m pip install --target /box/env", "--index-url " + DefaultPythonIndex, "-r /box/requirements.txt", "--proxy http://127.0.0.1:3128"} {
		if !strings.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	if spec.Egress == nil || !slices.Equal(spec.Collect, []string{"env/"}) || spec.Limits != BuildLimits {
		t.Errorf("spec: egress %v collect %q limits %+v", spec.Egress != nil, spec.Collect, spec.Limits)
	}
	if !slices.Contains(spec.Env, "HTTPS_PROXY=http://127.0.0.1:3128") || !slices.Contains(spec.Env, "HOME=/tmp") {
		t.Errorf("env %q", spec.Env)
	}
	if i := slices.IndexFunc(spec.Files, func(f sandbox.File) bool { return f.Name == "requirements.txt" }); i < 0 || string(spec.Files[i].Content) != "pkga==1.0\n" {
		t.Errorf("files %+v", spec.Files)
	}

	again := get(t, m, pySpec(t, "pkga==1.0"))
	if again.Key != env.Key || r.builds.Load() != 1 {
		t.Errorf("second Get: key %s, %d builds", again.Key, r.builds.Load())
	}
	// A new process finds it on disk.
	if get(t, manager(t, dir, r, Options{}), pySpec(t, "pkga==1.0")); r.builds.Load() != 1 {
		t.Errorf("a second Manager built it again")
	}
}

func TestNPMJob(t *testing.T) {
	r := newFake(t, map[string]string{"node_modules/is-number/index.js": "module.exports = 1\n"})
	m := manager(t, t.TempDir(), r, Options{CABundle: "/etc/hostname"})
	reqs, err := Parse("npm", []string{"is-number@7.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	env := get(t, m, Spec{Language: &lang.Language{ID: "javascript", Installer: "npm"}, Version: "20.19.2", Requirements: reqs})
	if !slices.Equal(env.Vars, []string{"NODE_PATH=" + MountPoint + "/node_modules"}) {
		t.Errorf("vars %q", env.Vars)
	}
	spec := r.specs[0]
	argv := strings.Join(spec.Argv, " ")
	if !strings.HasPrefix(argv, "/usr/bin/npm install --prefix /box/env ") || !strings.HasSuffix(argv, "--registry "+DefaultNPMRegistry+" is-number@7.0.0") {
		t.Errorf("argv %q", argv)
	}
	for _, want := range []string{"npm_config_cache=/tmp/npm-cache", "npm_config_https_proxy=http://127.0.0.1:3128", "NODE_EXTRA_CA_CERTS=" + caTarget} {
		if !slices.Contains(spec.Env, want) {
			t.Errorf("env %q lacks %q", spec.Env, want)
		}
	}
	if !slices.Contains(spec.Mounts, sandbox.Mount{Source: "/etc/hostname", Target: caTarget}) {
		t.Errorf("mounts %+v", spec.Mounts)
	}
}

func TestConcurrentGetsShareOneBuild(t *testing.T) {
	r := newFake(t, map[string]string{"a.py": "A = 1\n"})
	r.started, r.gate = make(chan struct{}, 1), make(chan struct{})
	m := manager(t, t.TempDir(), r, Options{})
	const n = 20
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			env, err := m.Get(context.Background(), pySpec(t, "a==1"))
			if err == nil {
				keys[i] = env.Key
				env.Release()
			}
			errs[i] = err
		})
	}
	<-r.started // one build runs; the others wait for it or come after
	close(r.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("Get %d: %v %s", i, errs[i], keys[i])
		}
	}
	if b := r.builds.Load(); b != 1 {
		t.Errorf("%d builds, want 1", b)
	}
}

func TestTwoManagersOnOneDirBuildOnce(t *testing.T) {
	dir := t.TempDir()
	r1 := newFake(t, map[string]string{"a.py": "A = 1\n"})
	r1.started, r1.gate = make(chan struct{}, 1), make(chan struct{})
	r2 := newFake(t, map[string]string{"a.py": "A = 1\n"})
	r2.builds = r1.builds
	m1, m2 := manager(t, dir, r1, Options{}), manager(t, dir, r2, Options{})
	first := make(chan error, 1)
	go func() {
		env, err := m1.Get(context.Background(), pySpec(t, "a==1"))
		if err == nil {
			env.Release()
		}
		first <- err
	}()
	<-r1.started // m1 builds, holding the key's lock
	second := make(chan error, 1)
	go func() {
		env, err := m2.Get(context.Background(), pySpec(t, "a==1"))
		if err == nil {
			env.Release()
		}
		second <- err
	}()
	close(r1.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if b := r1.builds.Load(); b != 1 {
		t.Errorf("%d builds, want 1", b)
	}
}

func TestEvictionLeastRecentlyUsedNeverInUse(t *testing.T) {
	dir := t.TempDir()
	hundred := strings.Repeat("x", 100)
	r := newFake(t, map[string]string{"f": hundred})
	m := manager(t, dir, r, Options{MaxBytes: 250})
	present := func(env *Env) bool {
		_, err := os.Stat(env.Mount.Source)
		return err == nil
	}
	a, err := m.Get(context.Background(), pySpec(t, "a==1"))
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b := get(t, m, pySpec(t, "b==1")) // held
	c, err := m.Get(context.Background(), pySpec(t, "c==1"))
	if err != nil {
		t.Fatal(err)
	}
	if present(a) || !present(b) || !present(c) {
		t.Fatalf("after c: a %v b %v c %v; want a evicted", present(a), present(b), present(c))
	}
	c.Release()
	d := get(t, m, pySpec(t, "d==1"))
	// b is older than c, but in use.
	if !present(b) || present(c) || !present(d) {
		t.Fatalf("after d: b %v c %v d %v; want c evicted", present(b), present(c), present(d))
	}
	if _, err := os.Stat(m.lockPath(c.Key, "use")); !os.IsNotExist(err) {
		t.Errorf("evicted entry's lock file left: %v", err)
	}
	// Evicted, it is built again when asked for.
	if get(t, m, pySpec(t, "c==1")); r.builds.Load() != 5 {
		t.Errorf("%d builds, want 5", r.builds.Load())
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("left in the cache: %q", left)
	}
}

func TestCorruptEntryRebuilt(t *testing.T) {
	for name, corrupt := range map[string]func(entry string) error{
		"no manifest":    func(entry string) error { return os.Remove(filepath.Join(entry, manifestName)) },
		"file missing":   func(entry string) error { return os.Remove(filepath.Join(entry, "env", "pkg", "a.py")) },
		"file shortened": func(entry string) error { return os.Truncate(filepath.Join(entry, "env", "pkg", "a.py"), 1) },
		"bad manifest":   func(entry string) error { return os.WriteFile(filepath.Join(entry, manifestName), []byte("{"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := newFake(t, map[string]string{"pkg/a.py": "A = 1\n"})
			env, err := manager(t, dir, r, Options{}).Get(context.Background(), pySpec(t, "a==1"))
			if err != nil {
				t.Fatal(err)
			}
			env.Release()
			entry := filepath.Join(dir, env.Key)
			os.Chmod(filepath.Join(entry, manifestName), 0o644)
			if err := corrupt(entry); err != nil {
				t.Fatal(err)
			}
			again := get(t, manager(t, dir, r, Options{}), pySpec(t, "a==1"))
			if r.builds.Load() != 2 {
				t.Errorf("%d builds, want 2", r.builds.Load())
			}
			if b, err := os.ReadFile(filepath.Join(again.Mount.Source, "pkg/a.py")); string(b) != "A = 1\n" {
				t.Errorf("rebuilt file %q %v", b, err)
			}
		})
	}
}

func TestCorruptEntryFoundByGet(t *testing.T) {
	// Another process's entry, corrupt, met by a Manager that had not
	// seen it at its start.
	dir := t.TempDir()
	r := newFake(t, map[string]string{"pkg/a.py": "A = 1\n"})
	m := manager(t, dir, r, Options{})
	other := manager(t, dir, r, Options{})
	env, err := other.Get(context.Background(), pySpec(t, "a==1"))
	if err != nil {
		t.Fatal(err)
	}
	env.Release()
	os.Remove(filepath.Join(dir, env.Key, "env", "pkg", "a.py"))
	get(t, m, pySpec(t, "a==1"))
	if r.builds.Load() != 2 {
		t.Errorf("%d builds, want 2", r.builds.Load())
	}
}

func TestCrashedTempDirsRemoved(t *testing.T) {
	dir := t.TempDir()
	key := Key(pySpec(t, "a==1"), []string{DefaultPythonIndex}, "")
	live := Key(pySpec(t, "b==1"), []string{DefaultPythonIndex}, "")
	for _, d := range []string{tmpPrefix + key + "-123/env/pkg", tmpPrefix + live + "-456/env", delPrefix + key + "-789/" + key + "/env"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Another live process is making live's.
	lock, err := lockFile(context.Background(), filepath.Join(dir, live+".lock"), unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	manager(t, dir, newFake(t, nil), Options{})
	if left := leftovers(t, dir); !slices.Equal(left, []string{tmpPrefix + live + "-456"}) {
		t.Errorf("left: %q; want only the live build's", left)
	}
}

func TestFailedPublishLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	r := newFake(t, nil)
	// A tree with an entry outside env/ after a file inside: the
	// extraction fails half way.
	tree := makeTree(t, "env", map[string]string{"a.py": "A = 1\n"})
	tree.Entries = append(tree.Entries, sandbox.Entry{Name: "elsewhere/", Mode: 0o755})
	r.fail = &sandbox.Result{Status: "ok", Tree: tree}
	m := manager(t, dir, r, Options{})
	if _, err := m.Get(context.Background(), pySpec(t, "a==1")); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("Get: %v", err)
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("left: %q", left)
	}
	if _, err := os.Stat(filepath.Join(dir, Key(pySpec(t, "a==1"), []string{DefaultPythonIndex}, m.caHash))); !os.IsNotExist(err) {
		t.Errorf("an entry was published: %v", err)
	}
}
