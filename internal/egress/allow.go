package egress

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// allowList is Options.Allow parsed: the host names and IP literals a
// proxy may reach, each with its ports.
type allowList map[string]map[uint16]bool

// defaultPorts are what an entry without a port allows: http and https.
var defaultPorts = []uint16{80, 443}

// parseAllow parses entries of the form "host" or "host:port" (an IPv6
// literal in brackets when it has a port). Names are case-insensitive and
// a trailing dot is dropped; anything else (a scheme, a path, a wildcard,
// a port out of range) is an error naming the entry.
func parseAllow(entries []string) (allowList, error) {
	allow := allowList{}
	for _, entry := range entries {
		host, port, err := splitEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("egress allow entry %q: %w", entry, err)
		}
		if allow[host] == nil {
			allow[host] = map[uint16]bool{}
		}
		if port == 0 {
			for _, p := range defaultPorts {
				allow[host][p] = true
			}
			continue
		}
		allow[host][port] = true
	}
	return allow, nil
}

// splitEntry splits an allow entry into its normalised host and its port,
// 0 when it names none.
func splitEntry(entry string) (string, uint16, error) {
	if ip := net.ParseIP(entry); ip != nil {
		return ip.String(), 0, nil // a bare IPv6 literal has colons, no port
	}
	host, portText := entry, ""
	if strings.Contains(entry, ":") {
		var err error
		if host, portText, err = net.SplitHostPort(entry); err != nil {
			return "", 0, err
		}
	}
	host, err := normalHost(host)
	if err != nil {
		return "", 0, err
	}
	if portText == "" && strings.Contains(entry, ":") {
		return "", 0, fmt.Errorf("empty port")
	}
	if portText == "" {
		return host, 0, nil
	}
	port, err := parsePort(portText)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// normalHost lowercases a host name and drops its trailing dot, or
// returns an IP literal in its canonical form; what is neither is an
// error.
func normalHost(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !validName(host) {
		return "", fmt.Errorf("%q is not a host name or IP address", host)
	}
	return host, nil
}

// validName accepts DNS names: dot-separated labels of letters, digits,
// hyphens and underscores, none empty, at most 253 bytes.
func validName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func parsePort(text string) (uint16, error) {
	port, err := strconv.ParseUint(text, 10, 16)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", text)
	}
	return uint16(port), nil
}

// target is what a client asked to reach: a normalised host and a port.
type target struct {
	host string
	port uint16
}

// parseTarget parses a client's "host:port" (CONNECT's authority, or an
// absolute URL's host with its scheme's default port filled in).
func parseTarget(hostport string) (target, error) {
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		return target{}, err
	}
	if host, err = normalHost(host); err != nil {
		return target{}, err
	}
	port, err := parsePort(portText)
	if err != nil {
		return target{}, err
	}
	return target{host: host, port: port}, nil
}

// String is the target as the proxy names it: "host:port".
func (t target) String() string {
	return net.JoinHostPort(t.host, strconv.Itoa(int(t.port)))
}

// literal says whether the target is an IP address rather than a name.
func (t target) literal() bool { return net.ParseIP(t.host) != nil }

// allows says whether t's host and port are listed. An IP literal matches
// only an entry that is the same literal: a listed name never lets a
// client reach its addresses directly.
func (a allowList) allows(t target) bool {
	return a[t.host][t.port]
}
