package gcra

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitInterval(t *testing.T) {
	for _, tt := range []struct {
		lim   Limit
		want  time.Duration
		burst int
	}{
		{Limit{PerMinute: 10}, 6 * time.Second, 10},
		{Limit{PerMinute: 10, Burst: 1}, 6 * time.Second, 1},
		{Limit{PerMinute: 60, Burst: 5}, time.Second, 5},
		{Limit{PerMinute: 7}, 8571429 * time.Microsecond, 7}, // rounded up to the µs
		{Limit{PerMinute: 1_000_000}, 60 * time.Microsecond, 1_000_000},
		{Limit{PerMinute: 0}, 0, 0},
		{Limit{PerMinute: -1, Burst: 3}, 0, 3},
	} {
		if got := tt.lim.Interval(); got != tt.want {
			t.Errorf("%+v: interval %s, want %s", tt.lim, got, tt.want)
		}
		if got := tt.lim.BurstOrDefault(); got != tt.burst {
			t.Errorf("%+v: burst %d, want %d", tt.lim, got, tt.burst)
		}
	}
}

// TestGCRA walks request sequences through the algorithm. Times are in
// seconds, interval T and burst b.
func TestGCRA(t *testing.T) {
	type step struct {
		at         float64 // seconds
		allowed    bool
		remaining  int
		retryAfter float64 // seconds
	}
	sec := func(f float64) int64 { return int64(f * float64(time.Second)) }
	for _, tt := range []struct {
		name  string
		T     float64
		b     int64
		steps []step
	}{
		{"10/min burst 10: ten at once, the 11th waits 6s", 6, 10, []step{
			{0, true, 9, 0}, {0, true, 8, 0}, {0, true, 7, 0}, {0, true, 6, 0}, {0, true, 5, 0},
			{0, true, 4, 0}, {0, true, 3, 0}, {0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{0, false, 0, 6}, {1, false, 0, 5}, {5.5, false, 0, 0.5},
			{6, true, 0, 0}, {6, false, 0, 6},
			{60, true, 8, 0}, // 54s later: 9 tokens back, one used
		}},
		{"burst 1: one per interval", 6, 1, []step{
			{0, true, 0, 0}, {0, false, 0, 6}, {3, false, 0, 3}, {6, true, 0, 0}, {11.9, false, 0, 0.1}, {12, true, 0, 0},
		}},
		{"idle refills up to burst, not beyond", 1, 3, []step{
			{0, true, 2, 0}, {100, true, 2, 0}, {100, true, 1, 0}, {100, true, 0, 0}, {100, false, 0, 1},
		}},
		{"refused requests do not count", 6, 2, []step{
			{0, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, 6}, {0, false, 0, 6}, {0, false, 0, 6}, {6, true, 0, 0},
		}},
		{"steady rate at exactly T is always allowed", 2, 1, []step{
			{0, true, 0, 0}, {2, true, 0, 0}, {4, true, 0, 0}, {6, true, 0, 0},
		}},
		{"partial refill", 6, 10, []step{
			{0, true, 9, 0}, {0, true, 8, 0}, {0, true, 7, 0}, {13, true, 8, 0}, // 2 of 3 back, one used
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tat int64
			base := sec(1000) // a non-zero clock
			for i, s := range tt.steps {
				var r Result
				tat, r = gcra(base+sec(s.at), tat, sec(tt.T), tt.b)
				want := Result{Allowed: s.allowed, Remaining: s.remaining, RetryAfter: time.Duration(sec(s.retryAfter))}
				if r != want {
					t.Fatalf("step %d at %vs: got %+v, want %+v", i, s.at, r, want)
				}
			}
		})
	}
}

func TestKey(t *testing.T) {
	seen := map[string][]string{}
	for _, parts := range [][]string{
		{"a", "bc"}, {"ab", "c"}, {"abc"}, {"abc", ""}, {"", "abc"}, {}, {""}, {"", ""},
		{"r", "tool-name=\"x\"", "x"}, {"r", "tool-name=\"x\"", "y"},
	} {
		k := Key(parts...)
		if len(k) != 32 {
			t.Errorf("Key(%q) = %q: want 32 hex characters", parts, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("Key(%q) == Key(%q)", parts, prev)
		}
		seen[k] = parts
	}
	if a, b := Key("x", "y"), Key("x", "y"); a != b {
		t.Error("Key is not deterministic")
	}
}

// fakeClock drives a Local limiter's clock.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }
func (c *fakeClock) get() time.Duration      { return time.Duration(c.now.Load()) }
func newFakeLocal(maxKeys int) (*Local, *fakeClock) {
	l := NewLocal(maxKeys)
	c := &fakeClock{}
	c.now.Store(int64(time.Hour))
	l.now = c.get
	return l, c
}

func TestLocalAllow(t *testing.T) {
	ctx := context.Background()
	l, clock := newFakeLocal(0)
	lim := Limit{PerMinute: 10}
	for i := 0; i < 10; i++ {
		r, err := l.Allow(ctx, "execute_code", lim)
		if err != nil || !r.Allowed || r.Remaining != 9-i {
			t.Fatalf("call %d: %+v, %v", i+1, r, err)
		}
	}
	r, _ := l.Allow(ctx, "execute_code", lim)
	if r.Allowed || r.RetryAfter != 6*time.Second {
		t.Fatalf("11th call: %+v, want refused with retry after 6s", r)
	}
	// Another key is independent.
	if r, _ := l.Allow(ctx, "get_weather_data", lim); !r.Allowed {
		t.Fatalf("other key refused: %+v", r)
	}
	clock.advance(6 * time.Second)
	if r, _ := l.Allow(ctx, "execute_code", lim); !r.Allowed {
		t.Fatalf("after 6s: %+v", r)
	}
	if _, err := l.Allow(ctx, "k", Limit{}); err != ErrInvalidLimit {
		t.Fatalf("zero limit: err %v", err)
	}
}

// TestLocalConcurrent: many goroutines, one key: exactly burst allowed.
func TestLocalConcurrent(t *testing.T) {
	l, _ := newFakeLocal(0)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if r, _ := l.Allow(context.Background(), "k", Limit{PerMinute: 100}); r.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("allowed %d, want exactly 100", n)
	}
}

// TestLocalForgetsIdleKeys: keys whose TAT has passed are swept, without
// changing any decision.
func TestLocalForgetsIdleKeys(t *testing.T) {
	ctx := context.Background()
	l, clock := newFakeLocal(0)
	lim := Limit{PerMinute: 60, Burst: 2} // 1s interval
	const n = 20000
	for i := 0; i < n; i++ {
		l.Allow(ctx, fmt.Sprint("old-", i), lim)
	}
	if got := l.Len(); got < n/2 {
		t.Fatalf("len %d after %d live keys", got, n)
	}
	clock.advance(2 * time.Second) // every old key is idle now
	for i := 0; i < n; i++ {
		l.Allow(ctx, fmt.Sprint("new-", i), lim)
	}
	// Sweeps run when a shard doubles; old keys must be mostly gone.
	if got := l.Len(); got > n+n/2 {
		t.Fatalf("len %d: idle keys were not forgotten", got)
	}
	if l.Evicted() != 0 {
		t.Fatalf("evicted %d live keys, want 0", l.Evicted())
	}
}

// TestLocalBounded: with more live keys than maxKeys, memory stays bounded
// and existing keys keep their limits as far as possible.
func TestLocalBounded(t *testing.T) {
	ctx := context.Background()
	const maxKeys = 64 * 8
	l, _ := newFakeLocal(maxKeys)
	lim := Limit{PerMinute: 1}
	for i := 0; i < 10*maxKeys; i++ {
		l.Allow(ctx, fmt.Sprint("k", i), lim)
		if got := l.Len(); got > maxKeys {
			t.Fatalf("len %d > max %d", got, maxKeys)
		}
	}
	if l.Evicted() == 0 {
		t.Fatal("no evictions counted")
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal(0)
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = Key("route", "principal=*", fmt.Sprint("system:serviceaccount:ns:sa-", i))
	}
	lim := Limit{PerMinute: 1_000_000}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(ctx, keys[i%len(keys)], lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	l := NewLocal(0)
	ctx := context.Background()
	lim := Limit{PerMinute: 1_000_000}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := Key("route", fmt.Sprint(seq.Add(1)))
		for pb.Next() {
			if _, err := l.Allow(ctx, key, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Key("agent-to-mcp-tools", `principal="*",tool-name="execute_code"`, "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa", "execute_code")
	}
}

// A refund gives back exactly one counted request; refunding every one
// forgets the key, and refunding a key never counted creates nothing.
func TestLocalRefund(t *testing.T) {
	ctx := context.Background()
	l, _ := newFakeLocal(0)
	lim := Limit{PerMinute: 2}
	allow := func() bool {
		t.Helper()
		r, err := l.Allow(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		return r.Allowed
	}
	for i := 0; i < 2; i++ {
		if !allow() {
			t.Fatal("burst refused")
		}
	}
	if allow() {
		t.Fatal("third call allowed")
	}
	if err := l.Refund(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	if !allow() {
		t.Fatal("refunded call not available again")
	}
	if allow() {
		t.Fatal("a refund gave back more than one call")
	}
	for i := 0; i < 3; i++ {
		_ = l.Refund(ctx, "k", lim)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("fully refunded key kept: %d keys", n)
	}
	_ = l.Refund(ctx, "unknown", lim)
	if n := l.Len(); n != 0 {
		t.Fatalf("refund created keys: %d", n)
	}
	if err := l.Refund(ctx, "k", Limit{}); err != ErrInvalidLimit {
		t.Fatalf("refund of an invalid limit: %v", err)
	}
}
