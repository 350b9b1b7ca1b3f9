package jobs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// A hello world, with the default threshold, never touches the blob store:
// its request and result live in the job's row.
func TestSmallPayloadsInline(t *testing.T) {
	e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1})
	e.run(t)
	const code = "out hello"
	j := e.submit(t, code)
	e.wait(t, j.ID, "hello\n")
	e.readBack(t, j.ID, code, "hello\n")
	if puts, gets := e.blobs.seen(j.ID); len(puts)+len(gets) > 0 {
		t.Errorf("blob store used for a small job: put %v, read %v", puts, gets)
	}
	if row := e.row(t, j.ID); row.InlineRequest == nil || row.InlineResult == nil {
		t.Errorf("store row: inline request %d bytes, result %d bytes; want both", len(row.InlineRequest), len(row.InlineResult))
	}
}

// Above the threshold a request and a result go to the blob store, read
// back from there, and go with the job when it is deleted. Below it, in
// the same service, they stay out of it.
func TestLargePayloadsInBlobs(t *testing.T) {
	e := newEnv(t, t.TempDir(), jobs.Options{Workers: 1, InlineMax: 2 << 10})
	e.run(t)
	large := "# " + strings.Repeat("a", 3<<10) + "\nout " + strings.Repeat("x", 3000) + "\n"
	bigOut := strings.Repeat("x", 3000) + "\n"
	big := e.submit(t, large)
	e.wait(t, big.ID, bigOut)
	e.readBack(t, big.ID, large, bigOut)
	puts, _ := e.blobs.seen(big.ID)
	if want := []string{"requests/" + big.ID + ".json", "results/" + big.ID + ".json"}; !slices.Equal(puts, want) {
		t.Errorf("blob puts for a large job: %v, want %v", puts, want)
	}
	if row := e.row(t, big.ID); row.InlineRequest != nil || row.InlineResult != nil {
		t.Errorf("store row of a large job: inline request %d bytes, result %d bytes; want none", len(row.InlineRequest), len(row.InlineResult))
	}

	const code = "out hello"
	small := e.submit(t, code)
	e.wait(t, small.ID, "hello\n")
	e.readBack(t, small.ID, code, "hello\n")
	if puts, gets := e.blobs.seen(small.ID); len(puts)+len(gets) > 0 {
		t.Errorf("blob store used for a small job: put %v, read %v", puts, gets)
	}

	if err := e.svc.Delete(t.Context(), big.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, key := range puts {
		if _, err := e.blobs.BlobStore.Get(t.Context(), key); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("blob %s after Delete: %v, want ErrNotFound", key, err)
		}
	}
}

// Jobs accepted by a process that stopped before running them run after a
// restart, their requests read from the store: inline or in the blob store.
func TestRestartReadsRequestsFromStore(t *testing.T) {
	dir := t.TempDir()
	opt := jobs.Options{Workers: 1, InlineMax: 2 << 10}
	before := newEnv(t, dir, opt)
	small := "out small"
	large := "# " + strings.Repeat("a", 3<<10) + "\nout large\n"
	ids := []string{before.submit(t, small).ID, before.submit(t, large).ID}

	after := newEnv(t, dir, opt)
	after.run(t)
	after.wait(t, ids[0], "small\n")
	after.wait(t, ids[1], "large\n")
	if _, gets := after.blobs.seen(ids[1]); !slices.Contains(gets, "requests/"+ids[1]+".json") {
		t.Errorf("the large request was not read from the blob store after the restart: %v", gets)
	}
}
