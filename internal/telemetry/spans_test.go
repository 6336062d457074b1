package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry/otlptest"
)

func mustTraceID(s string) trace.TraceID {
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

func mustSpanID(s string) trace.SpanID {
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

// Sampling is the SDK's ParentBased(TraceIDRatioBased(rate)): a valid
// parent decides, remote or local; a root follows the rate; the trace id,
// trace state and other flags come from the parent.
func TestRecorderSampling(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	parent := func(sampled, remote bool) trace.SpanContext {
		f := trace.TraceFlags(0)
		if sampled {
			f = trace.FlagsSampled
		}
		return trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: mustTraceID(incomingTraceID), SpanID: mustSpanID(incomingSpanID),
			TraceFlags: f | trace.FlagsRandom, TraceState: ts, Remote: remote,
		})
	}
	for _, tc := range []struct {
		name    string
		rate    float64
		parent  trace.SpanContext
		newRoot bool
		want    bool
	}{
		{name: "root rate 1", rate: 1, want: true},
		{name: "root rate 0", rate: 0, want: false},
		{name: "remote sampled, rate 0", rate: 0, parent: parent(true, true), want: true},
		{name: "remote unsampled, rate 1", rate: 1, parent: parent(false, true), want: false},
		{name: "local sampled, rate 0", rate: 0, parent: parent(true, false), want: true},
		{name: "local unsampled, rate 1", rate: 1, parent: parent(false, false), want: false},
		{name: "new root ignores an unsampled parent", rate: 1, parent: parent(false, true), newRoot: true, want: true},
		{name: "new root ignores a sampled parent", rate: 0, parent: parent(true, true), newRoot: true, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := &otlptest.Collector{}
			tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: tc.rate}, col)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tr.Shutdown(context.Background()) }()
			ctx := trace.ContextWithSpanContext(context.Background(), tc.parent)
			var opts []trace.SpanStartOption
			if tc.newRoot {
				opts = append(opts, trace.WithNewRoot())
			}
			_, s := tr.Tracer().Start(ctx, "s", opts...)
			sc := s.SpanContext()
			if !sc.IsValid() || sc.IsSampled() != tc.want || s.IsRecording() != tc.want {
				t.Fatalf("span context %+v recording %v; want valid, sampled %v", sc, s.IsRecording(), tc.want)
			}
			inherits := tc.parent.IsValid() && !tc.newRoot
			if (sc.TraceID() == tc.parent.TraceID()) != inherits {
				t.Errorf("trace id %s, parent %s, inherits %v", sc.TraceID(), tc.parent.TraceID(), inherits)
			}
			if sc.SpanID() == tc.parent.SpanID() {
				t.Error("span id reused")
			}
			if inherits && (sc.TraceState().String() != "vendor=x" || sc.TraceFlags()&trace.FlagsRandom == 0) {
				t.Errorf("trace state %q flags %v: not the parent's", sc.TraceState(), sc.TraceFlags())
			}
			s.End()
			spans := flush(t, tr, col)
			if (len(spans) == 1) != tc.want {
				t.Fatalf("exported %d spans", len(spans))
			}
			if tc.want {
				if got := spans[0].Parent; got.IsValid() != inherits || (inherits && (got.SpanID() != tc.parent.SpanID() || got.IsRemote() != tc.parent.IsRemote())) {
					t.Errorf("exported parent %+v, want %+v", got, tc.parent)
				}
			}
		})
	}
}

// A root's decision at a fractional rate is the SDK's, trace id by trace
// id: switching implementations samples the same traces.
func TestRecorderRatioMatchesSDK(t *testing.T) {
	for _, rate := range []float64{0.001, 0.25, 0.5, 0.999} {
		rec := newRecorder(rate, 1)
		sdk := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(rate))
		rng := rand.New(rand.NewPCG(1, uint64(rate*1000)))
		for range 2000 {
			var tid trace.TraceID
			for i := range tid {
				tid[i] = byte(rng.Uint32())
			}
			want := sdk.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: tid}).Decision == sdktrace.RecordAndSample
			if got := rec.sample(trace.SpanContext{}, tid); got != want {
				t.Fatalf("rate %v trace %s: sampled %v, SDK %v", rate, tid, got, want)
			}
		}
	}
}

