package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// Observer is how telemetry sees requests without policies knowing about
// it. The edge calls Begin and End around every request; the chain
// builder wraps every policy with WrapPolicy; the backend reports each
// upstream attempt and each response stream.
type Observer interface {
	// Begin starts observing a request and returns the context it runs
	// in (carrying the server span).
	Begin(r *http.Request) context.Context
	// WrapPolicy wraps one policy of a route's chain: wrap is the
	// policy's Wrap, next the rest of the chain.
	WrapPolicy(route, policyType string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler
	// Attempt starts one upstream attempt (n counts from 1) on req, whose
	// headers it may change (trace propagation); done reports its result.
	Attempt(ctx context.Context, ex *policy.Exchange, req *http.Request, n int) (context.Context, func(*http.Response, error))
	// Prepare is called once the edge has parsed the request, before the
	// chain runs (it may add response hooks).
	Prepare(ex *policy.Exchange)
	// Stream reports a response stream that opened; the returned func is
	// called when it closes.
	Stream(ex *policy.Exchange) func()
	// End is called once when the request finishes.
	End(ctx context.Context, r *http.Request, ex *policy.Exchange, res Result)
}

// Result is how a request ended.
type Result struct {
	Status   int // 0: the backend broke the stream after headers
	Bytes    int64
	Duration time.Duration
	Err      error
}

type nopObserver struct{}

func (nopObserver) Begin(r *http.Request) context.Context { return r.Context() }
func (nopObserver) WrapPolicy(_, _ string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler {
	return wrap(next)
}
func (nopObserver) Attempt(ctx context.Context, _ *policy.Exchange, _ *http.Request, _ int) (context.Context, func(*http.Response, error)) {
	return ctx, func(*http.Response, error) {}
}
func (nopObserver) Prepare(*policy.Exchange)                                     {}
func (nopObserver) Stream(*policy.Exchange) func()                               { return func() {} }
func (nopObserver) End(context.Context, *http.Request, *policy.Exchange, Result) {}

// Telemetry is the Observer of `agentgateway run`: Prometheus metrics,
// OpenTelemetry spans and the access log. Any part may be nil.
type Telemetry struct {
	Metrics *telemetry.Metrics
	Tracing *telemetry.Tracing
	// Attrs are the configured span attributes (observability.
	// opentelemetry.tracing.attributes).
	Attrs *telemetry.Attributes
	// Access receives one record per request; nil disables the access log.
	Access *slog.Logger

	tools toolCatalog
}

var (
	_ Observer        = (*Telemetry)(nil)
	_ policy.Recorder = (*Telemetry)(nil)
)

// recorderOf returns what policies report their decisions to: obs when
// it records them, else a recorder that only gives audit records the
// trace id of the request's span.
func recorderOf(obs Observer) policy.Recorder {
	if rec, ok := obs.(policy.Recorder); ok {
		return rec
	}
	return spanTraceIDs{}
}

// spanTraceIDs records no decision; audit records get the trace id of
// the request's span.
type spanTraceIDs struct{ policy.NopRecorder }

func (spanTraceIDs) TraceID(ctx context.Context) string { return TraceIDFromContext(ctx) }

// The decision counters are fed by the code that decides (policy.Recorder),
// never inferred from a response status here: a backend's own 429 or 401,
// or an overload cap's 429, is no policy decision.

// AuthnDecision counts an authentication outcome.
func (t *Telemetry) AuthnDecision(route string, ok bool) {
	if ok {
		t.Metrics.AuthnDecision(route, "success")
	} else {
		t.Metrics.AuthnDecision(route, "failure")
	}
}

// AuthzDecision counts an authorization decision.
func (t *Telemetry) AuthzDecision(route string, kind policy.Kind, allowed bool) {
	if allowed {
		t.Metrics.AuthzDecision(route, kindLabel(kind), policy.DecisionAllowed)
	} else {
		t.Metrics.AuthzDecision(route, kindLabel(kind), policy.DecisionDenied)
	}
}

// RateLimitDecision counts a rate-limit decision.
func (t *Telemetry) RateLimitDecision(route string, limited bool) {
	if limited {
		t.Metrics.RateLimitDecision(route, "limited")
	} else {
		t.Metrics.RateLimitDecision(route, "allowed")
	}
}

// JWKSFetch counts a JWKS fetch.
func (t *Telemetry) JWKSFetch(ok bool) {
	if ok {
		t.Metrics.JWKSFetch("ok")
	} else {
		t.Metrics.JWKSFetch("error")
	}
}

// TokenReview counts a TokenReview request: ok, denied or error.
func (t *Telemetry) TokenReview(result string) { t.Metrics.TokenReview(result) }

// TokenCache counts a verified-token cache lookup.
func (t *Telemetry) TokenCache(hit bool) { t.Metrics.TokenCache(hit) }

// TraceID returns the trace id of ctx's span, for audit records.
func (t *Telemetry) TraceID(ctx context.Context) string { return TraceIDFromContext(ctx) }

// Begin starts the server span. Its name is the HTTP method until the
// route is known; End renames it to "<method> <route prefix>".
func (t *Telemetry) Begin(r *http.Request) context.Context {
	if !t.Tracing.Enabled() {
		return r.Context()
	}
	// Its attributes, these two first, are set by End in one call.
	ctx, _ := t.Tracing.StartServer(r.Context(), r.Header, r.Method)
	return context.WithValue(ctx, policySpanKey{}, &policySpan{})
}

// policySpanKey holds the request's *policySpan.
type policySpanKey struct{}

// policySpan is the span of the policy running now. Policy spans never
// overlap: each ends when its policy hands over to the rest of the chain,
// before the next policy's starts, so one slot per request is enough.
type policySpan struct {
	span  trace.Span // nil when no policy span is open
	attrs []attribute.KeyValue
}

// end ends the open policy span, if any, with its attributes (set at
// the end, in one call: each call grows the span's list).
func (p *policySpan) end(more ...attribute.KeyValue) {
	if p.span != nil {
		p.span.SetAttributes(p.attrs...)
		if len(more) > 0 {
			p.span.SetAttributes(more...)
		}
		p.span.End()
		p.span = nil
	}
}

// WrapPolicy gives each policy its own span that ends when the policy
// hands over to the rest of the chain (or returns without doing so), so
// authn, authz and rate-limit spans measure only their own work and the
// rest of the chain continues under the server span.
//
// The policy runs with the request's context unchanged (the server span
// in it): policies start no spans of their own, and a context and a
// request copy per policy, twice, would cost more than the span itself.
func (t *Telemetry) WrapPolicy(route, policyType string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler {
	// timeout and retry only arm deadlines and a retrier at request time;
	// their effects show on the server span and the attempt spans, so a
	// span each would cost more than it tells.
	if !t.Tracing.Enabled() || policyType == config.PolicyTimeout || policyType == config.PolicyRetry {
		return wrap(next)
	}
	tracer := t.Tracing.Tracer()
	inner := policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if ps, ok := r.Context().Value(policySpanKey{}).(*policySpan); ok {
			ps.end()
		}
		return next.ServeHTTP(w, r)
	})
	h := wrap(inner)
	attrs := []attribute.KeyValue{attribute.String("agentgateway.policy", policyType), attribute.String("agentgateway.route", route)}
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ps, ok := r.Context().Value(policySpanKey{}).(*policySpan)
		if !ok {
			// Not begun by Begin (a chain run on its own).
			ps = &policySpan{}
			r = r.WithContext(context.WithValue(r.Context(), policySpanKey{}, ps))
		}
		_, ps.span = tracer.Start(r.Context(), policyType)
		ps.attrs = attrs
		err := h.ServeHTTP(w, r)
		if ps.span != nil {
			// The policy answered without handing over: the open span is
			// its own (a later policy's would have ended before returning).
			if err != nil {
				pe := policy.AsError(err)
				ps.span.SetStatus(codes.Error, pe.Message)
				ps.end(attribute.Int("http.response.status_code", pe.Status))
			} else {
				ps.end()
			}
		}
		return err
	})
}

