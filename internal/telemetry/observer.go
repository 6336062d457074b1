package telemetry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgateway-go/agentgateway/internal/auditlog"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/policy/retry"
	"github.com/agentgateway-go/agentgateway/internal/policy/timeout"
)

// Result is how a request ended.
type Result struct {
	Status   int // 0: the backend broke the stream after headers
	Bytes    int64
	Duration time.Duration
	Err      error
}

// Shed is implemented by the cause of a refusal by an overload cap; its
// reason is the label of agentgateway_shed_requests_total.
type Shed interface{ ShedReason() string }

// statusClientClosed is nginx's 499, which the edge records for a client
// that went away.
const statusClientClosed = 499

var _ policy.Recorder = (*Observer)(nil)

// NewObserver builds the observer of cfg's observability section:
// Prometheus metrics (unless observability.prometheus.enabled is false),
// OpenTelemetry tracing (when enabled) with the configured attributes, and
// the access log (unless logging.accessLog is false). Tracing settings are
// read once: changing them needs a restart (docs/observability.md).
func NewObserver(ctx context.Context, cfg *config.Config, version string, log *slog.Logger) (*Observer, error) {
	t := &Observer{}
	obs := cfg.Observability
	if obs == nil || obs.Prometheus == nil || obs.Prometheus.Enabled || !promDisabled(cfg) {
		var selected []string
		if obs != nil && obs.Prometheus != nil {
			selected = append(selected, obs.Prometheus.Metrics...)
		}
		if obs != nil && obs.MCP != nil && len(selected) > 0 {
			selected = append(selected, obs.MCP.Metrics...)
		}
		m, err := NewMetrics(MetricsOptions{Selected: selected, Version: version})
		if err != nil {
			return nil, fmt.Errorf("observability.prometheus.metrics: %w", err)
		}
		t.Metrics = m
	}
	var otel *config.OpenTelemetry
	if obs != nil {
		otel = obs.OpenTelemetry
	}
	topts := TracingOptionsFromConfig(otel, version)
	if otel != nil && otel.Tracing != nil && otel.Tracing.TrustIncomingTraceparent != nil {
		topts.TrustIncomingTraceparent = *otel.Tracing.TrustIncomingTraceparent
	}
	tr, err := NewTracing(ctx, topts)
	if err != nil {
		return nil, fmt.Errorf("observability.opentelemetry: %w", err)
	}
	t.Tracing = tr
	t.Metrics.CountSpanDrops(tr.SpansDropped)
	if otel != nil && otel.Tracing != nil {
		t.PolicySpans = otel.Tracing.PolicySpans
	}
	if otel != nil && otel.Tracing != nil && len(otel.Tracing.Attributes) > 0 {
		if t.Attrs, err = CompileAttributes(otel.Tracing.Attributes); err != nil {
			return nil, fmt.Errorf("observability.opentracing.attributes: %w", err)
		}
	}
	if a := cfg.Logging.AccessLog; a == nil || *a {
		t.Access = log
	}
	return t, nil
}

// promDisabled reports an explicit observability.prometheus.enabled: false.
func promDisabled(cfg *config.Config) bool {
	return cfg.Observability != nil && cfg.Observability.Prometheus != nil && !cfg.Observability.Prometheus.Enabled && cfg.Written("observability.prometheus.enabled")
}

