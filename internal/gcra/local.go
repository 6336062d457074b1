package gcra

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const (
	localShards = 64
	// DefaultLocalMaxKeys bounds the keys a Local limiter remembers.
	DefaultLocalMaxKeys = 1 << 20
	// minSweep is the shard size below which no sweep is attempted.
	minSweep = 256
	// evictSample is how many entries are looked at to choose one to
	// evict when a shard is full of live keys.
	evictSample = 16
)

// Local is an in-memory GCRA limiter. Its memory is bounded: keys whose
// TAT has passed are forgotten (they are in the same state as unseen keys,
// so no decision changes), and when more than MaxKeys keys are live at
// once, the key closest to expiry among a small random sample is evicted
// (which can only let that key's next request through early).
//
// Local needs no goroutine and no Close: sweeps run inline, amortised over
// insertions.
type Local struct {
	seed    maphash.Seed
	base    time.Time
	now     func() time.Duration // since base; monotonic
	perShrd int
	shards  [localShards]localShard
	evicted atomic.Int64
}

type localShard struct {
	mu sync.Mutex
	m  map[string]int64 // key -> TAT (ns since base)
	// sweepAt is the size at which the next sweep runs: twice the live
	// size after the last sweep, so sweeps cost O(1) per insertion.
	sweepAt int
	_       [40]byte // keep shards on separate cache lines
}

// NewLocal returns a Local limiter remembering at most maxKeys keys
// (DefaultLocalMaxKeys when maxKeys <= 0).
func NewLocal(maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultLocalMaxKeys
	}
	l := &Local{seed: maphash.MakeSeed(), base: time.Now()}
	l.now = func() time.Duration { return time.Since(l.base) }
	l.perShrd = max(1, (maxKeys+localShards-1)/localShards)
	for i := range l.shards {
		l.shards[i].m = map[string]int64{}
		l.shards[i].sweepAt = minSweep
	}
	return l
}

// Allow implements Limiter. It never fails for a valid limit.
func (l *Local) Allow(_ context.Context, key string, limit Limit) (Result, error) {
	t := limit.Interval()
	if t <= 0 {
		return Result{}, ErrInvalidLimit
	}
	b := int64(limit.BurstOrDefault())
	s := &l.shards[maphash.String(l.seed, key)%localShards]
	s.mu.Lock()
	now := int64(l.now())
	tat, ok := s.m[key]
	newTAT, r := gcra(now, tat, int64(t), b)
	if r.Allowed {
		if !ok {
			l.makeRoom(s, now)
		}
		s.m[key] = newTAT
	}
	s.mu.Unlock()
	return r, nil
}

// makeRoom runs before a new key is added to s (locked).
func (l *Local) makeRoom(s *localShard, now int64) {
	if len(s.m) >= s.sweepAt || len(s.m) >= l.perShrd {
		for k, tat := range s.m {
			if tat <= now {
				delete(s.m, k)
			}
		}
		s.sweepAt = max(minSweep, 2*len(s.m))
	}
	for len(s.m) >= l.perShrd {
		victim, oldest, n := "", int64(0), 0
		for k, tat := range s.m { // random order
			if n == 0 || tat < oldest {
				victim, oldest = k, tat
			}
			if n++; n == evictSample {
				break
			}
		}
		delete(s.m, victim)
		l.evicted.Add(1)
	}
}

// Len returns the number of keys remembered (live or not yet swept).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Evicted returns how many live keys were evicted because the limiter was
// full.
func (l *Local) Evicted() int64 { return l.evicted.Load() }

// Refund gives back one request that Allow counted for key under limit:
// it moves the key's TAT back by one emission interval (a TAT that falls
// to now or before is forgotten, like a key never seen). Refunding a key
// that is not held does nothing.
func (l *Local) Refund(_ context.Context, key string, limit Limit) error {
	t := limit.Interval()
	if t <= 0 {
		return ErrInvalidLimit
	}
	s := &l.shards[maphash.String(l.seed, key)%localShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.m[key]
	if !ok {
		return nil
	}
	now := int64(l.now())
	if tat -= int64(t); tat <= now {
		delete(s.m, key)
	} else {
		s.m[key] = tat
	}
	return nil
}
