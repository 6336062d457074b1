// Package ratelimit implements the rate-limit policy: GCRA limits on
// descriptors built from the tool name, the verified principal and the
// JSON-RPC method of each call (docs/ratelimit.md).
//
// Counters live in the process's shared store (internal/sharedstate): in
// memory, or in Redis when the config has rateLimiting.redis, so that every
// replica shares them. A refused call gets 429 with Retry-After, rendered
// by the edge as a JSON-RPC error that echoes the request id.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/auditlog"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderRateLimit,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: New,
	})
}

// methodToolsCall is the only method whose params.name is a tool name.
const methodToolsCall = "tools/call"

// Policy is a provisioned rate-limit policy.
type Policy struct {
	route   string
	descs   []*descriptor
	limiter gcra.Limiter
	log     *slog.Logger
	// rec receives each decision (agentgateway_ratelimit_decisions_total).
	rec     policy.Recorder
	release func()
	once    sync.Once
}

type kind uint8

const (
	kindTool kind = iota
	kindPrincipal
	kindMethod
	kindBackend
)

type entry struct {
	kind  kind
	value string
	each  bool // "*" or empty: one bucket per distinct value
}

type descriptor struct {
	id      string // ID, e.g. tool-name="execute_code"
	entries []entry
	limit   gcra.Limit
}

// New provisions a rate-limit policy. It acquires the process's shared
// store for the config's rateLimiting section (I/O: the first use of a
// Redis store checks it, bounded by its timeout).
func New(ctx context.Context, p *config.Policy, env policy.Env) (policy.Policy, error) {
	c, _ := p.Spec.(*Config)
	if c == nil {
		return nil, errors.New("rate-limit policy without a rateLimit block")
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pol := &Policy{route: env.RouteName, log: log, rec: env.Rec()}
	for i, d := range c.Descriptors {
		cd, err := compile(d)
		if err != nil {
			return nil, fmt.Errorf("descriptors[%d]: %w", i, err)
		}
		pol.descs = append(pol.descs, cd)
	}
	store, release, err := env.AcquireLimits(ctx)
	if err != nil {
		return nil, fmt.Errorf("rate-limit store: %w", err)
	}
	pol.limiter, pol.release = store, release
	if store.State() == sharedstate.StateLocal {
		warnLocal(env.Config, log)
	}
	return pol, nil
}

// warned remembers the last config warned about, so one config logs once
// however many routes limit rates.
var warned atomic.Pointer[config.Config]

func warnLocal(cfg *config.Config, log *slog.Logger) {
	if cfg == nil || warned.Swap(cfg) == cfg {
		return
	}
	if cfg.RateLimiting != nil && cfg.RateLimiting.Replicas > 1 {
		log.Warn("rate limits are local to this replica (no rateLimiting.redis): the gateway runs with several replicas, so up to that many times the configured rate is allowed",
			"replicas", cfg.RateLimiting.Replicas)
		return
	}
	log.Info("rate limits are kept in this process's memory (no rateLimiting.redis); with several replicas each one allows the full rate")
}

func compile(d Descriptor) (*descriptor, error) {
	entries := d.entries()
	cd := &descriptor{
		id:    ID(entries),
		limit: gcra.Limit{PerMinute: d.RateLimit.RequestsPerMinute, Burst: d.RateLimit.Burst},
	}
	if cd.limit.PerMinute <= 0 {
		return nil, errors.New("requestsPerMinute must be greater than 0")
	}
	for _, e := range entries {
		var k kind
		switch e.Key {
		case KeyToolName:
			k = kindTool
		case KeyPrincipal:
			k = kindPrincipal
		case KeyMethod:
			k = kindMethod
		case KeyBackend:
			k = kindBackend
		default:
			return nil, fmt.Errorf("unknown descriptor key %q", e.Key)
		}
		each := e.Value == "" || e.Value == "*"
		cd.entries = append(cd.entries, entry{kind: k, value: e.Value, each: each})
	}
	// Canonical order, so that the key does not depend on how the match
	// list was written.
	sort.SliceStable(cd.entries, func(i, j int) bool { return cd.entries[i].kind < cd.entries[j].kind })
	return cd, nil
}

// call is what descriptors match on: one JSON-RPC request or notification,
// or a request without a JSON-RPC body (method and tool empty).
type call struct {
	method, tool       string
	principal          string
	authenticated      bool
	hasMethod, hasTool bool
	// backend is the backend a call on a federated route goes to (the
	// edge resolves it from the prefix before any policy runs).
	backend    string
	hasBackend bool
}

// value returns the call's value for k and whether it has one.
func (c *call) value(k kind) (string, bool) {
	switch k {
	case kindTool:
		return c.tool, c.hasTool
	case kindMethod:
		return c.method, c.hasMethod
	case kindBackend:
		return c.backend, c.hasBackend
	}
	// Every call has a principal bucket: unauthenticated callers share
	// the one of the empty subject (a verified subject is never empty),
	// but match no exact principal.
	return c.principal, true
}

// key returns the limiter key of c under d, and whether d applies to c.
func (d *descriptor) key(route string, c *call) (string, bool) {
	var buf [4]string
	parts := append(buf[:0], route, d.id)
	for _, e := range d.entries {
		v, ok := c.value(e.kind)
		if !ok {
			return "", false
		}
		if e.each {
			parts = append(parts, v)
			continue
		}
		if v != e.value || e.kind == kindPrincipal && !c.authenticated {
			return "", false
		}
	}
	return gcra.Key(parts...), true
}

// Wrap checks every call of the request against every descriptor before
// next runs.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := p.check(r); err != nil {
			return err
		}
		p.rec.RateLimitDecision(p.route, false)
		return next.ServeHTTP(w, r)
	})
}

