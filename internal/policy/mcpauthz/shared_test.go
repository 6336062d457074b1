package mcpauthz

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate"

	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

func redisStore(t *testing.T, addr string, mode sharedstate.FailureMode) *sharedstate.Store {
	t.Helper()
	r, err := sharedstate.NewRedis(sharedstate.RedisOptions{Address: addr, KeyPrefix: "test:", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := sharedstate.NewRedisStore(context.Background(), r, addr, mode, gcra.NewLocal(0), nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newShared is one replica's session store: its own Redis client and
// local table.
func newShared(t *testing.T, addr string, mode sharedstate.FailureMode) *sharedSessions {
	t.Helper()
	s := &sharedSessions{store: redisStore(t, addr, mode), local: sharedstate.NewMemorySessions(100, 10, time.Hour),
		log: slog.New(slog.DiscardHandler), pending: map[[32]byte]string{}, stop: make(chan struct{})}
	t.Cleanup(func() { _ = s.Cleanup() })
	return s
}

// Two replicas (two stores, two Redis clients) see one binding: a session
// started by one identity cannot be claimed by another through the other
// replica.
func TestSessionsSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newShared(t, srv.Addr(), sharedstate.FailOpen), newShared(t, srv.Addr(), sharedstate.FailOpen)
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

// A binding is a security decision: while Redis is down, neither failure
// mode binds a session the replica does not hold, both keep serving the
// sessions the replica holds to their owner only, and a session the
// backend creates meanwhile is held locally and written to Redis when it
// answers again.
func TestSessionsRedisDownFailureModes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	for _, mode := range []sharedstate.FailureMode{sharedstate.FailOpen, sharedstate.FailClosed} {
		s := newShared(t, srv.Addr(), mode)
		if got, err := s.Bind(ctx, "known-"+mode.String(), "alice"); err != nil || got != "alice" {
			t.Fatalf("%s: bind: %q %v", mode, got, err)
		}
	}
	srv.Kill()
	for _, mode := range []sharedstate.FailureMode{sharedstate.FailOpen, sharedstate.FailClosed} {
		s := newShared(t, srv.Addr(), mode)
		if _, err := s.Claim(ctx, "sess-down", "alice"); !errors.Is(err, sharedstate.ErrUnavailable) {
			t.Fatalf("%s: claim of an unknown session while redis is down: %v, want ErrUnavailable", mode, err)
		}
	}
	a := newShared(t, srv.Addr(), sharedstate.FailOpen)
	if got, err := a.Bind(ctx, "created-while-down", "alice"); err != nil || got != "alice" {
		t.Fatalf("bind while redis is down: %q %v", got, err)
	}
	if got, err := a.Claim(ctx, "created-while-down", "mallory"); err != nil || got != "alice" {
		t.Fatalf("another identity while redis is down: %q %v, want alice", got, err)
	}
	if got, err := a.Claim(ctx, "created-while-down", "alice"); err != nil || got != "alice" {
		t.Fatalf("owner while redis is down: %q %v", got, err)
	}
	srv.Restart()
	b := newShared(t, srv.Addr(), sharedstate.FailOpen)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the binding made while redis was down was never written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := b.Claim(ctx, "created-while-down", "mallory"); err != nil || got != "alice" {
		t.Fatalf("another identity through another replica after recovery: %q %v, want alice", got, err)
	}
}

// Two identities holding one session (one bound it through a replica
// while Redis was unreachable for the other): nobody may use it, on any
// replica.
func TestSessionsConflictDeniesBoth(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := newShared(t, srv.Addr(), sharedstate.FailOpen), newShared(t, srv.Addr(), sharedstate.FailOpen)
	// a holds the session locally for alice, as if bound during a stall;
	// b bound it in Redis for mallory.
	_, _ = a.local.Claim(ctx, "s", "alice")
	if got, _ := b.Claim(ctx, "s", "mallory"); got != "mallory" {
		t.Fatalf("setup: %q", got)
	}
	for _, c := range []struct {
		s     *sharedSessions
		owner string
	}{{a, "alice"}, {a, "mallory"}, {b, "mallory"}, {b, "alice"}} {
		if got, err := c.s.Claim(ctx, "s", c.owner); err != nil || got == c.owner {
			t.Errorf("%s after a conflict: %q %v, want refused", c.owner, got, err)
		}
	}
}
