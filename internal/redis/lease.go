package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// lease is an entry of a stream delivered to this Queue's consumer.
type lease struct {
	q       *Queue
	stream  string // the stream the entry is in
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
	held, err := extendScript.Run(ctx, q.rdb, []string{l.stream}, q.opt.Group, q.opt.Consumer, l.entry).Int()
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
	pipe.XAck(ctx, l.stream, q.opt.Group, l.entry)
	pipe.XDel(ctx, l.stream, l.entry)
	if _, err := pipe.Exec(ctx); err != nil {
		return q.fail(ctx, "ack "+l.job, err)
	}
	return nil
}
