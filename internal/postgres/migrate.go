package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions: migrations[i] takes a database at
// version i to version i+1. They are only ever appended to, never edited,
// since databases out there are at every version; and each only adds to
// the schema, so that processes of the previous release, still running
// while the next one rolls out and migrates, go on working.
var migrations = []string{
	// 1: the jobs. Times are timestamptz (microseconds; NULL for a job not
	// yet started or finished); payloads bytea, NULL when in the blob
	// store. cancel flags a cancel requested while the job ran.
	`CREATE TABLE jobs (
		id           text PRIMARY KEY,
		face         text NOT NULL DEFAULT '',
		status       text NOT NULL,
		language     text NOT NULL,
		key_id       text NOT NULL DEFAULT '',
		client_addr  text NOT NULL DEFAULT '',
		callback_url text NOT NULL DEFAULT '',
		code_sha256  text NOT NULL DEFAULT '',
		attempts     integer NOT NULL DEFAULT 0,
		cancel       boolean NOT NULL DEFAULT false,
		created_at   timestamptz NOT NULL,
		started_at   timestamptz,
		finished_at  timestamptz,
		request      bytea,
		result       bytea
	);
	-- Unfinished, at every start of a server: small, however many jobs are kept.
	CREATE INDEX jobs_unfinished ON jobs (created_at, id) WHERE status IN ('queued', 'running');
	-- Stats by day since a time.
	CREATE INDEX jobs_created ON jobs (created_at);
	-- List: one face's jobs, newest first.
	CREATE INDEX jobs_face ON jobs (face, created_at DESC, id);`,
	// 2: a key's unfinished jobs, counted at each submission of a key
	// with a limit of them.
	`CREATE INDEX jobs_key_unfinished ON jobs (key_id) WHERE status IN ('queued', 'running');`,
	// 3: the client's Idempotency-Key, unique per API key, with a hash of
	// what was asked with it; and the finished jobs by the start of their
	// retention (a job cancelled while requeued has no end), which the
	// purge takes oldest first.
	`ALTER TABLE jobs ADD COLUMN idem_key text NOT NULL DEFAULT '', ADD COLUMN request_hash text NOT NULL DEFAULT '';
	CREATE UNIQUE INDEX jobs_idem ON jobs (key_id, idem_key) WHERE idem_key <> '';
	CREATE INDEX jobs_expiry ON jobs ((coalesce(finished_at, created_at))) WHERE status NOT IN ('queued', 'running');`,
}

// migrateLock is the key of the advisory lock that serializes migrations:
// processes starting together (a deployment's servers and workers) would
// otherwise each see an old version and apply its migrations at once,
// and all but one fail. "airlock" in ASCII.
const migrateLock int64 = 0x6169726c6f636b

// migrate brings the schema up to date in one transaction (PostgreSQL's
// DDL is transactional), so a migration is applied whole or not at all.
// A database at a newer version than this release knows (a newer release
// migrated it) is used as it is: migrations only add.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Held until the transaction ends; the others wait here, then find
		// the schema up to date.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS airlock_schema (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM airlock_schema`).Scan(&version); err != nil {
			return err
		}
		for v := version; v < len(migrations); v++ {
			// No arguments: the simple protocol, which runs several
			// statements in one call.
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("to version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO airlock_schema (version) VALUES ($1)`, v+1); err != nil {
				return err
			}
		}
		return nil
	})
}
