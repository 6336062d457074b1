package sharedstate

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gcra"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Options selects a Store. Equal Options share one Store in a process.
type Options struct {
	Redis       RedisOptions // zero Address: local limits only
	FailureMode FailureMode
}

// OptionsFrom returns the Options of cfg's rateLimiting section (local
// limits when there is none or it has no redis).
func OptionsFrom(cfg *config.Config) Options {
	if cfg == nil || cfg.RateLimiting == nil || cfg.RateLimiting.Redis == nil {
		return Options{}
	}
	rl := cfg.RateLimiting
	r := rl.Redis
	o := Options{Redis: RedisOptions{
		Address:      r.Address,
		Username:     r.Username,
		Password:     r.Password,
		PasswordFile: r.PasswordFile,
		DB:           r.DB,
		KeyPrefix:    r.KeyPrefix,
		Timeout:      r.Timeout.D(),
	}}
	if o.Redis.KeyPrefix == "" {
		o.Redis.KeyPrefix = config.DefaultRedisKeyPrefix
	}
	if o.Redis.Timeout <= 0 {
		o.Redis.Timeout = config.DefaultRedisTimeout.D()
	}
	if t := r.TLS; t != nil && t.Enabled {
		o.Redis.TLS, o.Redis.CAFile, o.Redis.ServerName = true, t.CAFile, t.ServerName
	}
	if rl.FailureMode == config.FailureModeClosed {
		o.FailureMode = FailClosed
	}
	return o
}

var registry = struct {
	sync.Mutex
	m map[Options]*entry
}{m: map[Options]*entry{}}

type entry struct {
	store *Store
	refs  int
}

// Acquire returns the process's Store for o, creating it on first use, and
// a release function to call (once) when the caller is retired. The Store
// is closed when its last user releases it; a config reload acquires the
// new config's Stores before releasing the old ones, so limits (local
// counts included) carry over a reload that keeps the same options.
func Acquire(ctx context.Context, o Options, log *slog.Logger) (*Store, func(), error) {
	registry.Lock()
	defer registry.Unlock()
	e := registry.m[o]
	if e == nil {
		s, err := newStore(ctx, o, log)
		if err != nil {
			return nil, nil, err
		}
		e = &entry{store: s}
		registry.m[o] = e
	}
	e.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			registry.Lock()
			e.refs--
			last := e.refs == 0
			if last && registry.m[o] == e {
				delete(registry.m, o)
			}
			registry.Unlock()
			if last {
				_ = e.store.Close()
			}
		})
	}
	return e.store, release, nil
}

func newStore(ctx context.Context, o Options, log *slog.Logger) (*Store, error) {
	local := gcra.NewLocal(0)
	var s *Store
	if o.Redis.Address == "" {
		s = NewLocalStore(local)
	} else {
		r, err := NewRedis(o.Redis)
		if err != nil {
			return nil, err
		}
		s = NewRedisStore(ctx, r, o.Redis.Address, o.FailureMode, local, log)
	}
	s.sessions = processSessions
	return s, nil
}

// StoreInfo describes one Store in use, for health and metrics.
type StoreInfo struct {
	// Redis is the Redis address ("" for local limits).
	Redis       string
	FailureMode FailureMode
	State       State
	Since       time.Time
	// Failures counts failed Redis calls.
	Failures int64
	// LocalKeys is the number of keys the local limiter remembers.
	LocalKeys int
	// Users is the number of policies sharing the Store.
	Users int
}

// Stores describes every Store in use in this process, sorted by address.
func Stores() []StoreInfo {
	registry.Lock()
	defer registry.Unlock()
	out := make([]StoreInfo, 0, len(registry.m))
	for _, e := range registry.m {
		s := e.store
		out = append(out, StoreInfo{
			Redis: s.Address(), FailureMode: s.Mode(), State: s.State(), Since: s.Since(),
			Failures: s.Failures(), LocalKeys: s.Local().Len(), Users: e.refs,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Redis != out[j].Redis {
			return out[i].Redis < out[j].Redis
		}
		return out[i].FailureMode < out[j].FailureMode
	})
	return out
}
