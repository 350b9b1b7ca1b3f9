// Package redis is the distributed Queue: job ids in a Redis stream, taken
// by the workers of every host through one consumer group.
//
// # Why streams and a consumer group
//
// The queue needs leases: a job taken by a worker that dies must be taken
// again. A consumer group has them natively. XREADGROUP hands an entry to
// one consumer and records it in the group's pending entries list (PEL)
// with the time of delivery; XACK removes it from there; XAUTOCLAIM hands
// the entries idle for longer than the lease time to another consumer, in
// one command, atomically, so two workers never both take a job over. A
// lease is extended by XCLAIM of one's own entry, which resets its idle
// time. Waiting is XREADGROUP BLOCK, pushed by the server: no polling.
//
// A job-queue library on Redis (asynq, for one) brings its own job model,
// retries, scheduling and result keys, which airlock's JobStore already
// has and which would have to be kept in agreement with it; and it leases
// through sorted sets of deadlines that a background task polls to find
// the work of dead workers. A plain list (BLMOVE into a list per worker)
// leases too, but redelivery then needs a reaper that scans every
// worker's list and knows which workers are dead. A consumer group is
// Redis's own answer to exactly this, in a handful of commands.
//
// Delivery is at least once: a job whose taker seemed dead but was only
// slow, or a push that go-redis retried after a lost reply, is handed out
// twice. The JobStore's conditional transitions (Start only from queued,
// Finish only from running) keep a job handed out twice from starting
// twice in one attempt or finishing twice.
//
// # Mapping of airlock.Queue
//
//   - Push: XADD stream * job <id>.
//   - Pop: first XAUTOCLAIM (min-idle = the lease time) from a cursor that
//     walks the PEL, at most every quarter of a lease time per process;
//     then XREADGROUP GROUP g <consumer> COUNT 1 BLOCK <bounded> STREAMS
//     stream >. The block is bounded (Options.Block) because go-redis does
//     not abandon a command when its context is cancelled: ctx is
//     honoured between blocks, so within Options.Block.
//   - Lease.Extend: XCLAIM stream g <consumer> 0 <entry> JUSTID, in a
//     script that first checks (XPENDING) that the entry is still this
//     consumer's: after a lease ran out and another worker took the job,
//     an Extend must not take it back. JUSTID leaves the delivery count.
//   - Lease.Ack: XACK and XDEL in one MULTI, so the stream holds only the
//     jobs not yet done and does not grow without end.
//   - Len: the entries not yet delivered to the group (see Queue.Len).
//
// # Consumers
//
// Each Queue is one consumer of the group, named by default after the
// host, the process id and a random suffix, so two processes (or two
// Queues in one test) never share a PEL, and XPENDING and XINFO CONSUMERS
// say which host holds a job. Names are not reused after a restart: the
// jobs a dead process held come back by XAUTOCLAIM like those of a dead
// host. A dead consumer stays in the group with nothing pending (a few
// bytes); XGROUP DELCONSUMER removes it.
//
// # When Redis goes away
//
// Push, Pop and Len return errors wrapping airlock.ErrUnavailable while
// Redis cannot be reached (the service answers 503 and its workers retry);
// go-redis reconnects by itself when it is back. A Redis that lost its
// data (restarted without persistence) has no group any more: the queue
// recreates it (XGROUP CREATE ... MKSTREAM, BUSYGROUP meaning another
// process was first) and goes on. The jobs that were in it are lost to the
// queue, though still queued in the JobStore: production Redis must
// persist (appendonly yes; appendfsync everysec loses at most about a
// second of pushes on a crash of the host, always loses none).
//
// Needs Redis 6.2 or later (XAUTOCLAIM); Len is exact in O(1) with the
// group's lag from Redis 7.0, and falls back to XLEN minus the PEL count.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options configure a Queue. The zero value is the production default:
// one stream and one group shared by every airlock process of a
// deployment.
type Options struct {
	// Stream is the key of the stream; default "airlock:queue". Processes
	// that share jobs must share it.
	Stream string
	// Group is the consumer group of the workers; default
	// "airlock:workers". One group: every job goes to one worker.
	Group string
	// Consumer names this Queue in the group; default
	// "<host>-<pid>-<random>". It must differ between processes: two
	// consumers of one name would take each other's leases.
	Consumer string
	// LeaseTime is how long a job taken and neither acked nor extended
	// stays with its taker before another worker may take it; default 30
	// s. The jobs service extends three times per lease time, so a lease
	// survives a missed extension (a slow network, a paused VM), while the
	// job of a dead worker runs again within about a lease time.
	LeaseTime time.Duration
	// Block is the longest one XREADGROUP waits; default 1 s. Pop notices
	// that its context ended at most this late, since a blocked command
	// is not interrupted (interrupting it could lose an entry it was just
	// handed until its lease ran out).
	Block time.Duration
	// ConnectTimeout bounds Open (connecting and its first commands) and,
	// unless the URL has a dial_timeout, each later dial; default 5 s.
	ConnectTimeout time.Duration
	// ForgetAfter is how long a consumer of the group that holds no job
	// stays idle before Open removes it; default 24 h. Every process is a
	// consumer of its own, so without it the group would keep one for
	// each process that ever ran (a crashed one never says goodbye). A
	// live consumer removed while it waits is made again by its next read.
	ForgetAfter time.Duration
}

