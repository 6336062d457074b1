package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript binds KEYS[1] to ARGV[1] unless it is bound already, and
// refreshes the idle expiry when the owner claims it again. It returns the
// owner the key is bound to afterwards. One script keeps check-and-set
// atomic across gateway replicas.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return cur
`)

// Shared reports whether the store shares state through Redis.
func (s *Store) Shared() bool { return s.redis != nil }

// ClaimSession binds an MCP session id to owner in Redis, so every replica
// sees the same binding. Only a hash of the id is stored. While Redis is
// down, FailOpen stores answer ErrUnavailable too: the caller falls back to
// its local bindings, and FailClosed callers refuse the request.
func (s *Store) ClaimSession(ctx context.Context, id, owner string, ttl time.Duration) (string, error) {
	if s.redis == nil || s.down.Load() {
		return "", ErrUnavailable
	}
	sum := sha256.Sum256([]byte(id))
	key := s.redis.prefix + "session:" + hex.EncodeToString(sum[:16])
	rctx, cancel := context.WithTimeout(ctx, s.redis.timeout)
	defer cancel()
	v, err := claimScript.Run(rctx, s.redis.client, []string{key}, owner, ttl.Milliseconds()).Text()
	if err != nil {
		// A caller that gave up says nothing about Redis.
		if ctx.Err() == nil {
			s.markDown(err)
		}
		return "", ErrUnavailable
	}
	return v, nil
}