// TraceID returns the trace id of ctx's span, for audit records.
func TraceID(ctx context.Context) string {
	sp := trace.SpanFromContext(ctx)
	if own, ok := sp.(*span); ok && own.sc.HasTraceID() {
		return own.traceID()
	}
	if sc := sp.SpanContext(); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// Observer is how `agentgateway run` observes requests (the gateway's
// Observer): Prometheus metrics, OpenTelemetry spans and the access log.
// It is also the policies' Recorder. Any part may be nil.
type Observer struct {
	Metrics *Metrics
	Tracing *Tracing
	// Attrs are the configured span attributes (observability.
	// opentelemetry.tracing.attributes).
	Attrs *Attributes
	// Access receives one record per request; nil disables the access log.
	Access *slog.Logger
	// PolicySpans gives each traced policy its own span
	// (observability.opentelemetry.tracing.policySpans); without it, a
	// policy's decision is an attribute of the server span only.
	PolicySpans bool

	tools toolCatalog
}

// The decision counters are fed by the code that decides (policy.Recorder),
// never inferred from a response status here: a backend's own 429 or 401,
// or an overload cap's 429, is no policy decision.

// AuthnDecision counts an authentication outcome.
func (t *Observer) AuthnDecision(route string, ok bool) {
	if ok {
		t.Metrics.AuthnDecision(route, "success")
	} else {
		t.Metrics.AuthnDecision(route, "failure")
	}
}

// AuthzDecision counts an authorization decision.
func (t *Observer) AuthzDecision(route string, kind policy.Kind, allowed bool) {
	if allowed {
		t.Metrics.AuthzDecision(route, KindLabel(kind), policy.DecisionAllowed)
	} else {
		t.Metrics.AuthzDecision(route, KindLabel(kind), policy.DecisionDenied)
	}
}

// RateLimitDecision counts a rate-limit decision.
func (t *Observer) RateLimitDecision(route string, limited bool) {
	if limited {
		t.Metrics.RateLimitDecision(route, "limited")
	} else {
		t.Metrics.RateLimitDecision(route, "allowed")
	}
}

// JWKSFetch counts a JWKS fetch.
func (t *Observer) JWKSFetch(ok bool) {
	if ok {
		t.Metrics.JWKSFetch("ok")
	} else {
		t.Metrics.JWKSFetch("error")
	}
}

// TokenReview counts a TokenReview request: ok, denied or error.
func (t *Observer) TokenReview(result string) { t.Metrics.TokenReview(result) }

// TokenCache counts a verified-token cache lookup.
func (t *Observer) TokenCache(hit bool) { t.Metrics.TokenCache(hit) }

// TraceID returns the trace id of ctx's span, for audit records.
func (t *Observer) TraceID(ctx context.Context) string { return TraceID(ctx) }

// Begin starts the server span. Its name is the HTTP method until the
// route is known; End renames it to "<method> <route prefix>". The span's
// bookkeeping lives in ex.Observation: no context of its own.
func (t *Observer) Begin(r *http.Request, ex *policy.Exchange) context.Context {
	if !t.Tracing.Enabled() {
		return r.Context()
	}
	// Its attributes, these two first, are set by End in one call. A
	// recorded span's handle lives in the request's bookkeeping: one
	// allocation for both.
	ctx, _ := t.Tracing.startServer(r.Context(), r.Header, r.Method, nil, func(sampled bool) *span {
		if !sampled {
			return &span{}
		}
		s := &spans{}
		ex.Observation = s
		return &s.server
	})
	return ctx
}

// spans is the span bookkeeping of one recorded request.
type spans struct {
	// server is the server span's handle (see Begin).
	server span

	// decisions are the server span's agentgateway.policy.<type>
	// attributes, one per policy that ran, in chain order.
	decisions []attribute.KeyValue
	buf       [4]attribute.KeyValue
	// open is the policy running now, until it hands the request on or
	// returns: policies never overlap, so one slot per request is enough.
	open    *tracedPolicy
	decided string // ex.Decision when the open policy started
	// policy is the open policy's own span (tracing.policySpans).
	policy trace.Span
}

func spansOf(ex *policy.Exchange) *spans {
	if ex == nil {
		return nil
	}
	s, _ := ex.Observation.(*spans)
	return s
}

// tracedPolicy is one policy of a route's chain as traced.
type tracedPolicy struct {
	key   attribute.Key        // agentgateway.policy.<type>
	attrs []attribute.KeyValue // of its own span (opt-in)
	name  string
}

// The values of agentgateway.policy.<type> besides a decision the policy
// made (ex.Decision: allowed, denied, rate_limited, unauthenticated).
const (
	// The policy handed the request on without a decision of its own
	// (authentication that succeeded, a rate limit not reached).
	policyPassed = "passed"
	// The policy refused the request without recording a decision (a
	// malformed request, an internal error).
	policyRefused = "refused"
	// The policy answered the request itself (a document it serves).
	policyAnswered = "answered"
)

// close ends the open policy: handedOn reports whether it handed the
// request to the rest of the chain, err is what it returned otherwise.
func (s *spans) close(ex *policy.Exchange, handedOn bool, err error) {
	p := s.open
	if p == nil {
		return
	}
	s.open = nil
	v := policyPassed
	switch {
	case ex.Decision != "" && ex.Decision != s.decided:
		v = ex.Decision
	case handedOn:
	case err != nil:
		v = policyRefused
	default:
		v = policyAnswered
	}
	if s.decisions == nil {
		s.decisions = s.buf[:0]
	}
	s.decisions = append(s.decisions, p.key.String(v))
	if s.policy == nil {
		return
	}
	// The opt-in policy span, its attributes set in one call (each call
	// grows the span's list).
	span := s.policy
	s.policy = nil
	if !handedOn && err != nil {
		pe := policy.AsError(err)
		span.SetStatus(codes.Error, pe.Message)
		span.SetAttributes(append(p.attrs[:len(p.attrs):len(p.attrs)], attribute.Int("http.response.status_code", pe.Status))...)
	} else {
		span.SetAttributes(p.attrs...)
	}
	span.End()
}

// WrapPolicy records each policy's decision on the server span, as the
// attribute agentgateway.policy.<type>, when the policy hands the request
// on or returns. With tracing.policySpans, each policy also gets its own
// span, ending at the same moment, so authn, authz and rate-limit spans
// measure only their own work and the rest of the chain continues under
// the server span.
//
// The policy runs with the request's context unchanged (the server span
// in it): policies start no spans of their own, and a context and a
// request copy per policy, twice, would cost more than the span itself.
func (t *Observer) WrapPolicy(route, policyType string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler {
	// timeout and retry only arm deadlines and a retrier at request time;
	// their effects show on the server span and the attempt spans, so a
	// span or an attribute each would cost more than it tells.
	if !t.Tracing.Enabled() || policyType == timeout.Type || policyType == retry.Type {
		return wrap(next)
	}
	p := &tracedPolicy{key: attribute.Key("agentgateway.policy." + policyType), name: policyType}
	var tracer trace.Tracer
	if t.PolicySpans {
		tracer = t.Tracing.Tracer()
		p.attrs = []attribute.KeyValue{attribute.String("agentgateway.policy", policyType), attribute.String("agentgateway.route", route)}
	}
	inner := policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		if s := spansOf(ex); s != nil && s.open == p {
			s.close(ex, true, nil)
		}
		return next.ServeHTTP(w, r)
	})
	h := wrap(inner)
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		s := spansOf(ex)
		if s == nil {
			// Not recorded, or a chain run on its own.
			return h.ServeHTTP(w, r)
		}
		s.open, s.decided = p, ex.Decision
		if tracer != nil {
			_, s.policy = tracer.Start(r.Context(), policyType)
		}
		err := h.ServeHTTP(w, r)
		if s.open == p {
			// The policy returned without handing over: the open slot is
			// its own (a later policy's would have closed before returning).
			s.close(ex, false, err)
		}
		return err
	})
}

