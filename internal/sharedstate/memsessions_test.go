package sharedstate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// sessionClock drives a MemorySessions' clock.
type sessionClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *sessionClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *sessionClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemorySessions(t *testing.T) {
	ctx := context.Background()
	clk := &sessionClock{t: time.Unix(1_700_000_000, 0)}
	s := NewMemorySessions(4, 2, time.Hour)
	s.now = clk.now

	claim := func(id, owner, want string) {
		t.Helper()
		got, err := s.Claim(ctx, id, owner)
		if err != nil || got != want {
			t.Fatalf("Claim(%s, %s) = %q, %v; want %q", id, owner, got, err, want)
		}
	}
	claim("s1", "alice", "alice")
	claim("s1", "bob", "alice") // hijack attempt
	claim("s1", "alice", "alice")

	// Idle TTL: refreshed by the owner, not by others.
	clk.add(50 * time.Minute)
	claim("s1", "bob", "alice")
	clk.add(20 * time.Minute) // 70 min since alice's last use
	claim("s1", "bob", "bob") // expired: an unknown session binds to its first user

	// Per-owner bound: alice's oldest goes first.
	claim("a1", "alice", "alice")
	claim("a2", "alice", "alice")
	claim("a3", "alice", "alice") // evicts a1
	claim("a1", "carol", "carol")
	claim("a2", "carol", "alice")

	// Global bound: least recently used first.
	if n := s.Len(); n > 4 {
		t.Fatalf("Len = %d", n)
	}
	for i := 0; i < 10; i++ {
		claim(fmt.Sprintf("x%d", i), fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i))
	}
	if n := s.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4", n)
	}
	claim("x9", "zed", "u9")
}

func TestMemorySessionsConcurrent(t *testing.T) {
	s := NewMemorySessions(10000, 1000, time.Hour)
	var wg sync.WaitGroup
	owners := make([]string, 8)
	for g := range owners {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			got, _ := s.Claim(context.Background(), "shared", fmt.Sprint(g))
			owners[g] = got
			for i := 0; i < 200; i++ {
				_, _ = s.Claim(context.Background(), fmt.Sprintf("%d-%d", g, i), fmt.Sprint(g))
			}
		}(g)
	}
	wg.Wait()
	for _, o := range owners {
		if o != owners[0] {
			t.Fatalf("two owners for one session: %v", owners)
		}
	}
}

func TestMemorySessionsLookup(t *testing.T) {
	ctx := context.Background()
	clk := &sessionClock{t: time.Unix(1_700_000_000, 0)}
	s := NewMemorySessions(10, 10, time.Hour)
	s.now = clk.now
	if got, err := s.Lookup(ctx, "e1", "alice"); err != nil || got != "" {
		t.Fatalf("Lookup of an unbound id = %q, %v", got, err)
	}
	// A lookup never binds.
	if got, _ := s.Claim(ctx, "e1", "bob"); got != "bob" {
		t.Fatalf("Claim after Lookup = %q, want bob", got)
	}
	if got, _ := s.Lookup(ctx, "e1", "alice"); got != "bob" {
		t.Fatalf("Lookup by another identity = %q, want bob", got)
	}
	// The owner's lookup refreshes the binding.
	clk.add(50 * time.Minute)
	if got, _ := s.Lookup(ctx, "e1", "bob"); got != "bob" {
		t.Fatal("owner lookup failed")
	}
	clk.add(50 * time.Minute)
	if got, _ := s.Lookup(ctx, "e1", "alice"); got != "bob" {
		t.Fatal("binding expired although its owner used it")
	}
	clk.add(2 * time.Hour)
	if got, _ := s.Lookup(ctx, "e1", "bob"); got != "" {
		t.Fatalf("expired binding still found: %q", got)
	}
}
