package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
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

// oldSchema is the database as versions before inline payloads made it.
const oldSchema = `
CREATE TABLE jobs (
	id           TEXT PRIMARY KEY,
	face         TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL,
	language     TEXT NOT NULL,
	key_id       TEXT NOT NULL DEFAULT '',
	client_addr  TEXT NOT NULL DEFAULT '',
	callback_url TEXT NOT NULL DEFAULT '',
	code_sha256  TEXT NOT NULL DEFAULT '',
	attempts     INTEGER NOT NULL DEFAULT 0,
	cancel       INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	started_at   INTEGER NOT NULL DEFAULT 0,
	finished_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_unfinished ON jobs(status, created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_created ON jobs(created_at);
CREATE INDEX jobs_face ON jobs(face, created_at);
`

// oldDatabase makes a database file as an older version left it, running
// the statements given after its schema.
func oldDatabase(t *testing.T, statements ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "airlock.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range append([]string{oldSchema}, statements...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return path
}

// The whole contract holds on a database an older version created.
func TestContractMigrated(t *testing.T) {
	storetest.Run(t, func(t *testing.T) airlock.JobStore { return open(t, oldDatabase(t)) })
}

// An older version's jobs survive the upgrade, with their payloads still
// in the blob store, and run on; opening again changes nothing.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	path := oldDatabase(t,
		`INSERT INTO jobs (id, status, language, created_at) VALUES ('q', 'queued', 'python', `+fmt.Sprint(created)+`)`,
		`INSERT INTO jobs (id, face, status, language, attempts, created_at, started_at, finished_at)
			VALUES ('f', 'judge0', 'ok', 'c', 1, `+fmt.Sprint(created)+`, `+fmt.Sprint(created+1)+`, `+fmt.Sprint(created+2)+`)`)
	s := open(t, path)
	for _, id := range []string{"q", "f"} {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s) after the upgrade: %v", id, err)
		}
		if got.InlineRequest != nil || got.InlineResult != nil {
			t.Errorf("job %s of the old version has inline payloads %q, %q", id, got.InlineRequest, got.InlineResult)
		}
	}
	if got, err := s.Get(ctx, "f"); err != nil || got.Status != airlock.StatusOK || got.Face != "judge0" || got.Attempts != 1 ||
		got.FinishedAt.UnixNano() != created+2 {
		t.Errorf("finished job after the upgrade: %+v, %v", got, err)
	}
	if _, err := s.Start(ctx, "q", time.Now(), false); err != nil {
		t.Fatalf("Start of an old queued job: %v", err)
	}
	result := []byte(`{"status":"ok"}`)
	if done, err := s.Finish(ctx, "q", 1, airlock.StatusOK, time.Now(), result); err != nil || !bytes.Equal(done.InlineResult, result) {
		t.Fatalf("Finish of an old job with an inline result: %+v, %v", done, err)
	}
	request := []byte(`{"language":"python"}`)
	if err := s.Create(ctx, &airlock.Job{ID: "n", Status: airlock.StatusQueued, Language: "python", CreatedAt: time.Now(), InlineRequest: request}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	if got, err := s.Get(ctx, "q"); err != nil || !bytes.Equal(got.InlineResult, result) {
		t.Errorf("old job finished after the upgrade, reopened: %+v, %v", got, err)
	}
	if got, err := s.Get(ctx, "n"); err != nil || !bytes.Equal(got.InlineRequest, request) {
		t.Errorf("new job, reopened: %+v, %v", got, err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM pragma_table_info('jobs') WHERE name IN ('request', 'result')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("after two opens the table has %d of the columns request and result, want 2", n)
	}
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
	if _, err := s.Start(ctx, r.ID, created.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, r.ID, created.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, f.ID, created.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, f.ID, 1, airlock.StatusTimeLimit, created.Add(3*time.Minute), nil); err != nil {
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
	if err := s.Requeue(ctx, r.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, r.ID); err != nil || got.Status != airlock.StatusCancelled {
		t.Errorf("job cancelled while running, requeued after reopen: %+v, %v; want cancelled", got, err)
	}
	if _, err := s.Start(ctx, f.ID, created.Add(time.Hour), false); !errors.Is(err, airlock.ErrConflict) {
		t.Errorf("Start of a finished job after reopen: %v, want ErrConflict", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	if s, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "airlock.db")); err == nil {
		s.Close()
		t.Fatal("Open in a directory that does not exist succeeded")
	}
}

// The database and its WAL are the owner's alone, even one made by an
// earlier version readable by all: the data directory may be searchable
// by the sandboxes' uids.
func TestOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	defer s.Close()
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), mode)
		}
	}
}
