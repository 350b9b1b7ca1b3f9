// Package pool keeps sandboxes prepared ahead of their jobs: a fixed
// number started and waiting, each handed out once and replaced in the
// background. It knows nothing of languages; what a sandbox runs is its
// Prepare function's business.
package pool

import (
	"context"
	"log/slog"
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

// Get hands out a ready sandbox, or nil when none is: the caller then
// runs cold rather than wait. Either way a replacement is on its way.
func (p *Pool) Get() sandbox.Prepared {
	p.mu.Lock()
	var s sandbox.Prepared
	if len(p.idle) > 0 {
		s = p.idle[0]
		p.idle = p.idle[1:]
	}
	p.mu.Unlock()
	if s == nil {
		p.misses.Add(1)
		return nil
	}
	p.hits.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return s
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
		if err == nil && p.ctx.Err() == nil {
			p.idle = append(p.idle, s)
			s = nil
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
