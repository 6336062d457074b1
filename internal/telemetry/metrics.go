package telemetry

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metric names the seed guide uses (Step 3.1, observability.prometheus.metrics
// and observability.mcp.metrics). Each is registered only when selected.
const (
	MetricAgentRequests          = "agent_requests_total"
	MetricAgentRequestDuration   = "agent_request_duration_seconds"
	MetricToolInvocations        = "tool_invocations_total"
	MetricToolInvocationDuration = "tool_invocation_duration_seconds"
	MetricMCPErrors              = "mcp_errors_total"
	MetricA2ACalls               = "a2a_calls_total"
	MetricMCPToolCalls           = "mcp_tool_calls_total"
	MetricMCPToolCallDuration    = "mcp_tool_call_duration_seconds"
	MetricMCPToolErrors          = "mcp_tool_errors_total"
	MetricMCPDiscoveryRequests   = "mcp_discovery_requests_total"
)

// SeedMetrics lists the selectable metric names, in the seed's order.
var SeedMetrics = []string{
	MetricAgentRequests,
	MetricAgentRequestDuration,
	MetricToolInvocations,
	MetricToolInvocationDuration,
	MetricMCPErrors,
	MetricA2ACalls,
	MetricMCPToolCalls,
	MetricMCPToolCallDuration,
	MetricMCPToolErrors,
	MetricMCPDiscoveryRequests,
}

// Label values the metrics use in place of unbounded or missing input.
const (
	LabelOther     = "other"     // a value past a cardinality cap, or outside a closed set
	LabelUnknown   = "unknown"   // a tool the backend never listed
	LabelAnonymous = "anonymous" // no verified identity
	LabelNone      = "none"      // no route, backend or decision
)

// Defaults for MetricsOptions.
const (
	DefaultMaxIdentities = 1000
	DefaultMaxTools      = 500
)

// DurationBuckets are the histogram buckets, in seconds, of every duration
// metric: 1ms to 5 minutes (long-running tool calls and SSE streams).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// MetricsOptions configures NewMetrics.
type MetricsOptions struct {
	// Selected are the metric names listed in the config
	// (observability.prometheus.metrics and observability.mcp.metrics).
	// Empty selects all. A name may be given with or without its
	// _total or _seconds suffix ("mcp_tool_call_duration" is
	// mcp_tool_call_duration_seconds, "mcp_tool_errors" is
	// mcp_tool_errors_total). The gateway's own agentgateway_*, go_* and
	// process_* metrics are always on; naming one is accepted and changes
	// nothing.
	Selected []string
	// MaxIdentities caps the distinct values of the identity-like labels
	// (agent_identity, source, target), shared by all three; past it new
	// values are recorded as "other". 0 means DefaultMaxIdentities.
	MaxIdentities int
	// MaxTools caps the distinct tool_name values; past it new tools are
	// recorded as "other". 0 means DefaultMaxTools.
	MaxTools int
	// Version is reported by agentgateway_build_info.
	Version string
}

// Request is what the gateway records once per finished request.
type Request struct {
	Route, Backend string
	Kind           string // "mcp", "a2a", "http"
	// Method is the protocol method: the MCP method ("tools/call"), the
	// A2A method ("message/send", "SendMessage"), "unknown" for
	// non-JSON-RPC bodies on A2A/MCP routes, or the HTTP verb on plain
	// HTTP routes. Methods outside the known MCP, A2A and HTTP sets are
	// recorded as "other".
	Method   string
	Status   int // HTTP status; 0 = stream aborted
	Duration time.Duration
	Identity string // verified principal ("" = unauthenticated -> label "anonymous")
	Tool     string // tools/call tool name ("" if none)
	// ToolKnown is false when the backend never listed Tool; it is then
	// recorded as tool_name="unknown" (cardinality guard).
	ToolKnown      bool
	Source, Target string // A2A: verified source identity, target agent name
	// Decision is "allowed", "denied", "unauthenticated", "rate_limited",
	// or "" (no decision made, recorded as "none").
	Decision string
	// ErrorType is "" on success; else one of ErrorTypes.
	ErrorType string
	// Discovery marks the MCP list methods (tools/list, prompts/list,
	// resources/list, resources/templates/list).
	Discovery bool
}

// ErrorTypes is the closed set of error_type label values. Any other
// non-empty Request.ErrorType is recorded as "other".
var ErrorTypes = []string{
	"parse_error", "invalid_request", "unauthenticated", "forbidden",
	"rate_limited", "timeout", "upstream_unavailable", "upstream_error",
	"payload_too_large", "not_found", "overloaded", "aborted", "jsonrpc_error",
}

// Metrics records the gateway's Prometheus metrics in its own registry.
// All methods are safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	identities *capSet
	tools      *capSet
	series     seriesCache
	children   childCache
	logDrops   atomic.Pointer[func() uint64]
	spanDrops  atomic.Pointer[func() uint64]

	// Seed metrics; nil when not selected.
	agentRequests          *prometheus.CounterVec
	agentRequestDuration   *prometheus.HistogramVec
	toolInvocations        *prometheus.CounterVec
	toolInvocationDuration *prometheus.HistogramVec
	mcpErrors              *prometheus.CounterVec
	a2aCalls               *prometheus.CounterVec
	mcpToolCalls           *prometheus.CounterVec
	mcpToolCallDuration    *prometheus.HistogramVec
	mcpToolErrors          *prometheus.CounterVec
	mcpDiscovery           *prometheus.CounterVec

	// The gateway's own metrics; always registered.
	authn          *prometheus.CounterVec
	authz          *prometheus.CounterVec
	ratelimit      *prometheus.CounterVec
	upAttempts     *prometheus.CounterVec
	upRetries      *prometheus.CounterVec
	activeStreams  *prometheus.GaugeVec
	breakerState   *prometheus.GaugeVec
	ejections      *prometheus.CounterVec
	shed           *prometheus.CounterVec
	sessions       *prometheus.GaugeVec
	sessionsClosed *prometheus.CounterVec
	fedFailures    *prometheus.CounterVec
	jwks           *prometheus.CounterVec
	tokenReview    *prometheus.CounterVec
	tokenCache     *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	reloadLastOK   prometheus.Gauge
	reloadLastTime prometheus.Gauge
}

