package jwt

import "sync"

// refCounted is a value a sharedTable holds: its reference count, guarded
// by the table's mutex.
type refCounted interface {
	comparable
	refCount() *int
}

func (s *source) refCount() *int   { return &s.refs }
func (r *reviewer) refCount() *int { return &r.refs }

// sharedTable shares values (JWKS sources, TokenReview clients) between
// the policies with the same config K, counted by reference. Its mutex
// also guards what the values keep beside their count (a source's
// started, a reviewer's probed).
type sharedTable[K comparable, V refCounted] struct {
	mu sync.Mutex
	m  map[K]V
}

func newSharedTable[K comparable, V refCounted]() *sharedTable[K, V] {
	return &sharedTable[K, V]{m: map[K]V{}}
}

// acquire returns the value for k, made by create (under the table's lock)
// when none is held, and counts a reference to it.
func (t *sharedTable[K, V]) acquire(k K, create func() (V, error)) (V, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[k]
	if !ok {
		var err error
		if v, err = create(); err != nil {
			return v, err
		}
		t.m[k] = v
	}
	*v.refCount()++
	return v, nil
}

// release drops a reference to v, the value for k, and reports whether it
// was the last; the last one removes v from the table. locked, when not
// nil, runs under the table's lock after the count changed.
func (t *sharedTable[K, V]) release(k K, v V, locked func()) (last bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := v.refCount()
	*n--
	last = *n == 0
	if last && t.m[k] == v {
		delete(t.m, k)
	}
	if locked != nil {
		locked()
	}
	return last
}
