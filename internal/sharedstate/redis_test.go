package sharedstate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/gcra"

	"github.com/redis/go-redis/v9"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

func newTestRedis(t *testing.T, o RedisOptions) *Redis {
	t.Helper()
	if o.KeyPrefix == "" {
		o.KeyPrefix = "test:"
	}
	r, err := NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func rawClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisAllow(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), KeyPrefix: "agw:"})
	ctx := context.Background()
	lim := gcra.Limit{PerMinute: 10}
	for i := 0; i < 10; i++ {
		res, err := r.Allow(ctx, "execute_code", lim)
		if err != nil || !res.Allowed || res.Remaining != 9-i {
			t.Fatalf("call %d: %+v, %v", i+1, res, err)
		}
	}
	res, err := r.Allow(ctx, "execute_code", lim)
	if err != nil || res.Allowed {
		t.Fatalf("11th call: %+v, %v", res, err)
	}
	if res.RetryAfter <= 5*time.Second || res.RetryAfter > 6*time.Second {
		t.Fatalf("retry after %s, want just under 6s", res.RetryAfter)
	}
	if res, _ := r.Allow(ctx, "get_weather_data", lim); !res.Allowed {
		t.Fatal("another key was refused")
	}

	// The key carries the prefix, an exact integer TAT, and a TTL that
	// ends when the key would be fresh again (~60s here).
	c := rawClient(t, srv.Addr())
	v, err := c.Get(ctx, "agw:execute_code").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(v, ".e") {
		t.Fatalf("TAT %q is not an integer", v)
	}
	ttl, err := c.PTTL(ctx, "agw:execute_code").Result()
	if err != nil || ttl < 55*time.Second || ttl > 61*time.Second {
		t.Fatalf("TTL %s, %v", ttl, err)
	}
}

// TestRedisMatchesLocal: the script and the Go function agree on a short
// interval sequence, in real time.
func TestRedisMatchesLocal(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: time.Second})
	ctx := context.Background()
	lim := gcra.Limit{PerMinute: 600, Burst: 3} // 100ms interval
	for _, l := range []gcra.Limiter{r, gcra.NewLocal(0)} {
		var got []bool
		for i := 0; i < 4; i++ {
			res, err := l.Allow(ctx, "seq", lim)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, res.Allowed)
			if i == 3 && (res.RetryAfter <= 0 || res.RetryAfter > 100*time.Millisecond) {
				t.Fatalf("%T: retry after %s", l, res.RetryAfter)
			}
			if i == 3 {
				time.Sleep(res.RetryAfter + 5*time.Millisecond)
			}
		}
		res, err := l.Allow(ctx, "seq", lim)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Allowed)
		if want := []bool{true, true, true, false, true}; !equalBools(got, want) {
			t.Fatalf("%T: %v, want %v", l, got, want)
		}
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRedisShared: several clients (as several replicas) hammering one key
// concurrently allow exactly the burst.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: 2 * time.Second})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					res, err := r.Allow(ctx, "shared", gcra.Limit{PerMinute: 25})
					if err != nil {
						t.Error(err)
						return
					}
					if res.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Fatalf("allowed %d of 160, want exactly 25", n)
	}
}

// TestRedisTimeoutBounded: a server that accepts and never answers costs
// one timeout, not the go-redis defaults (seconds, with retries).
func TestRedisTimeoutBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	r := newTestRedis(t, RedisOptions{Address: ln.Addr().String(), Timeout: 80 * time.Millisecond})
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err := r.Allow(context.Background(), "k", gcra.Limit{PerMinute: 1})
		if err == nil {
			t.Fatal("no error from a silent server")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("call %d took %s with an 80ms timeout", i, d)
		}
	}
}

