// Package storetest is the contract every airlock.JobStore must keep,
// written once so that each implementation (the embedded SQLite store,
// the PostgreSQL one) runs the same checks. It tests what the jobs
// service relies on, not how a store keeps its rows.
package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

// Run runs the JobStore contract as subtests of t. open is called once per
// subtest and must return an empty store (or one whose other jobs do not
// matter: every job Run creates has a fresh random id); Run closes it when
// the subtest ends.
func Run(t *testing.T, open func(t *testing.T) airlock.JobStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s airlock.JobStore)
	}{
		{"CreateGet", testCreateGet},
		{"CreateEmptyFields", testCreateEmptyFields},
		{"CreateDuplicate", testCreateDuplicate},
		{"GetUnknown", testGetUnknown},
		{"Start", testStart},
		{"StartOnlyFromQueued", testStartOnlyFromQueued},
		{"StartUnknown", testStartUnknown},
		{"Retake", testRetake},
		{"StaleAttempt", testStaleAttempt},
		{"Finish", testFinish},
		{"FinishOnlyFromRunning", testFinishOnlyFromRunning},
		{"CancelQueued", testCancelQueued},
		{"CancelRunning", testCancelRunning},
		{"CancelFinished", testCancelFinished},
		{"CancelUnknown", testCancelUnknown},
		{"CancelRequestedShown", testCancelRequestedShown},
		{"Active", testActive},
		{"Requeue", testRequeue},
		{"RequeueOnlyFromRunning", testRequeueOnlyFromRunning},
		{"RequeueAfterCancelRequested", testRequeueAfterCancel},
		{"Release", testRelease},
		{"Unfinished", testUnfinished},
		{"ConcurrentStart", testConcurrentStart},
		{"ConcurrentCancelAndStart", testConcurrentCancelAndStart},
		{"List", testList},
		{"Delete", testDelete},
		{"Stats", testStats},
		{"InlineRequest", testInlineRequest},
		{"InlineResult", testInlineResult},
		{"InlineResultOnlyOnce", testInlineResultOnlyOnce},
		{"DeleteForgetsPayloads", testDeleteForgetsPayloads},
		{"Idempotency", testIdempotency},
		{"ConcurrentIdempotentCreate", testConcurrentIdempotentCreate},
		{"Expired", testExpired},
		{"Purge", testPurge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base is a time with no sub-microsecond part, so stores keeping
// microseconds (PostgreSQL's timestamptz) round-trip it exactly.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// newID makes a random UUID, the form of the jobs service's ids.
func newID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// queued makes a job as the jobs service submits one.
func queued(t *testing.T, created time.Time) *airlock.Job {
	return &airlock.Job{
		ID:          newID(t),
		Face:        "judge0",
		Status:      airlock.StatusQueued,
		Language:    "python",
		KeyID:       "key-" + newID(t)[:8],
		ClientAddr:  "192.0.2.7:41000",
		CallbackURL: "https://example.com/hook?job=1",
		CodeSHA256:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		CreatedAt:   created,
	}
}

func create(t *testing.T, s airlock.JobStore, j *airlock.Job) *airlock.Job {
	t.Helper()
	if err := s.Create(t.Context(), j); err != nil {
		t.Fatalf("Create(%s): %v", j.ID, err)
	}
	return j
}

func get(t *testing.T, s airlock.JobStore, id string) *airlock.Job {
	t.Helper()
	j, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if j == nil {
		t.Fatalf("Get(%s) returned a nil job and no error", id)
	}
	return j
}

func start(t *testing.T, s airlock.JobStore, id string, at time.Time) *airlock.Job {
	t.Helper()
	j, err := s.Start(t.Context(), id, at, false)
	if err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	if j == nil {
		t.Fatalf("Start(%s) returned a nil job and no error", id)
	}
	return j
}

// finish finishes a job whose result is in the blob store.
func finish(t *testing.T, s airlock.JobStore, id string, status airlock.Status, at time.Time) *airlock.Job {
	t.Helper()
	return finishWith(t, s, id, status, at, nil)
}

func finishWith(t *testing.T, s airlock.JobStore, id string, status airlock.Status, at time.Time, result []byte) *airlock.Job {
	t.Helper()
	j, err := s.Finish(t.Context(), id, get(t, s, id).Attempts, status, at, result)
	if err != nil {
		t.Fatalf("Finish(%s, %s): %v", id, status, err)
	}
	if j == nil {
		t.Fatalf("Finish(%s, %s) returned a nil job and no error", id, status)
	}
	return j
}

func cancel(t *testing.T, s airlock.JobStore, id string, at time.Time) airlock.Status {
	t.Helper()
	st, err := s.Cancel(t.Context(), id, at)
	if err != nil {
		t.Fatalf("Cancel(%s): %v", id, err)
	}
	return st
}

func wantStatus(t *testing.T, s airlock.JobStore, id string, want airlock.Status) *airlock.Job {
	t.Helper()
	j := get(t, s, id)
	if j.Status != want {
		t.Fatalf("job %s is %q, want %q", id, j.Status, want)
	}
	return j
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// wantConflict checks err is ErrConflict.
func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, airlock.ErrConflict) {
		t.Errorf("%s: err = %v, want ErrConflict", what, err)
	}
}

// wantRefused checks an operation on an id that does not exist failed
// as either ErrNotFound or ErrConflict (the interface allows both: the
// jobs service treats them alike).
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, airlock.ErrNotFound) && !errors.Is(err, airlock.ErrConflict) {
		t.Errorf("%s of an unknown id: err = %v, want ErrNotFound or ErrConflict", what, err)
	}
}

// sameMeta compares what Create stores and no transition changes.
func sameMeta(t *testing.T, got, want *airlock.Job) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("ID = %q, want %q", got.ID, want.ID)
	}
	if got.Face != want.Face {
		t.Errorf("Face = %q, want %q", got.Face, want.Face)
	}
	if got.Language != want.Language {
		t.Errorf("Language = %q, want %q", got.Language, want.Language)
	}
	if got.KeyID != want.KeyID {
		t.Errorf("KeyID = %q, want %q", got.KeyID, want.KeyID)
	}
	if got.ClientAddr != want.ClientAddr {
		t.Errorf("ClientAddr = %q, want %q", got.ClientAddr, want.ClientAddr)
	}
	if got.CallbackURL != want.CallbackURL {
		t.Errorf("CallbackURL = %q, want %q", got.CallbackURL, want.CallbackURL)
	}
	if got.CodeSHA256 != want.CodeSHA256 {
		t.Errorf("CodeSHA256 = %q, want %q", got.CodeSHA256, want.CodeSHA256)
	}
	wantTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testCreateGet(t *testing.T, s airlock.JobStore) {
	want := create(t, s, queued(t, base))
	other := create(t, s, queued(t, base.Add(time.Second)))
	got := get(t, s, want.ID)
	sameMeta(t, got, want)
	if got.Status != airlock.StatusQueued {
		t.Errorf("Status = %q, want queued", got.Status)
	}
	if got.Attempts != 0 {
		t.Errorf("Attempts = %d, want 0", got.Attempts)
	}
	if !got.StartedAt.IsZero() || !got.FinishedAt.IsZero() {
		t.Errorf("a new job has StartedAt %v, FinishedAt %v; want both zero", got.StartedAt, got.FinishedAt)
	}
	sameMeta(t, get(t, s, other.ID), other)

	// Attempts is stored as given.
	j := queued(t, base)
	j.Attempts = 2
	create(t, s, j)
	if got := get(t, s, j.ID); got.Attempts != 2 {
		t.Errorf("Attempts = %d after Create with 2", got.Attempts)
	}
}

