// Package postgres is the JobStore of the distributed mode: jobs in a
// PostgreSQL database that every server and worker process shares, through
// a pool of connections (pgx, pure Go, so the binary stays static).
//
// Every transition is a single conditional statement, so two processes
// racing on a job (two workers handed the same id, a cancel and a start)
// are ordered by the database's row locks and exactly one of them wins,
// with no transaction held open across round trips.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlock-dev/airlock"
)

// Store is a JobStore on PostgreSQL. It is safe for concurrent use, by any
// number of processes on one database.
type Store struct {
	pool *pgxpool.Pool
}

var _ airlock.JobStore = (*Store)(nil)

// DefaultConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout: without it a server that does not answer (a firewall
// dropping packets, a wrong host) would hang Open, and every call that
// needs a new connection, for as long as the kernel keeps trying.
const DefaultConnectTimeout = 5 * time.Second

// Open connects to the database at url (postgres://user:password@host:port/db?...,
// or any form pgx takes, pool_max_conns and the other pool settings
// included) and brings its schema up to date. It fails within the connect
// timeout when the server cannot be reached or refuses the credentials,
// rather than leaving the caller to find out on the first job.
//
// Tables are created unqualified, in the first schema of the search_path:
// a database of its own, or a schema of its own named by the URL's
// search_path parameter, keeps them apart from other applications'. Behind
// PgBouncer in transaction mode, add default_query_exec_mode=exec to the
// URL, since the default caches prepared statements on each connection.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's errors (this one, and those of connecting) say which
		// server, database and user, and never the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// The pool connects lazily; connect now, within the timeout as a whole
	// (pgx applies it to each of a host's addresses in turn), to fail here.
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		pool.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			// The pool says no more than that: say which server, and
			// whose deadline it was.
			c := cfg.ConnConfig
			when := fmt.Sprintf("within %s (connect_timeout)", c.ConnectTimeout)
			if ctx.Err() != nil {
				when = "before the caller's deadline"
			}
			return nil, fmt.Errorf("postgres: no connection to %s:%d (database %s, user %s) %s: %w",
				c.Host, c.Port, c.Database, c.User, when, err)
		}
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool's connections, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// columns are a job's columns in the order scan reads them.
const columns = `id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, cancel, created_at, started_at, finished_at, request, result, idem_key, request_hash`

// scan reads a job's columns; ErrNotFound when there is no row.
func scan(row pgx.Row) (*airlock.Job, error) {
	var (
		j                 airlock.Job
		status            string
		started, finished *time.Time
	)
	err := row.Scan(&j.ID, &j.Face, &status, &j.Language, &j.KeyID, &j.ClientAddr, &j.CallbackURL, &j.CodeSHA256, &j.Attempts,
		&j.CancelRequested, &j.CreatedAt, &started, &finished, &j.InlineRequest, &j.InlineResult, &j.IdempotencyKey, &j.RequestHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, airlock.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	j.Status = airlock.Status(status)
	// UTC, as the SQLite store returns them, whatever the session's time
	// zone: callers format them without thinking of it.
	j.CreatedAt = j.CreatedAt.UTC()
	if started != nil {
		j.StartedAt = started.UTC()
	}
	if finished != nil {
		j.FinishedAt = finished.UTC()
	}
	return &j, nil
}

// scanAll reads every job of rows.
func scanAll(rows pgx.Rows, err error) ([]*airlock.Job, error) {
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

// nullTime is NULL for the zero time: a job not yet started or finished
// has no time for it, rather than the year 1.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Create inserts a new job with its inline request. A taken idempotency
// key inserts nothing (the unique index orders concurrent creates with
// it across processes); a taken id fails.
func (s *Store) Create(ctx context.Context, j *airlock.Job) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO jobs (id, face, status, language, key_id, client_addr, callback_url, code_sha256, attempts, created_at, request, idem_key, request_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (key_id, idem_key) WHERE idem_key <> '' DO NOTHING`,
		j.ID, j.Face, string(j.Status), j.Language, j.KeyID, j.ClientAddr, j.CallbackURL, j.CodeSHA256, j.Attempts, j.CreatedAt, j.InlineRequest,
		j.IdempotencyKey, j.RequestHash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return airlock.ErrDuplicate
	}
	return nil
}

// Idempotent reads the job of an API key that has an idempotency key.
func (s *Store) Idempotent(ctx context.Context, keyID, key string) (*airlock.Job, error) {
	if key == "" {
		return nil, airlock.ErrNotFound
	}
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM jobs WHERE key_id = $1 AND idem_key = $2`, keyID, key))
}

