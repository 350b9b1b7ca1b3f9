// Package sqlite is the embedded JobStore: one SQLite file (pure-Go
// driver, so the binary stays static), in WAL mode so a killed server loses
// no committed job.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/airlock-dev/airlock"
)

// Store is a JobStore on SQLite.
type Store struct {
	db *sql.DB
	// Every job runs these; prepared once, as SQLite otherwise parses the
	// SQL of each call again (a fifth of a job's storage CPU).
	create, get, start, finish *sql.Stmt
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
	finished_at  INTEGER NOT NULL DEFAULT 0,
	request      BLOB, -- the inline request; NULL when it is in the blob store
	result       BLOB, -- the inline result; NULL when in the blob store or not finished
	idem_key     TEXT NOT NULL DEFAULT '', -- the client's Idempotency-Key
	request_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(status, created_at) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_face ON jobs(face, created_at);
CREATE INDEX IF NOT EXISTS jobs_key_unfinished ON jobs(key_id) WHERE status IN ('queued', 'running');
`

// indexes are those on columns that migrate may have to add first.
const indexes = `
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(key_id, idem_key) WHERE idem_key != '';
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(` + expiry + `) WHERE status NOT IN ('queued', 'running');
`

// expiry is when a finished job's retention starts: its end, or its
// creation for one that has no end (cancelled while it was requeued).
const expiry = `CASE WHEN finished_at > 0 THEN finished_at ELSE created_at END`

// added are the columns later versions added to the jobs table, with
// their definitions, for databases an earlier version created.
var added = []struct{ name, def string }{
	{"request", "BLOB"},
	{"result", "BLOB"},
	{"idem_key", "TEXT NOT NULL DEFAULT ''"},
	{"request_hash", "TEXT NOT NULL DEFAULT ''"},
}

// Open opens (creating or upgrading if need be) the database at path.
func Open(path string) (*Store, error) {
	// Owner-only: SQLite gives its WAL and shared-memory files the
	// database's mode, and the data directory may be searchable by all
	// (the sandboxes bind the environments' cache under it).
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		err = f.Chmod(0o600)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite %s: %w", path, err)
		}
	}
	// Immediate transactions take the write lock when they begin, so two
	// of them (the migration of two processes, say) never deadlock
	// upgrading a read lock.
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)")
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
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: migrate: %w", path, err)
	}
	if _, err := db.Exec(indexes); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.prepare(); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return s, nil
}

const columns = `id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, cancel, created_at, started_at, finished_at, request, result, idem_key, request_hash`

// prepare prepares the statements of Store's fields.
func (s *Store) prepare() error {
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		// A taken idempotency key inserts nothing; a taken id fails.
		{&s.create, `INSERT INTO jobs (id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, created_at, request, idem_key, request_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, idem_key) WHERE idem_key != '' DO NOTHING`},
		{&s.get, `SELECT ` + columns + ` FROM jobs WHERE id = ?`},
		{&s.start, `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?
			WHERE id = ? AND (status = 'queued' OR status = 'running' AND ?) RETURNING ` + columns},
		// A cancel requested while the job ran wins over what the run came to.
		{&s.finish, `UPDATE jobs SET status = CASE WHEN cancel = 1 THEN 'cancelled' ELSE ? END, finished_at = ?, result = ?
			WHERE id = ? AND status = 'running' AND attempts = ? RETURNING ` + columns},
	} {
		stmt, err := s.db.Prepare(p.query)
		if err != nil {
			return err
		}
		*p.stmt = stmt
	}
	return nil
}

// migrate adds the columns an older database lacks.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	have, err := jobColumns(tx)
	if err != nil {
		return err
	}
	for _, c := range added {
		if have[c.name] {
			continue
		}
		if _, err := tx.Exec(`ALTER TABLE jobs ADD COLUMN ` + c.name + ` ` + c.def); err != nil {
			return fmt.Errorf("add column %s: %w", c.name, err)
		}
	}
	return tx.Commit()
}

// jobColumns are the names of the jobs table's columns.
func jobColumns(tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.Query(`SELECT name FROM pragma_table_info('jobs')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}

// Close closes the database.
func (s *Store) Close() error {
	for _, stmt := range []*sql.Stmt{s.create, s.get, s.start, s.finish} {
		if stmt != nil {
			stmt.Close()
		}
	}
	return s.db.Close()
}

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

