// Package pool keeps sandboxes prepared ahead of their jobs: a fixed
// number started and waiting, each handed out once and replaced in the
// background. It knows nothing of languages; what a sandbox runs is its
// Prepare function's business.
package pool

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// Pool is a set of prepared sandboxes of one kind. It is safe for
// concurrent use.
type Pool struct {
	prepare func(context.Context) (sandbox.Prepared, error)
	size    int
	log     *slog.Logger

	mu       sync.Mutex
	idle     []sandbox.Prepared // oldest first
	starting int
	waiters  []chan sandbox.Prepared // callers promised a sandbox now starting, first come first
	wake     chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	hits, misses atomic.Int64
}

// Refill backoff after a failed Prepare.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// New starts a pool that keeps size sandboxes ready, preparing up to
// parallel of them at once.
func New(size, parallel int, prepare func(context.Context) (sandbox.Prepared, error), log *slog.Logger) *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	parallel = max(parallel, 1)
	// One wake-up per sandbox taken, up to one per refiller.
	p := &Pool{prepare: prepare, size: size, log: log, wake: make(chan struct{}, parallel), ctx: ctx, cancel: cancel}
	for range parallel {
		p.wg.Go(p.refill)
	}
	return p
}

// Get hands out a ready sandbox. With none ready it waits for one being
// prepared that no other caller is waiting for, which is sooner than a
// cold start that would compete with it for the CPU; with none of those
// either it returns nil at once and the caller runs cold. Either way a
// replacement is on its way.
func (p *Pool) Get(ctx context.Context) sandbox.Prepared {
	p.mu.Lock()
	if len(p.idle) > 0 {
		s := p.idle[0]
		p.idle = p.idle[1:]
		p.mu.Unlock()
		p.taken()
		return s
	}
	if p.starting <= len(p.waiters) {
		p.mu.Unlock()
		p.misses.Add(1)
		return nil
	}
	ch := make(chan sandbox.Prepared, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case s := <-ch:
		if s == nil {
			p.misses.Add(1) // its preparation failed
			return nil
		}
		p.taken()
		return s
	case <-ctx.Done():
		p.mu.Lock()
		if i := slices.Index(p.waiters, ch); i >= 0 {
			p.waiters = slices.Delete(p.waiters, i, i+1)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if s := <-ch; s != nil { // handed over meanwhile
			p.put(s)
		}
		return nil
	}
}

func (p *Pool) taken() {
	p.hits.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// give hands a prepared sandbox to the first waiter, or keeps it ready;
// p.mu is held.
func (p *Pool) give(s sandbox.Prepared) {
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- s
		return
	}
	p.idle = append(p.idle, s)
}

// put is give for a caller that does not hold p.mu.
func (p *Pool) put(s sandbox.Prepared) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		s.Close() // the pool is closed
		return
	}
	p.give(s)
}

// Stats are a pool's counters.
type Stats struct {
	Size        int   // sandboxes it keeps ready
	Ready       int   // ready now
	Hits        int64 // jobs that found a ready sandbox
	Misses      int64 // jobs that found none and ran cold
	MemoryBytes int64 // held by the ready sandboxes
}

// Stats reads the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	idle := append([]sandbox.Prepared(nil), p.idle...)
	p.mu.Unlock()
	s := Stats{Size: p.size, Ready: len(idle), Hits: p.hits.Load(), Misses: p.misses.Load()}
	for _, sb := range idle {
		s.MemoryBytes += sb.MemoryBytes()
	}
	return s
}

// Close stops refilling and destroys the ready sandboxes; those handed
// out are their takers' to run or close.
func (p *Pool) Close() {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}

// refill prepares sandboxes while the pool is short of them.
func (p *Pool) refill() {
	backoff := minBackoff
	for {
		p.mu.Lock()
		short := len(p.idle)+p.starting < p.size
		if short {
			p.starting++
		}
		p.mu.Unlock()
		if !short {
			select {
			case <-p.wake:
				continue
			case <-p.ctx.Done():
				return
			}
		}
		s, err := p.prepare(p.ctx)
		p.mu.Lock()
		p.starting--
		switch {
		case err == nil && p.ctx.Err() == nil:
			p.give(s)
			s = nil
		case len(p.waiters) > p.starting:
			// A waiter counted on this one: let it run cold.
			p.waiters[0] <- nil
			p.waiters = p.waiters[1:]
		}
		p.mu.Unlock()
		if s != nil {
			s.Close() // prepared while closing
		}
		if p.ctx.Err() != nil {
			return
		}
		if err != nil {
			p.log.Error("prepare a pooled sandbox", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}
