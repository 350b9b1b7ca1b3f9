package native

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// slots hands out sandbox slots. A slot owns two host uids (the program's
// and its keeper's) and one cgroup name, so no two live sandboxes share
// them. A lock file per slot keeps two airlock processes on one host (say
// `serve` and a CLI `run`) apart too; a slot keeps its lock while its
// keeper lives.
type slots struct {
	mu    sync.Mutex
	free  []*slot // most recently used last: their keepers are warm
	all   []*slot
	dir   string
	base  int
	avail chan struct{}
}

func newSlots(dir string, base, n int) (*slots, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &slots{dir: dir, base: base, avail: make(chan struct{}, n)}
	for i := n - 1; i >= 0; i-- {
		sl := &slot{n: i}
		s.free = append(s.free, sl)
		s.all = append(s.all, sl)
		s.avail <- struct{}{}
	}
	return s, nil
}

// slot is one sandbox place; whoever acquired it owns its fields.
type slot struct {
	n      int
	lock   *os.File // nil until first used
	keeper *keeper  // nil until started, or after it broke
}

func (s *slots) acquire() (*slot, error) {
	<-s.avail
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another process may hold some slots: try each free one.
	for i := len(s.free) - 1; i >= 0; i-- {
		sl := s.free[i]
		if sl.lock == nil {
			f, err := s.tryLock(sl.n)
			if err != nil {
				s.avail <- struct{}{}
				return nil, err
			}
			if f == nil {
				continue
			}
			sl.lock = f
		}
		s.free = append(s.free[:i], s.free[i+1:]...)
		return sl, nil
	}
	s.avail <- struct{}{}
	return nil, fmt.Errorf("all sandbox slots are held by other processes (lock dir %s)", s.dir)
}

// tryLock takes slot n's lock file; nil means another process holds it.
func (s *slots) tryLock(n int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, fmt.Sprintf("%d.lock", n)), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, nil
		}
		return nil, fmt.Errorf("lock slot %d: %w", n, err)
	}
	return f, nil
}

func (s *slots) release(sl *slot) {
	s.mu.Lock()
	s.free = append(s.free, sl)
	s.mu.Unlock()
	s.avail <- struct{}{}
}

// setKeeper changes sl's keeper. Only the slot's holder does, but
// Keepers reads every slot's, under mu.
func (s *slots) setKeeper(sl *slot, k *keeper) {
	s.mu.Lock()
	sl.keeper = k
	s.mu.Unlock()
}

// closeAll stops every keeper and drops every lock; no run may be active.
func (s *slots) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.all {
		if sl.keeper != nil {
			sl.keeper.close()
			sl.keeper = nil
		}
		if sl.lock != nil {
			sl.lock.Close()
			sl.lock = nil
		}
	}
}

// uid is the host uid and gid of the slot's program.
func (s *slots) uid(sl *slot) int { return s.base + sl.n }

// keeperUID is the host uid and gid of the slot's keeper: unprivileged on
// the host, and never the program's.
func (s *slots) keeperUID(sl *slot) int { return s.base + len(s.all) + sl.n }
