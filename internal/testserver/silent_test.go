package testserver

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestClosedPort: the port refuses connections, and no server started
// after it can take it.
func TestClosedPort(t *testing.T) {
	addr := ClosedPort(t)
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		t.Fatalf("a server could take the closed port %s", addr)
	}
}