// selectionAliases maps every accepted spelling to its metric name.
var selectionAliases = func() map[string]string {
	m := make(map[string]string)
	for _, n := range SeedMetrics {
		m[n] = n
		m[strings.TrimSuffix(n, "_total")] = n
		m[strings.TrimSuffix(n, "_seconds")] = n
	}
	return m
}()

// operationalMetrics are always on; selecting one is a no-op.
var operationalMetrics = map[string]bool{
	"agentgateway_authn_decisions_total":                        true,
	"agentgateway_authz_decisions_total":                        true,
	"agentgateway_ratelimit_decisions_total":                    true,
	"agentgateway_upstream_attempts_total":                      true,
	"agentgateway_upstream_retries_total":                       true,
	"agentgateway_active_streams":                               true,
	"agentgateway_circuit_breaker_state":                        true,
	"agentgateway_circuit_breaker_ejections_total":              true,
	"agentgateway_shed_requests_total":                          true,
	"agentgateway_mcp_sessions":                                 true,
	"agentgateway_mcp_sessions_closed_total":                    true,
	"agentgateway_mcp_federation_backend_failures_total":        true,
	"agentgateway_jwks_fetches_total":                           true,
	"agentgateway_tokenreview_requests_total":                   true,
	"agentgateway_token_cache_requests_total":                   true,
	"agentgateway_config_reloads_total":                         true,
	"agentgateway_config_last_reload_success_timestamp_seconds": true,
	"agentgateway_config_last_reload_successful":                true,
	"agentgateway_build_info":                                   true,
}

// ResolveMetricNames maps configured metric names (either spelling) to the
// exported names, or returns an error naming the valid ones.
func ResolveMetricNames(names []string) (map[string]bool, error) {
	sel := make(map[string]bool, len(SeedMetrics))
	if len(names) == 0 {
		for _, n := range SeedMetrics {
			sel[n] = true
		}
		return sel, nil
	}
	var bad []string
	for _, raw := range names {
		n := strings.TrimSpace(raw)
		if c, ok := selectionAliases[n]; ok {
			sel[c] = true
			continue
		}
		if operationalMetrics[n] || operationalMetrics[n+"_total"] {
			continue
		}
		bad = append(bad, strconv.Quote(raw))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown metric name(s) %s; valid names: %s (the _total/_seconds suffix may be omitted)",
			strings.Join(bad, ", "), strings.Join(SeedMetrics, ", "))
	}
	return sel, nil
}

