package sharedstate

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

// SessionConflict is the owner a session is bound to when two identities
// claimed it (one while Redis was unreachable): nobody may use it.
const SessionConflict = "\x00conflict"

// conflictScript marks KEYS[1] as SessionConflict unless it is bound to
// ARGV[1], and returns the owner afterwards.
var conflictScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  return cur
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ARGV[2]
`)

func (s *Store) sessionKey(idHash [32]byte) string {
	return s.redis.prefix + "session:" + hex.EncodeToString(idHash[:16])
}

// ClaimSession binds an MCP session id to owner in Redis, so every replica
// sees the same binding. Only a hash of the id is stored. While Redis is
// down it answers ErrUnavailable, whatever the failure mode: a binding is
// a security decision, not a rate limit, and the caller decides from what
// it holds itself.
func (s *Store) ClaimSession(ctx context.Context, id, owner string, ttl time.Duration) (string, error) {
	return s.ClaimSessionHash(ctx, sha256.Sum256([]byte(id)), owner, ttl)
}

// ClaimSessionHash is ClaimSession for the SHA-256 of the id.
func (s *Store) ClaimSessionHash(ctx context.Context, idHash [32]byte, owner string, ttl time.Duration) (string, error) {
	return s.runSession(ctx, claimScript, idHash, owner, ttl.Milliseconds())
}

// BindSessionStrict binds the session to owner unless it is bound to
// another owner already, in which case it marks the session
// SessionConflict for every replica. It returns the owner afterwards.
// Used to write a binding made while Redis was unreachable.
func (s *Store) BindSessionStrict(ctx context.Context, idHash [32]byte, owner string, ttl time.Duration) (string, error) {
	v, err := s.ClaimSessionHash(ctx, idHash, owner, ttl)
	if err != nil || v == owner {
		return v, err
	}
	return s.runSession(ctx, conflictScript, idHash, owner, SessionConflict, ttl.Milliseconds())
}

func (s *Store) runSession(ctx context.Context, script *redis.Script, idHash [32]byte, args ...any) (string, error) {
	if s.redis == nil || s.down.Load() {
		return "", ErrUnavailable
	}
	rctx, cancel := context.WithTimeout(ctx, s.redis.timeout)
	defer cancel()
	v, err := script.Run(rctx, s.redis.client, []string{s.sessionKey(idHash)}, args...).Text()
	if err != nil {
		// A caller that gave up says nothing about Redis.
		if ctx.Err() == nil {
			s.failed(err)
		}
		return "", ErrUnavailable
	}
	s.succeeded()
	return v, nil
}

// lookupSessionScript returns the owner KEYS[1] is bound to ("" when it
// is not bound) and refreshes the idle expiry when that owner is ARGV[1].
// Unlike claimScript it never creates a binding.
var lookupSessionScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return '' end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return cur
`)

// LookupSessionHash returns the owner a session (the SHA-256 of its id)
// was bound to by ClaimSession, or "" when it is not bound, without ever
// binding it. An owner looking up its own session refreshes the binding's
// expiry. Errors as ClaimSession.
func (s *Store) LookupSessionHash(ctx context.Context, idHash [32]byte, owner string, ttl time.Duration) (string, error) {
	return s.runSession(ctx, lookupSessionScript, idHash, owner, ttl.Milliseconds())
}