// In open mode a job has no key, and it may have no callback.
func testCreateEmptyFields(t *testing.T, s airlock.JobStore) {
	j := queued(t, base)
	j.Face, j.KeyID, j.ClientAddr, j.CallbackURL, j.CodeSHA256 = "", "", "", "", ""
	create(t, s, j)
	sameMeta(t, get(t, s, j.ID), j)
}

func testCreateDuplicate(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	dup := queued(t, base.Add(time.Hour))
	dup.ID, dup.Language = j.ID, "javascript"
	if err := s.Create(t.Context(), dup); err == nil {
		t.Fatal("Create of an existing id succeeded")
	}
	sameMeta(t, get(t, s, j.ID), j)
}

func testGetUnknown(t *testing.T, s airlock.JobStore) {
	create(t, s, queued(t, base))
	j, err := s.Get(t.Context(), newID(t))
	if !errors.Is(err, airlock.ErrNotFound) {
		t.Fatalf("Get of an unknown id = %v, %v; want ErrNotFound", j, err)
	}
}

func testStart(t *testing.T, s airlock.JobStore) {
	want := create(t, s, queued(t, base))
	at := base.Add(1500 * time.Millisecond)
	got := start(t, s, want.ID, at)
	// Start's answer is what the worker runs with: the whole job.
	sameMeta(t, got, want)
	if got.Status != airlock.StatusRunning {
		t.Errorf("Start returned status %q, want running", got.Status)
	}
	if got.Attempts != 1 {
		t.Errorf("Start returned Attempts %d, want 1", got.Attempts)
	}
	wantTime(t, "StartedAt returned by Start", got.StartedAt, at)
	if !got.FinishedAt.IsZero() {
		t.Errorf("FinishedAt = %v on a running job", got.FinishedAt)
	}
	stored := wantStatus(t, s, want.ID, airlock.StatusRunning)
	sameMeta(t, stored, want)
	if stored.Attempts != 1 {
		t.Errorf("stored Attempts = %d, want 1", stored.Attempts)
	}
	wantTime(t, "stored StartedAt", stored.StartedAt, at)
}

func testStartOnlyFromQueued(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	start(t, s, j.ID, base.Add(time.Second))
	_, err := s.Start(t.Context(), j.ID, base.Add(2*time.Second), false)
	wantConflict(t, "second Start", err)
	got := wantStatus(t, s, j.ID, airlock.StatusRunning)
	if got.Attempts != 1 {
		t.Errorf("Attempts = %d after a refused second Start, want 1", got.Attempts)
	}
	wantTime(t, "StartedAt after a refused second Start", got.StartedAt, base.Add(time.Second))

	finish(t, s, j.ID, airlock.StatusOK, base.Add(3*time.Second))
	_, err = s.Start(t.Context(), j.ID, base.Add(4*time.Second), false)
	wantConflict(t, "Start of a finished job", err)
	if got := wantStatus(t, s, j.ID, airlock.StatusOK); got.Attempts != 1 {
		t.Errorf("Attempts = %d after a refused Start, want 1", got.Attempts)
	}
}

func testStartUnknown(t *testing.T, s airlock.JobStore) {
	_, err := s.Start(t.Context(), newID(t), base, false)
	wantRefused(t, "Start", err)
}

// A running job is taken over only by a retake (its worker's lease ran
// out), which counts a new attempt; a retake of a queued job is a start,
// and nothing retakes a job that has ended.
func testRetake(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	start(t, s, j.ID, base.Add(time.Second))
	at := base.Add(time.Minute)
	got, err := s.Start(t.Context(), j.ID, at, true)
	if err != nil {
		t.Fatalf("retake of a running job: %v", err)
	}
	if got.Status != airlock.StatusRunning || got.Attempts != 2 {
		t.Errorf("retaken job: status %q attempts %d, want running 2", got.Status, got.Attempts)
	}
	wantTime(t, "StartedAt of the retaken job", got.StartedAt, at)
	sameMeta(t, got, j)

	q := create(t, s, queued(t, base))
	if got, err := s.Start(t.Context(), q.ID, at, true); err != nil || got.Attempts != 1 {
		t.Errorf("retake of a queued job = %+v, %v; want it started, attempt 1", got, err)
	}

	done := create(t, s, queued(t, base))
	start(t, s, done.ID, base.Add(time.Second))
	finish(t, s, done.ID, airlock.StatusOK, base.Add(2*time.Second))
	_, err = s.Start(t.Context(), done.ID, at, true)
	wantConflict(t, "retake of a finished job", err)
	wantStatus(t, s, done.ID, airlock.StatusOK)

	c := create(t, s, queued(t, base))
	cancel(t, s, c.ID, base.Add(time.Second))
	_, err = s.Start(t.Context(), c.ID, at, true)
	wantConflict(t, "retake of a job cancelled while queued", err)
	wantStatus(t, s, c.ID, airlock.StatusCancelled)

	// A cancel requested before the worker died still holds for the
	// attempt that takes over.
	f := create(t, s, queued(t, base))
	start(t, s, f.ID, base.Add(time.Second))
	cancel(t, s, f.ID, base.Add(2*time.Second))
	if got, err := s.Start(t.Context(), f.ID, at, true); err != nil || !got.CancelRequested {
		t.Errorf("retake of a job whose cancel was requested = %+v, %v; want it with CancelRequested", got, err)
	}
	if done := finish(t, s, f.ID, airlock.StatusOK, at.Add(time.Second)); done.Status != airlock.StatusCancelled {
		t.Errorf("retaken job cancelled before: finished as %q, want cancelled", done.Status)
	}

	_, err = s.Start(t.Context(), newID(t), at, true)
	wantRefused(t, "retake", err)
}

