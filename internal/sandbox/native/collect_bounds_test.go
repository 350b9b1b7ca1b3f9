package native

import (
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// TestCollectBounds: a run's CollectBounds let it hand back more than
// MaxCollectFiles files; without them the same litter is refused, and a
// raised file count still stops at its own bound.
func TestCollectBounds(t *testing.T) {
	// "many" leaves MaxCollectFiles+1 files in out/: with out/ itself,
	// MaxCollectFiles+2 entries.
	entries := sandbox.MaxCollectFiles + 2
	cases := []struct {
		name   string
		bounds sandbox.CollectBounds
		status airlock.Status
	}{
		{"default", sandbox.CollectBounds{}, airlock.StatusOutputLimit},
		{"raised", sandbox.CollectBounds{Files: entries}, airlock.StatusOK},
		{"one short", sandbox.CollectBounds{Files: entries - 1}, airlock.StatusOutputLimit},
		{"bytes only", sandbox.CollectBounds{Bytes: 1 << 30}, airlock.StatusOutputLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := helper("litter", airlock.Limits{}, "LITTER=many")
			spec.Collect = []string{"out"}
			spec.CollectBounds = c.bounds
			res := run(t, spec)
			defer res.Tree.Close()
			if res.Status != c.status {
				t.Fatalf("got %s %q, want %s", res.Status, res.Message, c.status)
			}
			if c.status == airlock.StatusOK && len(res.Tree.Entries) != entries {
				t.Fatalf("%d entries back, want %d", len(res.Tree.Entries), entries)
			}
		})
	}
}

func TestCollectBoundsRefusesNegative(t *testing.T) {
	spec := helper("litter", airlock.Limits{}, "LITTER=many")
	spec.CollectBounds = sandbox.CollectBounds{Files: -1}
	if _, err := runner(t).Run(t.Context(), spec); err == nil {
		t.Fatal("a negative collect bound was accepted")
	}
}
