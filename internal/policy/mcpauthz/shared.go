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

// Cleanup releases the store when the policy's config is retired.
func (s *sharedLimiter) Cleanup() error {
	s.release()
	return nil
}
