package deps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The cache directory holds, per environment:
//
//	<key>/env/            the environment's tree, bound read-only into runs
//	<key>/manifest.json   written last; its mtime is the entry's last use
//	<key>.lock, <key>.use lock files (lock.go)
//
// and, for moments, .tmp-<key>-* (an entry being made, renamed to <key>
// when whole, so an entry is whole or absent) and .del-<key>-* (an entry
// being removed).
const (
	envName      = "env"
	manifestName = "manifest.json"
	tmpPrefix    = ".tmp-"
	delPrefix    = ".del-"
)

// manifest describes a whole entry; a tree that does not match it is
// corrupt.
type manifest struct {
	Key   string    `json:"key"`
	Size  int64     `json:"size"`  // bytes of the tree's files
	Files int       `json:"files"` // files and directories of the tree
	Built time.Time `json:"built"`
}

// cached is an entry this process has checked.
type cached struct {
	size int64
	used time.Time // last use, also kept as the manifest's mtime
}

// touchEvery bounds how often a use is written to the manifest's mtime:
// the order of eviction need not be finer.
const touchEvery = time.Minute

func (m *Manager) entryDir(key string) string { return filepath.Join(m.opts.Dir, key) }

func (m *Manager) envDir(key string) string { return filepath.Join(m.opts.Dir, key, envName) }

func (m *Manager) lockPath(key, kind string) string {
	return filepath.Join(m.opts.Dir, key+"."+kind)
}

// ready says whether key's entry is known whole and still there, and
// records the use.
func (m *Manager) ready(key string) bool {
	m.mu.Lock()
	c := m.known[key]
	m.mu.Unlock()
	if c == nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(m.entryDir(key), manifestName)); err != nil {
		// Removed by another process that shares the directory.
		m.forget(key)
		return false
	}
	m.use(key)
	return true
}

// use records a use of a known entry.
func (m *Manager) use(key string) {
	now := time.Now()
	m.mu.Lock()
	c := m.known[key]
	stale := c != nil && now.Sub(c.used) >= touchEvery
	if stale {
		c.used = now
	}
	m.mu.Unlock()
	if stale {
		// Other processes sharing the directory evict by it.
		if err := os.Chtimes(filepath.Join(m.entryDir(key), manifestName), now, now); err != nil {
			m.log.Warn("environment's last use not recorded", "key", key, "err", err)
		}
	}
}

func (m *Manager) remember(key string, size int64, used time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known[key] = &cached{size: size, used: used}
}

func (m *Manager) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.known, key)
}

// publish makes key's entry from what fill writes into an empty
// directory, in a temporary directory renamed into place once the
// manifest is written. On error nothing is left.
func (m *Manager) publish(key string, fill func(dir string) error) (err error) {
	tmp, err := os.MkdirTemp(m.opts.Dir, tmpPrefix+key+"-")
	if err != nil {
		return m.cacheError(err)
	}
	defer func() {
		if err != nil {
			m.removeAll(tmp)
		}
	}()
	env := filepath.Join(tmp, envName)
	if err := os.Mkdir(env, 0o755); err != nil {
		return m.cacheError(err)
	}
	if err := fill(env); err != nil {
		return m.cacheError(err)
	}
	size, files, err := measure(env)
	if err != nil {
		return m.cacheError(err)
	}
	now := time.Now()
	b, err := json.Marshal(manifest{Key: key, Size: size, Files: files, Built: now.UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), b, 0o444); err != nil {
		return m.cacheError(err)
	}
	// MkdirTemp made it 0700; runs bind the tree as other uids.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return m.cacheError(err)
	}
	if err := os.Rename(tmp, m.entryDir(key)); err != nil {
		return m.cacheError(err)
	}
	m.remember(key, size, now)
	return nil
}

// measure sums the sizes of a tree's files and counts its entries; any
// entry but a directory or a regular file is an error (none is ever
// written).
func measure(dir string) (size int64, files int, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		files++
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		return nil
	})
	return size, files, err
}

// errAbsent is an entry that is not there at all.
var errAbsent = errors.New("no such environment")

// check reads key's entry's manifest and compares the tree with it.
func (m *Manager) check(key string) (manifest, time.Time, error) {
	var man manifest
	path := filepath.Join(m.entryDir(key), manifestName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(m.entryDir(key)); errors.Is(err, fs.ErrNotExist) {
			return man, time.Time{}, errAbsent
		}
		return man, time.Time{}, errors.New("no manifest")
	}
	if err != nil {
		return man, time.Time{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return man, time.Time{}, err
	}
	if err := json.Unmarshal(b, &man); err != nil {
		return man, time.Time{}, fmt.Errorf("manifest: %w", err)
	}
	if man.Key != key {
		return man, time.Time{}, fmt.Errorf("manifest names %q", man.Key)
	}
	size, files, err := measure(m.envDir(key))
	if err != nil {
		return man, time.Time{}, err
	}
	if size != man.Size || files != man.Files {
		return man, time.Time{}, fmt.Errorf("%d files of %d bytes where the manifest says %d of %d", files, size, man.Files, man.Size)
	}
	return man, fi.ModTime(), nil
}

// load takes key's entry as it is on disk when it is whole, and removes
// it when it is not. The caller holds <key>.lock.
func (m *Manager) load(key string) bool {
	man, used, err := m.check(key)
	switch {
	case err == nil:
		m.remember(key, man.Size, used)
		return true
	case errors.Is(err, errAbsent):
		return false
	}
	m.log.Warn("environment corrupt; removing it to build it again", "key", key, "err", err)
	m.discard(key)
	return false
}

// discard removes key's entry: first out of its name, so that it is
// absent at once, then its files.
func (m *Manager) discard(key string) {
	m.forget(key)
	tmp, err := os.MkdirTemp(m.opts.Dir, delPrefix+key+"-")
	if err != nil {
		m.removeAll(m.entryDir(key)) // no room to move it first
		return
	}
	gone := filepath.Join(tmp, key)
	if err := os.Rename(m.entryDir(key), gone); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("environment not removed", "key", key, "err", err)
	}
	m.removeAll(tmp)
}