// Once a job is retaken, the attempt it was taken from can neither finish
// it nor put it back in the queue: a worker that lost its lease but lived
// on (a network partition) cannot overwrite the run that replaced its own.
func testStaleAttempt(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	start(t, s, j.ID, base.Add(time.Second))
	if _, err := s.Start(t.Context(), j.ID, base.Add(time.Minute), true); err != nil {
		t.Fatalf("retake: %v", err)
	}
	_, err := s.Finish(t.Context(), j.ID, 1, airlock.StatusRuntimeError, base.Add(2*time.Minute), []byte("stale"))
	wantConflict(t, "Finish of the attempt taken over", err)
	wantConflict(t, "Requeue of the attempt taken over", s.Requeue(t.Context(), j.ID, 1))
	got := wantStatus(t, s, j.ID, airlock.StatusRunning)
	if got.InlineResult != nil || got.Attempts != 2 {
		t.Errorf("after refused stale calls: result %q, attempts %d; want none, 2", got.InlineResult, got.Attempts)
	}
	done, err := s.Finish(t.Context(), j.ID, 2, airlock.StatusOK, base.Add(3*time.Minute), []byte("fresh"))
	if err != nil || done.Status != airlock.StatusOK {
		t.Fatalf("Finish of the current attempt = %+v, %v", done, err)
	}
	wantPayload(t, "result", get(t, s, j.ID).InlineResult, []byte("fresh"))
}

func testFinish(t *testing.T, s airlock.JobStore) {
	for _, status := range []airlock.Status{airlock.StatusOK, airlock.StatusRuntimeError, airlock.StatusTimeLimit, airlock.StatusInternalError, airlock.StatusCancelled} {
		want := create(t, s, queued(t, base))
		started := base.Add(time.Second)
		finished := base.Add(3 * time.Second)
		start(t, s, want.ID, started)
		// Finish's answer is what the service reports and audits: the
		// whole job, as a Get would read it.
		done := finish(t, s, want.ID, status, finished)
		for what, got := range map[string]*airlock.Job{"returned by Finish": done, "stored": wantStatus(t, s, want.ID, status)} {
			sameMeta(t, got, want)
			if got.Status != status {
				t.Errorf("%s: Status = %q, want %q", what, got.Status, status)
			}
			if got.Attempts != 1 {
				t.Errorf("%s: Attempts = %d after one run, want 1", what, got.Attempts)
			}
			wantTime(t, what+": StartedAt", got.StartedAt, started)
			wantTime(t, what+": FinishedAt", got.FinishedAt, finished)
			if !got.Status.Finished() {
				t.Errorf("%s: status %q is not final", what, got.Status)
			}
		}
	}
}

func testFinishOnlyFromRunning(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	_, err := s.Finish(t.Context(), j.ID, 0, airlock.StatusOK, base, nil)
	wantConflict(t, "Finish of a queued job", err)
	wantStatus(t, s, j.ID, airlock.StatusQueued)

	start(t, s, j.ID, base.Add(time.Second))
	finish(t, s, j.ID, airlock.StatusRuntimeError, base.Add(2*time.Second))
	_, err = s.Finish(t.Context(), j.ID, 1, airlock.StatusOK, base.Add(5*time.Second), nil)
	wantConflict(t, "second Finish", err)
	got := wantStatus(t, s, j.ID, airlock.StatusRuntimeError)
	wantTime(t, "FinishedAt after a refused second Finish", got.FinishedAt, base.Add(2*time.Second))

	_, err = s.Finish(t.Context(), newID(t), 1, airlock.StatusOK, base, nil)
	wantRefused(t, "Finish", err)
}

func testCancelQueued(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	at := base.Add(time.Second)
	if st := cancel(t, s, j.ID, at); st != airlock.StatusCancelled {
		t.Errorf("Cancel of a queued job returned %q, want cancelled", st)
	}
	got := wantStatus(t, s, j.ID, airlock.StatusCancelled)
	wantTime(t, "FinishedAt of a job cancelled while queued", got.FinishedAt, at)
	if got.Attempts != 0 {
		t.Errorf("Attempts = %d, want 0", got.Attempts)
	}
	// The worker that pops it later must not run it.
	_, err := s.Start(t.Context(), j.ID, base.Add(2*time.Second), false)
	wantConflict(t, "Start of a cancelled job", err)
	wantStatus(t, s, j.ID, airlock.StatusCancelled)
	// Cancelling again changes nothing.
	if st := cancel(t, s, j.ID, base.Add(3*time.Second)); st != airlock.StatusCancelled {
		t.Errorf("second Cancel returned %q, want cancelled", st)
	}
	got = wantStatus(t, s, j.ID, airlock.StatusCancelled)
	wantTime(t, "FinishedAt after a second Cancel", got.FinishedAt, at)
}

// A running job is only flagged: its worker is told to stop, and whatever
// the run then reports, the job ends cancelled.
func testCancelRunning(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	start(t, s, j.ID, base.Add(time.Second))
	if st := cancel(t, s, j.ID, base.Add(2*time.Second)); st != airlock.StatusRunning {
		t.Errorf("Cancel of a running job returned %q, want running", st)
	}
	wantStatus(t, s, j.ID, airlock.StatusRunning)
	if st := cancel(t, s, j.ID, base.Add(3*time.Second)); st != airlock.StatusRunning {
		t.Errorf("second Cancel of a running job returned %q, want running", st)
	}
	finished := base.Add(4 * time.Second)
	if done := finish(t, s, j.ID, airlock.StatusOK, finished); done.Status != airlock.StatusCancelled {
		t.Errorf("Finish of a job cancelled while running returned status %q, want cancelled", done.Status)
	}
	got := wantStatus(t, s, j.ID, airlock.StatusCancelled)
	wantTime(t, "FinishedAt", got.FinishedAt, finished)

	// Without a cancel the run's status stands.
	k := create(t, s, queued(t, base))
	start(t, s, k.ID, base.Add(time.Second))
	if done := finish(t, s, k.ID, airlock.StatusOK, finished); done.Status != airlock.StatusOK {
		t.Errorf("Finish returned status %q, want ok", done.Status)
	}
	wantStatus(t, s, k.ID, airlock.StatusOK)
}

// A job shows whether a cancel was requested while it ran, so that a
// worker in another process can see it and stop the run.
func testCancelRequestedShown(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	if get(t, s, j.ID).CancelRequested {
		t.Errorf("a new job says CancelRequested")
	}
	if start(t, s, j.ID, base.Add(time.Second)).CancelRequested {
		t.Errorf("a started job says CancelRequested")
	}
	cancel(t, s, j.ID, base.Add(2*time.Second))
	if !get(t, s, j.ID).CancelRequested {
		t.Errorf("a running job cancelled does not say CancelRequested")
	}
	other := create(t, s, queued(t, base))
	start(t, s, other.ID, base.Add(time.Second))
	if get(t, s, other.ID).CancelRequested {
		t.Errorf("another running job says CancelRequested")
	}
}