// Defaults of Options.
const (
	DefaultStream         = "airlock:queue"
	DefaultGroup          = "airlock:workers"
	DefaultLeaseTime      = 30 * time.Second
	DefaultBlock          = time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultForgetAfter    = 24 * time.Hour
)

func (o Options) withDefaults() Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Consumer == "" {
		o.Consumer = consumerName()
	}
	if o.LeaseTime <= 0 {
		o.LeaseTime = DefaultLeaseTime
	}
	if o.Block <= 0 {
		o.Block = DefaultBlock
	}
	if o.ForgetAfter <= 0 {
		o.ForgetAfter = DefaultForgetAfter
	}
	// BLOCK counts milliseconds, and BLOCK 0 waits for ever.
	o.Block = max(o.Block.Truncate(time.Millisecond), time.Millisecond)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	return o
}

// consumerName is unique to this process and this Queue, and says where
// it runs to whoever reads XINFO CONSUMERS.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// ErrLeaseLost is returned by Lease.Extend when the lease is no longer
// its holder's: it ran out and another worker took the job, or Redis lost
// it (restarted without its data). The job may run twice; the JobStore
// keeps it from finishing twice.
var ErrLeaseLost = fmt.Errorf("redis queue: lease lost: %w", airlock.ErrConflict)

// jobField is the field of a stream entry that holds the job id.
const jobField = "job"

// maxSweepSteps bounds the XAUTOCLAIM calls of one Pop (each looks at
// ten PEL entries when asked for one), so a huge PEL does not stall a Pop;
// the next Pop goes on from where this one stopped.
const maxSweepSteps = 100

// Queue is an airlock.Queue in a Redis stream. It is safe for concurrent
// use: each waiting Pop holds a connection of the client's pool, whose
// size (go-redis's default: 10 per CPU, or the URL's pool_size) must
// exceed the number of workers, or Acks and Extends wait behind Pops.
type Queue struct {
	rdb *goredis.Client
	opt Options

	mu        sync.Mutex
	sweeping  bool      // a Pop is looking for expired leases
	cursor    string    // where in the PEL the next XAUTOCLAIM starts; "0-0" at the start
	nextSweep time.Time // when a new pass over the PEL is due
}

var _ airlock.Queue = (*Queue)(nil)

// quiet takes go-redis's own log lines (a failed dial, each time its pool
// retries) to the debug level: every failure they tell of reaches the
// caller as an error already, and the process's log says it once.
type quiet struct{}

func (quiet) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

var quietOnce sync.Once