// Attempt opens a client span per upstream attempt, so retries are
// visible, and propagates it to the backend (W3C traceparent, baggage) in
// req's headers. The span is not put in req's context: nothing between
// here and the backend reads it there, and a request copy per attempt
// would cost more than it tells.
func (t *Observer) Attempt(ctx context.Context, ex *policy.Exchange, req *http.Request, n int) func(*http.Response, error) {
	if n > 1 {
		t.Metrics.UpstreamRetry(ex.Route, ex.Backend)
	}
	var span trace.Span
	if t.Tracing.Enabled() {
		// req is this attempt's request; its headers are the proxy's
		// outgoing request's, which only this attempt has used so far. A
		// retry gets its own copy: the transport of an earlier attempt may
		// still hold them.
		if n > 1 {
			req.Header = req.Header.Clone()
		}
		// The attributes are set when the attempt ends, in one call
		// (each call grows the span's list). An unsampled span is still
		// propagated (its traceparent says so) but gets no attributes.
		span = t.Tracing.StartClient(ctx, upstreamSpanName(ex.Backend), req.Header)
		if !span.IsRecording() {
			span = nil
		}
	}
	var host string
	if span != nil {
		host = req.URL.Host
	}
	return func(res *http.Response, err error) {
		result := "ok"
		switch {
		case err != nil && policy.IsConnectFailure(err):
			result = "connect_failure"
		case err != nil && policy.IsReset(err):
			result = "reset"
		case err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, policy.ErrPerTryTimeout)):
			result = "timeout"
		case err != nil:
			result = "error"
		case res.StatusCode >= 500:
			result = "5xx"
		}
		t.Metrics.UpstreamAttempt(ex.Route, ex.Backend, result)
		if span != nil {
			attrs := [4]attribute.KeyValue{
				attribute.String("agentgateway.backend", ex.Backend),
				attribute.Int("agentgateway.attempt", n),
				attribute.String("server.address", host),
			}
			if err != nil {
				setAttributes(span, attrs[:3]...)
				span.SetStatus(codes.Error, result)
			} else {
				attrs[3] = attribute.Int("http.response.status_code", res.StatusCode)
				setAttributes(span, attrs[:]...)
				if res.StatusCode >= 500 {
					span.SetStatus(codes.Error, result)
				}
			}
			span.End()
		}
	}
}

