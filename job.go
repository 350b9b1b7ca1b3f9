package airlock

import (
	"context"
	"errors"
	"time"
)

// Job is an accepted execution and what became of it.
type Job struct {
	ID          string
	Face        string // the API that accepted it: "" native, "judge0", "piston"
	Status      Status
	Language    string
	KeyID       string // the API key that submitted it; "" in open mode
	ClientAddr  string
	CallbackURL string
	CodeSHA256  string // of every file's name and content, for the audit log
	Attempts    int    // runs started; more than one after a crash
	// CancelRequested says a cancel came while the job ran: its worker
	// stops it, and it ends cancelled whatever the run came to.
	CancelRequested bool
	// IdempotencyKey is the client's Idempotency-Key ("" none): among the
	// jobs of one KeyID at most one has it. RequestHash identifies what
	// was asked with it, so a retry can be told from a different request.
	IdempotencyKey string
	RequestHash    string
	CreatedAt      time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	Request        *Request // decoded on demand, from InlineRequest or the BlobStore
	Result         *Result  // set once finished

	// InlineRequest and InlineResult are the encoded request and result
	// when they are small enough to live with the job in the JobStore,
	// which saves a blob write and read per job; nil when they live in
	// the BlobStore (and InlineResult until the job finishes).
	InlineRequest []byte
	InlineResult  []byte
}

// Finished says whether the job has reached a final status.
func (s Status) Finished() bool {
	switch s {
	case StatusQueued, StatusRunning, "":
		return false
	}
	return true
}

// Errors of the stores and queues.
var (
	ErrNotFound  = errors.New("not found")
	ErrQueueFull = errors.New("queue full")
	ErrConflict  = errors.New("the job is not in the state this needs")
	// ErrDuplicate is a Create whose IdempotencyKey another job of the
	// same KeyID has.
	ErrDuplicate = errors.New("idempotency key already used")
	// ErrUnavailable wraps the failure of a server the service depends
	// on (queue, store): the request may succeed later.
	ErrUnavailable = errors.New("unavailable")
)

// JobStore keeps jobs: their metadata, and their payloads when small
// (Job.InlineRequest, Job.InlineResult); larger payloads go to a
// BlobStore. Every job a store returns carries its inline payloads.
// Transitions are conditional, so a job is started and finished exactly
// once per attempt whatever races with it.
type JobStore interface {
	// Create inserts a new job and its InlineRequest in one write, so a
	// job never exists without its request. ErrDuplicate if the job has
	// an IdempotencyKey another job of its KeyID has: of concurrent
	// creates with one key, exactly one succeeds.
	Create(ctx context.Context, j *Job) error
	// Idempotent reads the job of an API key that has an idempotency
	// key; ErrNotFound if there is none.
	Idempotent(ctx context.Context, keyID, key string) (*Job, error)
	// Get reads a job; ErrNotFound if there is none.
	Get(ctx context.Context, id string) (*Job, error)
	// Start moves a job to running for a new attempt, counts the attempt
	// in Attempts and returns the job as started. A queued job starts; a
	// running one is taken over only when retake is set: the queue handed
	// it out again because the lease of the worker running it ran out, so
	// that worker and its attempt are gone (a late Finish of that attempt
	// is refused). ErrConflict otherwise: finished, cancelled while
	// queued, or running under a live lease.
	Start(ctx context.Context, id string, at time.Time, retake bool) (*Job, error)
	// Finish records the final status of a running job's attempt (its
	// Attempts when it started) together with its inline result (nil: the
	// result is in the BlobStore) in one write, and returns the job as
	// finished: a cancel requested while it ran wins over status.
	// ErrConflict if the job is not running that attempt.
	Finish(ctx context.Context, id string, attempt int, status Status, at time.Time, result []byte) (*Job, error)
	// Cancel ends a queued job as cancelled, or flags a running one;
	// it returns the status the job is in afterwards.
	Cancel(ctx context.Context, id string, at time.Time) (Status, error)
	// Requeue moves a running job's attempt back to queued (shutdown,
	// recovery), or to cancelled when a cancel was requested; ErrConflict
	// if the job is not running that attempt.
	Requeue(ctx context.Context, id string, attempt int) error
	// Release is Requeue for an attempt a graceful shutdown stopped: it
	// takes the attempt back from Attempts, since neither the job nor its
	// worker failed, so restarts never use up a job's attempts.
	Release(ctx context.Context, id string, attempt int) error
	// Unfinished lists queued and running jobs, oldest first.
	Unfinished(ctx context.Context) ([]*Job, error)
	// Active counts the queued and running jobs of an API key.
	Active(ctx context.Context, keyID string) (int, error)
	// List pages through the jobs of one API face, newest first, with
	// their total count.
	List(ctx context.Context, face string, offset, limit int) ([]*Job, int, error)
	// Delete removes a finished job; ErrConflict if it is not finished.
	Delete(ctx context.Context, id string) error
	// Expired lists at most limit finished jobs that finished before
	// a time, oldest first, for retention to purge.
	Expired(ctx context.Context, before time.Time, limit int) ([]Expired, error)
	// Purge removes the given jobs that are finished (others stay), with
	// their idempotency keys, and counts those it removed.
	Purge(ctx context.Context, ids []string) (int, error)
	// Stats counts jobs: all of them by language and status, and those
	// created since a time by UTC day.
	Stats(ctx context.Context, since time.Time) (*JobStats, error)
	Close() error
}

