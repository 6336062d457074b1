package mcpauthz

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemorySessions(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
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

func TestLocalLimiterGCRA(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocalLimiter()
	l.now = clk.now
	for i := 1; i <= 10; i++ {
		if ok, _, _ := l.Allow(ctx, "k", 10); !ok {
			t.Fatalf("call %d refused", i)
		}
	}
	ok, retry, err := l.Allow(ctx, "k", 10)
	if ok || err != nil || retry != 6*time.Second {
		t.Fatalf("11th call: ok=%v retry=%v err=%v, want refused with 6s", ok, retry, err)
	}
	if ok, _, _ := l.Allow(ctx, "other", 10); !ok {
		t.Fatal("keys are not independent")
	}
	clk.add(6 * time.Second)
	if ok, _, _ := l.Allow(ctx, "k", 10); !ok {
		t.Fatal("refused after the interval")
	}
	if ok, _, _ := l.Allow(ctx, "k", 10); ok {
		t.Fatal("allowed twice after one interval")
	}
	clk.add(time.Minute)
	for i := 0; i < 10; i++ {
		if ok, _, _ := l.Allow(ctx, "k", 10); !ok {
			t.Fatalf("full burst not restored after a minute (call %d)", i+1)
		}
	}
	if ok, _, _ := l.Allow(ctx, "k", 0); !ok {
		t.Fatal("perMinute 0 must not limit")
	}
}

func TestLocalLimiterBounded(t *testing.T) {
	l := NewLocalLimiter()
	l.maxK = 100
	for i := 0; i < 1000; i++ {
		_, _, _ = l.Allow(context.Background(), fmt.Sprint(i), 1)
	}
	if len(l.tat) > 100 {
		t.Fatalf("%d keys kept", len(l.tat))
	}
}
