package deps

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// unreachableMsg is the egress proxy's log message for an allowed host it
// could not reach. An installer that meets the proxy's 502 on a plain
// http index says nothing of it (pip logs it at debug level): the proxy's
// log is where a build learns which index was down.
const unreachableMsg = "egress host unreachable"

// proxyLog passes a build's proxy's log on and notes the hosts it could
// not reach.
type proxyLog struct {
	slog.Handler
	seen *hostSet
}

// hostSet is the "host:port" addresses logged unreachable, in order,
// each once.
type hostSet struct {
	mu    sync.Mutex
	hosts []string
}

func newProxyLog(next slog.Handler) (*slog.Logger, *hostSet) {
	seen := &hostSet{}
	return slog.New(proxyLog{Handler: next, seen: seen}), seen
}

// Enabled takes every record: the ones noted must reach Handle whatever
// the level shown.
func (p proxyLog) Enabled(context.Context, slog.Level) bool { return true }

func (p proxyLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == unreachableMsg {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "host" {
				p.seen.add(a.Value.String())
			}
			return true
		})
	}
	if !p.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return p.Handler.Handle(ctx, r)
}

func (p proxyLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return proxyLog{Handler: p.Handler.WithAttrs(attrs), seen: p.seen}
}

func (p proxyLog) WithGroup(name string) slog.Handler {
	return proxyLog{Handler: p.Handler.WithGroup(name), seen: p.seen}
}

func (s *hostSet) add(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.hosts, host) {
		s.hosts = append(s.hosts, host)
	}
}

func (s *hostSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hosts)
}