func (p *Policy) check(r *http.Request) error {
	ctx := r.Context()
	// The principal is the verified identity, never a header.
	var base call
	if id, ok := identity.From(ctx); ok {
		base.principal, base.authenticated = id.Subject, true
	}
	ex := policy.ExchangeFrom(ctx)
	if ex != nil && ex.Kind == policy.KindA2A {
		// An A2A request is one call under its canonical method, which
		// the edge resolved from the JSON-RPC name of either version or
		// the HTTP+JSON path (a2a.Classify): SendMessage and
		// POST /v1/message:send count as message/send.
		c := base
		if a2a.IsCanonical(ex.ProtoMethod) {
			c.method, c.hasMethod = ex.ProtoMethod, true
		}
		return p.checkCall(r, &c)
	}
	if ex == nil || ex.RPC == nil {
		return p.checkCall(r, &base)
	}
	for _, m := range ex.RPC.Messages {
		if m.Kind == mcp.KindResponse {
			continue // a reply to the server's own request is never refused
		}
		c := base
		c.method, c.hasMethod = m.Method, true
		if ex.Backend != "" && len(ex.RPC.Messages) == 1 {
			c.backend, c.hasBackend = ex.Backend, true
		}
		if m.Method == methodToolsCall && m.Name != "" {
			c.tool, c.hasTool = m.Name, true
		}
		if err := p.checkCall(r, &c); err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) checkCall(r *http.Request, c *call) error {
	ctx := r.Context()
	for _, d := range p.descs {
		key, ok := d.key(p.route, c)
		if !ok {
			continue
		}
		res, err := p.limiter.Allow(ctx, key, d.limit)
		if err != nil {
			perr := StoreFailed(ctx, d.id, err)
			p.audit(r, d, c, perr.Status, "rate limiter unavailable")
			return perr
		}
		if !res.Allowed {
			return p.refuse(r, d, c, res)
		}
	}
	return nil
}

func (p *Policy) refuse(r *http.Request, d *descriptor, c *call, res gcra.Result) error {
	err := Exceeded(d.id, d.limit, res)
	p.rec.RateLimitDecision(p.route, true)
	p.audit(r, d, c, err.Status, "")
	return err
}

// audit writes the refusal as an audit record (audit=true, INFO), like
// the authorization policies' decisions: a call this policy refused must
// not look, in the audit stream, like the call an earlier policy allowed.
func (p *Policy) audit(r *http.Request, d *descriptor, c *call, status int, reason string) {
	decision := policy.DecisionRateLimited
	if status != http.StatusTooManyRequests {
		decision = policy.DecisionDenied
	}
	if ex := policy.ExchangeFrom(r.Context()); ex != nil {
		ex.Decision = decision
	}
	ctx := r.Context()
	if !p.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	ap := auditlog.GetAttrs()
	defer auditlog.PutAttrs(ap)
	attrs := append(*ap,
		slog.Bool("audit", true),
		slog.String("policy", "rate-limit"),
		slog.String("route", p.route),
		slog.String("decision", decision),
		slog.String("principal", c.principal),
		slog.String("descriptor", d.id),
		slog.Int("status", status),
	)
	if c.hasMethod {
		attrs = append(attrs, slog.String("method", c.method))
	}
	if c.hasTool {
		attrs = append(attrs, slog.String("tool", c.tool))
	}
	if c.hasBackend {
		attrs = append(attrs, slog.String("backend", c.backend))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if tid := auditlog.TraceID(r, p.rec); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	if rid := auditlog.RequestID(r); rid != "" {
		attrs = append(attrs, slog.String("request_id", rid))
	}
	*ap = attrs
	msg := "rate limit exceeded"
	if reason != "" {
		msg = "rate limit unavailable"
	}
	auditlog.LogAttrs(ctx, p.log, slog.LevelInfo, msg, attrs...)
}

// Exceeded is the error for a call refused by a limit: 429, JSON-RPC code
// -32029, Retry-After in whole seconds (at least 1) and a message naming
// what was limited (what, e.g. `tool-name="execute_code"`) and when to
// retry. Other policies that limit rates (mcp-authz per-rule limits) use
// it so that every refusal looks the same.
func Exceeded(what string, limit gcra.Limit, res gcra.Result) *policy.Error {
	secs := int64((res.RetryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &policy.Error{
		Status: http.StatusTooManyRequests,
		Code:   policy.CodeRateLimited,
		Message: fmt.Sprintf("rate limit exceeded for %s (%d requests per minute, burst %d); retry after %ds",
			what, limit.PerMinute, limit.BurstOrDefault(), secs),
		Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}},
	}
}

// StoreFailed is the error for a limit check that failed (err from
// Limiter.Allow): 503 when the store is down and failureMode is closed,
// and the usual statuses when the request itself ended (timeout, client
// gone, draining).
func StoreFailed(ctx context.Context, what string, err error) *policy.Error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(err, sharedstate.ErrUnavailable):
		return &policy.Error{
			Status:  http.StatusServiceUnavailable,
			Code:    policy.CodeGateway,
			Message: fmt.Sprintf("rate limit for %s cannot be checked: the rate-limit store is unavailable; retry later", what),
			Header:  http.Header{"Retry-After": {"1"}},
			Cause:   err,
		}
	case errors.Is(cause, policy.ErrRequestTimeout):
		return &policy.Error{Status: http.StatusGatewayTimeout, Message: "request timeout", Cause: err}
	case errors.Is(cause, policy.ErrDraining):
		return &policy.Error{Status: http.StatusServiceUnavailable, Message: "gateway is shutting down", Cause: err}
	case ctx.Err() != nil:
		return &policy.Error{Status: 499, Message: "client closed request", Cause: err}
	}
	return &policy.Error{Status: http.StatusServiceUnavailable, Message: "rate limit check failed", Cause: err}
}

// Cleanup releases the shared store (closed with its last user).
func (p *Policy) Cleanup() error {
	p.once.Do(func() {
		if p.release != nil {
			p.release()
		}
	})
	return nil
}
