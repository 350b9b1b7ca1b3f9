package postgres

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/storetest"
	"github.com/airlock-dev/airlock/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.Cleanup() // stops the test server and removes its directory
	os.Exit(code)
}

// open opens the store at url with a pool of at most 4 connections, so
// that the tests running in parallel on a machine of many CPUs (a pool's
// default is one a CPU) stay within the server's max_connections.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), withParams(t, url, "pool_max_conns", "4"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// withParams is u with the query parameters given (name, value, ...).
func withParams(t *testing.T, u string, kv ...string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// sql runs statements on the database at u, besides the store.
func sql(t *testing.T, u string, statements ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range statements {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// queryInt reads one number from the database at u.
func queryInt(t *testing.T, u, query string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// The contract's subtests each have a database of their own, so they run
// in parallel: most of their time is waiting for the server.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) airlock.JobStore {
		t.Parallel()
		return open(t, testserver.Postgres(t))
	})
}

// The contract holds in a schema of its own in a shared database, chosen
// by the URL's search_path: the store names no schema.
func TestContractInSchema(t *testing.T) {
	t.Parallel()
	u := testserver.Postgres(t)
	sql(t, u, `CREATE TABLE jobs (other text)`) // another application's, in public
	var mu sync.Mutex
	n := 0
	storetest.Run(t, func(t *testing.T) airlock.JobStore {
		t.Parallel()
		mu.Lock()
		n++
		schema := "airlock" + strconv.Itoa(n)
		mu.Unlock()
		sql(t, u, `CREATE SCHEMA `+schema)
		return open(t, withParams(t, u, "search_path", schema))
	})
}

// A second Open changes nothing and finds the jobs of the first.
func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	u := testserver.Postgres(t)
	ctx := t.Context()
	s := open(t, u)
	created := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
	j := &airlock.Job{ID: "a", Face: "piston", Status: airlock.StatusQueued, Language: "python", CreatedAt: created, InlineRequest: []byte("req")}
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, j.ID, created.Add(time.Second), false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, u)
	defer s.Close()
	got, err := s.Get(ctx, j.ID)
	if err != nil || got.Status != airlock.StatusRunning || !got.CreatedAt.Equal(created) || !bytes.Equal(got.InlineRequest, j.InlineRequest) {
		t.Fatalf("after a second Open: %+v, %v", got, err)
	}
	if n := queryInt(t, u, `SELECT count(*) FROM airlock_schema`); n != len(migrations) {
		t.Errorf("airlock_schema has %d versions, want %d", n, len(migrations))
	}
}

