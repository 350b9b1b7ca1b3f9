package egress

import (
	"sync/atomic"
	"time"
)

// idleTimer calls its fire function once no byte has moved (touch) for
// its duration: a stalled tunnel or exchange is torn down, one that keeps
// moving runs as long as it needs.
type idleTimer struct {
	d       time.Duration
	last    atomic.Int64 // unix nanoseconds of the last touch
	stopped atomic.Bool
	fire    func()
	t       *time.Timer
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	it := &idleTimer{d: d, fire: fire}
	it.touch()
	it.t = time.AfterFunc(d, it.check)
	return it
}

// touch says bytes moved.
func (it *idleTimer) touch() { it.last.Store(time.Now().UnixNano()) }

// check fires once the time since the last touch reaches d, and otherwise
// waits for the rest of it.
func (it *idleTimer) check() {
	if it.stopped.Load() {
		return
	}
	quiet := time.Since(time.Unix(0, it.last.Load()))
	if quiet >= it.d {
		it.fire()
		return
	}
	it.t.Reset(it.d - quiet)
}

// stop ends the watch; fire is not called after it returns, unless it
// was running already.
func (it *idleTimer) stop() {
	it.stopped.Store(true)
	it.t.Stop()
}
