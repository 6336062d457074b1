package gateway

import (
	"container/list"
	"context"
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// MCP session tracking (docs/operations.md#idle-sessions-and-streams).
//
// MCP servers keep per-session state until the client sends DELETE, and
// clients that crash or simply forget never do: an abandoned session
// costs the server its memory for as long as it lives (about 110 KB in
// common SDKs). The gateway sees every session start and every request
// on it, so it tracks them and:
//
//   - caps the live sessions of one verified identity (429 past it), so
//     one agent cannot exhaust a tool server;
//   - caps the sessions the replica tracks; when full, the least recently
//     used idle session is closed to make room;
//   - closes a session nobody has used for server.sessionIdleTimeout by
//     sending the backend the DELETE the client never sent. A client
//     that comes back gets the backend's 404 and, per the MCP spec,
//     starts a new session.
//
// A session is idle only when no request on it is in flight: an open GET
// listening stream keeps it alive. Tracking is per replica and in memory;
// a session id the tracker has never seen (created before a restart or on
// another replica) is adopted on its first successful use, so the idle
// promise survives restarts. Legacy SSE sessions (sessionId in the query
// string) are not tracked: their stream's end closes them.
//
// Three rules keep a session that has ended from coming back and holding
// its identity's slot (a client that opens and closes sessions per task
// would otherwise be locked out for the idle lifetime):
//
//   - a new session is tracked when the backend's response headers
//     arrive, before the client can see its id, so the client's
//     immediate GET finds it;
//   - adoption happens when the backend's headers arrive too, and the
//     adopted request holds the session like any other, so a DELETE that
//     overtakes it ends it for good;
//   - every id that ended (DELETE, 404, idle or evicted) goes into a
//     bounded tombstone set and is never adopted again, so a request that
//     was already in flight when its session ended cannot resurrect it.
type sessionTracker struct {
	mu       sync.Mutex
	byID     map[string]*mcpSession
	idle     *list.List // of *mcpSession with no request in flight, least recently used first
	perOwner identityCounts
	pending  int // initialize calls in flight, counted against the caps
	ended    tombstones
	timer    *time.Timer
	closed   bool
	reaps    sync.WaitGroup
	// stop cancels the DELETEs in flight when the gateway shuts down.
	stopCtx context.Context
	stop    context.CancelFunc
	now     func() time.Time
	log     *slog.Logger
	// obs exports the tracker's state (metrics); nil for none.
	obs sessionObserver
}

// sessionObserver is implemented by observers that export session metrics.
type sessionObserver interface {
	// SessionsChanged moves the number of tracked sessions of a route.
	SessionsChanged(route string, delta int)
	// SessionClosed counts a session the gateway closed; reason is "idle"
	// or "evicted".
	SessionClosed(route, reason string)
}

type mcpSession struct {
	// id is the Mcp-Session-Id, kept in memory only to send DELETE; it is
	// a bearer secret and is never logged.
	id        string
	owner     string
	principal *identity.Principal
	b         *backend
	pathRest  string
	header    http.Header // what the DELETE carries: identity and MCP headers
	lastUsed  time.Time
	active    int
	el        *list.Element // in idle when active == 0
	idleFor   time.Duration
}

func newSessionTracker(log *slog.Logger) *sessionTracker {
	t := &sessionTracker{byID: map[string]*mcpSession{}, idle: list.New(), perOwner: identityCounts{}, ended: newTombstones(maxTombstones), now: time.Now, log: log}
	t.stopCtx, t.stop = context.WithCancel(context.Background())
	return t
}

// Shedding reasons of the session caps.
var (
	shedIdentitySessions = &shedError{"identity_sessions"}
	shedSessions         = &shedError{"sessions"}
)

// sessionLimits are the caps in force for one request (they follow reloads).
type sessionLimits struct {
	max, perIdentity int
	idle             time.Duration
}

// reserve admits a new session for owner ("" when the route has no
// authentication: only the replica-wide cap applies). It may evict the
// least recently used idle session, which the caller must close.
func (t *sessionTracker) reserve(owner string, lim sessionLimits) (*mcpSession, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if owner != "" && !t.perOwner.take(owner, lim.perIdentity) {
		return nil, errIdentityCap("too many MCP sessions for this identity; end one (DELETE) and retry", shedIdentitySessions)
	}
	var evicted *mcpSession
	if lim.max > 0 && len(t.byID)+t.pending >= lim.max {
		f := t.idle.Front()
		if f == nil {
			t.releaseOwnerLocked(owner)
			return nil, errOverloaded("MCP sessions", shedSessions)
		}
		evicted = f.Value.(*mcpSession)
		t.removeLocked(evicted)
	}
	t.pending++
	return evicted, nil
}

// commit ends a reservation: s is the new session, or nil when the
// backend did not start one.
func (t *sessionTracker) commit(owner string, s *mcpSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	if s == nil || t.closed || t.byID[s.id] != nil {
		t.releaseOwnerLocked(owner)
		return
	}
	t.addLocked(s)
}

// adopt starts tracking a session the tracker has not seen, if the caps
// allow, with the caller's request in flight on it (release it like an
// acquired one). It never evicts or refuses, since the session exists
// already, and never takes an id that has ended: it returns nil then.
func (t *sessionTracker) adopt(s *mcpSession, lim sessionLimits) *mcpSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.byID[s.id] != nil || t.ended.has(s.id) ||
		(lim.max > 0 && len(t.byID)+t.pending >= lim.max) ||
		(s.owner != "" && !t.perOwner.take(s.owner, lim.perIdentity)) {
		return nil
	}
	t.addLocked(s)
	t.idle.Remove(s.el)
	s.el = nil
	s.active = 1
	return s
}