// Open connects to the Redis at rawURL (redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS, unix:///path; go-redis's query options such as
// pool_size are honoured), checks that it answers and is recent enough,
// and creates the group if there is none. It fails within about
// opt.ConnectTimeout, with an error of one line that does not show the
// password.
func Open(ctx context.Context, rawURL string, opt Options) (*Queue, error) {
	quietOnce.Do(func() { goredis.SetLogger(quiet{}) })
	opt = opt.withDefaults()
	shown := redactURL(rawURL)
	ro, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis queue: bad URL %s: %s", shown, redactError(err))
	}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = opt.ConnectTimeout
	}
	// Maintenance notifications are Redis Enterprise's; probing for them
	// costs every new connection a command.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// Callers' deadlines bound reads too, not only dials and waits for a
	// connection: Open's ConnectTimeout holds against a server that
	// accepts and never answers. (Pop's XREADGROUP is the exception: see
	// readNew.)
	ro.ContextTimeoutEnabled = true
	// One dial per attempt: go-redis's command retries (max_retries,
	// default 3) already redial, and a Redis that is down should fail a
	// Push (a 503 the client retries) in well under a second rather than
	// after go-redis's default of five dials per attempt.
	ro.DialerRetries = 1
	rdb := goredis.NewClient(ro)

	ctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout)
	defer cancel()
	fail := func(what string, err error) (*Queue, error) {
		rdb.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", opt.ConnectTimeout)
		}
		return nil, fmt.Errorf("redis queue: %s %s: %s", what, shown, oneLine(err))
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fail("cannot connect to", err)
	}
	if err := checkVersion(ctx, rdb); err != nil {
		return fail("unsuitable server at", err)
	}
	q := &Queue{rdb: rdb, opt: opt, cursor: "0-0"}
	if err := q.createGroup(ctx); err != nil {
		return fail("cannot create the consumer group "+opt.Group+" of "+opt.Stream+" at", err)
	}
	// Housekeeping: a failure here costs nothing but a longer list.
	q.forget(ctx, opt.ForgetAfter, "")
	return q, nil
}

// forgetScript removes, in one step so that none of them is handed an
// entry between the check and the removal, the consumers of group ARGV[1]
// of stream KEYS[1] that hold no entry and have been idle for ARGV[2] ms
// or more: every one of them, or only the one named ARGV[3] if it is set.
var forgetScript = goredis.NewScript(`
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
	local f = {}
	for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
	if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and (ARGV[3] == '' or f['name'] == ARGV[3]) then
		redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
		n = n + 1
	end
end
return n
`)

// forget removes consumers that hold no entry and have been idle for at
// least idle (only the one named name, if set), and says how many.
func (q *Queue) forget(ctx context.Context, idle time.Duration, name string) (int, error) {
	return forgetScript.Run(ctx, q.rdb, []string{q.opt.Stream}, q.opt.Group, idle.Milliseconds(), name).Int()
}

// checkVersion refuses a server without XAUTOCLAIM (before 6.2), which
// would otherwise fail every Pop. A user not allowed INFO is let through.
func checkVersion(ctx context.Context, rdb *goredis.Client) error {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return nil
	}
	for line := range strings.SplitSeq(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		parts := strings.SplitN(v, ".", 3)
		major, _ := strconv.Atoi(parts[0])
		minor := 0
		if len(parts) > 1 {
			minor, _ = strconv.Atoi(parts[1])
		}
		if major < 6 || major == 6 && minor < 2 {
			return fmt.Errorf("server version %s, the queue needs Redis 6.2 or later (XAUTOCLAIM)", v)
		}
	}
	return nil
}

// Close closes the connections, after removing this Queue's consumer from
// the group if it holds no job. Leases still held run out and their jobs
// go to other workers.
func (q *Queue) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	q.forget(ctx, 0, q.opt.Consumer)
	cancel()
	return q.rdb.Close()
}

// createGroup creates the group, reading the stream from its start: an
// entry pushed before the group existed (by an API node that started
// first, or after a Redis restart emptied everything) is a job too.
func (q *Queue) createGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.opt.Stream, q.opt.Group, "0").Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil // there is one
	}
	return err
}

// noGroup says whether err means the stream or the group is gone: Redis
// restarted without its data, or someone deleted them.
func noGroup(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "NOGROUP") || strings.HasPrefix(s, "ERR no such key")
}

// fail wraps a failed command: as airlock.ErrUnavailable (the service
// answers 503 and retries), unless the caller's context ended.
func (q *Queue) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("redis queue: %s: %w: %w", op, airlock.ErrUnavailable, err)
}

// Push adds id at the end of the stream.
func (q *Queue) Push(ctx context.Context, id string) error {
	err := q.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: q.opt.Stream, Values: []any{jobField, id}}).Err()
	if err != nil {
		return q.fail(ctx, "push", err)
	}
	return nil
}