// Attempt opens a client span per upstream attempt, so retries are
// visible, and propagates it to the backend (W3C traceparent, baggage).
func (t *Telemetry) Attempt(ctx context.Context, ex *policy.Exchange, req *http.Request, n int) (context.Context, func(*http.Response, error)) {
	if n > 1 {
		t.Metrics.UpstreamRetry(ex.Route, ex.Backend)
	}
	var span trace.Span
	if t.Tracing.Enabled() {
		// req is this attempt's shallow copy; its headers are the proxy's
		// outgoing request's, which only this attempt has used so far. A
		// retry gets its own copy: the transport of an earlier attempt may
		// still hold them.
		if n > 1 {
			req.Header = req.Header.Clone()
		}
		// The attributes are set when the attempt ends, in one call
		// (each call grows the span's list).
		ctx, span = t.Tracing.Tracer().Start(ctx, upstreamSpanName(ex.Backend), clientSpan)
		t.Tracing.Inject(ctx, req.Header)
	}
	var host string
	if span != nil {
		host = req.URL.Host
	}
	return ctx, func(res *http.Response, err error) {
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
				span.SetAttributes(attrs[:3]...)
				span.SetStatus(codes.Error, result)
			} else {
				attrs[3] = attribute.Int("http.response.status_code", res.StatusCode)
				span.SetAttributes(attrs[:]...)
				if res.StatusCode >= 500 {
					span.SetStatus(codes.Error, result)
				}
			}
			span.End()
		}
	}
}