// Expired lists finished jobs that finished before a time, oldest first.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]airlock.Expired, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, request IS NULL, result IS NULL FROM jobs
		WHERE status NOT IN ('queued', 'running') AND coalesce(finished_at, created_at) < $1
		ORDER BY coalesce(finished_at, created_at) LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	var e airlock.Expired
	var out []airlock.Expired
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.RequestBlob, &e.ResultBlob}, func() error { out = append(out, e); return nil })
	return out, err
}

// Purge removes the finished ones of the given jobs, in one statement.
func (s *Store) Purge(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM jobs WHERE id = ANY($1) AND status NOT IN ('queued', 'running')`, ids)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// Get reads a job.
func (s *Store) Get(ctx context.Context, id string) (*airlock.Job, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM jobs WHERE id = $1`, id))
}

// Start moves a queued job, or a running one being retaken, to running for
// a new attempt. Of several processes starting the same job at once, the
// first to lock its row runs; the others find it running when the lock is
// theirs, and get ErrConflict (unless retaking it, which only the holder
// of a lease that ran out does).
func (s *Store) Start(ctx context.Context, id string, at time.Time, retake bool) (*airlock.Job, error) {
	return transition(s.pool.QueryRow(ctx, `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = $1
		WHERE id = $2 AND (status = 'queued' OR status = 'running' AND $3) RETURNING `+columns, nullTime(at), id, retake))
}

// Finish records the final status and inline result of a running job's
// attempt; a cancel requested while it ran wins over what the run came to.
func (s *Store) Finish(ctx context.Context, id string, attempt int, status airlock.Status, at time.Time, result []byte) (*airlock.Job, error) {
	return transition(s.pool.QueryRow(ctx, `UPDATE jobs SET status = CASE WHEN cancel THEN 'cancelled' ELSE $1 END, finished_at = $2, result = $3
		WHERE id = $4 AND status = 'running' AND attempts = $5 RETURNING `+columns, string(status), nullTime(at), result, id, attempt))
}

// transition reads the job a conditional UPDATE ... RETURNING changed; no
// row means the job was not in the state the update needs.
func transition(row pgx.Row) (*airlock.Job, error) {
	j, err := scan(row)
	if errors.Is(err, airlock.ErrNotFound) {
		return nil, airlock.ErrConflict
	}
	return j, err
}

// Cancel ends a queued job at once and flags a running one. It is one
// statement rather than a read then a write, so that a Start committed
// between the two cannot leave a job both running and cancelled: the
// update waits for the row and decides on the job as Start left it.
func (s *Store) Cancel(ctx context.Context, id string, at time.Time) (airlock.Status, error) {
	var status string
	err := s.pool.QueryRow(ctx, `UPDATE jobs SET
			status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
			finished_at = CASE WHEN status = 'queued' THEN $2 ELSE finished_at END,
			cancel = true
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING status`, id, nullTime(at)).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		// Finished (which it stays) or not there.
		err = s.pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", airlock.ErrNotFound
		}
	}
	if err != nil {
		return "", err
	}
	return airlock.Status(status), nil
}

// Requeue moves a running job's attempt back to queued, or to cancelled
// when a cancel was requested while it ran.
func (s *Store) Requeue(ctx context.Context, id string, attempt int) error {
	return changedOne(s.pool.Exec(ctx, `UPDATE jobs SET status = CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END
		WHERE id = $1 AND status = 'running' AND attempts = $2`, id, attempt))
}