// NewMetrics builds the registry with the selected seed metrics, the
// gateway's own metrics, and the Go and process collectors.
func NewMetrics(o MetricsOptions) (*Metrics, error) {
	sel, err := ResolveMetricNames(o.Selected)
	if err != nil {
		return nil, err
	}
	if o.MaxIdentities < 0 || o.MaxTools < 0 {
		return nil, fmt.Errorf("metrics: negative cardinality cap (identities %d, tools %d)", o.MaxIdentities, o.MaxTools)
	}
	if o.MaxIdentities == 0 {
		o.MaxIdentities = DefaultMaxIdentities
	}
	if o.MaxTools == 0 {
		o.MaxTools = DefaultMaxTools
	}
	version := o.Version
	if version == "" {
		version = "dev"
	}

	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:        reg,
		identities: newCapSet(o.MaxIdentities),
		tools:      newCapSet(o.MaxTools),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: DurationBuckets}, labels)
		reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}

	// The selectable series (observability.prometheus.metrics), one row
	// each: a counter or a histogram.
	type selectable struct {
		name, help string
		counter    **prometheus.CounterVec
		histogram  **prometheus.HistogramVec
		labels     []string
	}
	for _, o := range []selectable{
		{name: MetricAgentRequests, counter: &m.agentRequests, labels: []string{"route", "kind", "method", "status", "agent_identity"},
			help: "Requests the gateway finished, by route, kind (mcp, a2a, http), protocol method, HTTP status and verified caller identity."},
		{name: MetricAgentRequestDuration, histogram: &m.agentRequestDuration, labels: []string{"route", "kind", "method"},
			help: "Time from request arrival to the end of the response (the end of the stream for SSE), by route, kind and protocol method."},
		{name: MetricToolInvocations, counter: &m.toolInvocations, labels: []string{"route", "backend", "tool_name", "agent_identity", "status"},
			help: "MCP tools/call requests, by route, backend, tool name, caller identity and HTTP status."},
		{name: MetricToolInvocationDuration, histogram: &m.toolInvocationDuration, labels: []string{"route", "tool_name"},
			help: "Duration of MCP tools/call requests, by route and tool name."},
		{name: MetricMCPErrors, counter: &m.mcpErrors, labels: []string{"route", "error_type"},
			help: "MCP requests that ended in an error, by route and error type."},
		{name: MetricA2ACalls, counter: &m.a2aCalls, labels: []string{"source", "target", "method", "status", "decision"},
			help: "A2A requests, including denied ones, by verified source identity, target agent, A2A method, HTTP status and policy decision."},
		{name: MetricMCPToolCalls, counter: &m.mcpToolCalls, labels: []string{"route", "tool_name", "status"},
			help: "MCP tools/call requests, by route, tool name and HTTP status."},
		{name: MetricMCPToolCallDuration, histogram: &m.mcpToolCallDuration, labels: []string{"route", "tool_name"},
			help: "Duration of MCP tools/call requests, by route and tool name."},
		{name: MetricMCPToolErrors, counter: &m.mcpToolErrors, labels: []string{"route", "tool_name", "error_type"},
			help: "MCP tools/call requests that ended in an error, by route, tool name and error type."},
		{name: MetricMCPDiscoveryRequests, counter: &m.mcpDiscovery, labels: []string{"route", "method"},
			help: "MCP list requests (tools/list, prompts/list, resources/list, resources/templates/list), by route and method."},
	} {
		switch {
		case !sel[o.name]:
		case o.counter != nil:
			*o.counter = counter(o.name, o.help, o.labels...)
		default:
			*o.histogram = histogram(o.name, o.help, o.labels...)
		}
	}

	m.authn = counter("agentgateway_authn_decisions_total",
		"JWT authentication outcomes, by route and result (success, failure).", "route", "result")
	m.authz = counter("agentgateway_authz_decisions_total",
		"Authorization decisions, by route, kind (mcp, a2a) and decision (allowed, denied).", "route", "kind", "decision")
	m.ratelimit = counter("agentgateway_ratelimit_decisions_total",
		"Rate-limit decisions, by route and decision (allowed, limited).", "route", "decision")
	m.upAttempts = counter("agentgateway_upstream_attempts_total",
		"Attempts to reach a backend, retries included, by route, backend and result (ok, 5xx, connect_failure, reset, timeout, error).",
		"route", "backend", "result")
	m.upRetries = counter("agentgateway_upstream_retries_total",
		"Retried upstream attempts, by route and backend.", "route", "backend")
	m.activeStreams = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agentgateway_active_streams",
		Help: "Server-sent event streams open now, by route.",
	}, []string{"route"})
	reg.MustRegister(m.activeStreams)
	m.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agentgateway_circuit_breaker_state",
		Help: "Circuit breaker state per backend: 0 closed, 1 open (backend ejected), 2 half-open (one probe allowed).",
	}, []string{"route", "backend"})
	reg.MustRegister(m.breakerState)
	m.fedFailures = counter("agentgateway_mcp_federation_backend_failures_total",
		"Backends of a federated MCP route that failed their part of a fan-out (initialize, a list, logging/setLevel), by route and backend.", "route", "backend")
	m.shed = counter("agentgateway_shed_requests_total",
		"Requests refused by an overload cap, by route and reason (requests, streams, identity_streams, sessions, identity_sessions, identity_session_opens, backend_busy, circuit_open, body_budget).", "route", "reason")
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agentgateway_mcp_sessions",
		Help: "MCP sessions this replica tracks (started through it and not yet ended or closed), by route.",
	}, []string{"route"})
	reg.MustRegister(m.sessions)
	m.sessionsClosed = counter("agentgateway_mcp_sessions_closed_total",
		"MCP sessions the gateway closed at the backend on the client's behalf, by route and reason (idle, evicted).", "route", "reason")
	m.ejections = counter("agentgateway_circuit_breaker_ejections_total",
		"Backend ejections by the circuit breaker (consecutive failures), by route and backend.", "route", "backend")
	m.jwks = counter("agentgateway_jwks_fetches_total",
		"JWKS fetches, by result (ok, error).", "result")
	m.tokenReview = counter("agentgateway_tokenreview_requests_total",
		"Kubernetes TokenReview requests, by result (ok, denied, error).", "result")
	m.tokenCache = counter("agentgateway_token_cache_requests_total",
		"Lookups in the verified-token cache, by result (hit, miss).", "result")
	m.reloads = counter("agentgateway_config_reloads_total",
		"Configuration reloads, by result (success, failure).", "result")
	m.reloadLastOK = gauge("agentgateway_config_last_reload_successful",
		"1 if the last configuration reload succeeded (or none was tried since start), 0 if it failed.")
	m.reloadLastTime = gauge("agentgateway_config_last_reload_success_timestamp_seconds",
		"Unix time of the last successful configuration load.")
	m.registerLogDrops()
	m.registerSpanDrops()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agentgateway_build_info",
		Help: "Always 1; labelled with the gateway version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	reg.MustRegister(buildInfo)
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	// Series whose label values are all known up front start at 0, so
	// rate() and the alerts see them before the first event.
	for _, r := range []string{"ok", "error"} {
		m.jwks.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "denied", "error"} {
		m.tokenReview.WithLabelValues(r)
	}
	for _, r := range []string{"hit", "miss"} {
		m.tokenCache.WithLabelValues(r)
	}
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r)
	}
	// The gateway builds its Metrics after loading its initial config.
	m.reloadLastOK.Set(1)
	m.reloadLastTime.SetToCurrentTime()

	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: false,
	}))
	return m, nil
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the registry the metrics live in (not the global one).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one finished request in every selected seed metric
// it concerns.
func (m *Metrics) ObserveRequest(r *Request) {
	if m == nil || r == nil {
		return
	}
	k := requestLabels{
		route:  orNone(r.Route),
		kind:   normKind(r.Kind),
		method: normMethod(r.Method),
		status: statusLabel(r.Status),
	}
	toolCall := k.kind == "mcp" && k.method == "tools/call"
	if m.agentRequests != nil || toolCall && m.toolInvocations != nil {
		k.identity = m.identity(r.Identity)
	}
	switch k.kind {
	case "mcp":
		k.errType = normErrorType(r.ErrorType)
		k.discovery = r.Discovery
		if toolCall {
			k.tool = m.tool(r.Tool, r.ToolKnown)
			k.backend = orNone(r.Backend)
		}
	case "a2a":
		if m.a2aCalls != nil {
			k.source = m.identity(r.Source)
			k.target = m.target(r.Target)
			k.decision = normDecision(r.Decision)
		}
	}
	s := m.series.get(m, &k)
	secs := r.Duration.Seconds()
	for _, c := range s.counters {
		c.Inc()
	}
	for _, o := range s.durations {
		o.Observe(secs)
	}
}

