package localblob

import (
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/blobtest"
)

// TestContract runs the contract that every BlobStore keeps, the S3 one
// too.
func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) airlock.BlobStore {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
