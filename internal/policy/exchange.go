package policy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// Kind is the protocol a route speaks, which decides how errors render and
// which parsing the edge does before policies run.
type Kind int

// Route kinds.
const (
	KindHTTP Kind = iota
	KindMCP
	KindA2A
)

// Exchange is the per-request state shared by the edge, the policies and
// the backend. It is created by the edge before any policy runs.
type Exchange struct {
	Route string
	// RoutePrefix is the matched route's path prefix (span names, logs).
	RoutePrefix string
	Kind        Kind
	Start       time.Time
	// Method is the HTTP method of the request.
	Method string
	// PathRest is the escaped request path after the route prefix ("" or
	// starting with "/"), exactly as the client sent it. On A2A routes it
	// is the path after the target agent segment.
	PathRest string

	// Target is the target agent named by the first path segment under an
	// A2A route's prefix, resolved by the edge to its canonical agent name
	// (docs/a2a.md#canonical-names; a name no backend serves is kept as
	// written). "" when the path names none, as for GET /agents.
	Target string
	// ProtoMethod is the protocol method for metrics, traces and logs: the
	// MCP JSON-RPC method, the canonical A2A method (a2a.Classify:
	// message/send for SendMessage and POST …/message:send too), or "" on
	// plain HTTP routes.
	ProtoMethod string
	// Backend is the name of the backend the exchange was sent to, set
	// when one is chosen.
	Backend string
	// TargetAllowed, when set by an A2A authorization policy, reports
	// whether the caller may call a target agent; the gateway's agent
	// listing (GET <prefix>) shows only those. Nil means no policy limits
	// targets.
	TargetAllowed func(target string) bool
	// Principal is the verified caller, set by the policy (or the client
	// certificate check) that authenticated it; nil until then. It is the
	// same value identity.From returns inside the chain, kept here for the
	// edge's access log, metrics and span attributes.
	Principal *identity.Principal
	// Stream is set by the edge when the request opens a long-lived stream
	// (MCP GET, A2A streaming methods); streams have their own caps.
	Stream bool
	// Decision is the last authentication, authorization or rate-limit
	// decision made for the exchange ("allowed", "denied",
	// "rate_limited", "unauthenticated"), set by the code that decided,
	// for the access log, the span and a2a_calls_total's decision label;
	// "" when no such decision was made. The decision counters do not
	// read it: the deciding code reports to Env.Recorder.
	Decision string

	// Body is the buffered request body (bounded), replayed on retries.
	// Nil when the request has no body.
	Body []byte
	// RPC is the parsed JSON-RPC payload of an MCP/A2A POST; nil otherwise.
	RPC *mcp.Body

	// IdleTimeout bounds the time without bytes on the response stream;
	// zero means none. Policies only ever shorten it.
	IdleTimeout time.Duration
	// StreamEnd records why the gateway ended a response stream early
	// (ErrRequestTimeout, ErrIdleTimeout, ErrDraining); nil otherwise.
	StreamEnd error
	// ResponseHooks run on the backend's response before it is streamed to
	// the client (after retries are settled), in the order added. A hook may
	// replace res.Body with a filtering reader (e.g. tools/list filtering
	// over JSON or SSE via mcp.RewriteEvents) and must keep streams
	// streaming. An error aborts the response with 502 before any byte is
	// sent.
	ResponseHooks []func(res *http.Response) error
	// Retrier, when set by the retry policy, runs upstream attempts.
	Retrier Retrier
	// SentUpstream is set by the proxy when it starts an upstream attempt:
	// from then on the backend may have acted on the request, so a policy
	// that gives back a refused call's budget (mcp-authz) must not.
	SentUpstream atomic.Bool
	// ReflectHost is the request's Host in canonical form when the bind
	// allows building URLs from it (binds[].allowedHosts), "" when it must
	// not be echoed; TLS tells the scheme. See BaseURL.
	ReflectHost string
	TLS         bool

	// Observation is the observer's own state for this exchange (the
	// span bookkeeping of telemetry.Observer); nothing else reads it.
	// Kept here, not in the context, so that observing a request costs
	// no context and no request copy of its own.
	Observation any

	// parked is set when the gateway hands the exchange's response
	// stream off its handler goroutine (an idle HTTP/1.1 stream, see
	// internal/gateway/parked.go): the handler returns while the stream
	// goes on, and the work the chain does at the exchange's end waits
	// for the stream's (Finally).
	parked bool
	ends   []func()

	// Edge is the gateway's own state for this exchange (what its body
	// stage and its backend need); nothing else reads it, except that
	// the exchange's context asks it for keys it answers (EdgeValues).
	// Kept here for the same reason.
	Edge any

	// ctx is the exchange's context once bound (Bind, deadline.go).
	ctx exchangeCtx
}