// Release moves a running job's attempt back to queued without counting
// it, or to cancelled when a cancel was requested while it ran.
func (s *Store) Release(ctx context.Context, id string, attempt int) error {
	return changedOne(s.pool.Exec(ctx, `UPDATE jobs SET status = CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END,
		attempts = CASE WHEN cancel THEN attempts ELSE attempts - 1 END
		WHERE id = $1 AND status = 'running' AND attempts = $2`, id, attempt))
}

// changedOne is ErrConflict unless the statement changed exactly one row.
func changedOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return airlock.ErrConflict
	}
	return nil
}

// Unfinished lists queued and running jobs, oldest first.
func (s *Store) Unfinished(ctx context.Context) ([]*airlock.Job, error) {
	return scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, id`))
}

// Active counts the queued and running jobs of an API key.
func (s *Store) Active(ctx context.Context, keyID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE key_id = $1 AND status IN ('queued', 'running')`, keyID).Scan(&n)
	return n, err
}

// List pages through the jobs of one face, newest first. The count and the
// page go in one round trip. A negative limit is no limit and a negative
// offset none, as SQLite takes them (PostgreSQL refuses them).
func (s *Store) List(ctx context.Context, face string, offset, limit int) ([]*airlock.Job, int, error) {
	offset = max(offset, 0)
	var lim *int // NULL: no limit
	if limit >= 0 {
		lim = &limit
	}
	var b pgx.Batch
	var total int
	var jobs []*airlock.Job
	b.Queue(`SELECT count(*) FROM jobs WHERE face = $1`, face).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
	b.Queue(`SELECT `+columns+` FROM jobs WHERE face = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`, face, lim, offset).
		Query(func(rows pgx.Rows) error {
			var err error
			jobs, err = scanAll(rows, nil)
			return err
		})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, 0, err
	}
	return jobs, total, nil
}

// Delete removes a finished job. The statement also reads the job as it
// was before, to tell a job that is not finished (ErrConflict) from one
// that is not there (ErrNotFound) without a second round trip.
func (s *Store) Delete(ctx context.Context, id string) error {
	var deleted bool
	var status *string
	err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM jobs WHERE id = $1 AND status NOT IN ('queued', 'running') RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM d), (SELECT status FROM jobs WHERE id = $1)`, id).Scan(&deleted, &status)
	switch {
	case err != nil:
		return err
	case deleted:
		return nil
	case status != nil && !airlock.Status(*status).Finished():
		return airlock.ErrConflict
	default:
		// Not there; or finished and deleted meanwhile by another process,
		// whose delete the one here waited for.
		return airlock.ErrNotFound
	}
}

// Stats counts jobs, in one round trip. Days are UTC days whatever the
// time zone of the server or the session.
func (s *Store) Stats(ctx context.Context, since time.Time) (*airlock.JobStats, error) {
	st := &airlock.JobStats{ByLanguage: map[string]int{}, ByStatus: map[airlock.Status]int{}, ByDay: map[string]int{}}
	var b pgx.Batch
	count := func(query string, add func(string, int), args ...any) {
		b.Queue(query, args...).Query(func(rows pgx.Rows) error {
			var k string
			var n int
			_, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { add(k, n); return nil })
			return err
		})
	}
	count(`SELECT language, count(*) FROM jobs GROUP BY language`, func(k string, n int) { st.ByLanguage[k] = n; st.Total += n })
	count(`SELECT status, count(*) FROM jobs GROUP BY status`, func(k string, n int) { st.ByStatus[airlock.Status(k)] = n })
	count(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM jobs WHERE created_at >= $1 GROUP BY 1`,
		func(k string, n int) { st.ByDay[k] = n }, since)
	b.Queue(`SELECT pg_database_size(current_database())`).QueryRow(func(row pgx.Row) error { return row.Scan(&st.DatabaseBytes) })
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return st, nil
}
