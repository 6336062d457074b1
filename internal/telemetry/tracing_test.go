package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/telemetry/otlptest"
	"github.com/agentgateway-go/agentgateway/test/jaegertest"
)

const (
	incomingTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpanID  = "00f067aa0ba902b7"
	incomingParent  = "00-" + incomingTraceID + "-" + incomingSpanID + "-01"
)

// memTracing is an enabled Tracing exporting into memory.
func memTracing(t testing.TB, o TracingOptions) (*Tracing, *otlptest.Collector) {
	t.Helper()
	o.Enabled = true
	exp := &otlptest.Collector{}
	tr, err := newTracing(context.Background(), o, exp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func flush(t testing.TB, tr *Tracing, exp *otlptest.Collector) tracetest.SpanStubs {
	t.Helper()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return exp.GetSpans()
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in       string
		insecure bool // the option
		want     endpoint
		err      string
	}{
		{in: "", want: endpoint{}},
		{in: "http://jaeger-collector.observability.svc.cluster.local:4317", want: endpoint{host: "jaeger-collector.observability.svc.cluster.local:4317", insecure: true}},
		{in: "http://127.0.0.1:4318/", want: endpoint{host: "127.0.0.1:4318", insecure: true}},
		{in: "https://otel.example.com:4318/custom/v1/traces", want: endpoint{host: "otel.example.com:4318", path: "/custom/v1/traces"}},
		{in: "http://[::1]:4317", want: endpoint{host: "[::1]:4317", insecure: true}},
		{in: "collector:4317", want: endpoint{host: "collector:4317"}},
		{in: "collector:4317", insecure: true, want: endpoint{host: "collector:4317", insecure: true}},
		{in: "https://collector:4317", insecure: true, want: endpoint{host: "collector:4317"}},
		{in: "ftp://collector:4317", err: "scheme"},
		{in: "http://collector", err: "no port"},
		{in: "http://user:pw@collector:4317", err: "want http://host:port"},
		{in: "http://collector:4317?x=1", err: "want http://host:port"},
		{in: "collector:4317/v1/traces", err: "want http://host:port"},
		{in: "http://", err: "want http://host:port"},
	} {
		got, err := parseEndpoint(tc.in, tc.insecure)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseEndpoint(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseEndpoint(%q, %v) = %+v, %v; want %+v", tc.in, tc.insecure, got, err, tc.want)
		}
	}
}

func TestNewTracingErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		o   TracingOptions
		err string
	}{
		{TracingOptions{Enabled: true, Endpoint: "http://127.0.0.1:4317", Protocol: "thrift", SamplingRate: 1}, "protocol"},
		{TracingOptions{Enabled: true, Endpoint: "http://127.0.0.1:4317", SamplingRate: 1.5}, "samplingRate"},
		{TracingOptions{Enabled: true, Endpoint: "http://127.0.0.1:4317", SamplingRate: -0.1}, "samplingRate"},
		{TracingOptions{Enabled: true, Endpoint: "http://127.0.0.1:4317/v1/traces", Protocol: "grpc", SamplingRate: 1}, "no path"},
		{TracingOptions{Enabled: true, Endpoint: "gopher://x:1", SamplingRate: 1}, "scheme"},
	} {
		if tr, err := NewTracing(ctx, tc.o); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewTracing(%+v) = %v, %v; want error containing %q", tc.o, tr, err, tc.err)
		}
	}
	// Both protocols build without a reachable collector (lazy connect),
	// and shut down promptly even though nothing was exported.
	for _, p := range []string{"", "grpc", "http", "http/protobuf", "GRPC"} {
		ep := "http://127.0.0.1:1"
		tr, err := NewTracing(ctx, TracingOptions{Enabled: true, Endpoint: ep, Protocol: p, SamplingRate: 1})
		if err != nil {
			t.Fatalf("protocol %q: %v", p, err)
		}
		if !tr.Enabled() {
			t.Errorf("protocol %q: not enabled", p)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := tr.Shutdown(sctx); err != nil {
			t.Errorf("protocol %q: Shutdown: %v", p, err)
		}
		if err := tr.Shutdown(sctx); err != nil {
			t.Errorf("protocol %q: second Shutdown: %v", p, err)
		}
		cancel()
	}
}

