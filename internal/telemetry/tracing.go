package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// ServiceName is the OpenTelemetry service.name of every span the gateway
// exports.
const ServiceName = "agent-gateway"

// TracerName is the instrumentation scope of the gateway's spans.
const TracerName = "github.com/agentgateway-go/agentgateway"

// Defaults of the span pipeline.
const (
	DefaultSamplingRate = 1.0
	// Spans wait in a bounded queue for the exporter; when it is full
	// (the collector is down or slow) new spans are dropped, never the
	// request.
	maxQueueSize       = 2048
	maxExportBatchSize = 512
	batchTimeout       = 2 * time.Second
	exportTimeout      = 10 * time.Second
)

// Protocols of the OTLP exporter.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// TracingOptions configures NewTracing.
type TracingOptions struct {
	// Enabled turns tracing on. When false NewTracing returns a no-op
	// Tracing: its Tracer records nothing, Extract and Inject do nothing.
	Enabled bool
	// Endpoint is the OTLP collector, as the seed writes it:
	// http://jaeger-collector.observability.svc.cluster.local:4317 for
	// gRPC, http://host:4318 for HTTP (path /v1/traces unless the URL has
	// one). An http:// scheme means plaintext, https:// TLS with the
	// system roots. A bare host:port is accepted and uses Insecure.
	// Empty leaves it to the OTEL_EXPORTER_OTLP_* environment variables,
	// else the exporter's default (localhost:4317 / localhost:4318).
	Endpoint string
	// Protocol is "grpc" (default) or "http" ("http/protobuf").
	Protocol string
	// SamplingRate is the ratio of new traces kept, in [0, 1]. A request
	// with a trusted incoming parent follows the parent's decision
	// (ParentBased(TraceIDRatioBased(SamplingRate))).
	SamplingRate float64
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// TrustIncomingTraceparent makes an incoming W3C traceparent (and
	// baggage) the parent of the gateway's server span. When false the
	// server span starts a new trace and links to the incoming one.
	TrustIncomingTraceparent bool
	// Insecure selects plaintext for an Endpoint without a scheme. With a
	// scheme the scheme decides.
	Insecure bool
}

// TracingOptionsFromConfig maps the observability.opentelemetry section
// of the configuration to TracingOptions. Tracing is on when
// opentelemetry.enabled is true and tracing.enabled is not false (a
// missing tracing section means on, with samplingRate 1.0). The
// configuration has no field for TrustIncomingTraceparent or Insecure:
// trust is on (the seed's KAgent → Gateway → MCP server trace is one
// trace) and Insecure comes from the endpoint's scheme.
func TracingOptionsFromConfig(o *config.OpenTelemetry, version string) TracingOptions {
	opts := TracingOptions{
		SamplingRate:             DefaultSamplingRate,
		ServiceVersion:           version,
		TrustIncomingTraceparent: true,
	}
	if o == nil || !o.Enabled {
		return opts
	}
	opts.Enabled = true
	opts.Endpoint = o.Endpoint
	opts.Protocol = o.Protocol
	if t := o.Tracing; t != nil {
		opts.Enabled = t.Enabled
		if t.SamplingRate != nil {
			opts.SamplingRate = *t.SamplingRate
		}
	}
	return opts
}

// Tracing is the gateway's tracer provider, exporter and propagator. A
// nil *Tracing behaves like a disabled one.
type Tracing struct {
	rec    *recorder     // nil when disabled
	exp    *spanExporter // nil when disabled
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	trust  bool
}

var noopTracer = noop.NewTracerProvider().Tracer(TracerName)

// w3c is the propagator the gateway speaks: W3C tracecontext and baggage.
var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// NewTracing builds the span pipeline: the gateway's span recorder
// (spans.go) with the sampler ParentBased(TraceIDRatioBased(SamplingRate))
// and a bounded queue, an OTLP client (gRPC or HTTP) fed by the exporter
// goroutine, and the resource service.name=agent-gateway and
// service.version. Connecting to the collector is lazy: NewTracing does
// not fail when it is down.
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	if !o.Enabled {
		return &Tracing{tracer: noopTracer, prop: w3c, trust: o.TrustIncomingTraceparent}, nil
	}
	if math.IsNaN(o.SamplingRate) || o.SamplingRate < 0 || o.SamplingRate > 1 {
		return nil, fmt.Errorf("tracing: samplingRate %v is not in [0, 1]", o.SamplingRate)
	}
	client, err := newClient(o)
	if err != nil {
		return nil, err
	}
	return newTracing(ctx, o, client)
}

