// Package egress is the allow-listing HTTP proxy that is a sandbox's one
// way out (sandbox.Spec.Egress): it serves HTTP/1.1 on each client
// connection handed to it, tunnels CONNECT host:port (https) and forwards
// absolute-form http:// requests, to the hosts and ports of its allow
// list only. It resolves names itself, on the host, and will not connect
// a listed name to a loopback, private, link-local, unspecified or
// multicast address; only a listed IP literal reaches those. What it
// refuses answers 403 and is logged and recorded (Refused); an allowed
// host it cannot reach answers 502.
//
// One file per concern:
//   - proxy.go: Options, Proxy, its bounds and what it refused.
//   - allow.go: the allow list and the targets clients ask for.
//   - dial.go: resolving and connecting to an allowed target.
//   - serve.go: one client connection: its requests, bad ones, replies.
//   - connect.go: CONNECT tunnels.
//   - forward.go: plain-HTTP requests.
//   - idle.go: the idle timeout of a connection in use.
package egress

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// Allow lists where clients may go: "host" (ports 80 and 443) or
	// "host:port". Names are case-insensitive; an IP literal
	// ("127.0.0.1:8080", "[::1]:8080") is the only way to reach a
	// loopback or private address.
	Allow []string
	// Log gets a line per refusal and per unreachable host; nil discards.
	Log *slog.Logger
}

// Proxy is an allow-listing HTTP proxy. It is safe for concurrent use:
// one Proxy may serve every connection of a run.
type Proxy struct {
	allow    allowList
	log      *slog.Logger
	lim      limits
	resolver *net.Resolver
	dialer   *net.Dialer
	conns    chan struct{} // a token per connection being served

	mu          sync.Mutex
	refused     []string
	unreachable []string
	seen        map[string]bool // refused
	down        map[string]bool // unreachable
}

// limits bound what one Proxy can be made to do.
type limits struct {
	dial        time.Duration // resolving and connecting to a target
	idle        time.Duration // a tunnel or forwarded exchange with no bytes either way
	header      time.Duration // waiting for a client's next request header and reading it
	headerBytes int64         // a request header's size
	conns       int           // client connections served at once
}

var defaultLimits = limits{
	dial:        10 * time.Second,
	idle:        2 * time.Minute,
	header:      30 * time.Second,
	headerBytes: 64 << 10,
	conns:       64,
}

// New checks the allow list and returns a Proxy.
func New(opts Options) (*Proxy, error) {
	allow, err := parseAllow(opts.Allow)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newProxy(allow, log, defaultLimits), nil
}

func newProxy(allow allowList, log *slog.Logger, lim limits) *Proxy {
	return &Proxy{
		allow: allow,
		log:   log,
		lim:   lim,
		// The pure-Go resolver reads the host's own configuration: a
		// proxy's name lookups never depend on a C library's plugins.
		resolver: &net.Resolver{PreferGo: true},
		dialer:   &net.Dialer{},
		conns:    make(chan struct{}, lim.conns),
		seen:     map[string]bool{},
		down:     map[string]bool{},
	}
}

// Refused lists the "host:port" targets clients asked for and were
// refused, in the order first asked, each once.
func (p *Proxy) Refused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refused...)
}

// Unreachable lists the "host:port" targets that were allowed but could
// not be reached, in the order first asked, each once: an installer that
// meets the proxy's 502 may not say which index was down.
func (p *Proxy) Unreachable() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.unreachable...)
}

// recordDown logs an allowed target that could not be reached and keeps
// it for Unreachable.
func (p *Proxy) recordDown(u *unreachable) {
	p.log.Warn("egress host unreachable", "host", u.target.String(), "error", u.err.Error())
	p.mu.Lock()
	defer p.mu.Unlock()
	if name := u.target.String(); !p.down[name] {
		p.down[name] = true
		p.unreachable = append(p.unreachable, name)
	}
}

// record logs a refusal and keeps its target for Refused.
func (p *Proxy) record(r *refusal) {
	p.log.Warn("egress refused", "host", r.target.String(), "reason", r.Error())
	p.mu.Lock()
	defer p.mu.Unlock()
	if name := r.target.String(); !p.seen[name] {
		p.seen[name] = true
		p.refused = append(p.refused, name)
	}
}