// bury records that session id ended at the backend without the tracker
// having tracked it (a DELETE or 404 on an unknown id), so no request in
// flight on it can adopt it afterwards.
func (t *sessionTracker) bury(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended.add(id)
}

// acquire marks a request on session id in flight; nil if untracked.
func (t *sessionTracker) acquire(id string) *mcpSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byID[id]
	if s == nil {
		return nil
	}
	if s.active == 0 && s.el != nil {
		t.idle.Remove(s.el)
		s.el = nil
	}
	s.active++
	return s
}

// release ends a request on s. ended reports that the session no longer
// exists at the backend (DELETE succeeded, or the backend answered 404).
func (t *sessionTracker) release(s *mcpSession, ended bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.active--
	if t.byID[s.id] != s {
		return // removed meanwhile
	}
	if ended {
		t.removeLocked(s)
		return
	}
	if s.active == 0 {
		s.lastUsed = t.now()
		s.el = t.idle.PushBack(s)
		t.scheduleLocked()
	}
}

// removeLocked stops tracking s; every caller is ending the session at
// the backend, so its id is buried.
func (t *sessionTracker) removeLocked(s *mcpSession) {
	if s.el != nil {
		t.idle.Remove(s.el)
		s.el = nil
	}
	delete(t.byID, s.id)
	t.ended.add(s.id)
	t.releaseOwnerLocked(s.owner)
	if t.obs != nil {
		t.obs.SessionsChanged(s.b.route.name, -1)
	}
}

// addLocked starts tracking s as idle.
func (t *sessionTracker) addLocked(s *mcpSession) {
	s.lastUsed = t.now()
	t.byID[s.id] = s
	s.el = t.idle.PushBack(s)
	if t.obs != nil {
		t.obs.SessionsChanged(s.b.route.name, 1)
	}
	t.scheduleLocked()
}

func (t *sessionTracker) releaseOwnerLocked(owner string) {
	if owner != "" {
		t.perOwner.give(owner)
	}
}

// scheduleLocked arms the sweep timer for the least recently used idle
// session's expiry. A timer, not a goroutine: nothing runs while no
// session is idle.
func (t *sessionTracker) scheduleLocked() {
	if t.closed || t.timer != nil {
		return
	}
	f := t.idle.Front()
	if f == nil {
		return
	}
	s := f.Value.(*mcpSession)
	d := s.lastUsed.Add(s.idleFor).Sub(t.now())
	// Sweep at most once a second: expiries within a second are batched.
	if d < time.Second {
		d = time.Second
	}
	t.timer = time.AfterFunc(d, t.sweep)
}