func TestTracingOptionsFromConfig(t *testing.T) {
	half := 0.5
	for _, tc := range []struct {
		name string
		in   *config.OpenTelemetry
		want TracingOptions
	}{
		{"nil", nil, TracingOptions{SamplingRate: 1, ServiceVersion: "v1", TrustIncomingTraceparent: true}},
		{"off", &config.OpenTelemetry{Endpoint: "http://j:4317"}, TracingOptions{SamplingRate: 1, ServiceVersion: "v1", TrustIncomingTraceparent: true}},
		{"step 1", &config.OpenTelemetry{Enabled: true, Endpoint: "http://j:4317", Protocol: "grpc"},
			TracingOptions{Enabled: true, Endpoint: "http://j:4317", Protocol: "grpc", SamplingRate: 1, ServiceVersion: "v1", TrustIncomingTraceparent: true}},
		{"step 3.1", &config.OpenTelemetry{Enabled: true, Endpoint: "http://j:4317", Protocol: "grpc", Tracing: &config.Tracing{Enabled: true, SamplingRate: &half}},
			TracingOptions{Enabled: true, Endpoint: "http://j:4317", Protocol: "grpc", SamplingRate: 0.5, ServiceVersion: "v1", TrustIncomingTraceparent: true}},
		{"tracing off", &config.OpenTelemetry{Enabled: true, Endpoint: "http://j:4317", Tracing: &config.Tracing{Enabled: false}},
			TracingOptions{Endpoint: "http://j:4317", SamplingRate: 1, ServiceVersion: "v1", TrustIncomingTraceparent: true}},
	} {
		if got := TracingOptionsFromConfig(tc.in, "v1"); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestDisabled(t *testing.T) {
	for name, tr := range map[string]*Tracing{"nil": nil, "disabled": mustNew(t, TracingOptions{Endpoint: "http://127.0.0.1:4317", TrustIncomingTraceparent: true})} {
		if tr.Enabled() {
			t.Errorf("%s: Enabled", name)
		}
		h := http.Header{"Traceparent": {incomingParent}}
		ctx, links := tr.Extract(context.Background(), h)
		if ctx != context.Background() || links != nil {
			t.Errorf("%s: Extract changed the context or linked", name)
		}
		ctx, span := tr.Tracer().Start(ctx, "x")
		if span.IsRecording() || span.SpanContext().IsValid() {
			t.Errorf("%s: span records", name)
		}
		span.End()
		out := http.Header{}
		tr.Inject(ctx, out)
		if len(out) != 0 {
			t.Errorf("%s: Inject wrote %v", name, out)
		}
		if tr.Propagator() == nil {
			t.Errorf("%s: no propagator", name)
		}
		if err := tr.ForceFlush(context.Background()); err != nil {
			t.Error(err)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func mustNew(t testing.TB, o TracingOptions) *Tracing {
	t.Helper()
	tr, err := NewTracing(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestResource(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "not-the-gateway")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,service.name=also-not")
	tr, exp := memTracing(t, TracingOptions{SamplingRate: 1, ServiceVersion: "1.2.3"})
	_, span := tr.Tracer().Start(context.Background(), "POST /mcp")
	span.End()
	spans := flush(t, tr, exp)
	if len(spans) != 1 {
		t.Fatalf("got %d spans", len(spans))
	}
	got := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{
		"service.name":                ServiceName,
		"service.version":             "1.2.3",
		"deployment.environment.name": "test",
		"telemetry.sdk.language":      "go",
	} {
		if got[k] != v {
			t.Errorf("resource %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if spans[0].InstrumentationScope.Name != TracerName {
		t.Errorf("scope %q", spans[0].InstrumentationScope.Name)
	}
}

func TestExtractTrusted(t *testing.T) {
	tr, exp := memTracing(t, TracingOptions{SamplingRate: 0, TrustIncomingTraceparent: true})
	h := http.Header{}
	h.Set("traceparent", incomingParent)
	h.Set("tracestate", "vendor=x")
	h.Set("baggage", "tenant=acme")
	ctx, links := tr.Extract(context.Background(), h)
	if links != nil {
		t.Errorf("links %v", links)
	}
	if m := baggage.FromContext(ctx).Member("tenant"); m.Value() != "acme" {
		t.Errorf("baggage %q", m.Value())
	}
	// The incoming parent is sampled: the span is, despite rate 0.
	ctx, span := tr.Tracer().Start(ctx, "POST /mcp", trace.WithSpanKind(trace.SpanKindServer))
	out := http.Header{}
	tr.Inject(ctx, out)
	span.End()
	sc := span.SpanContext()
	if sc.TraceID().String() != incomingTraceID || !sc.IsSampled() {
		t.Fatalf("span context %v, want trace %s sampled", sc, incomingTraceID)
	}
	want := "00-" + incomingTraceID + "-" + sc.SpanID().String() + "-01"
	if out.Get("traceparent") != want || out.Get("tracestate") != "vendor=x" || out.Get("baggage") != "tenant=acme" {
		t.Errorf("injected %v, want traceparent %s", out, want)
	}
	spans := flush(t, tr, exp)
	if len(spans) != 1 || spans[0].Parent.SpanID().String() != incomingSpanID || !spans[0].Parent.IsRemote() {
		t.Fatalf("spans %+v", spans)
	}

	// An unsampled incoming parent: nothing recorded, but propagated.
	h.Set("traceparent", "00-"+incomingTraceID+"-"+incomingSpanID+"-00")
	ctx, _ = tr.Extract(context.Background(), h)
	ctx, span = tr.Tracer().Start(ctx, "POST /mcp")
	if span.IsRecording() {
		t.Error("unsampled parent: span records")
	}
	out = http.Header{}
	tr.Inject(ctx, out)
	span.End()
	if !strings.HasPrefix(out.Get("traceparent"), "00-"+incomingTraceID+"-") || !strings.HasSuffix(out.Get("traceparent"), "-00") {
		t.Errorf("unsampled: injected %v", out)
	}
}

func TestExtractUntrusted(t *testing.T) {
	tr, exp := memTracing(t, TracingOptions{SamplingRate: 1})
	h := http.Header{}
	h.Set("traceparent", incomingParent)
	h.Set("baggage", "tenant=acme")
	// Even a span already in ctx must not become the parent.
	outer, outerSpan := tr.Tracer().Start(context.Background(), "outer")
	ctx, span := tr.StartServer(outer, h, "POST /mcp", attribute.String("http.request.method", "POST"))
	span.End()
	outerSpan.End()
	if baggage.FromContext(ctx).Len() != 0 {
		t.Error("untrusted baggage kept")
	}
	sc := span.SpanContext()
	if sc.TraceID().String() == incomingTraceID || sc.TraceID() == outerSpan.SpanContext().TraceID() {
		t.Fatalf("untrusted traceparent became the parent: %v", sc)
	}
	var server *tracetest.SpanStub
	spans := flush(t, tr, exp)
	for i := range spans {
		if spans[i].Name == "POST /mcp" {
			server = &spans[i]
		}
	}
	if server == nil || server.Parent.IsValid() || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("server span %+v", server)
	}
	if len(server.Links) != 1 || server.Links[0].SpanContext.TraceID().String() != incomingTraceID ||
		server.Links[0].SpanContext.SpanID().String() != incomingSpanID {
		t.Fatalf("links %+v", server.Links)
	}

	// No or a malformed traceparent: no link.
	for _, tp := range []string{"", "garbage", "00-" + strings.Repeat("0", 32) + "-" + incomingSpanID + "-01"} {
		h := http.Header{}
		if tp != "" {
			h.Set("traceparent", tp)
		}
		if _, links := tr.Extract(context.Background(), h); links != nil {
			t.Errorf("traceparent %q: links %v", tp, links)
		}
	}
}

func TestSamplingRate(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want bool
	}{{0, false}, {1, true}} {
		tr, exp := memTracing(t, TracingOptions{SamplingRate: tc.rate})
		for range 20 {
			_, span := tr.Tracer().Start(context.Background(), "root")
			if span.SpanContext().IsSampled() != tc.want {
				t.Fatalf("rate %v: sampled = %v", tc.rate, !tc.want)
			}
			span.End()
		}
		if n := len(flush(t, tr, exp)); (n == 20) != tc.want {
			t.Errorf("rate %v: exported %d", tc.rate, n)
		}
	}
	// 0.5 keeps some and drops some of 400 roots.
	tr, exp := memTracing(t, TracingOptions{SamplingRate: 0.5})
	for range 400 {
		_, span := tr.Tracer().Start(context.Background(), "root")
		span.End()
	}
	if n := len(flush(t, tr, exp)); n < 100 || n > 300 {
		t.Errorf("rate 0.5: exported %d of 400", n)
	}
}

// The queue is bounded: with an exporter that never returns, ending more
// spans than the queue holds does not block and does not grow memory.
func TestBoundedQueue(t *testing.T) {
	block := make(chan struct{})
	tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: 1}, blockingClient{block})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range 4 * maxQueueSize {
			_, span := tr.Tracer().Start(context.Background(), "x")
			span.End()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ending spans blocked on a stuck exporter")
	}
	close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tr.Shutdown(ctx)
}

// blockingClient's uploads wait until c is closed.
type blockingClient struct{ c chan struct{} }

func (blockingClient) Start(context.Context) error { return nil }
func (blockingClient) Stop(context.Context) error  { return nil }
func (b blockingClient) UploadTraces(ctx context.Context, _ []*tracepb.ResourceSpans) error {
	select {
	case <-b.c:
	case <-ctx.Done():
	}
	return nil
}

// discardClient counts and drops uploaded spans.
type discardClient struct{ n atomic.Int64 }

func (*discardClient) Start(context.Context) error { return nil }
func (*discardClient) Stop(context.Context) error  { return nil }
func (d *discardClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	for _, r := range rs {
		for _, ss := range r.ScopeSpans {
			d.n.Add(int64(len(ss.Spans)))
		}
	}
	return nil
}

// discardExporter counts and drops SDK spans (BenchmarkSpan's sdk- cases).
type discardExporter struct{ n atomic.Int64 }

func (d *discardExporter) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	d.n.Add(int64(len(s)))
	return nil
}
func (*discardExporter) Shutdown(context.Context) error { return nil }

// BenchmarkSpan is the cost of one request's server span plus one child
// (start, attributes, end, traceparent injected), with tracing on (every
// span sampled, through the queue and OTLP encoding to a client that
// discards), with rate 0, and disabled; the sdk- cases run the same calls
// on the OpenTelemetry SDK's spans (batch processor, exporter that
// discards), which the gateway used before its own recorder.
func BenchmarkSpan(b *testing.B) {
	attrs, err := CompileAttributes([]config.TraceAttribute{
		{Key: "agent.identity", Value: "${jwt.sub}"},
		{Key: "tool.name", Value: "${mcp.tool}"},
		{Key: "gateway.version", Value: "0.11"},
	})
	if err != nil {
		b.Fatal(err)
	}
	vars := Vars{
		Principal: &identity.Principal{Subject: "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"},
		MCPTool:   "browser_navigate",
	}
	for _, bc := range []struct {
		name string
		o    TracingOptions
		sdk  bool
	}{
		{"sampled", TracingOptions{Enabled: true, SamplingRate: 1, TrustIncomingTraceparent: true}, false},
		{"sdk-sampled", TracingOptions{Enabled: true, SamplingRate: 1, TrustIncomingTraceparent: true}, true},
		{"untrusted", TracingOptions{Enabled: true, SamplingRate: 1}, false},
		{"sdk-untrusted", TracingOptions{Enabled: true, SamplingRate: 1}, true},
		{"rate0", TracingOptions{Enabled: true, SamplingRate: 0}, false},
		{"sdk-rate0", TracingOptions{Enabled: true, SamplingRate: 0}, true},
		{"disabled", TracingOptions{}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var tr *Tracing
			if bc.o.Enabled {
				tr, err = newTracing(context.Background(), bc.o, &discardClient{})
			} else {
				tr, err = NewTracing(context.Background(), bc.o)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if bc.sdk {
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(bc.o.SamplingRate))),
					sdktrace.WithBatcher(&discardExporter{}, sdktrace.WithMaxQueueSize(maxQueueSize), sdktrace.WithMaxExportBatchSize(maxExportBatchSize)),
				)
				defer tp.Shutdown(context.Background())
				tr.tracer = tp.Tracer(TracerName)
			}
			h := http.Header{"Traceparent": {incomingParent}}
			out := http.Header{}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx, span := tr.StartServer(context.Background(), h, "POST /mcp")
				if span.IsRecording() {
					span.SetAttributes(attrs.Eval(vars)...)
				}
				child := tr.StartClient(ctx, "upstream", out)
				child.End()
				span.End()
			}
		})
	}
}