// NewTracingWithClient is NewTracing with the given OTLP client in place
// of the gRPC or HTTP one (benchmarks, tests in other packages: see
// internal/telemetry/otlptest). o.Endpoint and o.Protocol are ignored.
func NewTracingWithClient(ctx context.Context, o TracingOptions, client otlptrace.Client) (*Tracing, error) {
	if !o.Enabled {
		return NewTracing(ctx, o)
	}
	if math.IsNaN(o.SamplingRate) || o.SamplingRate < 0 || o.SamplingRate > 1 {
		return nil, fmt.Errorf("tracing: samplingRate %v is not in [0, 1]", o.SamplingRate)
	}
	return newTracing(ctx, o, client)
}

// newTracing is NewTracing with a given client.
func newTracing(ctx context.Context, o TracingOptions, client otlptrace.Client) (*Tracing, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
		resource.WithSchemaURL(semconv.SchemaURL),
		// Last, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
		// cannot rename the gateway's service.
		resource.WithAttributes(
			semconv.ServiceName(ServiceName),
			semconv.ServiceVersion(o.ServiceVersion),
		),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	rec := newRecorder(o.SamplingRate, maxQueueSize)
	exp := newSpanExporter(rec, client, &resourcepb.Resource{Attributes: keyValues(res.Attributes())}, res.SchemaURL())
	return &Tracing{
		rec:    rec,
		exp:    exp,
		tracer: rec.Tracer(TracerName),
		prop:   w3c,
		trust:  o.TrustIncomingTraceparent,
	}, nil
}

// newClient builds the OTLP client for o.Endpoint and o.Protocol.
func newClient(o TracingOptions) (otlptrace.Client, error) {
	ep, err := parseEndpoint(o.Endpoint, o.Insecure)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(o.Protocol) {
	case "", ProtocolGRPC:
		if ep.path != "" {
			return nil, fmt.Errorf("tracing: endpoint %q: an OTLP/gRPC endpoint has no path", o.Endpoint)
		}
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(exportTimeout)}
		if ep.host != "" {
			opts = append(opts, otlptracegrpc.WithEndpoint(ep.host))
			if ep.insecure {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
		}
		return otlptracegrpc.NewClient(opts...), nil
	case ProtocolHTTP, "http/protobuf":
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(exportTimeout)}
		if ep.host != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(ep.host))
			if ep.insecure {
				opts = append(opts, otlptracehttp.WithInsecure())
			}
			path := ep.path
			if path == "" {
				path = "/v1/traces"
			}
			opts = append(opts, otlptracehttp.WithURLPath(path))
		}
		return otlptracehttp.NewClient(opts...), nil
	default:
		return nil, fmt.Errorf("tracing: protocol %q: want grpc or http", o.Protocol)
	}
}

type endpoint struct {
	host     string // host:port; empty: the exporter's default
	path     string // empty or "/": none
	insecure bool
}

// parseEndpoint accepts http://host:port[/path], https://host:port[/path]
// and host:port.
func parseEndpoint(s string, insecure bool) (endpoint, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return endpoint{}, nil
	}
	if !strings.Contains(s, "://") {
		if strings.ContainsAny(s, "/?#@ ") {
			return endpoint{}, fmt.Errorf("tracing: endpoint %q: want http://host:port, https://host:port or host:port", s)
		}
		return endpoint{host: s, insecure: insecure}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("tracing: endpoint %q: %w", s, err)
	}
	var ep endpoint
	switch u.Scheme {
	case "http":
		ep.insecure = true
	case "https":
	default:
		return endpoint{}, fmt.Errorf("tracing: endpoint %q: scheme %q: want http or https", s, u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("tracing: endpoint %q: want %s://host:port[/path]", s, u.Scheme)
	}
	ep.host = u.Host
	if u.Port() == "" {
		// The exporters need a port; OTLP's are the defaults.
		return endpoint{}, fmt.Errorf("tracing: endpoint %q has no port (OTLP: 4317 for grpc, 4318 for http)", s)
	}
	if u.Path != "" && u.Path != "/" {
		ep.path = u.Path
	}
	return ep, nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.rec != nil }

