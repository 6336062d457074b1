// Package sharedstate is the state that policies share across the
// gateway's replicas: rate-limit counts (GCRA, internal/gcra) and MCP
// session bindings (mcp-authz). A Store keeps them in Redis when one is
// configured and reachable, with a failure mode and a background health
// check for when it is not, and in process memory otherwise (gcra.Local
// for counts, MemorySessions for bindings).
//
// Counts and bindings are one concern here because they share the Redis
// client, its key prefix and timeout, and its up/down state: a failing
// session script marks Redis down for limits too, and the reverse.
//
// Policies share Stores through Acquire, keyed by the store options, so
// every route of a process uses one Redis client and one local table.
package sharedstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gcra"
)

// FailureMode says what a Store does while Redis is unreachable.
type FailureMode int

// Failure modes.
const (
	// FailOpen falls back to this process's local limits.
	FailOpen FailureMode = iota
	// FailClosed refuses calls that need a limit check (ErrUnavailable).
	FailClosed
)

func (m FailureMode) String() string {
	if m == FailClosed {
		return "closed"
	}
	return "open"
}

// State is where a Store's decisions come from.
type State int

// Store states.
const (
	// StateLocal: no Redis configured; limits are per process.
	StateLocal State = iota
	// StateRedis: Redis answers; limits are shared by every replica.
	StateRedis
	// StateDegraded: Redis is unreachable; the failure mode applies.
	StateDegraded
)

func (s State) String() string {
	switch s {
	case StateRedis:
		return "redis"
	case StateDegraded:
		return "degraded"
	}
	return "local"
}

// Health-check backoff while Redis is down.
// ErrUnavailable is returned by a fail-closed Store while Redis is
// unreachable. Policies answer 503.
var ErrUnavailable = errors.New("ratelimit: rate-limit store unavailable")

var (
	healthMinBackoff = 100 * time.Millisecond
	healthMaxBackoff = 5 * time.Second
)