// Processes starting at once on a new database (a deployment's servers
// and workers) all open it; the migrations run once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	u := testserver.Postgres(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*Store, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d of %d at once: %v", i, n, err)
			continue
		}
		defer stores[i].Close()
	}
	if got := queryInt(t, u, `SELECT count(*) FROM airlock_schema`); got != len(migrations) {
		t.Errorf("airlock_schema has %d versions, want %d", got, len(migrations))
	}
	// Every one of them works on the one table.
	for i, s := range stores {
		if s == nil {
			continue
		}
		if err := s.Create(t.Context(), &airlock.Job{ID: strconv.Itoa(i), Status: airlock.StatusQueued, Language: "c", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if got := queryInt(t, u, `SELECT count(*) FROM jobs`); got != n {
		t.Errorf("%d jobs, want %d", got, n)
	}
}

// A database a newer release migrated further is used as it is: releases
// overlap while one rolls out.
func TestNewerSchema(t *testing.T) {
	t.Parallel()
	u := testserver.Postgres(t)
	open(t, u).Close()
	sql(t, u, `INSERT INTO airlock_schema (version) VALUES (`+strconv.Itoa(len(migrations)+1)+`)`,
		`ALTER TABLE jobs ADD COLUMN later text`)
	s := open(t, u)
	defer s.Close()
	if err := s.Create(t.Context(), &airlock.Job{ID: "x", Status: airlock.StatusQueued, Language: "c", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
}

// Open fails, and soon, whatever is wrong with where it is pointed: a
// server's start must not hang on a typo. Its errors say what is wrong
// and never the password.
func TestOpenFails(t *testing.T) {
	t.Parallel()
	good := testserver.Postgres(t)
	wrongPassword, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	wrongPassword.User = url.UserPassword(wrongPassword.User.Username(), "not-the-secret")
	noDB, _ := url.Parse(good)
	noDB.Path = "/nonesuch"
	cases := []struct {
		name, url string
		within    time.Duration
		ctx       time.Duration // a deadline of the caller's, if not 0
		says      string        // in the error
	}{
		{"not a URL", "postgres://airlock:not-the-secret@127.0.0.1:notaport/x", time.Second, 0, "cannot parse"},
		{"unknown setting", withParams(t, good, "sslmode", "sometimes"), time.Second, 0, "sslmode"},
		{"refused", "postgres://airlock:not-the-secret@" + testserver.ClosedPort(t) + "/x?sslmode=disable", 3 * time.Second, 0, "refused"},
		{"wrong password", wrongPassword.String(), 3 * time.Second, 0, "password authentication failed"},
		{"no such database", noDB.String(), 3 * time.Second, 0, "does not exist"},
		{"silent server", "postgres://airlock:not-the-secret@" + testserver.Silent(t) + "/x?sslmode=disable", DefaultConnectTimeout + 2*time.Second, 0, "within 5s (connect_timeout)"},
		{"silent server, connect_timeout", "postgres://airlock:not-the-secret@" + testserver.Silent(t) + "/x?sslmode=disable&connect_timeout=1", 3 * time.Second, 0, "within 1s (connect_timeout)"},
		{"silent server, caller's deadline", "postgres://airlock:not-the-secret@" + testserver.Silent(t) + "/x?sslmode=disable", 2 * time.Second, 500 * time.Millisecond, "before the caller's deadline"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if c.ctx != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.ctx)
				defer cancel()
			}
			began := time.Now()
			s, err := Open(ctx, c.url)
			took := time.Since(began)
			t.Logf("failed in %v: %v", took.Round(time.Millisecond), err)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if took > c.within {
				t.Errorf("Open took %v to fail, want at most %v", took, c.within)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
			if strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), mustPassword(t, good)) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func mustPassword(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := p.User.Password()
	return pw
}

// Stores of two processes on one database: exactly one of them starts a
// job however many workers of each try, and a cancel through one wins over
// the finish through the other.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	u := testserver.Postgres(t)
	a, b := open(t, u), open(t, u)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for round := range 5 {
		id := "job" + strconv.Itoa(round)
		if err := a.Create(ctx, &airlock.Job{ID: id, Status: airlock.StatusQueued, Language: "go", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []*Store
		var others []error
		ready := make(chan struct{})
		for i := range 16 {
			s := []*Store{a, b}[i%2]
			wg.Go(func() {
				<-ready
				_, err := s.Start(ctx, id, at.Add(time.Second), false)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, s)
				case !errors.Is(err, airlock.ErrConflict):
					others = append(others, err)
				}
			})
		}
		close(ready)
		wg.Wait()
		if len(winners) != 1 || len(others) > 0 {
			t.Fatalf("round %d: %d Starts won, other errors %v; want 1", round, len(winners), others)
		}
		other := a
		if winners[0] == a {
			other = b
		}
		if st, err := other.Cancel(ctx, id, at.Add(2*time.Second)); err != nil || st != airlock.StatusRunning {
			t.Fatalf("Cancel through the other store: %q, %v", st, err)
		}
		done, err := winners[0].Finish(ctx, id, 1, airlock.StatusOK, at.Add(3*time.Second), []byte("out"))
		if err != nil || done.Status != airlock.StatusCancelled || done.Attempts != 1 {
			t.Fatalf("Finish: %+v, %v; want cancelled after 1 attempt", done, err)
		}
	}
}

// Days are UTC days and times come back in UTC whatever the session's time
// zone (set here by the URL, as an operator's database default would).
func TestTimeZone(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"Pacific/Kiritimati", "America/Los_Angeles"} {
		t.Run(tz, func(t *testing.T) {
			t.Parallel()
			s := open(t, withParams(t, testserver.Postgres(t), "timezone", tz))
			defer s.Close()
			ctx := t.Context()
			late := time.Date(2025, 6, 10, 23, 30, 0, 0, time.UTC)
			early := time.Date(2025, 6, 11, 0, 30, 0, 0, time.FixedZone("X", 5*3600)) // 2025-06-10 19:30 UTC
			for i, c := range []time.Time{late, early} {
				if err := s.Create(ctx, &airlock.Job{ID: strconv.Itoa(i), Status: airlock.StatusQueued, Language: "c", CreatedAt: c}); err != nil {
					t.Fatal(err)
				}
			}
			st, err := s.Stats(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.ByDay) != 1 || st.ByDay["2025-06-10"] != 2 {
				t.Errorf("ByDay = %v, want 2025-06-10: 2", st.ByDay)
			}
			j, err := s.Get(ctx, "1")
			if err != nil {
				t.Fatal(err)
			}
			if j.CreatedAt.Location() != time.UTC || !j.CreatedAt.Equal(early) {
				t.Errorf("CreatedAt = %v, want %v in UTC", j.CreatedAt, early.UTC())
			}
		})
	}
}

// PostgreSQL keeps microseconds: a time's nanoseconds are dropped, not
// rounded, so a time read back is never later than the one stored.
func TestTimePrecision(t *testing.T) {
	t.Parallel()
	s := open(t, testserver.Postgres(t))
	defer s.Close()
	ctx := t.Context()
	created := time.Date(2025, 1, 1, 0, 0, 0, 999999999, time.UTC)
	if err := s.Create(ctx, &airlock.Job{ID: "x", Status: airlock.StatusQueued, Language: "c", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	started := time.Now() // with a monotonic reading, which is not stored
	j, err := s.Start(ctx, "x", started, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := created.Truncate(time.Microsecond); !j.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", j.CreatedAt, want)
	}
	if want := started.Round(0).Truncate(time.Microsecond); !j.StartedAt.Equal(want) {
		t.Errorf("StartedAt = %v, want %v", j.StartedAt, want)
	}
}

// A store used after Close fails at once rather than hanging.
func TestClosed(t *testing.T) {
	t.Parallel()
	s := open(t, testserver.Postgres(t))
	s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, "x"); err == nil || errors.Is(err, airlock.ErrNotFound) || ctx.Err() != nil {
		t.Errorf("Get after Close: %v (context: %v)", err, ctx.Err())
	}
}

// A negative limit or offset is taken as SQLite takes it (none), not
// refused as PostgreSQL would.
func TestListNegative(t *testing.T) {
	t.Parallel()
	s := open(t, testserver.Postgres(t))
	defer s.Close()
	ctx := t.Context()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := s.Create(ctx, &airlock.Job{ID: strconv.Itoa(i), Status: airlock.StatusQueued, Language: "c", CreatedAt: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ offset, limit, want int }{{0, -1, 3}, {-5, 2, 2}, {1, -1, 2}, {0, 0, 0}} {
		jobs, total, err := s.List(ctx, "", p.offset, p.limit)
		if err != nil || total != 3 || len(jobs) != p.want {
			t.Errorf("List(%d, %d) = %d jobs, total %d, %v; want %d jobs of 3", p.offset, p.limit, len(jobs), total, err, p.want)
		}
	}
}

// An empty inline payload is not a payload in the blob store: an empty
// bytea and NULL stay apart.
func TestEmptyPayload(t *testing.T) {
	t.Parallel()
	s := open(t, testserver.Postgres(t))
	defer s.Close()
	ctx := t.Context()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Create(ctx, &airlock.Job{ID: "x", Status: airlock.StatusQueued, Language: "c", CreatedAt: at, InlineRequest: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "x", at, false); err != nil {
		t.Fatal(err)
	}
	j, err := s.Finish(ctx, "x", 1, airlock.StatusOK, at, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	if j.InlineRequest == nil || len(j.InlineRequest) != 0 || j.InlineResult == nil || len(j.InlineResult) != 0 {
		t.Errorf("empty payloads read back as %#v, %#v; want empty, not nil", j.InlineRequest, j.InlineResult)
	}
}
