// Package sqlite is the embedded JobStore: one SQLite file (pure-Go
// driver, so the binary stays static), in WAL mode so a killed server loses
// no committed job.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite"

	"github.com/airlock-dev/airlock"
)

// Store is a JobStore on SQLite.
type Store struct {
	db *sql.DB
}

var _ airlock.JobStore = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
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
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(status, created_at) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_face ON jobs(face, created_at);
`

// Open opens (creating if need be) the database at path.
func Open(path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)")
	if err != nil {
		return nil, err
	}
	// One writer at a time is SQLite's rule; one connection keeps it simple
	// and is plenty for job metadata.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Create inserts a new job.
func (s *Store) Create(ctx context.Context, j *airlock.Job) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jobs (id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.Face, j.Status, j.Language, j.KeyID, j.ClientAddr, j.CallbackURL, j.CodeSHA256, j.Attempts, unix(j.CreatedAt))
	return err
}

const columns = `id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, created_at, started_at, finished_at`

func scan(row interface{ Scan(...any) error }) (*airlock.Job, error) {
	var j airlock.Job
	var created, started, finished int64
	err := row.Scan(&j.ID, &j.Face, &j.Status, &j.Language, &j.KeyID, &j.ClientAddr, &j.CallbackURL, &j.CodeSHA256, &j.Attempts, &created, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, airlock.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	j.CreatedAt, j.StartedAt, j.FinishedAt = fromUnix(created), fromUnix(started), fromUnix(finished)
	return &j, nil
}

// Get reads a job's metadata.
func (s *Store) Get(ctx context.Context, id string) (*airlock.Job, error) {
	return scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM jobs WHERE id = ?`, id))
}

// Start moves a queued job to running.
func (s *Store) Start(ctx context.Context, id string, at time.Time) (*airlock.Job, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ? WHERE id = ? AND status = 'queued'`, unix(at), id)
	if err := changedOne(res, err); err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Finish records a running job's final status; a cancel requested while it
// ran wins over what the run came to.
func (s *Store) Finish(ctx context.Context, id string, status airlock.Status, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET status = CASE WHEN cancel = 1 THEN 'cancelled' ELSE ? END, finished_at = ? WHERE id = ? AND status = 'running'`, status, unix(at), id)
	return changedOne(res, err)
}

// Cancel ends a queued job at once and flags a running one.
func (s *Store) Cancel(ctx context.Context, id string, at time.Time) (airlock.Status, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var status airlock.Status
	if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, id).Scan(&status); errors.Is(err, sql.ErrNoRows) {
		return "", airlock.ErrNotFound
	} else if err != nil {
		return "", err
	}
	switch status {
	case airlock.StatusQueued:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ?`, unix(at), id)
		status = airlock.StatusCancelled
	case airlock.StatusRunning:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET cancel = 1 WHERE id = ?`, id)
	}
	if err != nil {
		return "", err
	}
	return status, tx.Commit()
}

// Requeue moves a running job back to queued.
func (s *Store) Requeue(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET status = CASE WHEN cancel = 1 THEN 'cancelled' ELSE 'queued' END WHERE id = ? AND status = 'running'`, id)
	return changedOne(res, err)
}

// Unfinished lists queued and running jobs, oldest first.
func (s *Store) Unfinished(ctx context.Context) ([]*airlock.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []*airlock.Job
	for rows.Next() {
		j, err := scan(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// List pages through the jobs of one face, newest first.
func (s *Store) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE face = ?`, face).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM jobs WHERE face = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, face, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var jobs []*airlock.Job
	for rows.Next() {
		j, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		jobs = append(jobs, j)
	}
	return jobs, total, rows.Err()
}

// Delete removes a finished job.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE id = ? AND status NOT IN ('queued', 'running')`, id)
	if err := changedOne(res, err); !errors.Is(err, airlock.ErrConflict) {
		return err
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return airlock.ErrConflict
}

// Stats counts jobs.
func (s *Store) Stats(ctx context.Context, since time.Time) (*airlock.JobStats, error) {
	st := &airlock.JobStats{ByLanguage: map[string]int{}, ByStatus: map[airlock.Status]int{}, ByDay: map[string]int{}}
	err := s.count(ctx, `SELECT language, count(*) FROM jobs GROUP BY language`, func(k string, n int) { st.ByLanguage[k] = n; st.Total += n })
	if err == nil {
		err = s.count(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`, func(k string, n int) { st.ByStatus[airlock.Status(k)] = n })
	}
	if err == nil {
		err = s.count(ctx, `SELECT date(created_at / 1000000000, 'unixepoch'), count(*) FROM jobs WHERE created_at >= ? GROUP BY 1`,
			func(k string, n int) { st.ByDay[k] = n }, unix(since))
	}
	return st, err
}

func (s *Store) count(ctx context.Context, query string, add func(string, int), args ...any) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		add(k, n)
	}
	return rows.Err()
}

func changedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return airlock.ErrConflict
	}
	return nil
}