// Active counts a key's jobs from creation until they end, whatever
// ends them.
func testActive(t *testing.T, s airlock.JobStore) {
	active := func(key string, want int) {
		t.Helper()
		if n, err := s.Active(t.Context(), key); err != nil || n != want {
			t.Errorf("Active(%q) = %d, %v; want %d", key, n, err, want)
		}
	}
	mine := func() *airlock.Job {
		j := queued(t, base)
		j.KeyID = "mine"
		return create(t, s, j)
	}
	active("mine", 0)
	a, b, c := mine(), mine(), mine()
	create(t, s, queued(t, base)) // another key's
	active("mine", 3)
	start(t, s, a.ID, base.Add(time.Second))
	active("mine", 3)
	finish(t, s, a.ID, airlock.StatusOK, base.Add(2*time.Second))
	active("mine", 2)
	cancel(t, s, b.ID, base.Add(2*time.Second))
	active("mine", 1)
	start(t, s, c.ID, base.Add(time.Second))
	if err := s.Requeue(t.Context(), c.ID, 1); err != nil {
		t.Fatal(err)
	}
	active("mine", 1)
	active("nobody", 0)
}

func testCancelFinished(t *testing.T, s airlock.JobStore) {
	for _, status := range []airlock.Status{airlock.StatusOK, airlock.StatusWrongAnswer, airlock.StatusInternalError} {
		j := create(t, s, queued(t, base))
		start(t, s, j.ID, base.Add(time.Second))
		finished := base.Add(2 * time.Second)
		finish(t, s, j.ID, status, finished)
		if st := cancel(t, s, j.ID, base.Add(3*time.Second)); st != status {
			t.Errorf("Cancel of a job finished as %q returned %q", status, st)
		}
		got := wantStatus(t, s, j.ID, status)
		wantTime(t, "FinishedAt after Cancel of a finished job", got.FinishedAt, finished)
	}
}

func testCancelUnknown(t *testing.T, s airlock.JobStore) {
	_, err := s.Cancel(t.Context(), newID(t), base)
	if !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Cancel of an unknown id: err = %v, want ErrNotFound", err)
	}
}

func testRequeue(t *testing.T, s airlock.JobStore) {
	want := create(t, s, queued(t, base))
	start(t, s, want.ID, base.Add(time.Second))
	if err := s.Requeue(t.Context(), want.ID, 1); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	got := wantStatus(t, s, want.ID, airlock.StatusQueued)
	sameMeta(t, got, want)
	if got.Attempts != 1 {
		t.Errorf("Attempts = %d after a requeue, want 1 (the attempt was made)", got.Attempts)
	}
	again := start(t, s, want.ID, base.Add(5*time.Second))
	if again.Attempts != 2 {
		t.Errorf("Attempts = %d on the second run, want 2", again.Attempts)
	}
	wantTime(t, "StartedAt of the second run", again.StartedAt, base.Add(5*time.Second))
	finish(t, s, want.ID, airlock.StatusOK, base.Add(6*time.Second))
	if got := wantStatus(t, s, want.ID, airlock.StatusOK); got.Attempts != 2 {
		t.Errorf("Attempts = %d after finishing the second run, want 2", got.Attempts)
	}
}

func testRequeueOnlyFromRunning(t *testing.T, s airlock.JobStore) {
	q := create(t, s, queued(t, base))
	wantConflict(t, "Requeue of a queued job", s.Requeue(t.Context(), q.ID, 0))
	wantStatus(t, s, q.ID, airlock.StatusQueued)

	// A finished job never goes back to the queue: it would run twice.
	f := create(t, s, queued(t, base))
	start(t, s, f.ID, base.Add(time.Second))
	finish(t, s, f.ID, airlock.StatusOK, base.Add(2*time.Second))
	wantConflict(t, "Requeue of a finished job", s.Requeue(t.Context(), f.ID, 1))
	wantStatus(t, s, f.ID, airlock.StatusOK)

	c := create(t, s, queued(t, base))
	cancel(t, s, c.ID, base.Add(time.Second))
	wantConflict(t, "Requeue of a cancelled job", s.Requeue(t.Context(), c.ID, 0))
	wantStatus(t, s, c.ID, airlock.StatusCancelled)

	wantRefused(t, "Requeue", s.Requeue(t.Context(), newID(t), 1))
}

// A job whose cancel was requested while it ran is not run again when it
// is requeued (shutdown, recovery): it ends cancelled.
func testRequeueAfterCancel(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	start(t, s, j.ID, base.Add(time.Second))
	cancel(t, s, j.ID, base.Add(2*time.Second))
	if err := s.Requeue(t.Context(), j.ID, 1); err != nil && !errors.Is(err, airlock.ErrConflict) {
		t.Fatalf("Requeue: %v", err)
	}
	wantStatus(t, s, j.ID, airlock.StatusCancelled)
	_, err := s.Start(t.Context(), j.ID, base.Add(3*time.Second), false)
	wantConflict(t, "Start of a job cancelled before its requeue", err)
}

// A job a graceful shutdown stopped goes back to the queue without using
// up an attempt, and only from the attempt running; one whose cancel was
// requested ends cancelled.
func testRelease(t *testing.T, s airlock.JobStore) {
	want := create(t, s, queued(t, base))
	start(t, s, want.ID, base.Add(time.Second))
	wantConflict(t, "Release of another attempt", s.Release(t.Context(), want.ID, 2))
	if err := s.Release(t.Context(), want.ID, 1); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got := wantStatus(t, s, want.ID, airlock.StatusQueued)
	sameMeta(t, got, want)
	if got.Attempts != 0 {
		t.Errorf("Attempts = %d after a release, want 0 (the attempt is taken back)", got.Attempts)
	}
	wantConflict(t, "Release of a queued job", s.Release(t.Context(), want.ID, 1))
	if again := start(t, s, want.ID, base.Add(5*time.Second)); again.Attempts != 1 {
		t.Errorf("Attempts = %d on the run after a release, want 1", again.Attempts)
	}
	finish(t, s, want.ID, airlock.StatusOK, base.Add(6*time.Second))
	wantConflict(t, "Release of a finished job", s.Release(t.Context(), want.ID, 1))

	c := create(t, s, queued(t, base))
	start(t, s, c.ID, base.Add(time.Second))
	cancel(t, s, c.ID, base.Add(2*time.Second))
	if err := s.Release(t.Context(), c.ID, 1); err != nil {
		t.Fatalf("Release after a cancel: %v", err)
	}
	wantStatus(t, s, c.ID, airlock.StatusCancelled)
	wantRefused(t, "Release", s.Release(t.Context(), newID(t), 1))
}