// Create inserts a new job with its inline request.
func (s *Store) Create(ctx context.Context, j *airlock.Job) error {
	res, err := s.create.ExecContext(ctx, j.ID, j.Face, j.Status, j.Language, j.KeyID, j.ClientAddr, j.CallbackURL, j.CodeSHA256, j.Attempts, unix(j.CreatedAt), j.InlineRequest,
		j.IdempotencyKey, j.RequestHash)
	if err := changedOne(res, err); errors.Is(err, airlock.ErrConflict) {
		return airlock.ErrDuplicate
	} else if err != nil {
		return err
	}
	return nil
}

// Idempotent reads the job of an API key that has an idempotency key.
func (s *Store) Idempotent(ctx context.Context, keyID, key string) (*airlock.Job, error) {
	if key == "" {
		return nil, airlock.ErrNotFound
	}
	return scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM jobs WHERE key_id = ? AND idem_key = ?`, keyID, key))
}

func scan(row interface{ Scan(...any) error }) (*airlock.Job, error) {
	var j airlock.Job
	var created, started, finished int64
	err := row.Scan(&j.ID, &j.Face, &j.Status, &j.Language, &j.KeyID, &j.ClientAddr, &j.CallbackURL, &j.CodeSHA256, &j.Attempts, &j.CancelRequested, &created, &started, &finished,
		&j.InlineRequest, &j.InlineResult, &j.IdempotencyKey, &j.RequestHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, airlock.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	j.CreatedAt, j.StartedAt, j.FinishedAt = fromUnix(created), fromUnix(started), fromUnix(finished)
	return &j, nil
}

// Get reads a job.
func (s *Store) Get(ctx context.Context, id string) (*airlock.Job, error) {
	return scan(s.get.QueryRowContext(ctx, id))
}

// Start moves a queued job, or a running one being retaken, to running for
// a new attempt.
func (s *Store) Start(ctx context.Context, id string, at time.Time, retake bool) (*airlock.Job, error) {
	return transition(s.start.QueryRowContext(ctx, unix(at), id, retake))
}

// Finish records the final status and inline result of a running job's
// attempt; a cancel requested while it ran wins over what the run came to.
func (s *Store) Finish(ctx context.Context, id string, attempt int, status airlock.Status, at time.Time, result []byte) (*airlock.Job, error) {
	return transition(s.finish.QueryRowContext(ctx, status, unix(at), result, id, attempt))
}

// transition reads the job a conditional UPDATE ... RETURNING changed; no
// row means the job was not in the state the update needs.
func transition(row *sql.Row) (*airlock.Job, error) {
	j, err := scan(row)
	if errors.Is(err, airlock.ErrNotFound) {
		return nil, airlock.ErrConflict
	}
	return j, err
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

// Requeue moves a running job's attempt back to queued, or to cancelled
// when a cancel was requested.
func (s *Store) Requeue(ctx context.Context, id string, attempt int) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET status = CASE WHEN cancel = 1 THEN 'cancelled' ELSE 'queued' END
		WHERE id = ? AND status = 'running' AND attempts = ?`, id, attempt)
	return changedOne(res, err)
}

// Release moves a running job's attempt back to queued without counting
// it, or to cancelled when a cancel was requested.
func (s *Store) Release(ctx context.Context, id string, attempt int) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET status = CASE WHEN cancel = 1 THEN 'cancelled' ELSE 'queued' END,
		attempts = CASE WHEN cancel = 1 THEN attempts ELSE attempts - 1 END
		WHERE id = ? AND status = 'running' AND attempts = ?`, id, attempt)
	return changedOne(res, err)
}

// Active counts the queued and running jobs of an API key.
func (s *Store) Active(ctx context.Context, keyID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE key_id = ? AND status IN ('queued', 'running')`, keyID).Scan(&n)
	return n, err
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

// Expired lists finished jobs that finished before a time, oldest first.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]airlock.Expired, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, request IS NULL, result IS NULL FROM jobs
		WHERE status NOT IN ('queued', 'running') AND `+expiry+` < ? ORDER BY `+expiry+` LIMIT ?`, unix(before), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []airlock.Expired
	for rows.Next() {
		var e airlock.Expired
		if err := rows.Scan(&e.ID, &e.RequestBlob, &e.ResultBlob); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Purge removes the finished ones of the given jobs, in one statement.
func (s *Store) Purge(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE status NOT IN ('queued', 'running') AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
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
	if err == nil {
		err = s.db.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&st.DatabaseBytes)
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