// Park marks the exchange's stream as served off the handler goroutine:
// from now on Finally defers its work to RunFinally. Only the gateway's
// stream serving calls it, before the handler returns.
func (e *Exchange) Park() { e.parked = true }

// Parked reports whether Park was called.
func (e *Exchange) Parked() bool { return e != nil && e.parked }

// Finally runs fn at the end of the exchange: now, or, when the
// exchange's stream was parked, when the stream ends (RunFinally). A
// layer of the chain calls it from a defer for everything a stream
// holds until its end: slots, sessions, contexts, counters. e may be nil
// (a chain run on its own): fn runs now.
func (e *Exchange) Finally(fn func()) {
	if e != nil && e.parked {
		e.ends = append(e.ends, fn)
		return
	}
	fn()
}

// RunFinally runs the work Finally deferred, in the order the layers
// returned (innermost first, as their defers would have), once.
func (e *Exchange) RunFinally() {
	ends := e.ends
	e.ends = nil
	for _, fn := range ends {
		fn()
	}
}

// ShortenIdle sets the idle timeout to d if d is shorter than the current.
func (e *Exchange) ShortenIdle(d time.Duration) {
	if d > 0 && (e.IdleTimeout == 0 || d < e.IdleTimeout) {
		e.IdleTimeout = d
	}
}

// Retrier runs an upstream attempt function, retrying it as its policy
// allows. attempt must be safe to call again: the body is replayed from
// Exchange.Body. Once Do returns a response, no further attempt is made,
// so bytes that reach the client are never followed by a retry.
type Retrier interface {
	Do(ctx context.Context, ex *Exchange, attempt func(ctx context.Context) (*http.Response, error)) (*http.Response, error)
}

type exchangeKey struct{}

// WithExchange returns ctx carrying ex. The edge binds the exchange
// instead (Bind), which also carries its deadlines and cancellation.
func WithExchange(ctx context.Context, ex *Exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// ExchangeFrom returns the exchange in ctx, or nil.
func ExchangeFrom(ctx context.Context) *Exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*Exchange)
	return ex
}

// Causes attached to cancelled contexts, so the backend and the edge can
// tell a timeout from a client disconnect.
var (
	ErrRequestTimeout = errors.New("request timeout")
	ErrIdleTimeout    = errors.New("idle timeout")
	ErrPerTryTimeout  = errors.New("per-try timeout")
	ErrDraining       = errors.New("gateway draining")
	// ErrRetryBudget is returned by a Retrier when the budget denies a
	// retry after an attempt that got no response; the edge answers 503.
	ErrRetryBudget = errors.New("retry budget exhausted")
)

// Idempotent reports whether the exchange may be replayed after it may
// have reached the backend. Non-idempotent calls (tools/call, A2A
// message/send and friends, plain POSTs) are only retried when they
// provably never left the gateway.
func (e *Exchange) Idempotent() bool {
	if e.RPC != nil {
		for _, m := range e.RPC.Messages {
			if mcp.NonIdempotent(m.Method) {
				return false
			}
		}
		return true
	}
	switch e.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// Decisions recorded in Exchange.Decision.
const (
	DecisionAllowed         = "allowed"
	DecisionDenied          = "denied"
	DecisionRateLimited     = "rate_limited"
	DecisionUnauthenticated = "unauthenticated"
)

// RequestPath returns the escaped path exactly as the client sent it.
func RequestPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}