// Store is the gcra.Limiter policies use: Redis when configured and reachable,
// otherwise the failure mode (local limits or ErrUnavailable). It logs
// once per state change and, while Redis is down, checks its health in
// the background (with backoff) so that it recovers by itself. While Redis
// is down no request waits for it.
type Store struct {
	redis *Redis // nil: local only
	local *gcra.Local
	// sessions is the local table of MCP session bindings (Sessions).
	sessions *MemorySessions
	mode     FailureMode
	addr     string
	log      *slog.Logger

	down     atomic.Bool
	since    atomic.Int64 // unix nanoseconds of the last state change
	failures atomic.Int64 // Redis calls that failed
	streak   atomic.Int64 // Redis calls failed in a row (reset by a success)

	mu       sync.Mutex
	checking bool
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

// FailureThreshold is how many Redis calls must fail in a row before the
// store switches to its failure mode for everyone. A call that fails
// below it gets the failure mode alone: one lost packet does not move
// every replica's limits to local ones.
const FailureThreshold = 3

// NewLocalStore returns a Store with local limits only.
func NewLocalStore(local *gcra.Local) *Store {
	s := &Store{local: local, sessions: newSessionTable(), stop: make(chan struct{})}
	s.since.Store(time.Now().UnixNano())
	return s
}

// NewRedisStore returns a Store over r that falls back as mode says. The
// local limiter serves FailOpen. It checks Redis once (bounded by r's
// timeout) so that a Redis down at startup is logged at once.
func NewRedisStore(ctx context.Context, r *Redis, addr string, mode FailureMode, local *gcra.Local, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{redis: r, local: local, sessions: newSessionTable(), mode: mode, addr: addr, log: log, stop: make(chan struct{})}
	s.since.Store(time.Now().UnixNano())
	if err := r.Check(ctx); err != nil {
		s.markDown(err)
	} else {
		log.Info("rate limit store up: limits are shared through redis", "redis", addr)
	}
	return s
}

// State reports where decisions come from right now.
func (s *Store) State() State {
	switch {
	case s.redis == nil:
		return StateLocal
	case s.down.Load():
		return StateDegraded
	}
	return StateRedis
}

// Since returns when the store entered its current state.
func (s *Store) Since() time.Time { return time.Unix(0, s.since.Load()) }

// Failures returns how many Redis calls have failed.
func (s *Store) Failures() int64 { return s.failures.Load() }

// Mode returns the failure mode.
func (s *Store) Mode() FailureMode { return s.mode }

// Address returns the Redis address ("" for a local store).
func (s *Store) Address() string { return s.addr }

// Local returns the local limiter (the whole store when there is no Redis,
// the fail-open fallback otherwise).
func (s *Store) Local() *gcra.Local { return s.local }

// Sessions returns the store's local table of MCP session bindings: the
// process-wide one for a Store from Acquire, a table of its own for a
// Store built directly (tests). With Redis, the bindings themselves are
// shared through Redis (ClaimSession); the table is what this replica
// holds.
func (s *Store) Sessions() *MemorySessions { return s.sessions }

// Allow implements gcra.Limiter.
//
// While Redis answers, a fail-open store also charges every call Redis
// admitted to its local limiter: when Redis stalls, each replica goes on
// from what it admitted itself instead of a fresh burst. (During a stall
// each replica enforces the whole limit on its own traffic, so N replicas
// admit up to N times the limit; docs/ratelimit.md.)
func (s *Store) Allow(ctx context.Context, key string, limit gcra.Limit) (gcra.Result, error) {
	if s.redis == nil {
		return s.local.Allow(ctx, key, limit)
	}
	if !s.down.Load() {
		r, err := s.redis.Allow(ctx, key, limit)
		if err == nil {
			s.succeeded()
			if r.Allowed && s.mode == FailOpen {
				_, _ = s.local.Allow(ctx, key, limit)
			}
			return r, nil
		}
		if ctx.Err() != nil {
			// The caller went away or ran out of time; that says nothing
			// about Redis.
			return gcra.Result{}, context.Cause(ctx)
		}
		s.failed(err)
	}
	if s.mode == FailClosed {
		return gcra.Result{}, ErrUnavailable
	}
	return s.local.Allow(ctx, key, limit)
}

// succeeded records a Redis call that answered.
func (s *Store) succeeded() {
	if s.streak.Load() != 0 {
		s.streak.Store(0)
	}
}

// failed records a Redis call that failed; FailureThreshold of them in a
// row mark the store down.
func (s *Store) failed(err error) {
	s.failures.Add(1)
	if s.streak.Add(1) >= FailureThreshold {
		s.markDown(err)
	}
}

// markDown records that Redis failed and starts the health check, once.
func (s *Store) markDown(err error) {
	if !s.down.CompareAndSwap(false, true) {
		return
	}
	s.since.Store(time.Now().UnixNano())
	fallback := "falling back to local limits (failureMode: open)"
	if s.mode == FailClosed {
		fallback = "answering 503 to rate-limited calls (failureMode: closed)"
	}
	s.log.Warn("rate limit store down: "+fallback, "redis", s.addr, "err", err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.checking {
		return
	}
	s.checking = true
	s.wg.Add(1)
	go s.healthCheck()
}

// healthCheck checks Redis with exponential backoff (jitter) until it
// answers, then marks the store up again.
func (s *Store) healthCheck() {
	defer s.wg.Done()
	backoff := healthMinBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		timer.Reset(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-s.stop:
			s.mu.Lock()
			s.checking = false
			s.mu.Unlock()
			return
		case <-timer.C:
		}
		if err := s.redis.Check(context.Background()); err != nil {
			backoff = min(2*backoff, healthMaxBackoff)
			continue
		}
		s.mu.Lock()
		s.checking = false
		s.mu.Unlock()
		downFor := time.Since(s.Since()).Round(time.Millisecond)
		s.since.Store(time.Now().UnixNano())
		s.streak.Store(0)
		s.down.Store(false)
		s.log.Info("rate limit store up: limits are shared through redis again", "redis", s.addr, "downFor", downFor.String())
		return
	}
}

// Close stops the health check and closes the Redis client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.wg.Wait()
	if s.redis != nil {
		if err := s.redis.Close(); err != nil {
			return fmt.Errorf("closing redis client: %w", err)
		}
	}
	return nil
}
