package mcpauthz

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// SessionStore binds MCP session ids to the identity that started them.
//
// The in-process default (MemorySessions) is shared by every route and
// every config generation of the process, so a reload keeps the bindings.
// Several gateway replicas behind one Service each see only the sessions
// they proxied: binding across replicas needs a shared store (Redis, say)
// plugged in through NewSessionStore.
type SessionStore interface {
	// Claim binds session id to owner unless it is bound already, and
	// returns the owner it is bound to afterwards (owner itself for a new
	// or refreshed binding). Implementations refresh the binding's idle
	// expiry on every Claim by its owner.
	//
	// Session ids are bearer secrets: implementations should keep a hash,
	// never the id, and never log it.
	Claim(ctx context.Context, id, owner string) (string, error)
	// Bind binds a session id the backend has just created to owner,
	// and returns the owner it is bound to afterwards, like Claim.
	Bind(ctx context.Context, id, owner string) (string, error)
	// Lookup returns the owner id is bound to, or "" when it is not
	// bound, and never binds it. A lookup by the owner refreshes the
	// binding like Claim. Legacy HTTP+SSE sessions use it: their message
	// endpoint is bound when the gateway announces it, and a POST to an
	// endpoint that was never announced must not bind it (docs/authz.md).
	Lookup(ctx context.Context, id, owner string) (string, error)
}

// NewSessionStore returns the session store a policy uses. The default
// returns the process-wide in-memory store; a shared implementation
// replaces it before the gateway starts. If the returned store implements
// policy.Cleaner, Cleanup is called when the policy is retired.
var NewSessionStore = func(env policy.Env) (SessionStore, error) { return defaultSessions, nil }

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

var defaultSessions = NewMemorySessions(DefaultMaxSessions, DefaultMaxSessionsPerOwner, DefaultSessionIdleTTL)

// MemorySessions is a bounded in-memory SessionStore with an idle TTL.
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

// Bind implements SessionStore: in memory, the same as Claim.
func (s *MemorySessions) Bind(ctx context.Context, id, owner string) (string, error) {
	return s.Claim(ctx, id, owner)
}

// lookup returns the owner of the binding of key, without refreshing it.
func (s *MemorySessions) lookup(key [32]byte) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[key]; ok {
		if e := el.Value.(*sessionEntry); s.now().Before(e.expires) {
			return e.owner, true
		}
	}
	return "", false
}

// Claim implements SessionStore.
func (s *MemorySessions) Claim(_ context.Context, id, owner string) (string, error) {
	return s.claim(sha256.Sum256([]byte(id)), owner, false)
}

// claim binds key to owner unless it is bound already (force: rebinds
// it, used to record a conflict), and returns the owner afterwards.
func (s *MemorySessions) claim(key [32]byte, owner string, force bool) (string, error) {
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

// Lookup implements SessionStore.
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
