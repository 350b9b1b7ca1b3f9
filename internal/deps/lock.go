package deps

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Locks between the processes sharing a cache directory are flocks on two
// files per key. <key>.lock is held exclusively while the environment is
// looked for, fetched or built, so a second builder waits and then finds
// it. <key>.use is held shared by every process that has the environment
// in use (or is getting it); eviction takes it exclusively without
// waiting, so an environment in use anywhere is never evicted.
//
// An evictor unlinks both files once it has removed the entry. A lock
// taken on a file that was unlinked meanwhile excludes no one, so a lock
// counts only once the file locked is still the one at its path.

// lockFile takes a flock on path (unix.LOCK_SH or unix.LOCK_EX), creating
// the file, waiting as long as ctx allows. Closing the file releases it.
func lockFile(ctx context.Context, path string, how int) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := flockCtx(ctx, f, how); err != nil {
			return nil, err // flockCtx has closed f
		}
		if current(f, path) {
			return f, nil
		}
		f.Close()
	}
}

// tryLockFile is lockFile without waiting: nil, nil when the lock is held
// elsewhere.
func tryLockFile(path string, how int) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		err = flock(f, how|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, nil
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if current(f, path) {
			return f, nil
		}
		f.Close()
	}
}

// flockCtx locks f, waiting in a goroutine so that ctx can end the wait;
// on error f is closed (once the abandoned wait ends, if it must).
func flockCtx(ctx context.Context, f *os.File, how int) error {
	err := flock(f, how|unix.LOCK_NB)
	if !errors.Is(err, unix.EWOULDBLOCK) {
		if err != nil {
			f.Close()
		}
		return err
	}
	done := make(chan error, 1)
	go func() { done <- flock(f, how) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		// The wait cannot be interrupted: whoever gets the lock late
		// drops it at once.
		go func() {
			<-done
			f.Close()
		}()
		return ctx.Err()
	}
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// current says whether f is still the file at path.
func current(f *os.File, path string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && os.SameFile(held, now)
}
