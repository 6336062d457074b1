package sharedstate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gcra"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// gcraScript is gcra() in one atomic Lua script, in integer microseconds
// of the Redis server's clock (TIME), so that every replica uses one
// clock. Lua numbers are doubles: microseconds since 1970 (~1.8e15) are
// exact below 2^53 (until the year 2255). The TAT is written with %.0f
// because tostring() would round it to 14 digits. The key expires when its
// TAT has passed, which is when it is equal to a key never seen.
//
// KEYS[1]: the key. ARGV[1]: emission interval (µs). ARGV[2]: burst.
// Returns {allowed (0/1), remaining, retry after (µs)}.
var gcraScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = tonumber(ARGV[1])
local b = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local start = tat
if start < now then start = now end
local nxt = start + t
local allow_at = nxt - t * b
if now < allow_at then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / t), 0}
`)

// quietRedis silences go-redis's own logger, which writes every failed
// dial to stderr: while Redis is down that is one line per request. The
// Store logs state changes instead. (The logger is global to go-redis;
// the gateway has no other Redis user.)
var quietRedis sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// RedisOptions configures a Redis connection. The zero Address means no
// Redis.
type RedisOptions struct {
	Address      string
	Username     string
	Password     string
	PasswordFile string // read for every new connection (Secret rotation)
	DB           int
	TLS          bool
	CAFile       string
	ServerName   string
	// KeyPrefix starts every key.
	KeyPrefix string
	// Timeout bounds every call, dialing included.
	Timeout time.Duration
}

// Redis is a GCRA limiter in Redis. Every call is bounded by the
// configured timeout and never retried: the Store decides what a failure
// means.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
}

// NewRedis returns a Redis limiter. It does not connect; the first call
// does. It fails only on local problems (an unreadable caFile or
// passwordFile).
func NewRedis(o RedisOptions) (*Redis, error) {
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	ro := &redis.Options{
		Addr:     o.Address,
		Username: o.Username,
		Password: o.Password,
		DB:       o.DB,
		// Fail fast: one attempt per call, bounded everywhere; the Store
		// falls back or refuses, and a health check finds Redis again.
		MaxRetries:            -1,
		DialTimeout:           o.Timeout,
		DialerRetries:         1,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		ContextTimeoutEnabled: true,
		ConnMaxIdleTime:       5 * time.Minute,
		// No CLIENT SETINFO / MAINT_NOTIFICATIONS handshakes: fewer round
		// trips on connect, and nothing a plain or older Redis refuses.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if o.PasswordFile != "" {
		if _, err := readSecret(o.PasswordFile); err != nil {
			return nil, err
		}
		user, file := o.Username, o.PasswordFile
		ro.CredentialsProviderContext = func(context.Context) (string, string, error) {
			pw, err := readSecret(file)
			return user, pw, err
		}
	}
	if o.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if tc.ServerName == "" {
			host, _, err := net.SplitHostPort(o.Address)
			if err != nil {
				return nil, fmt.Errorf("redis address %q: %w", o.Address, err)
			}
			tc.ServerName = host
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("redis tls.caFile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis tls.caFile %s: no PEM certificates", o.CAFile)
			}
			tc.RootCAs = pool
		}
		ro.TLSConfig = tc
	}
	return &Redis{client: redis.NewClient(ro), prefix: o.KeyPrefix, timeout: o.Timeout}, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("redis passwordFile: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Allow implements gcra.Limiter.
func (r *Redis) Allow(ctx context.Context, key string, limit gcra.Limit) (gcra.Result, error) {
	t := limit.Interval()
	if t <= 0 {
		return gcra.Result{}, gcra.ErrInvalidLimit
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := gcraScript.Run(ctx, r.client, []string{r.prefix + key}, t.Microseconds(), limit.BurstOrDefault()).Int64Slice()
	if err != nil {
		return gcra.Result{}, err
	}
	if len(v) != 3 {
		return gcra.Result{}, errors.New("ratelimit: unexpected reply from the redis script")
	}
	return gcra.Result{Allowed: v[0] == 1, Remaining: int(v[1]), RetryAfter: time.Duration(v[2]) * time.Microsecond}, nil
}

// Check runs the limiter script once on a health key, within the timeout:
// Redis answers, and this client may run scripts and write keys under its
// prefix (a PING would pass where the script fails, e.g. on ACLs, and the
// store would flap between up and down). The key lives for about 1ms.
func (r *Redis) Check(ctx context.Context) error {
	_, err := r.Allow(ctx, "health", gcra.Limit{PerMinute: 1_000_000})
	return err
}

// Close closes the client's connections.
func (r *Redis) Close() error { return r.client.Close() }