// sweep closes every session idle past its lifetime.
func (t *sessionTracker) sweep() {
	t.mu.Lock()
	t.timer = nil
	now := t.now()
	var expired []*mcpSession
	for e := t.idle.Front(); e != nil; {
		s := e.Value.(*mcpSession)
		next := e.Next()
		// The list is ordered by last use, and the idle lifetime can
		// differ between sessions only across a reload, so stop at the
		// first session that is still alive.
		if now.Before(s.lastUsed.Add(s.idleFor)) {
			break
		}
		t.removeLocked(s)
		expired = append(expired, s)
		e = next
	}
	t.scheduleLocked()
	t.mu.Unlock()
	t.close(expired, "idle")
}

// sessionDeleteTimeout bounds the DELETE the gateway sends for a session
// it closes; sessionDeleteWorkers bounds how many run at once, so a sweep
// of thousands of abandoned sessions does not storm the backends.
const (
	sessionDeleteTimeout = 10 * time.Second
	sessionDeleteWorkers = 4
)

// close sends the backends DELETE for ss, in the background: the backend
// frees each session's state. Best effort: a backend that is down has
// lost its sessions anyway.
func (t *sessionTracker) close(ss []*mcpSession, reason string) {
	if len(ss) == 0 {
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.reaps.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.reaps.Done()
		work := make(chan *mcpSession)
		var wg sync.WaitGroup
		for range min(sessionDeleteWorkers, len(ss)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range work {
					t.delete(s, reason)
				}
			}()
		}
		for _, s := range ss {
			work <- s
		}
		close(work)
		wg.Wait()
	}()
}

// delete sends one session's DELETE through its backend, so it carries
// the identity headers and goes through the same transport and breaker
// as the client's own requests.
func (t *sessionTracker) delete(s *mcpSession, reason string) {
	if t.obs != nil {
		t.obs.SessionClosed(s.b.route.name, reason)
	}
	ctx, cancel := context.WithTimeout(t.stopCtx, sessionDeleteTimeout)
	defer cancel()
	ex := &policy.Exchange{
		Route: s.b.route.name, RoutePrefix: s.b.route.prefix, Kind: policy.KindMCP,
		Start: time.Now(), Method: http.MethodDelete, PathRest: s.pathRest,
		Backend: s.b.name, Principal: s.principal,
	}
	ctx = policy.WithExchange(ctx, ex)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://gateway"+s.b.route.prefix+s.pathRest, nil)
	if err != nil {
		return
	}
	req.Header = s.header.Clone()
	req.Header.Set(mcp.HeaderSessionID, s.id)
	if err := s.b.ServeHTTP(discardResponse{h: http.Header{}}, req); err != nil {
		t.log.Debug("closing an MCP session failed", "route", s.b.route.name, "backend", s.b.name, "reason", reason, "err", err)
	}
}

// shutdown stops the sweeper, cancels the DELETEs in flight and waits
// for them to return, so shutdown is never held up by a slow backend. The
// sessions themselves stay open at the backends: on a rolling update
// their clients carry on through another replica.
func (t *sessionTracker) shutdown() {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
	t.stop()
	t.reaps.Wait()
}

// len returns the number of tracked sessions (tests, metrics).
func (t *sessionTracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// discardResponse is the ResponseWriter of a DELETE the gateway sends on
// its own behalf.
type discardResponse struct{ h http.Header }

func (d discardResponse) Header() http.Header         { return d.h }
func (d discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d discardResponse) WriteHeader(int)             {}

// sessionHeaders are the request headers a gateway-sent DELETE carries:
// what the chain injected for the backend (identity headers included),
// never the caller's credentials.
func sessionHeaders(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Authorization", "Cookie", "Content-Length", "Content-Type", "Accept-Encoding", "Traceparent", "Tracestate", "Mcp-Method", "Mcp-Name"} {
		out.Del(k)
	}
	out.Set("Accept", "application/json, text/event-stream")
	return out
}

// mcpSessions is the innermost handler of Streamable HTTP MCP routes: it
// tracks sessions through the tracker and enforces its caps. It runs
// after authentication, so the caller's identity is known.
type mcpSessions struct {
	next policy.Handler
	t    *sessionTracker
	b    *backend
	lim  sessionLimits
}