func testUnfinished(t *testing.T, s airlock.JobStore) {
	if jobs, err := s.Unfinished(t.Context()); err != nil || len(jobs) != 0 {
		t.Fatalf("Unfinished of an empty store = %d jobs, %v", len(jobs), err)
	}
	// Created out of order, to tell "oldest first" from insertion order.
	running := create(t, s, queued(t, base.Add(2*time.Second)))
	q1 := create(t, s, queued(t, base))
	done := create(t, s, queued(t, base.Add(-time.Hour)))
	q2 := create(t, s, queued(t, base.Add(3*time.Second)))
	cancelled := create(t, s, queued(t, base.Add(-time.Minute)))
	requeued := create(t, s, queued(t, base.Add(time.Second)))

	start(t, s, running.ID, base.Add(10*time.Second))
	start(t, s, done.ID, base.Add(10*time.Second))
	finish(t, s, done.ID, airlock.StatusOK, base.Add(11*time.Second))
	cancel(t, s, cancelled.ID, base.Add(10*time.Second))
	start(t, s, requeued.ID, base.Add(10*time.Second))
	if err := s.Requeue(t.Context(), requeued.ID, 1); err != nil {
		t.Fatalf("Requeue: %v", err)
	}

	jobs, err := s.Unfinished(t.Context())
	if err != nil {
		t.Fatalf("Unfinished: %v", err)
	}
	want := []struct {
		job      *airlock.Job
		status   airlock.Status
		attempts int
	}{
		{q1, airlock.StatusQueued, 0},
		{requeued, airlock.StatusQueued, 1},
		{running, airlock.StatusRunning, 1},
		{q2, airlock.StatusQueued, 0},
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	if len(jobs) != len(want) {
		t.Fatalf("Unfinished = %v, want %d jobs", ids, len(want))
	}
	for i, w := range want {
		got := jobs[i]
		if got.ID != w.job.ID {
			t.Fatalf("Unfinished[%d] = %s, want %s (order %v)", i, got.ID, w.job.ID, ids)
		}
		sameMeta(t, got, w.job)
		if got.Status != w.status || got.Attempts != w.attempts {
			t.Errorf("Unfinished[%d]: status %q attempts %d, want %q %d", i, got.Status, got.Attempts, w.status, w.attempts)
		}
	}
}

// However many workers pop the same id, one runs it.
func testConcurrentStart(t *testing.T, s airlock.JobStore) {
	const workers = 16
	for range 3 {
		j := create(t, s, queued(t, base))
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			started   int
			conflicts int
			others    []error
		)
		ready := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-ready
				got, err := s.Start(t.Context(), j.ID, base.Add(time.Duration(i)*time.Millisecond), false)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && got != nil && got.Status == airlock.StatusRunning:
					started++
				case errors.Is(err, airlock.ErrConflict):
					conflicts++
				default:
					others = append(others, err)
				}
			})
		}
		close(ready)
		wg.Wait()
		if started != 1 || conflicts != workers-1 || len(others) > 0 {
			t.Fatalf("%d concurrent Starts: %d started, %d conflicts, other results %v; want 1 and %d", workers, started, conflicts, others, workers-1)
		}
		if got := wantStatus(t, s, j.ID, airlock.StatusRunning); got.Attempts != 1 {
			t.Errorf("Attempts = %d after concurrent Starts, want 1", got.Attempts)
		}
	}
}

// A cancel racing a worker's Start: either the job never runs (cancelled
// while queued) or it runs and its finish turns into cancelled.
func testConcurrentCancelAndStart(t *testing.T, s airlock.JobStore) {
	for range 10 {
		j := create(t, s, queued(t, base))
		var (
			wg        sync.WaitGroup
			startErr  error
			cancelled airlock.Status
			cancelErr error
		)
		ready := make(chan struct{})
		wg.Go(func() {
			<-ready
			_, startErr = s.Start(t.Context(), j.ID, base.Add(time.Second), false)
		})
		wg.Go(func() {
			<-ready
			cancelled, cancelErr = s.Cancel(t.Context(), j.ID, base.Add(time.Second))
		})
		close(ready)
		wg.Wait()
		if cancelErr != nil {
			t.Fatalf("Cancel: %v", cancelErr)
		}
		switch {
		case startErr == nil:
			// Started first: the cancel saw it running and flagged it.
			if cancelled != airlock.StatusRunning {
				t.Fatalf("Start won, but Cancel returned %q, want running", cancelled)
			}
			finish(t, s, j.ID, airlock.StatusOK, base.Add(2*time.Second))
		case errors.Is(startErr, airlock.ErrConflict):
			if cancelled != airlock.StatusCancelled {
				t.Fatalf("Cancel won, but returned %q, want cancelled", cancelled)
			}
		default:
			t.Fatalf("Start: %v", startErr)
		}
		wantStatus(t, s, j.ID, airlock.StatusCancelled)
	}
}