// SpansDropped is the number of ended spans dropped because the export
// queue was full (agentgateway_tracing_spans_dropped_total).
func (t *Tracing) SpansDropped() uint64 {
	if !t.Enabled() {
		return 0
	}
	return t.rec.Dropped()
}

// Tracer returns the gateway's tracer (a no-op one when disabled).
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noopTracer
	}
	return t.tracer
}

// Propagator returns the W3C tracecontext + baggage propagator.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return w3c }

// Extract reads the W3C traceparent, tracestate and baggage of an
// incoming request. When TrustIncomingTraceparent is on, the returned
// context carries the remote span context (and baggage), so the server
// span started from it joins the caller's trace, and the links are nil.
// Otherwise the returned context carries no span at all (a span started
// from it is a new root, even when ctx already had one) and no incoming
// baggage, and a valid incoming traceparent comes back as a link for the
// server span (trace.WithLinks). Disabled, Extract returns ctx and nil.
func (t *Tracing) Extract(ctx context.Context, h http.Header) (context.Context, []trace.Link) {
	if !t.Enabled() {
		return ctx, nil
	}
	if t.trust {
		if sc := remoteParent(h); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
		return extractBaggage(ctx, h), nil
	}
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{}), untrustedLinks(h)
}

// remoteParent is the span context propagation.TraceContext extracts from
// h (traceparent, tracestate; invalid when there is none), without its
// allocations: it looks the headers up under their canonical keys, as
// http.Header.Get does after canonicalising the name, which allocates.
func remoteParent(h http.Header) trace.SpanContext {
	v := h["Traceparent"]
	if len(v) == 0 {
		return trace.SpanContext{}
	}
	sc := parseTraceparent(v[0])
	if !sc.IsValid() {
		return trace.SpanContext{}
	}
	if ts := h["Tracestate"]; len(ts) > 0 && ts[0] != "" {
		// As the propagator: a malformed tracestate is ignored, never the
		// traceparent.
		state, _ := trace.ParseTraceState(ts[0])
		sc = sc.WithTraceState(state)
	}
	return sc
}

// extractBaggage is propagation.Baggage's Extract, skipped when the
// request has no baggage header.
func extractBaggage(ctx context.Context, h http.Header) context.Context {
	if len(h["Baggage"]) == 0 {
		return ctx
	}
	return propagation.Baggage{}.Extract(ctx, propagation.HeaderCarrier(h))
}

// untrustedLinks is the link to an untrusted incoming traceparent, or nil.
func untrustedLinks(h http.Header) []trace.Link {
	remote := remoteParent(h)
	if !remote.IsValid() {
		return nil
	}
	return []trace.Link{{
		SpanContext: remote,
		Attributes:  []attribute.KeyValue{attribute.Bool("traceparent.untrusted", true)},
	}}
}