// Pop takes a job whose lease ran out if there is one, else the oldest
// job not yet taken, waiting for one until ctx ends. A job handed over
// is returned even if ctx ended meanwhile: it is leased to this consumer
// now, and would otherwise wait for its lease to run out.
func (q *Queue) Pop(ctx context.Context) (airlock.Lease, error) {
	recreated := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := q.claimExpired(ctx)
		if l == nil && err == nil {
			l, err = q.readNew(ctx)
		}
		if l != nil {
			return l, nil
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if noGroup(err) && !recreated {
			recreated = true
			if err = q.createGroup(ctx); err == nil {
				continue
			}
		}
		return nil, q.fail(ctx, "pop", err)
	}
}

// sweepEvery is how often a process looks for leases that ran out: the
// job of a dead worker then waits at most a quarter more than a lease
// time, and a pass over the PEL is rare next to the Pops.
func (q *Queue) sweepEvery() time.Duration {
	return q.opt.LeaseTime / 4
}

// claimExpired takes over one entry whose lease ran out, if a pass over
// the PEL is due or under way and no other Pop of this Queue is making
// it. XAUTOCLAIM resets the entry's idle time as it claims it, so of two
// workers sweeping at once only one gets it.
func (q *Queue) claimExpired(ctx context.Context) (*lease, error) {
	q.mu.Lock()
	if q.sweeping || q.cursor == "0-0" && time.Now().Before(q.nextSweep) {
		q.mu.Unlock()
		return nil, nil
	}
	q.sweeping = true
	cursor := q.cursor
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.sweeping = false
		q.cursor = cursor
		if cursor == "0-0" {
			q.nextSweep = time.Now().Add(q.sweepEvery())
		}
		q.mu.Unlock()
	}()
	for range maxSweepSteps {
		msgs, next, err := q.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
			Stream:   q.opt.Stream,
			Group:    q.opt.Group,
			Consumer: q.opt.Consumer,
			MinIdle:  q.opt.LeaseTime,
			Start:    cursor,
			Count:    1,
		}).Result()
		if err != nil {
			cursor = "0-0" // start over once it works again
			return nil, err
		}
		cursor = next
		for _, m := range msgs {
			if l := q.leaseOf(ctx, m, true); l != nil {
				return l, nil
			}
		}
		if cursor == "0-0" {
			return nil, nil
		}
	}
	return nil, nil
}

// readNew waits for an entry not yet delivered to the group, for at most
// Options.Block, less if a sweep or ctx's deadline comes sooner. No entry
// is nil, nil.
func (q *Queue) readNew(ctx context.Context) (*lease, error) {
	block := q.opt.Block
	q.mu.Lock()
	if wait := time.Until(q.nextSweep); wait < block {
		block = wait
	}
	q.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		if wait := time.Until(dl); wait < block {
			block = wait
		}
	}
	block = max(block.Truncate(time.Millisecond), time.Millisecond) // BLOCK 0 is for ever
	// Not ctx's deadline as the read's: it would end the read about when
	// the server answers, and an entry the server handed over as the
	// client gave up would wait for its lease to run out. The read is
	// bounded by block (plus go-redis's margin for blocking commands).
	streams, err := q.rdb.XReadGroup(context.WithoutCancel(ctx), &goredis.XReadGroupArgs{
		Group:    q.opt.Group,
		Consumer: q.opt.Consumer,
		Streams:  []string{q.opt.Stream, ">"},
		Count:    1,
		Block:    block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil // nothing within block
	}
	if err != nil {
		return nil, err
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			if l := q.leaseOf(ctx, m, false); l != nil {
				return l, nil
			}
		}
	}
	return nil, nil
}

// leaseOf makes a lease of an entry taken; nil for an entry without a job
// id (not airlock's, or deleted under the group), which is dropped so that
// it is not taken again and again.
func (q *Queue) leaseOf(ctx context.Context, m goredis.XMessage, retaken bool) *lease {
	l := &lease{q: q, entry: m.ID, retaken: retaken}
	if id, ok := m.Values[jobField].(string); ok && id != "" {
		l.job = id
		return l
	}
	l.Ack(ctx)
	return nil
}

// Oldest is when the oldest entry still in the stream (waiting or taken)
// was pushed, by the server's clock; the zero time when there is none.
func (q *Queue) Oldest(ctx context.Context) (time.Time, error) {
	msgs, err := q.rdb.XRangeN(ctx, q.opt.Stream, "-", "+", 1).Result()
	if err != nil {
		return time.Time{}, q.fail(ctx, "oldest", err)
	}
	if len(msgs) == 0 {
		return time.Time{}, nil
	}
	ms, _, _ := strings.Cut(msgs[0].ID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("redis queue: entry id %q: %w", msgs[0].ID, err)
	}
	return time.UnixMilli(n), nil
}

