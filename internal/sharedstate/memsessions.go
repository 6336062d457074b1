package sharedstate

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// Limits of the in-memory session store.
const (
	// DefaultSessionIdleTTL forgets a binding not used for this long.
	DefaultSessionIdleTTL = 24 * time.Hour
	// DefaultMaxSessions bounds the store; the least recently used
	// binding goes first.
	DefaultMaxSessions = 100_000
	// DefaultMaxSessionsPerOwner bounds one identity's bindings, so that
	// one caller cannot push everyone else's bindings out; that
	// identity's least recently used binding goes first.
	DefaultMaxSessionsPerOwner = 1_000
)

// processSessions is the local session table of every Store Acquire
// returns, whatever its options: one table per process, so that a reload
// keeps the bindings even when it changes rateLimiting (a binding held
// only here, made while Redis was unreachable, must not be lost).
var processSessions = newSessionTable()

// newSessionTable returns an empty table with the default limits.
func newSessionTable() *MemorySessions {
	return NewMemorySessions(DefaultMaxSessions, DefaultMaxSessionsPerOwner, DefaultSessionIdleTTL)
}

// MemorySessions binds MCP session ids to the identity that started them,
// in memory: bounded, with an idle TTL. Only a hash of each id is kept.
// It is the whole session store of a gateway without Redis, and the local
// table of one with Redis (internal/policy/mcpauthz).
type MemorySessions struct {
	mu       sync.Mutex
	max      int
	perOwner int
	ttl      time.Duration
	now      func() time.Time
	byID     map[[32]byte]*list.Element
	lru      *list.List // of *sessionEntry, least recently used first
	owners   map[string]*list.List
}

type sessionEntry struct {
	key      [32]byte
	owner    string
	expires  time.Time
	el       *list.Element // in MemorySessions.lru
	ownerEl  *list.Element // in the owner's list
	ownerLst *list.List
}

// NewMemorySessions returns an empty store.
func NewMemorySessions(max, perOwner int, ttl time.Duration) *MemorySessions {
	return &MemorySessions{
		max: max, perOwner: perOwner, ttl: ttl, now: time.Now,
		byID: map[[32]byte]*list.Element{}, lru: list.New(), owners: map[string]*list.List{},
	}
}

// Bind binds a session id the backend has just created: in memory, the
// same as Claim.
func (s *MemorySessions) Bind(ctx context.Context, id, owner string) (string, error) {
	return s.Claim(ctx, id, owner)
}

// LookupKey returns the owner of the binding of key (the SHA-256 of a
// session id), without refreshing it.
func (s *MemorySessions) LookupKey(key [32]byte) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[key]; ok {
		if e := el.Value.(*sessionEntry); s.now().Before(e.expires) {
			return e.owner, true
		}
	}
	return "", false
}

// Claim binds session id to owner unless it is bound already, refreshes
// the binding's idle expiry when owner holds it, and returns the owner it
// is bound to afterwards.
func (s *MemorySessions) Claim(_ context.Context, id, owner string) (string, error) {
	return s.ClaimKey(sha256.Sum256([]byte(id)), owner, false)
}

// ClaimKey binds key (the SHA-256 of a session id) to owner unless it is
// bound already (force: rebinds it, used to record a conflict), and
// returns the owner afterwards.
func (s *MemorySessions) ClaimKey(key [32]byte, owner string, force bool) (string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[key]; ok {
		e := el.Value.(*sessionEntry)
		if now.Before(e.expires) && !force {
			if e.owner == owner {
				e.expires = now.Add(s.ttl)
				s.lru.MoveToBack(e.el)
				e.ownerLst.MoveToBack(e.ownerEl)
			}
			return e.owner, nil
		}
		s.remove(e)
	}
	s.expire(now)
	ol := s.owners[owner]
	if ol == nil {
		ol = list.New()
		s.owners[owner] = ol
	}
	for ol.Len() >= s.perOwner && ol.Len() > 0 {
		s.remove(ol.Front().Value.(*sessionEntry))
	}
	for s.lru.Len() >= s.max && s.lru.Len() > 0 {
		s.remove(s.lru.Front().Value.(*sessionEntry))
	}
	ol = s.owners[owner]
	if ol == nil {
		ol = list.New()
		s.owners[owner] = ol
	}
	e := &sessionEntry{key: key, owner: owner, expires: now.Add(s.ttl), ownerLst: ol}
	e.el = s.lru.PushBack(e)
	e.ownerEl = ol.PushBack(e)
	s.byID[key] = e.el
	return owner, nil
}

// Lookup returns the owner id is bound to, or "" when it is not bound,
// and never binds it; a lookup by the owner refreshes the binding.
func (s *MemorySessions) Lookup(_ context.Context, id, owner string) (string, error) {
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[key]
	if !ok {
		return "", nil
	}
	e := el.Value.(*sessionEntry)
	if !now.Before(e.expires) {
		s.remove(e)
		return "", nil
	}
	if e.owner == owner {
		e.expires = now.Add(s.ttl)
		s.lru.MoveToBack(e.el)
		e.ownerLst.MoveToBack(e.ownerEl)
	}
	return e.owner, nil
}

// expire drops a few expired bindings from the front of the LRU list,
// which holds the least recently refreshed ones.
func (s *MemorySessions) expire(now time.Time) {
	for i := 0; i < 16; i++ {
		f := s.lru.Front()
		if f == nil {
			return
		}
		e := f.Value.(*sessionEntry)
		if now.Before(e.expires) {
			return
		}
		s.remove(e)
	}
}

func (s *MemorySessions) remove(e *sessionEntry) {
	s.lru.Remove(e.el)
	e.ownerLst.Remove(e.ownerEl)
	if e.ownerLst.Len() == 0 {
		delete(s.owners, e.owner)
	}
	delete(s.byID, e.key)
}

// Len returns the number of bindings held (expired ones included until
// they are swept).
func (s *MemorySessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