// serverSpanNames caches "<method> <route prefix>" for the standard
// methods: route prefixes come from the config, and a client's own method
// names are not kept.
var serverSpanNames sync.Map

func serverSpanName(method, prefix string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions:
	default:
		return method + " " + prefix
	}
	type key struct{ method, prefix string }
	k := key{method, prefix}
	if v, ok := serverSpanNames.Load(k); ok {
		return v.(string)
	}
	name := method + " " + prefix
	serverSpanNames.Store(k, name)
	return name
}

// upstreamSpanNames caches "upstream <backend>": backend names come from
// the config.
var upstreamSpanNames sync.Map

func upstreamSpanName(backend string) string {
	if v, ok := upstreamSpanNames.Load(backend); ok {
		return v.(string)
	}
	name := "upstream " + backend
	upstreamSpanNames.Store(backend, name)
	return name
}

// FederationFailure counts a federated backend's failed fan-out part.
func (t *Observer) FederationFailure(route, backend string) {
	t.Metrics.FederationFailure(route, backend)
}

// BreakerState exports a backend's circuit breaker state.
func (t *Observer) BreakerState(route, backend string, state int) {
	t.Metrics.BreakerState(route, backend, state)
}

// SessionsChanged exports the number of tracked MCP sessions.
func (t *Observer) SessionsChanged(route string, delta int) { t.Metrics.SessionsChanged(route, delta) }

// SessionClosed counts an MCP session the gateway closed.
func (t *Observer) SessionClosed(route, reason string) { t.Metrics.SessionClosed(route, reason) }

// Prepare learns the tools backends list, for the tool_name label guard.
func (t *Observer) Prepare(ex *policy.Exchange) {
	if ex.Kind == policy.KindMCP && ex.ProtoMethod == "tools/list" && t.Metrics != nil {
		ex.ResponseHooks = append(ex.ResponseHooks, t.observeToolsList(ex.Route))
	}
}

// Stream counts an open response stream.
func (t *Observer) Stream(ex *policy.Exchange) func() {
	t.Metrics.StreamOpened(ex.Route)
	var once sync.Once
	return func() { once.Do(func() { t.Metrics.StreamClosed(ex.Route) }) }
}

// End records the request's metrics, finishes its span and writes its
// access log record.
func (t *Observer) End(ctx context.Context, r *http.Request, ex *policy.Exchange, res Result) {
	rec := t.record(r, ex, res)
	t.Metrics.ObserveRequest(&rec)
	if res.Err != nil {
		// Declared here: errors.As moves it to the heap.
		var shed Shed
		if errors.As(res.Err, &shed) {
			t.Metrics.Shed(ex.Route, shed.ShedReason())
		}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		t.finishSpan(span, r, ex, &rec, res)
	}
	if t.Access != nil {
		t.access(ctx, r, ex, &rec, res)
	}
}

func (t *Observer) record(r *http.Request, ex *policy.Exchange, res Result) Request {
	rec := Request{
		Route:    ex.Route,
		Backend:  ex.Backend,
		Kind:     KindLabel(ex.Kind),
		Method:   ex.ProtoMethod,
		Status:   res.Status,
		Duration: res.Duration,
		Decision: ex.Decision,
		Target:   ex.Target,
	}
	if rec.Method == "" {
		rec.Method = r.Method
	}
	if ex.Principal != nil {
		rec.Identity = ex.Principal.Subject
		rec.Source = ex.Principal.Subject
	}
	if ex.Kind == policy.KindMCP && ex.RPC != nil && !ex.RPC.Batch && len(ex.RPC.Messages) == 1 {
		m := ex.RPC.Messages[0]
		switch m.Method {
		case "tools/call":
			rec.Tool = m.Name
			rec.ToolKnown = t.tools.has(ex.Route, m.Name)
		case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
			rec.Discovery = true
		}
	}
	rec.ErrorType = errorType(res, ex)
	return rec
}

// KindLabel is the kind label of metrics and logs: mcp, a2a or http.
func KindLabel(k policy.Kind) string {
	switch k {
	case policy.KindMCP:
		return "mcp"
	case policy.KindA2A:
		return "a2a"
	}
	return "http"
}

