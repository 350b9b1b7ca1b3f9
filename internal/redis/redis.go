// Package redis is the distributed Queue: job ids in Redis streams, one
// per capability, taken by the workers of every host through one consumer
// group per stream.
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
// # Routing by capability
//
// A job is pushed to the stream of its capability ("airlock:queue:python",
// "airlock:queue:env:scientific"), and a worker reads only the streams of
// the capabilities it serves, all of them in one XREADGROUP: a job is
// never taken by a worker that cannot run it. Every stream has a group of
// the same name, so leases, extension, acks and the sweep for expired
// leases work per stream exactly as they did for the one stream before.
// The capabilities pushed to are kept in a set, so that Len and Oldest,
// which API nodes call whatever they serve, see every stream. Worker
// nodes announce what they serve in a sorted set per capability (live.go),
// which Served reads.
//
// The queue before routing had one stream, Options.Stream itself
// ("airlock:queue"). A Queue that finds it at Open reads it too, with
// every Pop, whatever it serves: the jobs in it when a deployment is
// upgraded, or pushed by old API nodes during a rolling upgrade, are
// drained rather than stranded. A worker handed such a job that it cannot
// run sends it on to its capability's stream (jobs.Service does: the
// queue knows only ids). Once no old node runs and the stream is empty,
// deleting it (DEL airlock:queue) ends the extra read at the next start.
//
// # Mapping of airlock.Queue
//
//   - Push: SADD the capability to the set and XADD stream * job <id>, in
//     one MULTI.
//   - Pop: first XAUTOCLAIM (min-idle = the lease time) from a cursor that
//     walks the PELs of the streams served, at most every quarter of a
//     lease time per process; then a script that takes one new entry
//     (XREADGROUP ... COUNT 1 without BLOCK) from the first of the
//     streams that has one, starting with another stream each time, so
//     that no capability starves another; when there is none, XREADGROUP
//     GROUP g <consumer> COUNT 1 BLOCK <bounded> STREAMS <streams> > ...
//     The block is bounded (Options.Block) because go-redis does not
//     abandon a command when its context is cancelled: ctx is honoured
//     between blocks, so within Options.Block. COUNT is per stream: an
//     entry beyond the first that a read brings (entries pushed to two
//     streams between the script and the read) goes back to the end of
//     its stream at once (XADD, XACK, XDEL in one MULTI).
//   - Lease.Extend: XCLAIM stream g <consumer> 0 <entry> JUSTID, in a
//     script that first checks (XPENDING) that the entry is still this
//     consumer's: after a lease ran out and another worker took the job,
//     an Extend must not take it back. JUSTID leaves the delivery count.
//   - Lease.Ack: XACK and XDEL in one MULTI, so a stream holds only the
//     jobs not yet done and does not grow without end.
//   - Len: the entries not yet delivered to the group, of every stream
//     (see Queue.Len).
//   - Announce, Served: the sorted sets of live nodes (live.go).
//
// # Consumers
//
// Each Queue is one consumer of the group of every stream it reads, named by default after the
// host, the process id and a random suffix, so two processes (or two
// Queues in one test) never share a PEL, and XPENDING and XINFO CONSUMERS
// say which host holds a job. Names are not reused after a restart: the
// jobs a dead process held come back by XAUTOCLAIM like those of a dead
// host. A dead consumer stays in the group with nothing pending (a few
// bytes); XGROUP DELCONSUMER removes it.
//
// # When Redis goes away
//
// Every method returns errors wrapping airlock.ErrUnavailable while
// Redis cannot be reached (the service answers 503 and its workers retry);
// go-redis reconnects by itself when it is back. A Redis that lost its
// data (restarted without persistence) has no group any more: the queue
// recreates it (XGROUP CREATE ... MKSTREAM, BUSYGROUP meaning another
// process was first) and goes on; worker nodes announce themselves again
// at their next heartbeat. The jobs that were in it are lost to the
// queue, though still queued in the JobStore: production Redis must
// persist (appendonly yes; appendfsync everysec loses at most about a
// second of pushes on a crash of the host, always loses none).
//
// Needs Redis 6.2 or later (XAUTOCLAIM). The scripts name keys they were
// not given (a stream of each capability): a single Redis, or one with
// replicas, not a Redis Cluster.
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
// streams and groups shared by every airlock process of a deployment.
type Options struct {
	// Stream names the queue's keys (see streams.go): a capability's jobs
	// are in the stream Stream:<capability>, and Stream itself is the
	// stream of the queue before routing. Default "airlock:queue".
	// Processes that share jobs must share it.
	Stream string
	// Group is the consumer group of the workers, of every stream;
	// default "airlock:workers". One group: every job goes to one worker.
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
// ten PEL entries when asked for one), so huge PELs do not stall a Pop;
// the next Pop goes on from where this one stopped.
const maxSweepSteps = 100

// Queue is an airlock.Queue in Redis streams. It is safe for concurrent
// use: each waiting Pop holds a connection of the client's pool, whose
// size (go-redis's default: 10 per CPU, or the URL's pool_size) must
// exceed the number of workers, or Acks and Extends wait behind Pops.
type Queue struct {
	rdb *goredis.Client
	opt Options
	// legacy says the stream of the queue before routing was there at
	// Open: every Pop reads it too, to drain it.
	legacy bool

	mu        sync.Mutex
	grouped   map[string]bool   // streams whose group this Queue has made sure of
	sweeping  bool              // a Pop is looking for expired leases
	passing   bool              // a pass over the PELs is under way
	swept     map[string]bool   // streams whose PEL the pass has walked to its end
	cursors   map[string]string // where in a stream's PEL the pass goes on; "0-0" at the start
	nextSweep time.Time         // when a new pass over the PELs is due
	turn      int               // which stream the next take looks at first
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
	q := &Queue{rdb: rdb, opt: opt, grouped: map[string]bool{}, swept: map[string]bool{}, cursors: map[string]string{}}
	kind, err := rdb.Type(ctx, opt.Stream).Result()
	if err != nil {
		return fail("cannot read the queue's keys at", err)
	}
	if q.legacy = kind == "stream"; q.legacy {
		if err := q.ensureGroups(ctx, []string{opt.Stream}); err != nil {
			return fail("cannot create the consumer group "+opt.Group+" of "+opt.Stream+" at", err)
		}
	}
	// Housekeeping: a failure here costs nothing but a longer list.
	q.forget(ctx, opt.ForgetAfter, "")
	return q, nil
}

// forgetScript removes, in one step so that none of them is handed an
// entry between the check and the removal, the consumers of group ARGV[1]
// of the streams KEYS that hold no entry and have been idle for ARGV[2]
// ms or more: every one of them, or only the one named ARGV[3] if it is
// set. A stream without the group is passed over.
var forgetScript = goredis.NewScript(`
local n = 0
for _, s in ipairs(KEYS) do
	local consumers = redis.pcall('XINFO', 'CONSUMERS', s, ARGV[1])
	if type(consumers) == 'table' and not consumers.err then
		for _, c in ipairs(consumers) do
			local f = {}
			for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
			if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and (ARGV[3] == '' or f['name'] == ARGV[3]) then
				redis.call('XGROUP', 'DELCONSUMER', s, ARGV[1], f['name'])
				n = n + 1
			end
		end
	end
end
return n
`)

// forget removes from every stream's group the consumers that hold no
// entry and have been idle for at least idle (only the one named name, if
// set), and says how many.
func (q *Queue) forget(ctx context.Context, idle time.Duration, name string) (int, error) {
	streams, err := q.allStreams(ctx)
	if err != nil {
		return 0, err
	}
	return forgetScript.Run(ctx, q.rdb, streams, q.opt.Group, idle.Milliseconds(), name).Int()
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
// every stream's group if it holds no job. Leases still held run out and their jobs
// go to other workers.
func (q *Queue) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	q.forget(ctx, 0, q.opt.Consumer)
	cancel()
	return q.rdb.Close()
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
