package sqlite

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/storetest"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) airlock.JobStore {
		return open(t, filepath.Join(t.TempDir(), "airlock.db"))
	})
}

// What was committed before Close is there after a reopen, with the
// transitions still conditional on it.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock.db")
	ctx := t.Context()
	created := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	q := &airlock.Job{ID: "q", Face: "piston", Status: airlock.StatusQueued, Language: "python", KeyID: "k1", ClientAddr: "192.0.2.1:9",
		CallbackURL: "https://example.com/cb", CodeSHA256: "abc", CreatedAt: created}
	r := &airlock.Job{ID: "r", Status: airlock.StatusQueued, Language: "c", CreatedAt: created.Add(time.Second)}
	f := &airlock.Job{ID: "f", Status: airlock.StatusQueued, Language: "go", CreatedAt: created.Add(2 * time.Second)}

	s := open(t, path)
	for _, j := range []*airlock.Job{q, r, f} {
		if err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Start(ctx, r.ID, created.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, r.ID, created.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, f.ID, created.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, f.ID, airlock.StatusTimeLimit, created.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, path)
	defer s.Close()
	got, err := s.Get(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != airlock.StatusQueued || got.Face != q.Face || got.Language != q.Language || got.KeyID != q.KeyID || got.ClientAddr != q.ClientAddr ||
		got.CallbackURL != q.CallbackURL || got.CodeSHA256 != q.CodeSHA256 || !got.CreatedAt.Equal(created) {
		t.Errorf("after reopen: %+v, want %+v", got, q)
	}
	if got, err := s.Get(ctx, f.ID); err != nil || got.Status != airlock.StatusTimeLimit || got.Attempts != 1 ||
		!got.FinishedAt.Equal(created.Add(3*time.Minute)) {
		t.Errorf("finished job after reopen: %+v, %v", got, err)
	}
	unfinished, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(unfinished) != 2 || unfinished[0].ID != q.ID || unfinished[1].ID != r.ID || unfinished[1].Status != airlock.StatusRunning {
		t.Fatalf("Unfinished after reopen = %v", unfinished)
	}
	// The cancel requested before the restart still wins.
	if err := s.Requeue(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, r.ID); err != nil || got.Status != airlock.StatusCancelled {
		t.Errorf("job cancelled while running, requeued after reopen: %+v, %v; want cancelled", got, err)
	}
	if _, err := s.Start(ctx, f.ID, created.Add(time.Hour)); !errors.Is(err, airlock.ErrConflict) {
		t.Errorf("Start of a finished job after reopen: %v, want ErrConflict", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	if s, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "airlock.db")); err == nil {
		s.Close()
		t.Fatal("Open in a directory that does not exist succeeded")
	}
}