func TestRedisPasswordFile(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), PasswordFile: pw, Timeout: time.Second})
	if res, err := r.Allow(context.Background(), "k", gcra.Limit{PerMinute: 1}); err != nil || !res.Allowed {
		t.Fatalf("%+v, %v", res, err)
	}
	bad := newTestRedis(t, RedisOptions{Address: srv.Addr(), Password: "wrong", Timeout: time.Second})
	if _, err := bad.Allow(context.Background(), "k", gcra.Limit{PerMinute: 1}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := NewRedis(RedisOptions{Address: srv.Addr(), PasswordFile: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing passwordFile accepted")
	}
	if _, err := NewRedis(RedisOptions{Address: srv.Addr(), TLS: true, CAFile: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing caFile accepted")
	}
	if _, err := NewRedis(RedisOptions{Address: srv.Addr(), TLS: true, CAFile: pw}); err == nil {
		t.Fatal("caFile without PEM accepted")
	}
}

func fastHealth(t *testing.T) {
	minB, maxB := healthMinBackoff, healthMaxBackoff
	healthMinBackoff, healthMaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	t.Cleanup(func() { healthMinBackoff, healthMaxBackoff = minB, maxB })
}

func waitState(t *testing.T, s *Store, want State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s.State() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("state %s after %s, want %s", s.State(), d, want)
}

func TestStoreFailOpen(t *testing.T) {
	fastHealth(t)
	srv := redistest.Start(t)
	logs := &gatewaytest.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: 100 * time.Millisecond})
	s := NewRedisStore(context.Background(), r, srv.Addr(), FailOpen, gcra.NewLocal(0), log)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	lim := gcra.Limit{PerMinute: 3}
	if s.State() != StateRedis {
		t.Fatalf("state %s", s.State())
	}
	for i := 0; i < 3; i++ {
		if res, err := s.Allow(ctx, "k", lim); err != nil || !res.Allowed {
			t.Fatalf("call %d: %+v %v", i, res, err)
		}
	}

	srv.Kill()
	// Redis is gone. This replica's local limiter goes on from the calls
	// it admitted through Redis: the stall hands out no fresh burst. One
	// failed call does not move the store to local limits for everyone;
	// FailureThreshold failed calls in a row do.
	for i := 0; i < FailureThreshold; i++ {
		start := time.Now()
		res, err := s.Allow(ctx, "k", lim)
		if err != nil || res.Allowed {
			t.Fatalf("fail-open call %d after 3 admitted through redis: %+v %v", i, res, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("fail-open call took %s", d)
		}
		if i < FailureThreshold-1 && s.State() != StateRedis {
			t.Fatalf("%d failed call(s) marked the store down", i+1)
		}
	}
	if s.State() != StateDegraded || s.Failures() != FailureThreshold {
		t.Fatalf("state %s failures %d", s.State(), s.Failures())
	}
	// A key this replica never admitted gets the local limit.
	for i := 0; i < 3; i++ {
		if res, err := s.Allow(ctx, "k2", lim); err != nil || !res.Allowed {
			t.Fatalf("fail-open k2 call %d: %+v %v", i, res, err)
		}
	}
	if res, _ := s.Allow(ctx, "k2", lim); res.Allowed {
		t.Fatal("local limit not applied while redis is down")
	}
	time.Sleep(100 * time.Millisecond) // several failed health checks
	if n := logs.Count("rate limit store down"); n != 1 {
		t.Fatalf("logged down %d times, want once:\n%s", n, logs.String())
	}

	srv.Restart()
	waitState(t, s, StateRedis, 10*time.Second)
	if n := logs.Count("rate limit store up"); n != 2 { // startup + recovery
		t.Fatalf("logged up %d times, want 2:\n%s", n, logs.String())
	}
	// Shared counting resumes, on the restarted (empty) Redis.
	for i := 0; i < 3; i++ {
		if res, err := s.Allow(ctx, "k", lim); err != nil || !res.Allowed {
			t.Fatalf("after recovery, call %d: %+v %v", i, res, err)
		}
	}
	if res, _ := s.Allow(ctx, "k", lim); res.Allowed {
		t.Fatal("limit not applied after recovery")
	}
	if s.State() != StateRedis {
		t.Fatalf("state %s", s.State())
	}
	n, err := rawClient(t, srv.Addr()).Exists(ctx, "test:k").Result()
	if err != nil || n != 1 {
		t.Fatalf("key not in redis after recovery: %d %v", n, err)
	}
}

func TestStoreFailClosed(t *testing.T) {
	fastHealth(t)
	srv := redistest.Start(t)
	logs := &gatewaytest.LogBuffer{}
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: 100 * time.Millisecond})
	s := NewRedisStore(context.Background(), r, srv.Addr(), FailClosed, gcra.NewLocal(0), slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	lim := gcra.Limit{PerMinute: 100}
	if res, err := s.Allow(ctx, "k", lim); err != nil || !res.Allowed {
		t.Fatalf("%+v %v", res, err)
	}
	srv.Kill()
	for i := 0; i < 5; i++ {
		if _, err := s.Allow(ctx, "k", lim); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: err %v, want ErrUnavailable", i, err)
		}
	}
	if n := logs.Count("failureMode: closed"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	srv.Restart()
	waitState(t, s, StateRedis, 10*time.Second)
	if res, err := s.Allow(ctx, "k", lim); err != nil || !res.Allowed {
		t.Fatalf("after recovery: %+v %v", res, err)
	}
}