var clientSpan = trace.WithSpanKind(trace.SpanKindClient)

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
func (t *Telemetry) FederationFailure(route, backend string) {
	t.Metrics.FederationFailure(route, backend)
}

// BreakerState exports a backend's circuit breaker state.
func (t *Telemetry) BreakerState(route, backend string, state int) {
	t.Metrics.BreakerState(route, backend, state)
}

// SessionsChanged exports the number of tracked MCP sessions.
func (t *Telemetry) SessionsChanged(route string, delta int) { t.Metrics.SessionsChanged(route, delta) }

// SessionClosed counts an MCP session the gateway closed.
func (t *Telemetry) SessionClosed(route, reason string) { t.Metrics.SessionClosed(route, reason) }

// Prepare learns the tools backends list, for the tool_name label guard.
func (t *Telemetry) Prepare(ex *policy.Exchange) {
	if ex.Kind == policy.KindMCP && ex.ProtoMethod == "tools/list" && t.Metrics != nil {
		ex.ResponseHooks = append(ex.ResponseHooks, t.observeToolsList(ex.Route))
	}
}

// Stream counts an open response stream.
func (t *Telemetry) Stream(ex *policy.Exchange) func() {
	t.Metrics.StreamOpened(ex.Route)
	var once sync.Once
	return func() { once.Do(func() { t.Metrics.StreamClosed(ex.Route) }) }
}

// End records the request's metrics, finishes its span and writes its
// access log record.
func (t *Telemetry) End(ctx context.Context, r *http.Request, ex *policy.Exchange, res Result) {
	rec := t.record(r, ex, res)
	t.Metrics.ObserveRequest(&rec)
	if res.Err != nil {
		// Declared here: errors.As moves it to the heap.
		var shed *shedError
		if errors.As(res.Err, &shed) {
			t.Metrics.Shed(ex.Route, shed.reason)
		}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		t.finishSpan(span, r, ex, &rec, res)
	}
	if t.Access != nil {
		t.access(ctx, r, ex, &rec, res)
	}
}

func (t *Telemetry) record(r *http.Request, ex *policy.Exchange, res Result) telemetry.Request {
	rec := telemetry.Request{
		Route:    ex.Route,
		Backend:  ex.Backend,
		Kind:     kindLabel(ex.Kind),
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

func kindLabel(k policy.Kind) string {
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
		case policy.CodeParseError:
			return "parse_error"
		case policy.CodeInvalidRequest:
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

func (t *Telemetry) finishSpan(span trace.Span, r *http.Request, ex *policy.Exchange, rec *telemetry.Request, res Result) {
	if ex.RoutePrefix != "" {
		span.SetName(r.Method + " " + ex.RoutePrefix)
	}
	// SetAttributes copies them: the slice goes back to the pool.
	ap := spanAttrs.Get().(*[]attribute.KeyValue)
	defer func() { *ap = (*ap)[:0]; spanAttrs.Put(ap) }()
	attrs := append(*ap,
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", requestPath(r)),
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
	vars := telemetry.Vars{Principal: ex.Principal, Route: ex.Route, Backend: ex.Backend, RequestMethod: r.Method, RequestPath: requestPath(r)}
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
func (t *Telemetry) access(ctx context.Context, r *http.Request, ex *policy.Exchange, rec *telemetry.Request, res Result) {
	ap := policy.GetAttrs()
	defer policy.PutAttrs(ap)
	attrs := append(*ap,
		slog.Bool("access", true),
		slog.String("route", ex.Route),
		slog.String("backend", ex.Backend),
		slog.String("http_method", r.Method),
		slog.String("path", requestPath(r)),
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
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	} else if tid := policy.TraceID(r, nil); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	*ap = attrs
	policy.LogAttrs(ctx, t.Access, slog.LevelInfo, "access", attrs...)
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

// learnTools parses a tools/list result (one JSON-RPC message) and adds
// its tool names to the catalog.
func (c *toolCatalog) learnTools(route string, msg []byte) {
	var v struct {
		Result struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"result"`
	}
	if json.Unmarshal(msg, &v) != nil || len(v.Result.Tools) == 0 {
		return
	}
	names := make([]string, 0, len(v.Result.Tools))
	for _, tl := range v.Result.Tools {
		if tl.Name != "" && len(tl.Name) <= 256 {
			names = append(names, tl.Name)
		}
	}
	c.add(route, names)
}

// maxCatalogBody bounds the JSON tools/list response read for the catalog.
const maxCatalogBody = 4 << 20

// observeToolsList returns a response hook that feeds a tools/list
// result to the catalog as the client reads it, without delaying it.
func (t *Telemetry) observeToolsList(route string) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return nil
		}
		if isEventStream(res.Header.Get("Content-Type")) {
			res.Body = mcp.RewriteEvents(res.Body, maxSSEEventBytes, func(ev *mcp.Event) bool {
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