// What a span records reaches the collector, through the OTLP wire form:
// attributes of every type (a key set twice keeps its last value), name,
// kind, status by the SDK's precedence, events, links, times; nothing
// changes after End.
func TestRecorderSpanContent(t *testing.T) {
	type step func(trace.Span)
	for _, tc := range []struct {
		name  string
		kind  trace.SpanKind
		steps []step
		check func(t *testing.T, s tracetest.SpanStub)
	}{
		{
			name: "attributes",
			kind: trace.SpanKindServer,
			steps: []step{func(s trace.Span) {
				s.SetAttributes(attribute.String("s", "v"), attribute.Int("i", 7), attribute.Bool("b", true),
					attribute.Float64("f", 1.5), attribute.StringSlice("ss", []string{"a", "b"}), attribute.String("dup", "first"))
				s.SetAttributes(attribute.String("dup", "last"))
				s.SetName("POST /mcp")
			}},
			check: func(t *testing.T, s tracetest.SpanStub) {
				got := map[string]string{}
				for _, kv := range s.Attributes {
					if _, ok := got[string(kv.Key)]; ok {
						t.Errorf("attribute %s twice", kv.Key)
					}
					got[string(kv.Key)] = kv.Value.String()
				}
				want := map[string]string{"s": "v", "i": "7", "b": "true", "f": "1.5", "ss": `["a","b"]`, "dup": "last"}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("attributes %v, want %v", got, want)
				}
				if s.Name != "POST /mcp" || s.SpanKind != trace.SpanKindServer || s.DroppedAttributes != 0 {
					t.Errorf("name %q kind %v dropped %d", s.Name, s.SpanKind, s.DroppedAttributes)
				}
				if !s.StartTime.Before(s.EndTime) && !s.StartTime.Equal(s.EndTime) {
					t.Errorf("start %v after end %v", s.StartTime, s.EndTime)
				}
			},
		},
		{
			name: "attribute limit",
			steps: []step{func(s trace.Span) {
				for i := range maxSpanAttributes + 5 {
					s.SetAttributes(attribute.Int(fmt.Sprint("k", i), i))
				}
			}},
			check: func(t *testing.T, s tracetest.SpanStub) {
				if len(s.Attributes) != maxSpanAttributes || s.DroppedAttributes != 5 || s.SpanKind != trace.SpanKindInternal {
					t.Errorf("%d attributes, %d dropped, kind %v", len(s.Attributes), s.DroppedAttributes, s.SpanKind)
				}
			},
		},
		{
			name:  "error status keeps its description",
			kind:  trace.SpanKindClient,
			steps: []step{func(s trace.Span) { s.SetStatus(codes.Error, "5xx") }, func(s trace.Span) { s.SetStatus(codes.Unset, "") }},
			check: func(t *testing.T, s tracetest.SpanStub) {
				if s.Status.Code != codes.Error || s.Status.Description != "5xx" {
					t.Errorf("status %+v", s.Status)
				}
			},
		},
		{
			name:  "ok is final and has no description",
			steps: []step{func(s trace.Span) { s.SetStatus(codes.Ok, "fine") }, func(s trace.Span) { s.SetStatus(codes.Error, "late") }},
			check: func(t *testing.T, s tracetest.SpanStub) {
				if s.Status.Code != codes.Ok || s.Status.Description != "" {
					t.Errorf("status %+v", s.Status)
				}
			},
		},
		{
			name: "events and links",
			steps: []step{func(s trace.Span) {
				s.AddEvent("retry", trace.WithAttributes(attribute.Int("n", 2)))
				s.RecordError(errors.New("boom"))
				s.RecordError(nil)
				s.AddLink(trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: mustTraceID(incomingTraceID), SpanID: mustSpanID(incomingSpanID), TraceFlags: trace.FlagsSampled, Remote: true,
				}), Attributes: []attribute.KeyValue{attribute.Bool("traceparent.untrusted", true)}})
				s.AddLink(trace.Link{}) // invalid: ignored, as the SDK does
			}},
			check: func(t *testing.T, s tracetest.SpanStub) {
				if len(s.Events) != 2 || s.Events[0].Name != "retry" || s.Events[0].Attributes[0] != attribute.Int("n", 2) ||
					s.Events[1].Name != "exception" || fmt.Sprint(s.Events[1].Attributes) != fmt.Sprint([]attribute.KeyValue{
					attribute.String("exception.type", "*errors.errorString"), attribute.String("exception.message", "boom")}) {
					t.Errorf("events %+v", s.Events)
				}
				if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != incomingTraceID || !s.Links[0].SpanContext.IsRemote() ||
					!s.Links[0].SpanContext.IsSampled() || len(s.Links[0].Attributes) != 1 {
					t.Errorf("links %+v", s.Links)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, col := memTracing(t, TracingOptions{SamplingRate: 1, ServiceVersion: "9"})
			_, s := tr.Tracer().Start(context.Background(), "x", trace.WithSpanKind(tc.kind))
			for _, st := range tc.steps {
				st(s)
			}
			s.End()
			// After End: nothing changes, the span context stays.
			sc := s.SpanContext()
			s.SetAttributes(attribute.String("late", "x"))
			s.SetName("late")
			s.SetStatus(codes.Error, "late")
			s.AddEvent("late")
			s.End()
			if s.IsRecording() || !s.SpanContext().Equal(sc) || !sc.IsValid() {
				t.Errorf("after End: recording %v, span context %+v", s.IsRecording(), s.SpanContext())
			}
			spans := flush(t, tr, col)
			if len(spans) != 1 {
				t.Fatalf("exported %d spans", len(spans))
			}
			if spans[0].SpanContext.TraceID() != sc.TraceID() || spans[0].SpanContext.SpanID() != sc.SpanID() || !spans[0].SpanContext.IsSampled() {
				t.Errorf("exported span context %+v, want %+v", spans[0].SpanContext, sc)
			}
			if spans[0].InstrumentationScope.Name != TracerName {
				t.Errorf("scope %+v", spans[0].InstrumentationScope)
			}
			tc.check(t, spans[0])
		})
	}
}

