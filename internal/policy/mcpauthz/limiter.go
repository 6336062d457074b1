package mcpauthz

import (
	"context"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Limiter applies a per-rule rateLimit.requestsPerMinute.
//
// Allow counts one call against key, limited to perMinute calls per
// minute, and reports whether the call may proceed and, when not, how long
// until it would. An error means the limiter could not decide; mcp-authz
// then answers 503 (a shared limiter that prefers to fail open should fall
// back to local limits itself and return no error).
//
// Refund gives back one call that Allow counted for key: mcp-authz counts
// a tools/call before the later policies (rate-limit) and the stream and
// session caps decide on it, and refunds it when the call never left the
// gateway. A refund that fails leaves the call counted.
type Limiter interface {
	Allow(ctx context.Context, key string, perMinute int) (allowed bool, retryAfter time.Duration, err error)
	Refund(ctx context.Context, key string, perMinute int) error
}

// NewLimiter returns the limiter a policy uses. It is called once per
// provisioned mcp-authz policy (each config load). The default returns
// the process-wide in-memory GCRA limiter, so a reload keeps the counts.
// The shared (Redis) limiter replaces this hook; if the Limiter it returns
// implements policy.Cleaner, Cleanup is called when the policy is retired.
var NewLimiter = func(env policy.Env) (Limiter, error) { return defaultLimiter, nil }

var defaultLimiter = NewLocalLimiter()

// LocalLimiter is an in-process GCRA (generic cell rate algorithm)
// limiter: perMinute calls are spread over the minute (one every
// 60s/perMinute), with a burst of perMinute, so a caller that was idle may
// make perMinute calls at once and the next one waits for the first
// interval to pass. This is the same result as a token bucket of size
// perMinute refilled at perMinute per minute, kept as one timestamp per
// key.
type LocalLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	tat  map[string]time.Time // theoretical arrival time per key
	ops  int
	maxK int
}

// NewLocalLimiter returns an empty LocalLimiter.
func NewLocalLimiter() *LocalLimiter {
	return &LocalLimiter{now: time.Now, tat: map[string]time.Time{}, maxK: 100_000}
}

// Allow implements Limiter.
func (l *LocalLimiter) Allow(_ context.Context, key string, perMinute int) (bool, time.Duration, error) {
	if perMinute <= 0 {
		return true, 0, nil
	}
	interval := time.Minute / time.Duration(perMinute)
	window := time.Minute // burst * interval
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if wait := next.Sub(now) - window; wait > 0 {
		return false, wait, nil
	}
	l.tat[key] = next
	return true, 0, nil
}

// Refund implements Limiter: the key's TAT moves back by one interval.
func (l *LocalLimiter) Refund(_ context.Context, key string, perMinute int) error {
	if perMinute <= 0 {
		return nil
	}
	interval := time.Minute / time.Duration(perMinute)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok {
		return nil
	}
	if tat = tat.Add(-interval); !tat.After(now) {
		delete(l.tat, key)
	} else {
		l.tat[key] = tat
	}
	return nil
}

// sweep drops keys whose bucket is full again; it runs every 1024 calls,
// or at once when the map is at its bound.
func (l *LocalLimiter) sweep(now time.Time) {
	l.ops++
	if l.ops < 1024 && len(l.tat) < l.maxK {
		return
	}
	l.ops = 0
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	if len(l.tat) >= l.maxK {
		// Every key is active: forget an arbitrary one rather than grow
		// without bound (it restarts with a full burst).
		for k := range l.tat {
			delete(l.tat, k)
			break
		}
	}
}