func (m mcpSessions) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if ex == nil {
		return m.next.ServeHTTP(w, r)
	}
	owner := ""
	if ex.Principal != nil {
		owner = ex.Principal.Subject
	}
	sid := r.Header.Get(mcp.HeaderSessionID)
	if sid == "" {
		if r.Method != http.MethodPost || ex.ProtoMethod != "initialize" {
			return m.next.ServeHTTP(w, r)
		}
		evicted, err := m.t.reserve(owner, m.lim)
		if err != nil {
			return err
		}
		if evicted != nil {
			m.t.close([]*mcpSession{evicted}, "evicted")
		}
		// The session is committed when the backend's headers arrive,
		// before they are copied to the client: the client's next request
		// (go-sdk clients open their GET stream at once) must find it.
		committed := false
		ex.ResponseHooks = append(ex.ResponseHooks, func(res *http.Response) error {
			id := res.Header.Get(mcp.HeaderSessionID)
			if committed || res.StatusCode/100 != 2 || id == "" || !mcp.ValidSessionID(id) {
				return nil
			}
			committed = true
			m.t.commit(owner, m.session(id, owner, ex, r))
			return nil
		})
		// Deferred: a stream the backend breaks ends the handler with
		// http.ErrAbortHandler's panic, and the slot must still be freed.
		defer func() {
			if !committed {
				m.t.commit(owner, nil)
			}
		}()
		// (an initialize is a POST: never parked, see parkable.)
		return m.next.ServeHTTP(w, r)
	}
	s := m.t.acquire(sid)
	var status int
	ex.ResponseHooks = append(ex.ResponseHooks, func(res *http.Response) error {
		status = res.StatusCode
		// Adopt an unknown session when its backend accepts the request,
		// not when the request ends: a long GET stream holds the session
		// like any tracked request, and a DELETE overtaking it ends it.
		if s == nil && status/100 == 2 && r.Method != http.MethodDelete {
			s = m.t.adopt(m.session(sid, owner, ex, r), m.lim)
		}
		return nil
	})
	method := r.Method
	defer func() {
		if ex.Parked() {
			// A parked GET stream holds its session until it ends.
			ex.Finally(func() { m.end(s, sid, status, method) })
			return
		}
		m.end(s, sid, status, method)
	}()
	return m.next.ServeHTTP(w, r)
}

// end releases the request's hold on session s (sid, unknown when s is
// nil) once the request or its stream ends.
func (m mcpSessions) end(s *mcpSession, sid string, status int, method string) {
	ended := status == http.StatusNotFound || (method == http.MethodDelete && status/100 == 2)
	if s == nil {
		if ended {
			m.t.bury(sid)
		}
		return
	}
	m.t.release(s, ended)
}

func (m mcpSessions) session(id, owner string, ex *policy.Exchange, r *http.Request) *mcpSession {
	return &mcpSession{
		id: id, owner: owner, principal: ex.Principal, b: m.b, pathRest: ex.PathRest,
		header: sessionHeaders(r.Header), idleFor: m.lim.idle,
	}
}

// maxTombstones bounds the ids of ended sessions the tracker remembers.
// An id leaves the set only after this many other sessions have ended,
// far longer than a request in flight on it can last in practice.
const maxTombstones = 8192

// tombstones is a bounded set of ended session ids, oldest forgotten
// first. It keeps 64-bit hashes, not the ids (bearer secrets): a
// collision only means one unknown session is not adopted.
type tombstones struct {
	seed maphash.Seed
	set  map[uint64]struct{}
	ring []uint64
	next int
}

func newTombstones(n int) tombstones {
	return tombstones{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}), ring: make([]uint64, 0, n)}
}

func (b *tombstones) has(id string) bool {
	_, ok := b.set[maphash.String(b.seed, id)]
	return ok
}

func (b *tombstones) add(id string) {
	h := maphash.String(b.seed, id)
	if _, ok := b.set[h]; ok {
		return
	}
	if len(b.ring) < cap(b.ring) {
		b.ring = append(b.ring, h)
	} else {
		delete(b.set, b.ring[b.next])
		b.ring[b.next] = h
		b.next = (b.next + 1) % len(b.ring)
	}
	b.set[h] = struct{}{}
}
