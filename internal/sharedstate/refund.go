package sharedstate

import (
	"context"

	"github.com/agentgateway-go/agentgateway/internal/gcra"

	"github.com/redis/go-redis/v9"
)

// Refunds: a caller that counts a request with Allow before later checks
// decide whether the request happens at all (mcp-authz's per-rule limit
// runs before the rate-limit policy and the stream caps) gives the request
// back with Refund when it never happened. In GCRA terms a refund moves
// the TAT back by one emission interval; a TAT that falls to now or
// before is the same as a key never seen and is forgotten. A refund never
// makes a key more generous than it would have been without the refunded
// request, except by the time that passed in between (bounded by one
// interval), and refunding a key that is not held does nothing.

// refundScript is the Redis side of Refund, atomic like gcraScript and on
// the same clock.
//
// KEYS[1]: the key. ARGV[1]: emission interval (µs). Returns 1 if a TAT
// was moved back, 0 if the key was not held.
var refundScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat == 0 then return 0 end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
tat = tat - t
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 1
`)

// Refund gives back one request that Allow counted for key under limit.
func (r *Redis) Refund(ctx context.Context, key string, limit gcra.Limit) error {
	t := limit.Interval()
	if t <= 0 {
		return gcra.ErrInvalidLimit
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return refundScript.Run(ctx, r.client, []string{r.prefix + key}, t.Microseconds()).Err()
}

// Refund gives back one request that Allow counted, to the limiter that
// decides right now: Redis while it is up, the local fallback of a
// fail-open store while it is down (refunding a key the fallback never
// counted does nothing). A failed refund only leaves the request counted;
// it does not mark Redis down (the next Allow finds out).
func (s *Store) Refund(ctx context.Context, key string, limit gcra.Limit) error {
	if s.redis == nil {
		return s.local.Refund(ctx, key, limit)
	}
	if !s.down.Load() {
		// Allow charged the local shadow too (fail-open): give it back.
		if s.mode == FailOpen {
			_ = s.local.Refund(ctx, key, limit)
		}
		return s.redis.Refund(ctx, key, limit)
	}
	if s.mode == FailClosed {
		return ErrUnavailable
	}
	return s.local.Refund(ctx, key, limit)
}