// Export to a real Jaeger over OTLP/gRPC and OTLP/HTTP, and find the
// spans with the seed's attributes through Jaeger's query API.
func TestJaegerExport(t *testing.T) {
	j := jaegertest.Start(t)
	attrs, err := CompileAttributes([]config.TraceAttribute{
		{Key: "agent.identity", Value: "${jwt.sub}"},
		{Key: "tool.name", Value: "${mcp.tool}"},
		{Key: "gateway.version", Value: "0.11"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const subject = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	for _, tc := range []struct{ protocol, endpoint string }{
		{"grpc", "http://" + j.OTLPGRPC},
		{"http", j.OTLPHTTP},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), TracingOptions{
				Enabled: true, Endpoint: tc.endpoint, Protocol: tc.protocol, SamplingRate: 1, ServiceVersion: "0.11.0-test",
			})
			if err != nil {
				t.Fatal(err)
			}
			name := "POST /mcp " + tc.protocol
			_, span := tr.StartServer(context.Background(), http.Header{}, name)
			span.SetAttributes(attrs.Eval(Vars{
				Principal: &identity.Principal{Subject: subject},
				MCPTool:   "browser_navigate",
			})...)
			span.End()
			traceID := span.SpanContext().TraceID().String()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown (flush): %v", err)
			}
			got := j.TraceByID(t, traceID, 1)
			s := got.Span(name)
			if s == nil {
				t.Fatalf("span %q not in trace %+v", name, got)
			}
			if s.ServiceName != ServiceName || s.ProcessTags["service.version"] != "0.11.0-test" {
				t.Errorf("process %q %v", s.ServiceName, s.ProcessTags)
			}
			for k, v := range map[string]string{
				"agent.identity":  subject,
				"tool.name":       "browser_navigate",
				"gateway.version": "0.11",
				"span.kind":       "server",
			} {
				if s.Tags[k] != v {
					t.Errorf("tag %s = %q, want %q (all %v)", k, s.Tags[k], v, s.Tags)
				}
			}
			// And the service search the seed's users run finds it.
			j.TracesWhere(t, ServiceName, func(ts []jaegertest.Trace) bool {
				for _, tr := range ts {
					if tr.TraceID == traceID {
						return true
					}
				}
				return false
			})
		})
	}
}