// AuthnDecision counts a JWT authentication outcome: result success|failure.
func (m *Metrics) AuthnDecision(route, result string) {
	if m == nil {
		return
	}
	m.children.counter(m.authn, orNone(route), oneOf(result, "success", "failure")).Inc()
}

// AuthzDecision counts an authorization decision: kind mcp|a2a, decision
// allowed|denied.
func (m *Metrics) AuthzDecision(route, kind, decision string) {
	if m == nil {
		return
	}
	m.children.counter(m.authz, orNone(route), normKind(kind), oneOf(decision, "allowed", "denied")).Inc()
}

// RateLimitDecision counts a rate-limit decision: allowed|limited.
func (m *Metrics) RateLimitDecision(route, decision string) {
	if m == nil {
		return
	}
	m.children.counter(m.ratelimit, orNone(route), oneOf(decision, "allowed", "limited")).Inc()
}

// UpstreamAttempt counts one attempt to reach a backend: result
// ok|5xx|connect_failure|reset|timeout|error (anything else is "error").
func (m *Metrics) UpstreamAttempt(route, backend, result string) {
	if m == nil {
		return
	}
	switch result {
	case "ok", "5xx", "connect_failure", "reset", "timeout", "error":
	default:
		result = "error"
	}
	m.children.counter(m.upAttempts, orNone(route), orNone(backend), result).Inc()
}

