package mcpauthz

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

// newSessionStore returns the session store of a policy over store: the
// store's local table alone without Redis.
//
// Session bindings live in Redis when rateLimiting.redis is configured, so
// a session started through one replica cannot be used by another identity
// through a different replica.
//
// A binding is a security decision, not a rate limit, so it never fails
// open, whatever failureMode says:
//
//   - every binding this replica makes or confirms is also kept in its
//     local table; while Redis is unreachable, the local table answers
//     for the sessions it holds, and a session it does not hold gets 503;
//   - a session the backend creates while Redis is unreachable is bound
//     locally and written to Redis when Redis answers again; if another
//     identity took it meanwhile, it is marked as a conflict everywhere
//     and nobody may use it;
//   - when Redis and the local table disagree, the request is denied.
func newSessionStore(store *sharedstate.Store, log *slog.Logger) SessionStore {
	if !store.Shared() {
		return store.Sessions()
	}
	return &sharedSessions{store: store, local: store.Sessions(), log: log,
		pending: map[[32]byte]string{}, stop: make(chan struct{})}
}

// maxPendingBindings bounds the sessions created while Redis is
// unreachable and not yet written to it; past it, new sessions get 503.
const maxPendingBindings = 10_000

type sharedSessions struct {
	store *sharedstate.Store
	local *sharedstate.MemorySessions
	log   *slog.Logger

	mu      sync.Mutex
	pending map[[32]byte]string // id hash → owner, bound while Redis was down
	syncing bool                // a goroutine is writing pending to Redis
	stop    chan struct{}       // closed by Cleanup
	wg      sync.WaitGroup
}

func (s *sharedSessions) Claim(ctx context.Context, id, owner string) (string, error) {
	key := sha256.Sum256([]byte(id))
	local, known := s.local.LookupKey(key)
	v, err := s.store.ClaimSessionHash(ctx, key, owner, sharedstate.DefaultSessionIdleTTL)
	return s.decide(ctx, key, owner, v, err, local, known)
}

// decide combines Redis's answer about a session (v, err; "" for not
// bound) with the local table's (local, known) into the owner the session
// is bound to:
//   - Redis unreachable: the local table answers for what it holds, and a
//     session it does not hold is an error (never bound to the caller);
//   - bound here while Redis was unreachable and not written yet: local;
//   - Redis and this replica disagree (a binding made here while Redis was
//     away was taken through another replica): a conflict, nobody gets it;
//   - otherwise Redis's answer, mirrored locally when it is the caller.
func (s *sharedSessions) decide(ctx context.Context, key [32]byte, owner, v string, err error, local string, known bool) (string, error) {
	switch {
	case err != nil && !known:
		return "", err
	case err != nil:
		if local == owner {
			_, _ = s.local.ClaimKey(key, owner, false)
		}
		return local, nil
	case v == "" && known:
		return local, nil
	case known && local != v:
		s.conflict(ctx, key, owner)
		return sharedstate.SessionConflict, nil
	}
	if v == owner {
		_, _ = s.local.ClaimKey(key, owner, false)
	}
	return v, nil
}

func (s *sharedSessions) Bind(ctx context.Context, id, owner string) (string, error) {
	key := sha256.Sum256([]byte(id))
	if bound, _ := s.local.ClaimKey(key, owner, false); bound != owner {
		return bound, nil
	}
	v, err := s.store.ClaimSessionHash(ctx, key, owner, sharedstate.DefaultSessionIdleTTL)
	if err == nil {
		if v != owner {
			s.conflict(ctx, key, owner)
		}
		return v, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= maxPendingBindings {
		return "", err
	}
	s.pending[key] = owner
	if !s.syncing {
		s.syncing = true
		s.wg.Add(1)
		go s.sync()
	}
	return owner, nil
}

// Backoff of the writer of pending bindings.
var (
	syncMinBackoff = 100 * time.Millisecond
	syncMaxBackoff = 5 * time.Second
)

// sync writes the pending bindings to Redis, retrying with backoff until
// every one is written, then returns.
func (s *sharedSessions) sync() {
	defer s.wg.Done()
	backoff := syncMinBackoff
	t := time.NewTimer(backoff)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.reconcile()
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.syncing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		backoff = min(2*backoff, syncMaxBackoff)
		t.Reset(backoff)
	}
}

// conflict marks a session nobody may use, here and (best effort) in
// Redis.
func (s *sharedSessions) conflict(ctx context.Context, key [32]byte, owner string) {
	s.log.Warn("authz deny: an MCP session is claimed by two identities; it is closed to both", "policy", "mcp-authz")
	_, _ = s.local.ClaimKey(key, sharedstate.SessionConflict, true)
	_, _ = s.store.BindSessionStrict(ctx, key, sharedstate.SessionConflict, sharedstate.DefaultSessionIdleTTL)
}

// reconcile writes the bindings made while Redis was unreachable; a
// session another identity took meanwhile becomes a conflict everywhere.
func (s *sharedSessions) reconcile() {
	s.mu.Lock()
	todo := s.pending
	s.pending = map[[32]byte]string{}
	s.mu.Unlock()
	for key, owner := range todo {
		v, err := s.store.BindSessionStrict(context.Background(), key, owner, sharedstate.DefaultSessionIdleTTL)
		switch {
		case err != nil:
			// Redis went away again: keep it for the next recovery.
			s.mu.Lock()
			s.pending[key] = owner
			s.mu.Unlock()
		case v != owner:
			s.log.Warn("authz deny: an MCP session created while redis was unreachable was claimed by another identity; it is closed to both", "policy", "mcp-authz")
			_, _ = s.local.ClaimKey(key, sharedstate.SessionConflict, true)
		}
	}
}

// Lookup never binds (legacy endpoints): like Claim, it answers from
// the local table while Redis is unreachable, and a disagreement between
// the two is a conflict.
func (s *sharedSessions) Lookup(ctx context.Context, id, owner string) (string, error) {
	key := sha256.Sum256([]byte(id))
	local, known := s.local.LookupKey(key)
	v, err := s.store.LookupSessionHash(ctx, key, owner, sharedstate.DefaultSessionIdleTTL)
	return s.decide(ctx, key, owner, v, err, local, known)
}

// Cleanup stops writing pending bindings (a retired config's; the next
// one finds them in the process-wide local table). The policy releases
// the store afterwards.
func (s *sharedSessions) Cleanup() error {
	close(s.stop)
	s.wg.Wait()
	return nil
}
