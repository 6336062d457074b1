// Package policy defines the one small contract every route policy
// implements, the registry that maps config type names to factories, and
// the fixed order in which policies run.
//
// A policy wraps the next handler. Handlers return errors instead of writing
// error responses; the gateway's edge renders them (HTTP or JSON-RPC) in one
// place. Observability (spans, per-policy metrics) is added by the chain
// builder, not by policies.
package policy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

// Handler serves a request and returns an error that the edge renders when
// no response has been started.
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Policy is a provisioned, runnable policy.
type Policy interface {
	// Wrap returns a handler that applies the policy before (and/or after)
	// next.
	Wrap(next Handler) Handler
}

// Cleaner is implemented by policies that hold resources (goroutines,
// connections) to release when their config is retired.
type Cleaner interface {
	Cleanup() error
}

// WellKnown is implemented by policies that publish a document for their
// route outside the route's prefix, such as the RFC 9728 protected-resource
// metadata at /.well-known/oauth-protected-resource<prefix>. The gateway
// asks each provisioned policy once, with the route's path prefix, and
// serves h at the exact (escaped) path on the route's bind, before route
// matching and without running any policy chain. A policy returns path ""
// when it publishes nothing for this route.
type WellKnown interface {
	WellKnown(prefix string) (path string, h http.Handler)
}

// Env is what a factory may use while provisioning.
type Env struct {
	// RouteName is the route the policy belongs to.
	RouteName string
	// Route is the route's config.
	Route *config.Route
	// Config is the whole config, for top-level sections a policy needs
	// (shared rate-limit storage, for example).
	Config *config.Config
	// Logger is the gateway's logger.
	Logger *slog.Logger
	// Recorder receives the decisions the policy makes, for the gateway's
	// metrics, and gives audit records their trace id. Nil records
	// nothing (use Rec).
	Recorder Recorder
	// Limits, when set, is the rate-limit store (counts and MCP session
	// bindings) every policy of the gateway uses instead of the process's
	// shared one; tests set a fresh store this way. See AcquireLimits.
	Limits *sharedstate.Store
}

// AcquireLimits returns the rate-limit store a policy uses and the function
// to call (once) when the policy is retired: Limits when set, otherwise the
// process's store for Config's rateLimiting section, shared by every policy
// with the same options (sharedstate.Acquire; I/O: the first use of a Redis
// store checks it, bounded by its timeout).
func (e Env) AcquireLimits(ctx context.Context) (*sharedstate.Store, func(), error) {
	if e.Limits != nil {
		return e.Limits, func() {}, nil
	}
	return sharedstate.Acquire(ctx, sharedstate.OptionsFrom(e.Config), e.Logger)
}

// Rec returns e.Recorder, or NopRecorder when it is nil.
func (e Env) Rec() Recorder {
	if e.Recorder == nil {
		return NopRecorder{}
	}
	return e.Recorder
}

// Recorder is how policies report what they decide. The code that decides
// reports the decision: the gateway never infers one from a response
// status, which a backend, an overload cap or another policy can produce
// as well (a backend's own 429 is not a rate-limit decision, nor its 401
// an authentication failure).
//
// Implementations must be safe for concurrent use and comparable (a
// pointer, typically): state that policies share across routes and
// reloads (jwt-authn's JWKS sources and TokenReview clients) is shared per
// recorder.
type Recorder interface {
	// AuthnDecision reports an authentication outcome on route: ok when
	// the caller was authenticated, !ok when it was refused for its
	// credentials (not when the gateway could not check them).
	AuthnDecision(route string, ok bool)
	// AuthzDecision reports an authorization decision on a route of kind
	// KindMCP or KindA2A.
	AuthzDecision(route string, kind Kind, allowed bool)
	// RateLimitDecision reports a rate-limit check: limited when a limit
	// refused the request.
	RateLimitDecision(route string, limited bool)
	// JWKSFetch reports a JWKS fetch and whether it succeeded.
	JWKSFetch(ok bool)
	// TokenReview reports a TokenReview request: "ok", "denied" or
	// "error".
	TokenReview(result string)
	// TokenCache reports a verified-token cache lookup.
	TokenCache(hit bool)
	// TraceID returns the trace id of ctx's span, or "" (audit records
	// then fall back to the request's traceparent header; see TraceID).
	TraceID(ctx context.Context) string
}

// NopRecorder records nothing.
type NopRecorder struct{}

func (NopRecorder) AuthnDecision(string, bool)       {}
func (NopRecorder) AuthzDecision(string, Kind, bool) {}
func (NopRecorder) RateLimitDecision(string, bool)   {}
func (NopRecorder) JWKSFetch(bool)                   {}
func (NopRecorder) TokenReview(string)               {}
func (NopRecorder) TokenCache(bool)                  {}
func (NopRecorder) TraceID(context.Context) string   { return "" }

// Factory validates nothing (config.Validate already did) and provisions a
// runtime policy from its config block. It may perform I/O.
type Factory func(ctx context.Context, p *config.Policy, env Env) (Policy, error)

// Order is the fixed position of a policy in the chain, outermost first.
// This is the single place where policy order is defined:
//
//	tracing → metrics/log → timeout → authn → authz → rate limit → retry → backend
//
// Tracing and metrics/log are wired by the chain builder around the whole
// chain and around each policy; the rest are policy types.
type Order int

// Positions of policy types in the chain.
const (
	OrderTimeout   Order = 30
	OrderAuthn     Order = 40
	OrderAuthz     Order = 50
	OrderRateLimit Order = 60
	OrderRetry     Order = 70
)

// TypeOrder maps every policy type this build knows to its position.
// Define adds each type with its config and its factory, so a type is
// either unknown (a config error) or enforced.
var TypeOrder = map[string]Order{}

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Definition is everything the gateway needs to know about a policy type,
// given by the policy's own package in one place (its init calls Define;
// internal/policy/all imports the package):
//
//   - Type, Block, Config and Source go to the config decoder, validator
//     and schema generator (config.RegisterPolicy);
//   - Order places the type in the chain (TypeOrder);
//   - New provisions it (Lookup).
type Definition struct {
	// Type is the value of the policy's type field.
	Type string
	// Block is the YAML key of its config block.
	Block string
	// Order is its position in the chain.
	Order Order
	// Config returns a new zero config block (a pointer to a struct with
	// yaml tags that implements config.PolicySpec).
	Config func() config.PolicySpec
	// Source is the Go source declaring the config block (//go:embed), for
	// the schema's descriptions.
	Source []byte
	// New provisions a policy from a validated block (Policy.Spec).
	New Factory
}

// Define makes a policy type known to the config and enforceable. It
// panics on a duplicate or incomplete definition, which is a programming
// error. Call it from init.
func Define(k Definition) {
	if k.New == nil {
		panic(fmt.Sprintf("policy: definition of %q has no New", k.Type))
	}
	config.RegisterPolicy(config.PolicyKind{Type: k.Type, Block: k.Block, Order: int(k.Order), New: k.Config, Source: k.Source})
	mu.Lock()
	if _, dup := TypeOrder[k.Type]; dup {
		mu.Unlock()
		panic(fmt.Sprintf("policy: duplicate definition of %q", k.Type))
	}
	TypeOrder[k.Type] = k.Order
	factories[k.Type] = k.New
	mu.Unlock()
}

// Lookup returns the factory for typ.
func Lookup(typ string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := factories[typ]
	return f, ok
}

// Enforced reports whether this build can enforce typ.
func Enforced(typ string) bool {
	_, ok := Lookup(typ)
	return ok
}