// Expired is a finished job past its retention, and whether its payloads
// may be in the BlobStore (they are not inline).
type Expired struct {
	ID                      string
	RequestBlob, ResultBlob bool
}

// JobStats are a store's counts of jobs.
type JobStats struct {
	Total      int
	ByLanguage map[string]int
	ByStatus   map[Status]int
	ByDay      map[string]int // "2006-01-02" (UTC) → jobs created that day
	// DatabaseBytes is the size of the store's database.
	DatabaseBytes int64
}

// BlobStore keeps payloads (requests, results) by key.
type BlobStore interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error) // ErrNotFound
	Delete(ctx context.Context, key string) error
}

// EnvironmentCapability is the capability of an operator's named
// environment: what the nodes that started it serve, and what a job in it
// is queued under.
func EnvironmentCapability(name string) string { return "env:" + name }

// Queue hands job ids to workers, at least once, routed by capability:
// a job is pushed for the capability it needs (jobs.Capability: a
// language's id, "env:<name>" for an operator's environment) and handed
// only to a worker that serves that capability. A job taken is leased to
// its taker, who acks it when done with it; a lease neither acked nor
// extended in time runs out and the job is handed out again (its taker
// died). The JobStore's conditional transitions keep a job handed out
// twice from finishing twice.
//
// Worker nodes also announce what they serve, so that a job no live
// worker could take is refused at submission rather than left queued.
type Queue interface {
	// Push adds a job id for the workers that serve capability.
	Push(ctx context.Context, capability, id string) error
	// Pop blocks until a job of one of capabilities is available or ctx
	// ends, and leases it.
	Pop(ctx context.Context, capabilities []string) (Lease, error)
	// Len counts the jobs waiting to be taken, of every capability.
	Len(ctx context.Context) (int, error)
	// Announce says that the worker node named node serves capabilities
	// for the next ttl; a node repeats it well within ttl while its
	// workers run (a heartbeat). A ttl of 0 withdraws the capabilities
	// given: the node's workers stopped.
	Announce(ctx context.Context, node string, capabilities []string, ttl time.Duration) error
	// Served says whether a node whose announcement has not run out
	// serves capability.
	Served(ctx context.Context, capability string) (bool, error)
}

// Lease is a worker's hold on a job taken from a Queue.
type Lease interface {
	// JobID is the job leased.
	JobID() string
	// Extend keeps the lease from running out while the job runs; a worker
	// calls it well within the queue's lease time. An error wrapping
	// ErrConflict says the lease ran out and another taker has the job.
	Extend(ctx context.Context) error
	// Ack ends the lease and removes the job from the queue for good.
	Ack(ctx context.Context) error
	// Retaken says the job was handed out before, to a taker whose lease
	// ran out: the taker is gone, and the job's run with it.
	Retaken() bool
}
