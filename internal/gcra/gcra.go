// Package gcra is the rate-limit algorithm: GCRA (the generic cell rate
// algorithm), its types (Limit, Result, Key) and Local, the limiter that
// keeps its state in process memory. The same algorithm runs in Redis
// (internal/sharedstate), so that every replica shares one count, and
// makes the same decisions (Limit.Interval).
//
// GCRA keeps one number per key, the theoretical arrival time (TAT) of the
// next request if requests came exactly at the configured rate. A request
// at time now is allowed when TAT - now <= (burst-1)·T, where T = 1min/rate
// is the emission interval; allowing it moves TAT to max(TAT, now) + T. So
// after a quiet period burst requests pass back to back, and after that one
// request per T. A refused request changes nothing. A key whose TAT is in
// the past is in the same state as a key never seen, which is what lets
// both stores forget idle keys without changing any decision.
package gcra

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
)

// Limit is a rate: PerMinute requests per minute, of which Burst may come
// back to back. Burst <= 0 means Burst = PerMinute.
type Limit struct {
	PerMinute int
	Burst     int
}

// Interval is the GCRA emission interval, 1min/PerMinute rounded up to
// the microsecond (the unit Redis computes in), so the local and the Redis
// limiters make the same decisions.
func (l Limit) Interval() time.Duration {
	if l.PerMinute <= 0 {
		return 0
	}
	us := (time.Minute.Microseconds() + int64(l.PerMinute) - 1) / int64(l.PerMinute)
	return time.Duration(us) * time.Microsecond
}

// BurstOrDefault returns Burst, or PerMinute when Burst <= 0.
func (l Limit) BurstOrDefault() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.PerMinute
}

// Result is the decision for one request.
type Result struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until a request would be allowed; zero when
	// Allowed.
	RetryAfter time.Duration
}

// Limiter decides whether one request for key is allowed under limit and
// counts it when it is.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
}

// ErrInvalidLimit is returned for a Limit with PerMinute <= 0.
var ErrInvalidLimit = errors.New("ratelimit: requests per minute must be greater than 0")

// gcra decides one request at now (any monotonic unit) for a key whose
// stored TAT is tat (0 or anything <= now: a fresh key), with emission
// interval t and burst b (>= 1), in the same unit. It returns the TAT to
// store (unchanged when refused). The Redis script is the same
// computation in microseconds.
func gcra(now, tat, t, b int64) (newTAT int64, r Result) {
	start := max(tat, now)
	next := start + t
	allowAt := next - t*b
	if now < allowAt {
		return tat, Result{RetryAfter: time.Duration(allowAt - now)}
	}
	return next, Result{Allowed: true, Remaining: int((now - allowAt) / t)}
}

// Key builds a bounded, collision-resistant limiter key from parts: a
// SHA-256 of the length-prefixed parts, as 32 hex characters. Parts may
// hold anything (a tool name the client chose, a principal); the key is
// always 32 bytes and no two different part lists share a key.
func Key(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