// Len counts the entries not yet delivered to the group: the jobs waiting
// for a worker. Jobs taken and not acked are not counted, those whose
// lease ran out included (few, and taken again soon).
//
// Redis keeps the count as the group's "lag" (XINFO GROUPS, Redis 7.0+),
// but cannot tell it once entries were deleted between the oldest entry
// and the last one delivered, which every Ack but the oldest's does (it
// XDELs); then lag is null. The count is then XLEN minus the PEL's size:
// every entry in the stream is either not yet delivered or pending, since
// an entry leaves the PEL and the stream together, in Ack. Both are read
// in one MULTI, so the difference is of one instant.
func (q *Queue) Len(ctx context.Context) (int, error) {
	n, err := q.length(ctx)
	if err != nil && noGroup(err) {
		if err = q.createGroup(ctx); err == nil {
			n, err = q.length(ctx)
		}
	}
	if err != nil {
		return 0, q.fail(ctx, "len", err)
	}
	return n, nil
}

func (q *Queue) length(ctx context.Context) (int, error) {
	pipe := q.rdb.TxPipeline()
	groups := pipe.XInfoGroups(ctx, q.opt.Stream)
	size := pipe.XLen(ctx, q.opt.Stream)
	pending := pipe.XPending(ctx, q.opt.Stream, q.opt.Group)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	for _, g := range groups.Val() {
		if g.Name == q.opt.Group && g.Lag >= 0 {
			return int(g.Lag), nil
		}
	}
	return int(max(size.Val()-pending.Val().Count, 0)), nil
}

// lease is an entry of the stream delivered to this Queue's consumer.
type lease struct {
	q       *Queue
	entry   string // the stream entry's id
	job     string
	retaken bool // claimed after another consumer's lease ran out
}

// JobID is the job leased.
func (l *lease) JobID() string { return l.job }

// Retaken says the entry was claimed after its lease ran out.
func (l *lease) Retaken() bool { return l.retaken }

// extendScript resets the idle time of the entry ARGV[3] if it is pending
// for consumer ARGV[2] of group ARGV[1] of stream KEYS[1], and says
// whether it was. A script, so that no XAUTOCLAIM comes between the check
// and the claim: a bare XCLAIM would take back a job another worker has
// taken over.
var extendScript = goredis.NewScript(`
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if type(p) ~= 'table' or p.err or #p == 0 then
	return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// Extend restarts the lease time; ErrLeaseLost if the job is no longer
// this consumer's.
func (l *lease) Extend(ctx context.Context) error {
	q := l.q
	held, err := extendScript.Run(ctx, q.rdb, []string{q.opt.Stream}, q.opt.Group, q.opt.Consumer, l.entry).Int()
	if err != nil {
		return q.fail(ctx, "extend the lease of "+l.job, err)
	}
	if held == 0 {
		return fmt.Errorf("%w: job %s", ErrLeaseLost, l.job)
	}
	return nil
}

// Ack removes the entry from the PEL and from the stream, whoever holds
// it now: the job is done. Acking an entry already gone does nothing.
func (l *lease) Ack(ctx context.Context) error {
	q := l.q
	pipe := q.rdb.TxPipeline()
	pipe.XAck(ctx, q.opt.Stream, q.opt.Group, l.entry)
	pipe.XDel(ctx, q.opt.Stream, l.entry)
	if _, err := pipe.Exec(ctx); err != nil {
		return q.fail(ctx, "ack "+l.job, err)
	}
	return nil
}

// redactURL is rawURL without its password, even when it does not parse
// (url.Parse's own errors quote it whole).
func redactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user := rest[:at]
		if name, _, ok := strings.Cut(user, ":"); ok {
			user = name + ":xxxxx"
		}
		return scheme + "://" + user + rest[at:]
	}
	return rawURL
}

// redactError is the message of a URL's parse error, without the URL
// (url.Parse quotes it whole, password included).
func redactError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return oneLine(err)
}

// oneLine is err's message on one line, for a log or a terminal.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