// The gateway's span and a backend's span, from a second tracer provider
// with service "mcp-backend", share one trace: the gateway injects
// traceparent into a real HTTP call and the backend extracts it.
func TestJaegerPropagation(t *testing.T) {
	j := jaegertest.Start(t)
	ctx := context.Background()
	gw, err := NewTracing(ctx, TracingOptions{
		Enabled: true, Endpoint: "http://" + j.OTLPGRPC, SamplingRate: 1, ServiceVersion: "test",
		TrustIncomingTraceparent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	backendTP, err := newBackendTracing(ctx, j.OTLPHTTP)
	if err != nil {
		t.Fatal(err)
	}

	var backendSpanID atomic.Value
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := backendTP.prop.Extract(r.Context(), propagationCarrier(r.Header))
		_, span := backendTP.tracer.Start(ctx, "tools/call browser_navigate", trace.WithSpanKind(trace.SpanKindServer))
		span.SetAttributes(attribute.String("gen_ai.tool.name", "browser_navigate"))
		backendSpanID.Store(span.SpanContext().SpanID().String())
		span.End()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer backend.Close()

	// "KAgent" called the gateway with its own traceparent; trust is on.
	in := http.Header{}
	in.Set("traceparent", incomingParent)
	sctx, server := gw.StartServer(ctx, in, "POST /mcp")
	actx, attempt := gw.Tracer().Start(sctx, "upstream attempt", trace.WithSpanKind(trace.SpanKindClient))
	req, err := http.NewRequestWithContext(actx, http.MethodPost, backend.URL+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	gw.Inject(actx, req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	attempt.End()
	server.End()

	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := gw.Shutdown(fctx); err != nil {
		t.Fatal(err)
	}
	if err := backendTP.tp.Shutdown(fctx); err != nil {
		t.Fatal(err)
	}

	got := j.TraceByID(t, incomingTraceID, 3)
	srv, att, be := got.Span("POST /mcp"), got.Span("upstream attempt"), got.Span("tools/call browser_navigate")
	if srv == nil || att == nil || be == nil {
		t.Fatalf("spans missing from trace %s: %+v", incomingTraceID, got)
	}
	if srv.ServiceName != ServiceName || att.ServiceName != ServiceName || be.ServiceName != "mcp-backend" {
		t.Errorf("services %q %q %q", srv.ServiceName, att.ServiceName, be.ServiceName)
	}
	if srv.ParentSpanID != incomingSpanID || att.ParentSpanID != srv.SpanID || be.ParentSpanID != att.SpanID {
		t.Errorf("parents: server %s (want %s), attempt %s (want %s), backend %s (want %s)",
			srv.ParentSpanID, incomingSpanID, att.ParentSpanID, srv.SpanID, be.ParentSpanID, att.SpanID)
	}
	if be.SpanID != backendSpanID.Load() || be.Tags["gen_ai.tool.name"] != "browser_navigate" {
		t.Errorf("backend span %+v", be)
	}
	for _, s := range []*jaegertest.Span{srv, att, be} {
		if s.TraceID != incomingTraceID {
			t.Errorf("span %s in trace %s", s.OperationName, s.TraceID)
		}
	}
	// Both services are searchable.
	svcs := strings.Join(j.Services(t), ",")
	if !strings.Contains(svcs, ServiceName) || !strings.Contains(svcs, "mcp-backend") {
		t.Errorf("services %s", svcs)
	}
}

// backendTracing is what an instrumented MCP server runs: its own tracer
// provider (service mcp-backend), exporting over OTLP/HTTP.
type backendTracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newBackendTracing(ctx context.Context, otlpHTTP string) (*backendTracing, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(otlpHTTP+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "mcp-backend"))),
	)
	return &backendTracing{
		tp:     tp,
		tracer: tp.Tracer("mcp-backend"),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

type propagationCarrier = propagation.HeaderCarrier

// With trust off, the gateway's span starts a new trace and Jaeger shows
// the caller's span as a FOLLOWS_FROM reference (the link).
func TestJaegerUntrustedLink(t *testing.T) {
	j := jaegertest.Start(t)
	ctx := context.Background()
	gw, err := NewTracing(ctx, TracingOptions{Enabled: true, Endpoint: j.OTLPHTTP, Protocol: "http", SamplingRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := http.Header{}
	in.Set("traceparent", incomingParent)
	_, span := gw.StartServer(ctx, in, "POST /a2a")
	span.End()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := gw.Shutdown(fctx); err != nil {
		t.Fatal(err)
	}
	traceID := span.SpanContext().TraceID().String()
	if traceID == incomingTraceID {
		t.Fatal("untrusted traceparent was followed")
	}
	s := j.TraceByID(t, traceID, 1).Span("POST /a2a")
	if s == nil || s.ParentSpanID != "" {
		t.Fatalf("span %+v", s)
	}
	var linked bool
	for _, r := range s.References {
		linked = linked || (r.RefType == "FOLLOWS_FROM" && r.TraceID == incomingTraceID && r.SpanID == incomingSpanID)
	}
	if !linked {
		t.Errorf("no link to the incoming span: %+v", s.References)
	}
}

// Inject writes exactly what the W3C propagators write, on its fast path
// (traceparent only) and off it (tracestate, baggage), whatever the flags.
func TestInjectMatchesPropagator(t *testing.T) {
	tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: 1}, &discardClient{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	tid, _ := trace.TraceIDFromHex(incomingTraceID)
	sid, _ := trace.SpanIDFromHex(incomingSpanID)
	ts, err := trace.ParseTraceState("vendor=abc,other=x")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := baggage.NewMember("k", "v")
	bag, _ := baggage.New(m)
	for _, tc := range []struct {
		name string
		sc   trace.SpanContextConfig
		bag  bool
	}{
		{"unsampled", trace.SpanContextConfig{TraceID: tid, SpanID: sid}, false},
		{"sampled", trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}, false},
		{"random flag", trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled | trace.FlagsRandom}, false},
		{"unknown flags dropped", trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: 0xff}, false},
		{"tracestate", trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts}, false},
		{"baggage", trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}, true},
		{"invalid", trace.SpanContextConfig{}, false},
	} {
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(tc.sc))
		if tc.bag {
			ctx = baggage.ContextWithBaggage(ctx, bag)
		}
		got, want := http.Header{"Traceparent": {"stale"}}, http.Header{"Traceparent": {"stale"}}
		tr.Inject(ctx, got)
		w3c.Inject(ctx, propagation.HeaderCarrier(want))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Inject wrote %v, the propagator %v", tc.name, got, want)
		}
	}
}