// UpstreamRetry counts a retried attempt.
func (m *Metrics) UpstreamRetry(route, backend string) {
	if m == nil {
		return
	}
	m.upRetries.WithLabelValues(orNone(route), orNone(backend)).Inc()
}

// BreakerState sets agentgateway_circuit_breaker_state{route,backend}
// (0 closed, 1 open, 2 half-open) and counts each transition to open.
func (m *Metrics) BreakerState(route, backend string, state int) {
	if m == nil {
		return
	}
	m.breakerState.WithLabelValues(orNone(route), orNone(backend)).Set(float64(state))
	if state == 1 {
		m.ejections.WithLabelValues(orNone(route), orNone(backend)).Inc()
	}
}

// FederationFailure counts a backend that failed its part of a federated
// fan-out.
func (m *Metrics) FederationFailure(route, backend string) {
	if m == nil {
		return
	}
	m.fedFailures.WithLabelValues(orNone(route), orNone(backend)).Inc()
}

// SessionsChanged moves agentgateway_mcp_sessions{route} by delta.
func (m *Metrics) SessionsChanged(route string, delta int) {
	if m == nil {
		return
	}
	m.sessions.WithLabelValues(orNone(route)).Add(float64(delta))
}

// SessionClosed counts a session the gateway closed at the backend.
func (m *Metrics) SessionClosed(route, reason string) {
	if m == nil {
		return
	}
	m.sessionsClosed.WithLabelValues(orNone(route), reason).Inc()
}

// Shed counts a request refused by an overload cap.
func (m *Metrics) Shed(route, reason string) {
	if m == nil {
		return
	}
	m.shed.WithLabelValues(orNone(route), reason).Inc()
}

// StreamOpened increments agentgateway_active_streams{route}.
func (m *Metrics) StreamOpened(route string) {
	if m == nil {
		return
	}
	m.activeStreams.WithLabelValues(orNone(route)).Inc()
}

// StreamClosed decrements agentgateway_active_streams{route}.
func (m *Metrics) StreamClosed(route string) {
	if m == nil {
		return
	}
	m.activeStreams.WithLabelValues(orNone(route)).Dec()
}

// JWKSFetch counts a JWKS fetch: ok|error.
func (m *Metrics) JWKSFetch(result string) {
	if m == nil {
		return
	}
	m.jwks.WithLabelValues(oneOf(result, "ok", "error")).Inc()
}

// TokenReview counts a TokenReview request: ok|denied|error.
func (m *Metrics) TokenReview(result string) {
	if m == nil {
		return
	}
	if result != "ok" && result != "denied" {
		result = "error"
	}
	m.tokenReview.WithLabelValues(result).Inc()
}