// A record goes back to the pool once exported: a handle kept after End
// (a context outliving its request) never sees the next span's record.
func TestRecorderRecycledRecord(t *testing.T) {
	tr, col := memTracing(t, TracingOptions{SamplingRate: 1})
	_, old := tr.Tracer().Start(context.Background(), "old")
	old.End()
	flush(t, tr, col)
	sc := old.SpanContext()
	for range 10 {
		_, s := tr.Tracer().Start(context.Background(), "new")
		old.SetAttributes(attribute.String("leak", "x"))
		old.SetName("leak")
		old.End()
		s.End()
	}
	for _, s := range flush(t, tr, col) {
		if s.Name != "old" && s.Name != "new" || len(s.Attributes) != 0 {
			t.Errorf("span %q attributes %v: the ended handle wrote into a reused record", s.Name, s.Attributes)
		}
	}
	if !old.SpanContext().Equal(sc) {
		t.Error("span context changed")
	}
}

// The queue to the exporter is bounded: past it, ended spans are dropped
// and counted, and the request path never waits.
func TestRecorderQueueFull(t *testing.T) {
	for _, tc := range []struct {
		queue, spans int
		dropped      uint64
	}{{queue: 4, spans: 3, dropped: 0}, {queue: 4, spans: 4, dropped: 0}, {queue: 4, spans: 10, dropped: 6}, {queue: 1, spans: 3, dropped: 2}} {
		rec := newRecorder(1, tc.queue) // no exporter drains it
		for range tc.spans {
			_, s := rec.Tracer("").Start(context.Background(), "x")
			s.End()
		}
		if got := rec.Dropped(); got != tc.dropped || len(rec.queue) != min(tc.queue, tc.spans) {
			t.Errorf("queue %d, %d spans: dropped %d (queued %d), want %d", tc.queue, tc.spans, got, len(rec.queue), tc.dropped)
		}
	}
}

