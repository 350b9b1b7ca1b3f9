package memqueue

import (
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/queuetest"
)

// The contract of every queue; memqueue's leases never run out, so the
// subtests of expiring leases do not apply.
func TestQueue(t *testing.T) {
	queuetest.Run(t, func(*testing.T) airlock.Queue { return New() }, queuetest.Options{})
}