func ids(jobs []*airlock.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func testList(t *testing.T, s airlock.JobStore) {
	if jobs, total, err := s.List(t.Context(), "judge0", 0, 10); err != nil || len(jobs) != 0 || total != 0 {
		t.Fatalf("List of an empty store = %v, %d, %v", ids(jobs), total, err)
	}
	// Created out of order; want[i] is the i-th newest.
	var want [5]*airlock.Job
	for _, i := range []int{2, 0, 4, 1, 3} {
		want[i] = create(t, s, queued(t, base.Add(-time.Duration(i)*time.Minute)))
	}
	// Another face's jobs are not.
	other := queued(t, base.Add(time.Minute))
	other.Face = ""
	create(t, s, other)
	// Every status is listed.
	start(t, s, want[1].ID, base.Add(time.Hour))
	start(t, s, want[3].ID, base.Add(time.Hour))
	finish(t, s, want[3].ID, airlock.StatusMemoryLimit, base.Add(2*time.Hour))
	cancel(t, s, want[4].ID, base.Add(time.Hour))
	statuses := []airlock.Status{airlock.StatusQueued, airlock.StatusRunning, airlock.StatusQueued, airlock.StatusMemoryLimit, airlock.StatusCancelled}

	pages := []struct{ offset, limit, from, to int }{
		{0, 10, 0, 5},
		{0, 2, 0, 2},
		{2, 2, 2, 4},
		{4, 2, 4, 5},
		{5, 2, 5, 5},
		{50, 10, 5, 5},
		{1, 3, 1, 4},
	}
	for _, p := range pages {
		got, total, err := s.List(t.Context(), "judge0", p.offset, p.limit)
		if err != nil {
			t.Fatalf("List(%d, %d): %v", p.offset, p.limit, err)
		}
		if total != len(want) {
			t.Errorf("List(%d, %d): total %d, want %d", p.offset, p.limit, total, len(want))
		}
		wantIDs := ids(want[p.from:p.to])
		if len(got) != len(wantIDs) {
			t.Errorf("List(%d, %d) = %v, want %v", p.offset, p.limit, ids(got), wantIDs)
			continue
		}
		for i, j := range got {
			if j.ID != wantIDs[i] {
				t.Errorf("List(%d, %d) = %v, want %v (newest first)", p.offset, p.limit, ids(got), wantIDs)
				break
			}
			sameMeta(t, j, want[p.from+i])
			if j.Status != statuses[p.from+i] {
				t.Errorf("listed job %d is %q, want %q", p.from+i, j.Status, statuses[p.from+i])
			}
		}
	}
	got, _, err := s.List(t.Context(), "judge0", 3, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("List(3, 1) = %v, %v", ids(got), err)
	}
	if got[0].Attempts != 1 || !got[0].StartedAt.Equal(base.Add(time.Hour)) || !got[0].FinishedAt.Equal(base.Add(2*time.Hour)) {
		t.Errorf("listed finished job: attempts %d, started %v, finished %v", got[0].Attempts, got[0].StartedAt, got[0].FinishedAt)
	}
}

func testDelete(t *testing.T, s airlock.JobStore) {
	done := create(t, s, queued(t, base))
	start(t, s, done.ID, base.Add(time.Second))
	finish(t, s, done.ID, airlock.StatusOK, base.Add(2*time.Second))
	cancelled := create(t, s, queued(t, base))
	cancel(t, s, cancelled.ID, base.Add(time.Second))
	q := create(t, s, queued(t, base))
	running := create(t, s, queued(t, base))
	start(t, s, running.ID, base.Add(time.Second))
	flagged := create(t, s, queued(t, base))
	start(t, s, flagged.ID, base.Add(time.Second))
	cancel(t, s, flagged.ID, base.Add(2*time.Second)) // flagged, still running

	for _, j := range []*airlock.Job{done, cancelled} {
		if err := s.Delete(t.Context(), j.ID); err != nil {
			t.Fatalf("Delete of a %s job: %v", get(t, s, j.ID).Status, err)
		}
		if _, err := s.Get(t.Context(), j.ID); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
		if err := s.Delete(t.Context(), j.ID); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
	}
	for _, j := range []*airlock.Job{q, running, flagged} {
		before := get(t, s, j.ID)
		wantConflict(t, "Delete of a "+string(before.Status)+" job", s.Delete(t.Context(), j.ID))
		wantStatus(t, s, j.ID, before.Status)
	}
	if err := s.Delete(t.Context(), newID(t)); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("Delete of an unknown id: %v, want ErrNotFound", err)
	}

	jobs, total, err := s.List(t.Context(), "judge0", 0, 10)
	if err != nil || total != 3 || len(jobs) != 3 {
		t.Errorf("List after deleting 2 of 5 jobs = %v, total %d, %v", ids(jobs), total, err)
	}
	st, err := s.Stats(t.Context(), time.Time{})
	if err != nil || st.Total != 3 {
		t.Errorf("Stats after deleting 2 of 5 jobs: %+v, %v", st, err)
	}
	// A deleted job's id is free again, and the new job is a new job.
	again := queued(t, base.Add(time.Minute))
	again.ID = done.ID
	create(t, s, again)
	if got := wantStatus(t, s, again.ID, airlock.StatusQueued); got.Attempts != 0 {
		t.Errorf("a job re-created after Delete has Attempts %d", got.Attempts)
	}
}

func testStats(t *testing.T, s airlock.JobStore) {
	st, err := s.Stats(t.Context(), time.Time{})
	if err != nil {
		t.Fatalf("Stats of an empty store: %v", err)
	}
	if st.Total != 0 || len(st.ByLanguage) != 0 || len(st.ByStatus) != 0 || len(st.ByDay) != 0 {
		t.Errorf("Stats of an empty store = %+v", st)
	}

	day := func(d, h, m int) time.Time { return time.Date(2025, 6, d, h, m, 0, 0, time.UTC) }
	since := day(11, 12, 0)
	mk := func(lang string, created time.Time) *airlock.Job {
		j := queued(t, created)
		j.Language = lang
		return create(t, s, j)
	}
	mk("python", day(9, 8, 0))
	mk("python", day(10, 23, 59))
	mk("c", since.Add(-time.Millisecond)) // the day of since, but before it
	a := mk("python", since.Add(time.Millisecond))
	b := mk("c", day(11, 23, 59))
	c := mk("python", day(12, 0, 0))
	d := mk("go", day(12, 0, 1))
	mk("python", day(14, 9, 30))

	start(t, s, a.ID, day(20, 0, 0))
	finish(t, s, a.ID, airlock.StatusOK, day(20, 0, 1))
	start(t, s, b.ID, day(20, 0, 0))
	finish(t, s, b.ID, airlock.StatusCompileError, day(20, 0, 1))
	start(t, s, c.ID, day(20, 0, 0))
	cancel(t, s, d.ID, day(20, 0, 0))

	st, err = s.Stats(t.Context(), since)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Total != 8 {
		t.Errorf("Total = %d, want 8", st.Total)
	}
	if st.DatabaseBytes <= 0 {
		t.Errorf("DatabaseBytes = %d of a database with jobs", st.DatabaseBytes)
	}
	wantCounts(t, "ByLanguage", st.ByLanguage, map[string]int{"python": 5, "c": 2, "go": 1})
	wantCounts(t, "ByStatus", st.ByStatus, map[airlock.Status]int{
		airlock.StatusQueued: 4, airlock.StatusRunning: 1, airlock.StatusOK: 1, airlock.StatusCompileError: 1, airlock.StatusCancelled: 1,
	})
	wantCounts(t, "ByDay", st.ByDay, map[string]int{"2025-06-11": 2, "2025-06-12": 2, "2025-06-14": 1})

	// The day counts follow since; the others do not.
	st, err = s.Stats(t.Context(), day(1, 0, 0))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Total != 8 {
		t.Errorf("Total = %d with an earlier since, want 8", st.Total)
	}
	wantCounts(t, "ByDay with an earlier since", st.ByDay, map[string]int{
		"2025-06-09": 1, "2025-06-10": 1, "2025-06-11": 3, "2025-06-12": 2, "2025-06-14": 1,
	})
	st, err = s.Stats(t.Context(), day(15, 0, 0))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	wantCounts(t, "ByDay with a later since", st.ByDay, map[string]int{})
	wantCounts(t, "ByLanguage with a later since", st.ByLanguage, map[string]int{"python": 5, "c": 2, "go": 1})
}

func wantCounts[K comparable](t *testing.T, what string, got, want map[K]int) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s[%v] = %d, want %d (all: %v)", what, k, got[k], n, got)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s has %v: %d, want none (all: %v)", what, k, n, got)
		}
	}
}

// payload makes n bytes of every value, NUL and invalid UTF-8 included:
// a store keeps payloads as bytes, not text. Each call's differ.
func payload(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range min(n, 256) {
		b[i] = byte(i)
	}
	return b
}