// errorType maps how a request ended to the closed error_type set.
func errorType(res Result, ex *policy.Exchange) string {
	st := res.Status
	if res.Err != nil {
		pe := policy.AsError(res.Err)
		switch pe.Code {
		case mcp.CodeParseError:
			return "parse_error"
		case mcp.CodeInvalidRequest:
			return "invalid_request"
		}
		if policy.IsConnectFailure(pe.Cause) {
			return "upstream_unavailable"
		}
	}
	switch {
	case st == 0:
		return "aborted"
	case st < 400:
		if ex.StreamEnd != nil && (errors.Is(ex.StreamEnd, policy.ErrRequestTimeout) || errors.Is(ex.StreamEnd, policy.ErrIdleTimeout)) {
			return "timeout"
		}
		return ""
	case st == http.StatusBadRequest:
		return "invalid_request"
	case st == http.StatusUnauthorized:
		return "unauthenticated"
	case st == http.StatusForbidden:
		return "forbidden"
	case st == http.StatusNotFound:
		return "not_found"
	case st == http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case st == http.StatusTooManyRequests:
		return "rate_limited"
	case st == http.StatusGatewayTimeout || st == http.StatusRequestTimeout:
		return "timeout"
	case st == http.StatusServiceUnavailable && res.Err != nil:
		return "overloaded"
	case st == statusClientClosed:
		return "aborted"
	case st >= 500:
		return "upstream_error"
	}
	return "invalid_request"
}

var spanAttrs = sync.Pool{New: func() any { s := make([]attribute.KeyValue, 0, 24); return &s }}

func (t *Observer) finishSpan(span trace.Span, r *http.Request, ex *policy.Exchange, rec *Request, res Result) {
	if ex.RoutePrefix != "" {
		span.SetName(serverSpanName(r.Method, ex.RoutePrefix))
	}
	// SetAttributes copies them: the slice goes back to the pool.
	ap := spanAttrs.Get().(*[]attribute.KeyValue)
	defer func() { *ap = (*ap)[:0]; spanAttrs.Put(ap) }()
	attrs := append(*ap,
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", policy.RequestPath(r)),
		attribute.Int("http.response.status_code", res.Status))
	if ex.Route != "" {
		attrs = append(attrs, attribute.String("http.route", ex.RoutePrefix), attribute.String("agentgateway.route", ex.Route))
	}
	if ex.Backend != "" {
		attrs = append(attrs, attribute.String("agentgateway.backend", ex.Backend))
	}
	if ex.Decision != "" {
		attrs = append(attrs, attribute.String("agentgateway.decision", ex.Decision))
	}
	vars := Vars{Principal: ex.Principal, Route: ex.Route, Backend: ex.Backend, RequestMethod: r.Method, RequestPath: policy.RequestPath(r)}
	switch ex.Kind {
	case policy.KindMCP:
		if ex.ProtoMethod != "" {
			attrs = append(attrs, attribute.String("mcp.method.name", ex.ProtoMethod))
			vars.MCPMethod = ex.ProtoMethod
		}
		if sid := r.Header.Get(mcp.HeaderSessionID); sid != "" {
			// The session id is a bearer secret: spans carry a stable
			// digest that correlates a session's requests across replicas
			// without revealing the id.
			h := sessionDigest(sid)
			attrs = append(attrs, attribute.String("mcp.session.id", h))
			vars.MCPSessionID = h
		}
		if rec.Tool != "" {
			// Only the name: tool arguments never go into spans.
			attrs = append(attrs, attribute.String("gen_ai.tool.name", rec.Tool), attribute.String("gen_ai.operation.name", "execute_tool"))
			vars.MCPTool = rec.Tool
		}
	case policy.KindA2A:
		attrs = append(attrs, attribute.String("a2a.method", ex.ProtoMethod))
		vars.A2AMethod = ex.ProtoMethod
		if ex.Target != "" {
			attrs = append(attrs, attribute.String("a2a.target", ex.Target))
			vars.A2ATarget = ex.Target
		}
		if ex.Principal != nil {
			attrs = append(attrs, attribute.String("a2a.source", ex.Principal.Subject))
			vars.A2ASource = ex.Principal.Subject
		}
	}
	if s := spansOf(ex); s != nil {
		attrs = append(attrs, s.decisions...)
	}
	if t.Attrs != nil {
		attrs = t.Attrs.Append(attrs, &vars)
	}
	span.SetAttributes(attrs...)
	*ap = attrs
	if res.Status == 0 || res.Status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(res.Status))
	}
	span.End()
}