// The drop counter is the metric agentgateway_tracing_spans_dropped_total.
func TestSpansDroppedMetric(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: 1}, blockingClient{block})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	}()
	m, err := NewMetrics(MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.CountSpanDrops(tr.SpansDropped)
	// The exporter holds at most one batch; the queue the rest.
	n := maxQueueSize + maxExportBatchSize + 100
	for range n {
		_, s := tr.Tracer().Start(context.Background(), "x")
		s.End()
	}
	if tr.SpansDropped() < 100 {
		t.Fatalf("dropped %d of %d spans", tr.SpansDropped(), n)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := fmt.Sprintf("agentgateway_tracing_spans_dropped_total %d\n", tr.SpansDropped())
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
}

// After Shutdown nothing is recorded, and Shutdown exports what was
// queued.
func TestRecorderShutdownFlushes(t *testing.T) {
	col := &otlptest.Collector{}
	tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: 1}, col)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, s := tr.Tracer().Start(context.Background(), "x")
		s.End()
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(col.GetSpans()); n != 3 {
		t.Errorf("shutdown exported %d of 3 spans", n)
	}
	ctx, s := tr.Tracer().Start(context.Background(), "after")
	if s.IsRecording() || s.SpanContext().IsValid() {
		t.Error("a span started after Shutdown records")
	}
	tr.Inject(ctx, http.Header{})
	s.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Error(err)
	}
}

// Begin keeps a recorded request's server span in its bookkeeping, and
// none for a request that is not recorded; the trace id the logs write is
// the span's, whichever.
func TestBeginServerSpan(t *testing.T) {
	for _, tc := range []struct {
		rate   float64
		record bool
	}{{1, true}, {0, false}} {
		tr, col := memTracing(t, TracingOptions{SamplingRate: tc.rate, TrustIncomingTraceparent: true})
		o := &Observer{Tracing: tr}
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		ex := &policy.Exchange{}
		ctx := o.Begin(r, ex)
		sp := trace.SpanFromContext(ctx)
		s, ok := ex.Observation.(*spans)
		if ok != tc.record || sp.IsRecording() != tc.record || (ok && sp != trace.Span(&s.server)) {
			t.Fatalf("rate %v: bookkeeping %v, recording %v", tc.rate, ok, sp.IsRecording())
		}
		tid := sp.SpanContext().TraceID().String()
		if got := TraceID(ctx); got != tid || o.TraceID(ctx) != tid || !sp.SpanContext().IsValid() {
			t.Errorf("rate %v: TraceID %q, span's %s", tc.rate, got, tid)
		}
		o.End(ctx, r, ex, Result{Status: 200})
		if n := len(flush(t, tr, col)); (n == 1) != tc.record {
			t.Errorf("rate %v: exported %d spans", tc.rate, n)
		}
	}
	// Another tracer's span context (a remote parent alone) still gives its id.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: mustTraceID(incomingTraceID), SpanID: mustSpanID(incomingSpanID),
	}))
	if got := TraceID(ctx); got != incomingTraceID {
		t.Errorf("TraceID of a bare span context = %q", got)
	}
	if got := TraceID(context.Background()); got != "" {
		t.Errorf("TraceID without a span = %q", got)
	}
}

// The exporter uploads batches of at most maxExportBatchSize spans, all of
// them, each span once.
func TestExportBatches(t *testing.T) {
	for _, n := range []int{1, maxExportBatchSize, maxExportBatchSize + 1, 3*maxExportBatchSize + 7} {
		tr, col := memTracing(t, TracingOptions{SamplingRate: 1})
		for range n {
			_, s := tr.Tracer().Start(context.Background(), "x")
			s.End()
		}
		spans := flush(t, tr, col)
		total := 0
		for _, b := range col.Batches() {
			if b == 0 || b > maxExportBatchSize {
				t.Errorf("%d spans: a batch of %d", n, b)
			}
			total += b
		}
		seen := map[trace.SpanID]bool{}
		for _, s := range spans {
			seen[s.SpanContext.SpanID()] = true
		}
		if total != n || len(spans) != n || len(seen) != n {
			t.Errorf("%d spans: uploaded %d in %v, %d distinct", n, total, col.Batches(), len(seen))
		}
	}
}