// parseTraceparent parses a W3C traceparent exactly as
// propagation.TraceContext does (versions 00 to fe, lower-case hex, version
// 00 without extra fields or reserved flags; only the sampled and random
// flags kept), into a remote span context, or an invalid one.
func parseTraceparent(h string) trace.SpanContext {
	var ver, flags [1]byte
	var scc trace.SpanContextConfig
	if !hexField(ver[:], &h) || ver[0] == 0xff ||
		!hexField(scc.TraceID[:], &h) || !hexField(scc.SpanID[:], &h) ||
		!hexField(flags[:], &h) {
		return trace.SpanContext{}
	}
	if ver[0] == 0 && (h != "" || flags[0] > 3) {
		return trace.SpanContext{}
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	scc.Remote = true
	sc := trace.NewSpanContext(scc)
	if !sc.IsValid() {
		return trace.SpanContext{}
	}
	return sc
}

// hexField decodes the next "-"-separated field of *h into dst: exactly
// 2*len(dst) lower-case hex digits.
func hexField(dst []byte, h *string) bool {
	part, rest, _ := strings.Cut(*h, "-")
	*h = rest
	if len(part) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := unhex(part[2*i]), unhex(part[2*i+1])
		if hi > 0xf || lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// Inject writes the span context (traceparent, tracestate) and baggage of
// ctx into the headers of an outgoing request. Disabled, it writes
// nothing.
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if !t.Enabled() {
		return
	}
	t.inject(ctx, trace.SpanContextFromContext(ctx), h)
}

// inject is Inject of sc, with ctx's baggage.
func (t *Tracing) inject(ctx context.Context, sc trace.SpanContext, h http.Header) {
	if sc.IsValid() && sc.TraceState().Len() == 0 && baggage.FromContext(ctx).Len() == 0 {
		// The common case: only traceparent. Written under its canonical
		// key: the propagator's Header.Set canonicalises "traceparent",
		// which allocates, on every upstream attempt.
		h["Traceparent"] = []string{traceparent(sc)}
		return
	}
	if !sc.Equal(trace.SpanContextFromContext(ctx)) {
		ctx = trace.ContextWithSpanContext(ctx, sc)
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// traceparent is the W3C traceparent of sc, as propagation.TraceContext
// writes it: version 00, and only the sampled and random flags.
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	copy(b[:], "00-")
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

// StartServer is Extract followed by a server span named name (for
// example "POST /mcp"), linked to an untrusted incoming traceparent.
func (t *Tracing) StartServer(ctx context.Context, h http.Header, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.startServer(ctx, h, name, attrs, nil)
}

// startServer is StartServer with the handle's allocation left to alloc
// (see tracer.start).
func (t *Tracing) startServer(ctx context.Context, h http.Header, name string, attrs []attribute.KeyValue, alloc func(sampled bool) *span) (context.Context, trace.Span) {
	if !t.Enabled() {
		return noopTracer.Start(ctx, name)
	}
	own, ok := t.tracer.(*tracer)
	if !ok {
		// Another tracer (BenchmarkSpan's SDK cases): through the API.
		ctx, links := t.Extract(ctx, h)
		return t.tracer.Start(ctx, name, serverOptions(links, attrs)...)
	}
	// The parent goes straight to the span, not into a context first:
	// the server span's context is the only one the request needs.
	var psc trace.SpanContext
	var links []trace.Link
	if t.trust {
		psc = remoteParent(h)
		ctx = extractBaggage(ctx, h)
	} else {
		links = untrustedLinks(h)
	}
	var s *span
	if len(links) == 0 && len(attrs) == 0 {
		// The common case builds no option list.
		s = own.start(psc, name, &serverConfig, alloc)
	} else {
		cfg := trace.NewSpanStartConfig(serverOptions(links, attrs)...)
		s = own.start(psc, name, &cfg, alloc)
	}
	if s.rec == nil {
		// After Shutdown, as Start: the parent's context kept.
		s.sc = psc
	}
	return trace.ContextWithSpan(ctx, s), s
}

func serverOptions(links []trace.Link, attrs []attribute.KeyValue) []trace.SpanStartOption {
	if len(links) == 0 && len(attrs) == 0 {
		return serverSpanOnly
	}
	opts := make([]trace.SpanStartOption, 1, 3)
	opts[0] = serverSpan
	if len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	if len(attrs) > 0 {
		opts = append(opts, trace.WithAttributes(attrs...))
	}
	return opts
}

// StartClient starts a client span named name, a child of ctx's span, and
// injects it (traceparent, tracestate, ctx's baggage) into h, the headers
// of the outgoing request. The span is in no context: nothing between the
// caller and the backend reads it there.
func (t *Tracing) StartClient(ctx context.Context, name string, h http.Header) trace.Span {
	if !t.Enabled() {
		_, s := noopTracer.Start(ctx, name)
		return s
	}
	own, ok := t.tracer.(*tracer)
	if !ok {
		sctx, s := t.tracer.Start(ctx, name, clientSpan...)
		t.Inject(sctx, h)
		return s
	}
	psc := trace.SpanContextFromContext(ctx)
	s := own.start(psc, name, &clientConfig, nil)
	if s.rec == nil {
		s.sc = psc
	}
	t.inject(ctx, s.sc, h)
	return s
}

var (
	serverSpan     = trace.WithSpanKind(trace.SpanKindServer)
	serverSpanOnly = []trace.SpanStartOption{serverSpan}
	serverConfig   = trace.NewSpanStartConfig(serverSpan)
	// clientSpan is a slice: one option passed as a variadic argument
	// would allocate its array per call.
	clientSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	clientConfig = trace.NewSpanStartConfig(clientSpan...)
)

// ForceFlush exports the spans ended so far.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.exp.forceFlush(ctx)
}

// Shutdown exports the spans still queued and stops the exporter. Spans
// started afterwards are not recorded. It is safe to call more than once.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.exp.shutdown(ctx)
}
