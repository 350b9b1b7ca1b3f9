package egress

import "testing"

func TestAllowList(t *testing.T) {
	allow, err := parseAllow([]string{"Registry.NPMjs.org", "pypi.org.", "files.example:8443", "127.0.0.1:8080", "::1", "[fe80::1]:9000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host string
		port uint16
		want bool
	}{
		{"registry.npmjs.org", 443, true},
		{"registry.npmjs.org", 80, true},
		{"registry.npmjs.org", 8080, false},
		{"pypi.org", 443, true},
		{"files.example", 8443, true},
		{"files.example", 443, false},
		{"127.0.0.1", 8080, true},
		{"127.0.0.1", 80, false},
		{"::1", 443, true},
		{"fe80::1", 9000, true},
		{"example.com", 443, false},
	} {
		if got := allow.allows(target{c.host, c.port}); got != c.want {
			t.Errorf("allows(%s:%d) = %v, want %v", c.host, c.port, got, c.want)
		}
	}
}

func TestAllowRejectsBadEntries(t *testing.T) {
	for _, entry := range []string{"", "https://pypi.org", "pypi.org/simple", "*.example.com", "host:", "host:0", "host:65536", "host:http", "a..b", "-a.b", "a b"} {
		if _, err := New(Options{Allow: []string{entry}}); err == nil {
			t.Errorf("New accepted allow entry %q", entry)
		}
	}
}

func TestTargetNormalised(t *testing.T) {
	tg, err := parseTarget("PyPI.org.:443")
	if err != nil {
		t.Fatal(err)
	}
	if tg.String() != "pypi.org:443" {
		t.Errorf("target %q, want pypi.org:443", tg)
	}
	if _, err := parseTarget("pypi.org"); err == nil {
		t.Error("a target without a port was accepted")
	}
}