// wantPayload checks a payload read back is the one stored, nil for none.
func wantPayload(t *testing.T, what string, got, want []byte) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: %d bytes, want none", what, len(got))
	case want != nil && !bytes.Equal(got, want):
		t.Errorf("%s: %d bytes (nil: %t), want the %d stored", what, len(got), got == nil, len(want))
	}
}

// A request stored with the job comes back with it from every read, through
// every transition; a job whose request is in the blob store has none. The
// jobs service chooses the size; a store keeps whatever it is given.
func testInlineRequest(t *testing.T, s airlock.JobStore) {
	small := queued(t, base)
	small.InlineRequest = payload(t, 300)
	large := queued(t, base.Add(time.Second))
	large.InlineRequest = payload(t, 256<<10)
	blob := queued(t, base.Add(2*time.Second))
	jobs := []*airlock.Job{small, large, blob}
	for _, j := range jobs {
		create(t, s, j)
	}
	check := func(when string) {
		t.Helper()
		for _, j := range jobs {
			wantPayload(t, "request read by Get "+when, get(t, s, j.ID).InlineRequest, j.InlineRequest)
		}
		list, _, err := s.List(t.Context(), "judge0", 0, 10)
		if err != nil || len(list) != len(jobs) {
			t.Fatalf("List %s = %v, %v", when, ids(list), err)
		}
		for i, got := range list {
			wantPayload(t, "request read by List "+when, got.InlineRequest, jobs[len(jobs)-1-i].InlineRequest)
		}
		if got := get(t, s, blob.ID); got.InlineResult != nil {
			t.Errorf("InlineResult %s is %d bytes, want none", when, len(got.InlineResult))
		}
	}
	check("after Create")
	unfinished, err := s.Unfinished(t.Context())
	if err != nil || len(unfinished) != len(jobs) {
		t.Fatalf("Unfinished = %v, %v", ids(unfinished), err)
	}
	for i, got := range unfinished {
		wantPayload(t, "request read by Unfinished", got.InlineRequest, jobs[i].InlineRequest)
	}
	for _, j := range jobs {
		wantPayload(t, "request returned by Start", start(t, s, j.ID, base.Add(time.Minute)).InlineRequest, j.InlineRequest)
	}
	check("after Start")
	if err := s.Requeue(t.Context(), small.ID, 1); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	wantPayload(t, "request returned by a second Start", start(t, s, small.ID, base.Add(2*time.Minute)).InlineRequest, small.InlineRequest)
	for _, j := range jobs {
		wantPayload(t, "request returned by Finish", finish(t, s, j.ID, airlock.StatusOK, base.Add(time.Hour)).InlineRequest, j.InlineRequest)
	}
	check("after Finish")
}

// A result given to Finish is stored in the same write as the final status:
// Finish returns it and every later read has it. A result in the blob store
// (nil) leaves none, and so does a job cancelled before it ran.
func testInlineResult(t *testing.T, s airlock.JobStore) {
	cases := []struct {
		name   string
		result []byte
		cancel bool // requested while running: the job ends cancelled, with the result of the run
	}{
		{"small", payload(t, 200), false},
		{"large", payload(t, 256<<10), false},
		{"in the blob store", nil, false},
		{"cancelled while running", payload(t, 100), true},
	}
	for i, c := range cases {
		at := base.Add(time.Duration(i) * time.Hour) // each case's job is the newest
		j := queued(t, at)
		j.InlineRequest = payload(t, 50)
		create(t, s, j)
		if got := start(t, s, j.ID, at.Add(time.Second)); got.InlineResult != nil {
			t.Errorf("%s: a running job has a %d-byte result", c.name, len(got.InlineResult))
		}
		want := airlock.StatusRuntimeError
		if c.cancel {
			cancel(t, s, j.ID, at.Add(2*time.Second))
			want = airlock.StatusCancelled
		}
		done := finishWith(t, s, j.ID, airlock.StatusRuntimeError, at.Add(3*time.Second), c.result)
		if done.Status != want {
			t.Errorf("%s: Finish returned status %q, want %q", c.name, done.Status, want)
		}
		wantPayload(t, c.name+": result returned by Finish", done.InlineResult, c.result)
		wantPayload(t, c.name+": request returned by Finish", done.InlineRequest, j.InlineRequest)
		got := wantStatus(t, s, j.ID, want)
		wantPayload(t, c.name+": result read by Get", got.InlineResult, c.result)
		list, _, err := s.List(t.Context(), "judge0", 0, 1)
		if err != nil || len(list) != 1 || list[0].ID != j.ID {
			t.Fatalf("%s: List = %v, %v", c.name, ids(list), err)
		}
		wantPayload(t, c.name+": result read by List", list[0].InlineResult, c.result)
	}

	q := create(t, s, queued(t, base))
	cancel(t, s, q.ID, base.Add(time.Second))
	if got := get(t, s, q.ID); got.InlineResult != nil {
		t.Errorf("a job cancelled while queued has a %d-byte result", len(got.InlineResult))
	}
}

// A refused Finish stores nothing: not a result for a job that is not
// running, nor a second result over the first.
func testInlineResultOnlyOnce(t *testing.T, s airlock.JobStore) {
	j := create(t, s, queued(t, base))
	_, err := s.Finish(t.Context(), j.ID, 0, airlock.StatusOK, base, payload(t, 10))
	wantConflict(t, "Finish of a queued job", err)
	if got := get(t, s, j.ID); got.InlineResult != nil {
		t.Errorf("a refused Finish of a queued job stored a %d-byte result", len(got.InlineResult))
	}
	start(t, s, j.ID, base.Add(time.Second))
	first := payload(t, 10)
	finishWith(t, s, j.ID, airlock.StatusOK, base.Add(2*time.Second), first)
	_, err = s.Finish(t.Context(), j.ID, 1, airlock.StatusOK, base.Add(3*time.Second), payload(t, 20))
	wantConflict(t, "second Finish", err)
	wantPayload(t, "result after a refused second Finish", get(t, s, j.ID).InlineResult, first)
}

