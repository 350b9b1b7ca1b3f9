package native

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// slots hands out sandbox slots. A slot owns one host uid/gid and one cgroup
// name, so no two live sandboxes share them. A lock file per slot keeps two
// airlock processes on one host (say `serve` and a CLI `run`) apart too.
type slots struct {
	mu    sync.Mutex
	free  []int
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
		s.free = append(s.free, i)
		s.avail <- struct{}{}
	}
	return s, nil
}

// slot is a held slot; release gives it back.
type slot struct {
	n    int
	lock *os.File
}

func (s *slots) acquire() (*slot, error) {
	<-s.avail
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another process may hold some slots: try each free one.
	for i := len(s.free) - 1; i >= 0; i-- {
		n := s.free[i]
		f, err := s.tryLock(n)
		if err != nil {
			s.avail <- struct{}{}
			return nil, err
		}
		if f == nil {
			continue
		}
		s.free = append(s.free[:i], s.free[i+1:]...)
		return &slot{n: n, lock: f}, nil
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
		return nil, nil
	}
	return f, nil
}

func (s *slots) release(sl *slot) {
	sl.lock.Close()
	s.mu.Lock()
	s.free = append(s.free, sl.n)
	s.mu.Unlock()
	s.avail <- struct{}{}
}

func (s *slots) uid(sl *slot) int { return s.base + sl.n }
