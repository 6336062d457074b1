package gateway

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// limiter holds the gateway-wide overload state: requests in flight, open
// streams, and streams per verified identity. It lives as long as the
// gateway, so a config reload changes the limits, not the counts.
type limiter struct {
	inflight atomic.Int64
	streams  atomic.Int64
	// bodyBytes are the request body bytes buffered (or reserved for
	// buffering) across the gateway (server.maxBufferedBodyBytes).
	bodyBytes atomic.Int64

	mu    sync.Mutex
	perID identityCounts
}

// identityCounts counts slots (streams, MCP sessions) per verified
// identity under a cap. Callers hold the lock guarding it.
type identityCounts map[string]int

// take takes one of id's slots unless id holds max already (max <= 0: no
// cap).
func (c identityCounts) take(id string, max int) bool {
	if max > 0 && c[id] >= max {
		return false
	}
	c[id]++
	return true
}

// give returns one of id's slots.
func (c identityCounts) give(id string) {
	if c[id] <= 1 {
		delete(c, id)
		return
	}
	c[id]--
}

// errIdentityCap is the answer past a per-identity cap: 429, so that one
// agent holding its slots does not look like gateway overload.
func errIdentityCap(msg string, cause *shedError) *policy.Error {
	return &policy.Error{
		Status:  http.StatusTooManyRequests,
		Message: msg,
		Header:  http.Header{"Retry-After": {"1"}},
		Cause:   cause,
	}
}

// shedError is the cause of every refusal by a cap, so metrics can count
// load shedding by reason (agentgateway_shed_requests_total).
type shedError struct{ reason string }

func (e *shedError) Error() string { return "shed: " + e.reason }

// Shedding reasons.
var (
	shedRequests       = &shedError{"requests"}
	shedStreams        = &shedError{"streams"}
	shedIdentityStream = &shedError{"identity_streams"}
	shedBackendBusy    = &shedError{"backend_busy"}
	shedCircuitOpen    = &shedError{"circuit_open"}
	shedBodyBudget     = &shedError{"body_budget"}
)

// errOverloaded is the fast answer past a gateway-wide cap: 503 with
// Retry-After, rendered as a JSON-RPC error on MCP and A2A routes.
func errOverloaded(what string, cause *shedError) *policy.Error {
	return &policy.Error{
		Status:  http.StatusServiceUnavailable,
		Message: "gateway overloaded: too many " + what + "; retry later",
		Header:  http.Header{"Retry-After": {"1"}},
		Cause:   cause,
	}
}

// isStream reports whether the request opens a long-lived stream: an MCP
// GET (the Streamable HTTP listening stream, or a legacy SSE stream) or an
// A2A streaming method. Responses a POST turns into SSE are bounded by
// the request's own timeouts and count as requests only.
func isStream(r *http.Request, ex *policy.Exchange) bool {
	switch ex.Kind {
	case policy.KindMCP:
		return r.Method == http.MethodGet
	case policy.KindA2A:
		return a2a.Streaming(ex.ProtoMethod)
	}
	return false
}

// acquireStream takes a gateway-wide stream slot.
func (l *limiter) acquireStream(max int) bool {
	if n := l.streams.Add(1); max > 0 && n > int64(max) {
		l.streams.Add(-1)
		return false
	}
	return true
}

func (l *limiter) releaseStream() { l.streams.Add(-1) }

// acquireBody reserves n bytes of the gateway-wide body budget (max <= 0:
// no cap).
func (l *limiter) acquireBody(n, max int64) bool {
	if v := l.bodyBytes.Add(n); max > 0 && v > max {
		l.bodyBytes.Add(-n)
		return false
	}
	return true
}

func (l *limiter) releaseBody(n int64) { l.bodyBytes.Add(-n) }

// bodyBudget is one request's share of the body budget. A body of known
// length reserves it before the first byte is read (the buffer is
// allocated at that size up front); a body of unknown length reserves as
// its bytes arrive.
type bodyBudget struct {
	lim *limiter
	max int64
	n   int64 // reserved
}

// errBodyBudget ends a read past the gateway-wide body budget.
var errBodyBudget = errors.New("buffered body budget exhausted")

func (b *bodyBudget) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	if !b.lim.acquireBody(n, b.max) {
		return errBodyBudget
	}
	b.n += n
	return nil
}

func (b *bodyBudget) release() {
	if b.n > 0 {
		b.lim.releaseBody(b.n)
		b.n = 0
	}
}

// reader reserves the bytes src yields.
func (b *bodyBudget) reader(src io.Reader) io.Reader { return &budgetReader{b: b, src: src} }

type budgetReader struct {
	b   *bodyBudget
	src io.Reader
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	if n > 0 {
		if rerr := r.b.reserve(int64(n)); rerr != nil {
			return 0, rerr
		}
	}
	return n, err
}

// acquireIdentity takes one of id's stream slots.
func (l *limiter) acquireIdentity(id string, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perID == nil {
		l.perID = identityCounts{}
	}
	return l.perID.take(id, max)
}

func (l *limiter) releaseIdentity(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.perID.give(id)
}

// identityStreams caps the streams one verified identity holds open. It
// runs innermost, after authentication, so the identity is known, and
// holds the slot until the stream ends.
type identityStreams struct {
	next policy.Handler
	lim  *limiter
	max  int
}

func (s identityStreams) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if ex == nil || !ex.Stream || ex.Principal == nil || s.max <= 0 {
		return s.next.ServeHTTP(w, r)
	}
	id := ex.Principal.Subject
	if !s.lim.acquireIdentity(id, s.max) {
		return errIdentityCap("too many open streams for this identity; close one and retry", shedIdentityStream)
	}
	// Held until the stream ends, parked or not.
	defer func() {
		if ex.Parked() {
			ex.Finally(func() { s.lim.releaseIdentity(id) })
			return
		}
		s.lim.releaseIdentity(id)
	}()
	return s.next.ServeHTTP(w, r)
}

// ShedReason is the reason label of agentgateway_shed_requests_total
// (telemetry.Shed).
func (e *shedError) ShedReason() string { return e.reason }