// A job re-created under a deleted job's id has only its own payloads.
func testDeleteForgetsPayloads(t *testing.T, s airlock.JobStore) {
	j := queued(t, base)
	j.InlineRequest = payload(t, 40)
	create(t, s, j)
	start(t, s, j.ID, base.Add(time.Second))
	finishWith(t, s, j.ID, airlock.StatusOK, base.Add(2*time.Second), payload(t, 40))
	if err := s.Delete(t.Context(), j.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	again := queued(t, base.Add(time.Minute))
	again.ID = j.ID
	create(t, s, again)
	got := get(t, s, again.ID)
	wantPayload(t, "request of a job re-created in the blob store", got.InlineRequest, nil)
	wantPayload(t, "result of a re-created job", got.InlineResult, nil)
}

// An idempotency key is unique among the jobs of one API key, and finds
// the job that has it.
func testIdempotency(t *testing.T, s airlock.JobStore) {
	first := queued(t, base)
	first.IdempotencyKey, first.RequestHash = "retry-1", "hash-a"
	create(t, s, first)
	got, err := s.Idempotent(t.Context(), first.KeyID, "retry-1")
	if err != nil {
		t.Fatalf("Idempotent: %v", err)
	}
	sameMeta(t, got, first)
	if got.IdempotencyKey != "retry-1" || got.RequestHash != "hash-a" {
		t.Errorf("Idempotent: key %q hash %q, want retry-1 hash-a", got.IdempotencyKey, got.RequestHash)
	}
	if j := get(t, s, first.ID); j.IdempotencyKey != "retry-1" || j.RequestHash != "hash-a" {
		t.Errorf("Get: key %q hash %q, want retry-1 hash-a", j.IdempotencyKey, j.RequestHash)
	}

	again := queued(t, base)
	again.KeyID, again.IdempotencyKey, again.RequestHash = first.KeyID, "retry-1", "hash-b"
	if err := s.Create(t.Context(), again); !errors.Is(err, airlock.ErrDuplicate) {
		t.Errorf("Create with a taken idempotency key: %v, want ErrDuplicate", err)
	}
	if _, err := s.Get(t.Context(), again.ID); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("the refused job exists: %v", err)
	}
	// Another API key's, and jobs without a key, are not in the way.
	other := queued(t, base)
	other.IdempotencyKey = "retry-1"
	create(t, s, other)
	for range 2 {
		j := queued(t, base)
		j.KeyID = first.KeyID
		create(t, s, j)
	}
	for _, k := range []struct{ key, idem string }{{first.KeyID, "retry-2"}, {"nobody", "retry-1"}, {first.KeyID, ""}} {
		if _, err := s.Idempotent(t.Context(), k.key, k.idem); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Idempotent(%q, %q): %v, want ErrNotFound", k.key, k.idem, err)
		}
	}
}

// Of concurrent creates with one idempotency key, exactly one makes a
// job (processes of a fleet race so on a client's retry).
func testConcurrentIdempotentCreate(t *testing.T, s airlock.JobStore) {
	const n = 8
	key := "key-" + newID(t)[:8]
	var wg sync.WaitGroup
	errs := make([]error, n)
	created := make([]*airlock.Job, n)
	for i := range n {
		j := queued(t, base)
		j.KeyID, j.IdempotencyKey = key, "same"
		created[i] = j
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(t.Context(), j)
		}()
	}
	wg.Wait()
	var won []string
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, created[i].ID)
		case !errors.Is(err, airlock.ErrDuplicate):
			t.Errorf("Create %d: %v, want nil or ErrDuplicate", i, err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent creates with one key made a job, want 1", len(won), n)
	}
	if j, err := s.Idempotent(t.Context(), key, "same"); err != nil || j.ID != won[0] {
		t.Errorf("Idempotent = %v, %v; want job %s", j, err, won[0])
	}
}

// old is far before every other subtest's jobs, for stores that share
// them.
var old = base.AddDate(-10, 0, 0)

// Expired lists the finished jobs that ended before the cutoff, oldest
// first, within the limit, and says which payloads are not inline.
func testExpired(t *testing.T, s airlock.JobStore) {
	ended := func(at time.Time, result []byte) *airlock.Job {
		j := create(t, s, queued(t, old))
		start(t, s, j.ID, old)
		finishWith(t, s, j.ID, airlock.StatusOK, at, result)
		return j
	}
	second := ended(old.Add(2*time.Hour), []byte(`{}`))
	first := ended(old.Add(time.Hour), nil)
	inlineReq := queued(t, old)
	inlineReq.InlineRequest = []byte(`{"code":""}`)
	create(t, s, inlineReq)
	cancel(t, s, inlineReq.ID, old.Add(3*time.Hour))
	recent := ended(old.Add(48*time.Hour), nil)
	create(t, s, queued(t, old))                      // queued: never expires
	start(t, s, create(t, s, queued(t, old)).ID, old) // running: never

	cutoff := old.Add(24 * time.Hour)
	got, err := s.Expired(t.Context(), cutoff, 10)
	if err != nil {
		t.Fatalf("Expired: %v", err)
	}
	want := []airlock.Expired{
		{ID: first.ID, RequestBlob: true, ResultBlob: true},
		{ID: second.ID, RequestBlob: true, ResultBlob: false},
		{ID: inlineReq.ID, RequestBlob: false, ResultBlob: true},
	}
	if len(got) != len(want) {
		t.Fatalf("Expired = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Expired[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := s.Expired(t.Context(), cutoff, 2); err != nil || len(got) != 2 || got[0].ID != first.ID {
		t.Errorf("Expired with limit 2 = %+v, %v; want the 2 oldest", got, err)
	}
	for _, e := range got {
		if e.ID == recent.ID {
			t.Errorf("a job that ended after the cutoff expired")
		}
	}
}

// Purge removes finished jobs only, frees their idempotency keys and
// counts what it removed.
func testPurge(t *testing.T, s airlock.JobStore) {
	done := queued(t, old)
	done.IdempotencyKey = "k"
	create(t, s, done)
	start(t, s, done.ID, old)
	finish(t, s, done.ID, airlock.StatusOK, old)
	cancelled := create(t, s, queued(t, old))
	cancel(t, s, cancelled.ID, old)
	q := create(t, s, queued(t, old))
	running := create(t, s, queued(t, old))
	start(t, s, running.ID, old)

	n, err := s.Purge(t.Context(), []string{done.ID, cancelled.ID, q.ID, running.ID, newID(t)})
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want the 2 finished jobs", n, err)
	}
	for _, id := range []string{done.ID, cancelled.ID} {
		if _, err := s.Get(t.Context(), id); !errors.Is(err, airlock.ErrNotFound) {
			t.Errorf("Get of a purged job: %v, want ErrNotFound", err)
		}
	}
	wantStatus(t, s, q.ID, airlock.StatusQueued)
	wantStatus(t, s, running.ID, airlock.StatusRunning)
	if _, err := s.Idempotent(t.Context(), done.KeyID, "k"); !errors.Is(err, airlock.ErrNotFound) {
		t.Errorf("the idempotency key of a purged job still finds: %v", err)
	}
	again := queued(t, base)
	again.KeyID, again.IdempotencyKey = done.KeyID, "k"
	create(t, s, again)
	if n, err := s.Purge(t.Context(), nil); err != nil || n != 0 {
		t.Errorf("Purge of nothing = %d, %v", n, err)
	}
	if got, err := s.Expired(t.Context(), old.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Errorf("Expired after the purge = %+v, %v; want none", got, err)
	}
}
