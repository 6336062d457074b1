package mcpauthz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/ratelimit"
	"github.com/agentgateway-go/agentgateway/internal/ratelimit/redistest"
)

func redisStore(t *testing.T, addr string, mode ratelimit.FailureMode) *ratelimit.Store {
	t.Helper()
	r, err := ratelimit.NewRedis(ratelimit.RedisOptions{Address: addr, KeyPrefix: "test:", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := ratelimit.NewRedisStore(context.Background(), r, addr, mode, ratelimit.NewLocal(0), nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Two replicas (two stores, two Redis clients) see one binding: a session
// started by one identity cannot be claimed by another through the other
// replica.
func TestSessionsSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := &sharedSessions{store: redisStore(t, srv.Addr(), ratelimit.FailOpen), release: func() {}}
	b := &sharedSessions{store: redisStore(t, srv.Addr(), ratelimit.FailOpen), release: func() {}}
	ctx := context.Background()
	if got, err := a.Claim(ctx, "sess-1", "alice"); err != nil || got != "alice" {
		t.Fatalf("claim on replica a: %q %v", got, err)
	}
	if got, err := b.Claim(ctx, "sess-1", "mallory"); err != nil || got != "alice" {
		t.Fatalf("claim on replica b = %q %v, want alice", got, err)
	}
	if got, err := b.Claim(ctx, "sess-1", "alice"); err != nil || got != "alice" {
		t.Fatalf("owner on replica b: %q %v", got, err)
	}
}

func TestSessionsRedisDownFailureModes(t *testing.T) {
	srv := redistest.Start(t)
	open := &sharedSessions{store: redisStore(t, srv.Addr(), ratelimit.FailOpen), release: func() {}}
	closed := &sharedSessions{store: redisStore(t, srv.Addr(), ratelimit.FailClosed), release: func() {}}
	srv.Kill()
	ctx := context.Background()
	if got, err := open.Claim(ctx, "sess-down", "alice"); err != nil || got != "alice" {
		t.Fatalf("fail-open claim: %q %v", got, err)
	}
	if _, err := closed.Claim(ctx, "sess-down", "alice"); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("fail-closed claim error = %v", err)
	}
}
