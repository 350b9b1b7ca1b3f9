package redis

import (
	"context"
	"fmt"
	"math"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/airlock-dev/airlock/internal/auth"
)

// Rates keeps the API keys' rate limits in Redis, so every node of a fleet
// takes from one budget per key (auth.RateStore).
type Rates struct {
	rdb    *goredis.Client
	prefix string
}

var _ auth.RateStore = (*Rates)(nil)

// Rates shares the queue's connection: a fleet's nodes share its Redis.
// The keys live next to the queue's stream.
func (q *Queue) Rates() *Rates {
	return &Rates{rdb: q.rdb, prefix: q.opt.Stream + ":rate:"}
}

// takeScript is the generic cell rate algorithm: the key holds the
// theoretical arrival time (TAT, µs) of the next request; a request is
// let in when it comes no more than burst intervals before it. Redis's
// own clock decides, so the nodes' clocks need not agree.
var takeScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local free = tat + interval - interval * burst
if free > now then
  return free - now
end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1)
return 0
`)

// Take takes one request from key id's budget: rate per second, burst at
// once.
func (r *Rates) Take(ctx context.Context, id string, rate float64, burst int) (bool, time.Duration, error) {
	if rate <= 0 || burst < 1 {
		return false, 0, fmt.Errorf("redis rates: rate %v with burst %d", rate, burst)
	}
	interval := int64(math.Ceil(1e6 / rate))
	wait, err := takeScript.Run(ctx, r.rdb, []string{r.prefix + id}, interval, burst).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redis rates: %s", redactError(err))
	}
	return wait == 0, time.Duration(wait) * time.Microsecond, nil
}