// removeAll removes a tree, making its directories writable first should
// another process have made them read-only.
func (m *Manager) removeAll(dir string) {
	err := os.RemoveAll(dir)
	if err == nil {
		return
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		m.log.Warn("could not remove a directory of the environment cache", "dir", dir, "err", err)
	}
}

// recover cleans what a crashed process left in the cache directory and
// reads the sizes of the entries there, removing corrupt ones. A temporary
// directory is removed only when no live process is making it (its key's
// lock is free); an entry in use by another process is left to be checked
// when it is asked for.
func (m *Manager) recover() error {
	ents, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		return m.cacheError(err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, delPrefix):
			m.removeAll(filepath.Join(m.opts.Dir, name))
		case strings.HasPrefix(name, tmpPrefix):
			key, _, _ := strings.Cut(strings.TrimPrefix(name, tmpPrefix), "-")
			if !isKey(key) {
				continue
			}
			lock, err := tryLockFile(m.lockPath(key, "lock"), unix.LOCK_EX)
			if err != nil {
				return m.cacheError(err)
			}
			if lock != nil {
				m.log.Info("removing an environment a crashed process left half made", "dir", name)
				m.removeAll(filepath.Join(m.opts.Dir, name))
				lock.Close()
			}
		case isKey(name) && e.IsDir():
			use, err := tryLockFile(m.lockPath(name, "use"), unix.LOCK_EX)
			if err != nil {
				return m.cacheError(err)
			}
			if use != nil {
				m.load(name)
				use.Close()
			}
		}
	}
	return nil
}

// isKey says whether name is a content key (Key's form).
func isKey(name string) bool {
	return len(name) == 64 && strings.Trim(name, "0123456789abcdef") == ""
}

// onDisk is an entry found in the cache directory, as its manifest says.
type onDisk struct {
	key  string
	size int64
	used time.Time
}

// entries lists the cache directory's entries, also those of other
// processes sharing it; one whose manifest is unreadable is left out (it
// is being made or removed).
func (m *Manager) entries() []onDisk {
	ents, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		m.log.Warn("environment cache unreadable", "dir", m.opts.Dir, "err", err)
		return nil
	}
	var list []onDisk
	for _, e := range ents {
		if !isKey(e.Name()) || !e.IsDir() {
			continue
		}
		path := filepath.Join(m.entryDir(e.Name()), manifestName)
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fi, err := os.Stat(path)
		var man manifest
		if err != nil || json.Unmarshal(b, &man) != nil {
			continue
		}
		d := onDisk{key: e.Name(), size: man.Size, used: fi.ModTime()}
		m.mu.Lock()
		if c := m.known[d.key]; c != nil && c.used.After(d.used) {
			d.used = c.used
		}
		m.mu.Unlock()
		list = append(list, d)
	}
	return list
}

// evict removes entries least recently used first until the cache is
// within MaxBytes, skipping those in use here or in another process.
func (m *Manager) evict() {
	m.evicting.Lock()
	defer m.evicting.Unlock()
	list := m.entries()
	var total int64
	for _, e := range list {
		total += e.size
	}
	slices.SortFunc(list, func(a, b onDisk) int { return a.used.Compare(b.used) })
	for _, e := range list {
		if total <= m.opts.MaxBytes {
			return
		}
		if m.evictOne(e.key) {
			m.log.Info("environment evicted", "key", e.key, "bytes", e.size)
			total -= e.size
		}
	}
}

// evictOne removes key's entry unless it is in use.
func (m *Manager) evictOne(key string) bool {
	m.mu.Lock()
	held := m.holds[key] != nil
	m.mu.Unlock()
	if held {
		return false
	}
	// A hold taken here meanwhile waits for this lock, then finds the
	// file unlinked and locks a new one.
	use, err := tryLockFile(m.lockPath(key, "use"), unix.LOCK_EX)
	if err != nil {
		m.log.Warn("environment not evicted", "key", key, "err", err)
		return false
	}
	if use == nil {
		return false // in use by another process
	}
	defer use.Close()
	m.discard(key)
	// No one holds or waits for <key>.lock without holding <key>.use.
	os.Remove(m.lockPath(key, "lock"))
	os.Remove(m.lockPath(key, "use"))
	return true
}

// cacheError says what is wrong with the cache directory when an error is
// its fault: full or not writable.
func (m *Manager) cacheError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("the environment cache %s is full: %w", m.opts.Dir, err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("the environment cache %s is not writable: %w", m.opts.Dir, err)
	}
	return err
}