// TokenCache counts a verified-token cache lookup.
func (m *Metrics) TokenCache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.children.counter(m.tokenCache, "hit").Inc()
	} else {
		m.children.counter(m.tokenCache, "miss").Inc()
	}
}

// ConfigReload records a configuration reload's outcome.
func (m *Metrics) ConfigReload(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.reloadLastOK.Set(1)
		m.reloadLastTime.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.reloadLastOK.Set(0)
}

func (m *Metrics) identity(id string) string {
	if id == "" {
		return LabelAnonymous
	}
	return m.identities.get(id)
}

func (m *Metrics) target(t string) string {
	if t == "" {
		return LabelUnknown
	}
	return m.identities.get(t)
}

func (m *Metrics) tool(name string, known bool) string {
	if name == "" || !known {
		return LabelUnknown
	}
	return m.tools.get(name)
}

// capSet admits the first max distinct values; later ones read "other".
type capSet struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newCapSet(max int) *capSet {
	return &capSet{max: max, seen: make(map[string]struct{}, min(max, 64))}
}

func (c *capSet) get(v string) string {
	c.mu.RLock()
	_, ok := c.seen[v]
	n := len(c.seen)
	c.mu.RUnlock()
	if ok {
		return v
	}
	if n >= c.max {
		return LabelOther
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return LabelOther
	}
	// Keep a copy: v may alias a larger buffer (a request body).
	c.seen[strings.Clone(v)] = struct{}{}
	return v
}

func orNone(s string) string {
	if s == "" {
		return LabelNone
	}
	return s
}

func oneOf(v, a, b string) string {
	if v == a || v == b {
		return v
	}
	return LabelOther
}

func normKind(k string) string {
	switch k {
	case "mcp", "a2a", "http":
		return k
	}
	return LabelOther
}

func normDecision(d string) string {
	switch d {
	case "allowed", "denied", "unauthenticated", "rate_limited":
		return d
	case "":
		return LabelNone
	}
	return LabelOther
}

var errorTypeSet = func() map[string]struct{} {
	m := make(map[string]struct{}, len(ErrorTypes))
	for _, e := range ErrorTypes {
		m[e] = struct{}{}
	}
	return m
}()

func normErrorType(e string) string {
	if e == "" {
		return ""
	}
	if _, ok := errorTypeSet[e]; ok {
		return e
	}
	return LabelOther
}

// KnownMethods are the method label values recorded as they are; any other
// method is recorded as "other", so a caller cannot mint label values.
var KnownMethods = []string{
	// MCP (2025-06-18 and 2025-11-25).
	"initialize", "ping",
	"tools/list", "tools/call",
	"prompts/list", "prompts/get",
	"resources/list", "resources/templates/list", "resources/read",
	"resources/subscribe", "resources/unsubscribe",
	"completion/complete", "logging/setLevel",
	"sampling/createMessage", "elicitation/create", "roots/list",
	"tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
	"notifications/initialized", "notifications/cancelled", "notifications/progress",
	"notifications/message", "notifications/roots/list_changed",
	"notifications/tools/list_changed", "notifications/prompts/list_changed",
	"notifications/resources/list_changed", "notifications/resources/updated",
	"notifications/elicitation/complete", "notifications/tasks/status",
	// A2A JSON-RPC (v0.3) and v1.0 method names.
	"message/send", "message/stream", "tasks/resubscribe",
	"tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get",
	"tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete",
	"agent/getAuthenticatedExtendedCard",
	"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
	"SubscribeToTask", "TaskSubscription",
	"SetTaskPushNotificationConfig", "CreateTaskPushNotificationConfig",
	"GetTaskPushNotificationConfig", "ListTaskPushNotificationConfig",
	"DeleteTaskPushNotificationConfig", "GetExtendedAgentCard",
	// HTTP verbs, and the gateway's marker for non-JSON-RPC bodies.
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
	"unknown",
}

var methodSet = func() map[string]struct{} {
	m := make(map[string]struct{}, len(KnownMethods))
	for _, k := range KnownMethods {
		m[k] = struct{}{}
	}
	return m
}()

func normMethod(s string) string {
	if s == "" {
		return LabelUnknown
	}
	if _, ok := methodSet[s]; ok {
		return s
	}
	return LabelOther
}

// statusLabels holds the label value of every status 0..599, so that
// recording one allocates nothing.
var statusLabels = func() []string {
	s := make([]string, 600)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return LabelOther
}