// TestStoreStartsWithRedisDown: a Redis that is down at startup is
// reported at once, the failure mode applies, and the store recovers when
// Redis appears.
func TestStoreStartsWithRedisDown(t *testing.T) {
	fastHealth(t)
	srv := redistest.Start(t)
	srv.Kill()
	logs := &gatewaytest.LogBuffer{}
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: 100 * time.Millisecond})
	s := NewRedisStore(context.Background(), r, srv.Addr(), FailOpen, gcra.NewLocal(0), slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { _ = s.Close() })
	if s.State() != StateDegraded || logs.Count("rate limit store down") != 1 {
		t.Fatalf("state %s, logs:\n%s", s.State(), logs.String())
	}
	if res, err := s.Allow(context.Background(), "k", gcra.Limit{PerMinute: 1}); err != nil || !res.Allowed {
		t.Fatalf("%+v %v", res, err)
	}
	srv.Restart()
	waitState(t, s, StateRedis, 10*time.Second)
}

// TestStoreCallerCancelled: a caller that gives up does not mark Redis
// down.
func TestStoreCallerCancelled(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, RedisOptions{Address: srv.Addr()})
	s := NewRedisStore(context.Background(), r, srv.Addr(), FailClosed, gcra.NewLocal(0), nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Allow(ctx, "k", gcra.Limit{PerMinute: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if s.State() != StateRedis || s.Failures() != 0 {
		t.Fatalf("state %s failures %d", s.State(), s.Failures())
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	a, relA, err := Acquire(ctx, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, relB, _ := Acquire(ctx, Options{}, nil)
	if a != b {
		t.Fatal("equal options gave two stores")
	}
	if a.State() != StateLocal {
		t.Fatalf("state %s", a.State())
	}
	srv := redistest.Start(t)
	o := Options{Redis: RedisOptions{Address: srv.Addr(), KeyPrefix: "p:", Timeout: time.Second}}
	c, relC, err := Acquire(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c == a || c.State() != StateRedis {
		t.Fatalf("redis store: %p %s", c, c.State())
	}
	infos := Stores()
	if len(infos) < 2 {
		t.Fatalf("Stores: %+v", infos)
	}
	relA()
	relA() // a second call is a no-op
	if _, err := a.Allow(ctx, "k", gcra.Limit{PerMinute: 1}); err != nil {
		t.Fatal(err)
	}
	relB()
	relC()
	if c.State() != StateRedis {
		t.Fatal("state changed by close")
	}
	for _, info := range Stores() {
		if info.Redis == srv.Addr() {
			t.Fatalf("released store still listed: %+v", info)
		}
	}
	// A new Acquire after the last release builds a new store.
	d, relD, _ := Acquire(ctx, o, nil)
	defer relD()
	if d == c {
		t.Fatal("closed store reused")
	}
	if _, _, err := Acquire(ctx, Options{Redis: RedisOptions{Address: srv.Addr(), PasswordFile: "/nonexistent/pw"}}, nil); err == nil {
		t.Fatal("unreadable passwordFile accepted")
	}
}

// TestStoreFailureThreshold: only FailureThreshold failed Redis calls in
// a row move the store to its failure mode; an answer in between resets
// the count, so a lost packet now and then changes nothing.
func TestStoreFailureThreshold(t *testing.T) {
	fastHealth(t)
	srv := redistest.Start(t)
	r := newTestRedis(t, RedisOptions{Address: srv.Addr(), Timeout: 100 * time.Millisecond})
	s := NewRedisStore(context.Background(), r, srv.Addr(), FailOpen, gcra.NewLocal(0), nil)
	t.Cleanup(func() { _ = s.Close() })
	boom := errors.New("i/o timeout")
	for round := 0; round < 3; round++ {
		for i := 0; i < FailureThreshold-1; i++ {
			s.failed(boom)
		}
		if _, err := s.Allow(context.Background(), "k", gcra.Limit{PerMinute: 100}); err != nil {
			t.Fatal(err)
		}
		if s.State() != StateRedis {
			t.Fatalf("round %d: state %s after %d failures and an answer", round, s.State(), FailureThreshold-1)
		}
	}
	for i := 0; i < FailureThreshold; i++ {
		s.failed(boom)
	}
	if s.State() != StateDegraded {
		t.Fatalf("state %s after %d failures in a row", s.State(), FailureThreshold)
	}
	waitState(t, s, StateRedis, 10*time.Second)
}
