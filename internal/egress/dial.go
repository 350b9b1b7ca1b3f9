package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// refusal is a target the proxy will not reach: not listed, or a listed
// name that resolves where only a listed IP literal may go.
type refusal struct {
	target target
	reason string // empty: not listed
}

func (r *refusal) Error() string {
	if r.reason == "" {
		return fmt.Sprintf("airlock egress: host %s is not allowed", r.target)
	}
	return fmt.Sprintf("airlock egress: host %s is not allowed (%s)", r.target, r.reason)
}

// unreachable is an allowed target the proxy could not connect to.
type unreachable struct {
	target target
	err    error
}

func (u *unreachable) Error() string {
	return fmt.Sprintf("airlock egress: host %s cannot be reached: %v", u.target, u.err)
}

func (u *unreachable) Unwrap() error { return u.err }

// dial connects to t if the allow list lets it: a listed IP literal
// directly; a listed name through the host's resolver (the sandbox has
// none), to none of its addresses unless every one is public, so that a
// name cannot be pointed at the host's own or its network's services
// (DNS rebinding). It returns a *refusal or an *unreachable.
func (p *Proxy) dial(ctx context.Context, t target) (net.Conn, error) {
	if !p.allow.allows(t) {
		return nil, &refusal{target: t}
	}
	ctx, cancel := context.WithTimeout(ctx, p.lim.dial)
	defer cancel()
	var addrs []netip.Addr
	if t.literal() {
		addrs = []netip.Addr{netip.MustParseAddr(t.host)}
	} else {
		found, err := p.resolver.LookupNetIP(ctx, "ip", t.host)
		if err != nil {
			return nil, &unreachable{target: t, err: err}
		}
		for _, a := range found {
			a = a.Unmap()
			if kind := internal(a); kind != "" {
				return nil, &refusal{target: t, reason: fmt.Sprintf("it resolves to %s, a %s address", a, kind)}
			}
			addrs = append(addrs, a)
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := p.dialer.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(t.port))))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no address"))
	}
	return nil, &unreachable{target: t, err: errors.Join(errs...)}
}

// internal names the kind of a that only a listed IP literal may reach,
// or returns "" for a public address.
func internal(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified(), a.Is4() && a.As4()[0] == 0:
		return "unspecified"
	case a.IsMulticast():
		return "multicast"
	}
	return ""
}
