package mcpauthz

import (
	"context"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/ratelimit"
)

// Per-rule limits use the same store as the rate-limit policy: Redis when
// rateLimiting.redis is configured (so a limit holds across replicas, with
// the configured failure mode), the process-wide local store otherwise.
func init() {
	NewLimiter = func(env policy.Env) (Limiter, error) {
		store, release, err := ratelimit.Acquire(context.Background(), ratelimit.OptionsFrom(env.Config), env.Logger)
		if err != nil {
			return nil, err
		}
		return &sharedLimiter{store: store, release: release}, nil
	}
}

type sharedLimiter struct {
	store   *ratelimit.Store
	release func()
}

func (s *sharedLimiter) Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	res, err := s.store.Allow(ctx, key, ratelimit.Limit{PerMinute: perMinute})
	if err != nil {
		return false, 0, err
	}
	return res.Allowed, res.RetryAfter, nil
}

func (s *sharedLimiter) Refund(ctx context.Context, key string, perMinute int) error {
	return s.store.Refund(ctx, key, ratelimit.Limit{PerMinute: perMinute})
}

// Cleanup releases the store when the policy's config is retired.
func (s *sharedLimiter) Cleanup() error {
	s.release()
	return nil
}

// Session bindings live in Redis when rateLimiting.redis is configured, so
// a session started through one replica cannot be used by another identity
// through a different replica. While Redis is down, failureMode: open falls
// back to this process's bindings and failureMode: closed answers 503.
func init() {
	NewSessionStore = func(env policy.Env) (SessionStore, error) {
		store, release, err := ratelimit.Acquire(context.Background(), ratelimit.OptionsFrom(env.Config), env.Logger)
		if err != nil {
			return nil, err
		}
		if !store.Shared() {
			release()
			return defaultSessions, nil
		}
		return &sharedSessions{store: store, release: release}, nil
	}
}

type sharedSessions struct {
	store   *ratelimit.Store
	release func()
}

func (s *sharedSessions) Claim(ctx context.Context, id, owner string) (string, error) {
	v, err := s.store.ClaimSession(ctx, id, owner, DefaultSessionIdleTTL)
	if err == nil {
		return v, nil
	}
	if s.store.Mode() == ratelimit.FailClosed {
		return "", err
	}
	return defaultSessions.Claim(ctx, id, owner)
}

func (s *sharedSessions) Lookup(ctx context.Context, id, owner string) (string, error) {
	v, err := s.store.LookupSession(ctx, id, owner, DefaultSessionIdleTTL)
	if err == nil {
		return v, nil
	}
	if s.store.Mode() == ratelimit.FailClosed {
		return "", err
	}
	return defaultSessions.Lookup(ctx, id, owner)
}

func (s *sharedSessions) Cleanup() error {
	s.release()
	return nil
}
