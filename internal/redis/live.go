package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// announceScript records, by Redis's clock (the nodes' need not agree),
// that node ARGV[1] serves the capabilities of the sorted sets KEYS until
// ARGV[2] ms from now, dropping the nodes whose time ran out; or, with
// ARGV[2] = 0, that it serves them no more. A set lives as long as its
// longest announcement, so one no node refreshes any more goes away.
var announceScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for _, k in ipairs(KEYS) do
	if ttl > 0 then
		redis.call('ZADD', k, now + ttl, ARGV[1])
		redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
		if redis.call('PTTL', k) < ttl then
			redis.call('PEXPIRE', k, ttl)
		end
	else
		redis.call('ZREM', k, ARGV[1])
	end
end
return 0
`)

// servedScript counts the nodes of the sorted set KEYS[1] whose
// announcement has not run out by Redis's clock.
var servedScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`)

// Announce records in Redis that node serves capabilities for ttl (at
// least a millisecond); a ttl of 0 withdraws them.
func (q *Queue) Announce(ctx context.Context, node string, capabilities []string, ttl time.Duration) error {
	if len(capabilities) == 0 {
		return nil
	}
	keys := make([]string, len(capabilities))
	for i, c := range capabilities {
		keys[i] = q.liveKey(c)
	}
	ms := int64(0)
	if ttl > 0 {
		ms = max(ttl.Milliseconds(), 1)
	}
	if err := announceScript.Run(ctx, q.rdb, keys, node, ms).Err(); err != nil {
		return q.fail(ctx, "announce "+node, err)
	}
	return nil
}

// Served says whether a node whose announcement has not run out serves
// capability.
func (q *Queue) Served(ctx context.Context, capability string) (bool, error) {
	n, err := servedScript.Run(ctx, q.rdb, []string{q.liveKey(capability)}).Int()
	if err != nil {
		return false, q.fail(ctx, "live workers of "+capability, err)
	}
	return n > 0, nil
}