// access writes the access log record: one per request.
func (t *Observer) access(ctx context.Context, r *http.Request, ex *policy.Exchange, rec *Request, res Result) {
	ap := auditlog.GetAttrs()
	defer auditlog.PutAttrs(ap)
	attrs := append(*ap,
		slog.Bool("access", true),
		slog.String("route", ex.Route),
		slog.String("backend", ex.Backend),
		slog.String("http_method", r.Method),
		slog.String("path", policy.RequestPath(r)),
		slog.String("method", rec.Method),
		slog.Int("status", res.Status),
		slog.Float64("duration_ms", float64(res.Duration.Microseconds())/1000),
		slog.Int64("bytes", res.Bytes),
	)
	if ex.Principal != nil {
		attrs = append(attrs, slog.String("identity", ex.Principal.Subject))
	}
	if rec.Tool != "" {
		attrs = append(attrs, slog.String("tool", rec.Tool))
	}
	if ex.Target != "" {
		attrs = append(attrs, slog.String("target", ex.Target))
	}
	if rec.Decision != "" {
		attrs = append(attrs, slog.String("decision", rec.Decision))
	}
	if rec.ErrorType != "" {
		attrs = append(attrs, slog.String("error_type", rec.ErrorType))
	}
	if tid := TraceID(ctx); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	} else if tid := auditlog.TraceID(r, nil); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	*ap = attrs
	auditlog.LogAttrs(ctx, t.Access, slog.LevelInfo, "access", attrs...)
}

// toolCatalog remembers, per route, the tool names backends listed in
// tools/list results. A tools/call for a name never listed is recorded as
// tool_name="unknown", so a caller sending random names cannot create
// series.
type toolCatalog struct {
	mu    sync.RWMutex
	names map[string]map[string]struct{}
}

// maxCatalogTools bounds the names remembered per route.
const maxCatalogTools = 2000

func (c *toolCatalog) has(route, name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.names[route][name]
	return ok
}

func (c *toolCatalog) add(route string, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]map[string]struct{}{}
	}
	m := c.names[route]
	if m == nil {
		m = map[string]struct{}{}
		c.names[route] = m
	}
	for _, n := range names {
		if len(m) >= maxCatalogTools {
			return
		}
		m[n] = struct{}{}
	}
}

// learnTools reads a tools/list result (one JSON-RPC message) with the
// walker the mcp-authz filter uses, and adds its tool names to the
// catalog: a name the filter could not read is not learned either.
func (c *toolCatalog) learnTools(route string, msg []byte) {
	listed := mcp.ListNames(msg, mcp.ListTools)
	if len(listed) == 0 {
		return
	}
	names := make([]string, 0, len(listed))
	for _, n := range listed {
		if n != "" && len(n) <= 256 {
			names = append(names, n)
		}
	}
	c.add(route, names)
}

// maxCatalogBody bounds the JSON tools/list response read for the catalog.
const maxCatalogBody = 4 << 20

// observeToolsList returns a response hook that feeds a tools/list
// result to the catalog as the client reads it, without delaying it.
func (t *Observer) observeToolsList(route string) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return nil
		}
		if mcp.IsEventStream(res.Header.Get("Content-Type")) {
			res.Body = mcp.RewriteEvents(res.Body, mcp.MaxEventBytes, func(ev *mcp.Event) bool {
				t.tools.learnTools(route, []byte(ev.Data))
				return false
			})
			return nil
		}
		res.Body = &teeOnEOF{rc: res.Body, done: func(b []byte) { t.tools.learnTools(route, b) }}
		return nil
	}
}

// teeOnEOF copies what the client reads (up to maxCatalogBody) and hands
// it to done at EOF.
type teeOnEOF struct {
	rc   io.ReadCloser
	buf  bytes.Buffer
	over bool
	done func([]byte)
	once sync.Once
}

func (t *teeOnEOF) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 && !t.over {
		if t.buf.Len()+n > maxCatalogBody {
			t.over = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(p[:n])
		}
	}
	if err == io.EOF && !t.over {
		t.once.Do(func() { t.done(t.buf.Bytes()) })
	}
	return n, err
}

func (t *teeOnEOF) Close() error { return t.rc.Close() }

// sessionDigest is what telemetry shows of an MCP session id: "sha256:"
// and the first 16 hex digits of its SHA-256, the same on every replica.
func sessionDigest(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
