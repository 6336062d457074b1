// Package otlptest is an in-memory OTLP trace collector for tests: it
// implements otlptrace.Client, marshals each upload to the protobuf wire
// form and decodes it back, and returns the spans as the SDK's
// tracetest.SpanStubs, so tests check what a collector would receive.
package otlptest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Collector collects uploaded spans. The zero value is ready to use.
type Collector struct {
	mu      sync.Mutex
	spans   tracetest.SpanStubs
	batches []int
	// Err, when set, is what UploadTraces returns (after collecting).
	Err error
}

// Start implements otlptrace.Client.
func (*Collector) Start(context.Context) error { return nil }

// Stop implements otlptrace.Client.
func (*Collector) Stop(context.Context) error { return nil }

// UploadTraces implements otlptrace.Client: the spans go through the wire
// form, as to a real collector.
func (c *Collector) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&collectorpb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	var req collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return err
	}
	stubs, err := Stubs(req.ResourceSpans)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, stubs...)
	c.batches = append(c.batches, len(stubs))
	return c.Err
}

// GetSpans returns the spans collected so far.
func (c *Collector) GetSpans() tracetest.SpanStubs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(tracetest.SpanStubs(nil), c.spans...)
}

// Batches are the number of spans of each UploadTraces call, in order.
func (c *Collector) Batches() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

// Reset forgets the spans collected.
func (c *Collector) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = nil
}

// Stubs decodes OTLP resource spans into SDK span stubs.
func Stubs(rss []*tracepb.ResourceSpans) (tracetest.SpanStubs, error) {
	var out tracetest.SpanStubs
	for _, rs := range rss {
		attrs, err := KeyValues(rs.GetResource().GetAttributes())
		if err != nil {
			return nil, fmt.Errorf("resource: %w", err)
		}
		res := resource.NewWithAttributes(rs.GetSchemaUrl(), attrs...)
		for _, ss := range rs.GetScopeSpans() {
			scope := instrumentation.Scope{Name: ss.GetScope().GetName(), Version: ss.GetScope().GetVersion(), SchemaURL: ss.GetSchemaUrl()}
			for _, s := range ss.GetSpans() {
				stub, err := stub(s)
				if err != nil {
					return nil, fmt.Errorf("span %q: %w", s.GetName(), err)
				}
				stub.Resource = res
				stub.InstrumentationScope = scope
				out = append(out, stub)
			}
		}
	}
	return out, nil
}

func stub(s *tracepb.Span) (tracetest.SpanStub, error) {
	var st tracetest.SpanStub
	tid, err := traceID(s.GetTraceId())
	if err != nil {
		return st, err
	}
	sid, err := spanID(s.GetSpanId())
	if err != nil {
		return st, err
	}
	ts, err := trace.ParseTraceState(s.GetTraceState())
	if err != nil {
		return st, err
	}
	flags := s.GetFlags()
	st.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags & 0xff), TraceState: ts})
	if len(s.GetParentSpanId()) > 0 {
		pid, err := spanID(s.GetParentSpanId())
		if err != nil {
			return st, err
		}
		st.Parent = trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: pid,
			Remote: flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) != 0,
		})
	}
	st.Name = s.GetName()
	st.SpanKind = trace.SpanKind(s.GetKind())
	st.StartTime = timeOf(s.GetStartTimeUnixNano())
	st.EndTime = timeOf(s.GetEndTimeUnixNano())
	if st.Attributes, err = KeyValues(s.GetAttributes()); err != nil {
		return st, err
	}
	st.DroppedAttributes = int(s.GetDroppedAttributesCount())
	st.DroppedEvents = int(s.GetDroppedEventsCount())
	st.DroppedLinks = int(s.GetDroppedLinksCount())
	switch s.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_ERROR:
		st.Status.Code = codes.Error
	case tracepb.Status_STATUS_CODE_OK:
		st.Status.Code = codes.Ok
	}
	st.Status.Description = s.GetStatus().GetMessage()
	for _, e := range s.GetEvents() {
		attrs, err := KeyValues(e.GetAttributes())
		if err != nil {
			return st, err
		}
		st.Events = append(st.Events, eventOf(e.GetName(), e.GetTimeUnixNano(), attrs))
	}
	for _, l := range s.GetLinks() {
		ltid, err := traceID(l.GetTraceId())
		if err != nil {
			return st, err
		}
		lsid, err := spanID(l.GetSpanId())
		if err != nil {
			return st, err
		}
		lts, err := trace.ParseTraceState(l.GetTraceState())
		if err != nil {
			return st, err
		}
		attrs, err := KeyValues(l.GetAttributes())
		if err != nil {
			return st, err
		}
		st.Links = append(st.Links, linkOf(trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: ltid, SpanID: lsid, TraceState: lts,
			TraceFlags: trace.TraceFlags(l.GetFlags() & 0xff),
			Remote:     l.GetFlags()&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) != 0,
		}), attrs))
	}
	return st, nil
}

func traceID(b []byte) (trace.TraceID, error) {
	var id trace.TraceID
	if len(b) != len(id) {
		return id, fmt.Errorf("trace id of %d bytes", len(b))
	}
	copy(id[:], b)
	return id, nil
}

func spanID(b []byte) (trace.SpanID, error) {
	var id trace.SpanID
	if len(b) != len(id) {
		return id, fmt.Errorf("span id of %d bytes", len(b))
	}
	copy(id[:], b)
	return id, nil
}

// KeyValues decodes OTLP attributes.
func KeyValues(kvs []*commonpb.KeyValue) ([]attribute.KeyValue, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make([]attribute.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		v, err := value(kv.GetValue())
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", kv.GetKey(), err)
		}
		out = append(out, attribute.KeyValue{Key: attribute.Key(kv.GetKey()), Value: v})
	}
	return out, nil
}

func value(v *commonpb.AnyValue) (attribute.Value, error) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return attribute.StringValue(x.StringValue), nil
	case *commonpb.AnyValue_IntValue:
		return attribute.Int64Value(x.IntValue), nil
	case *commonpb.AnyValue_BoolValue:
		return attribute.BoolValue(x.BoolValue), nil
	case *commonpb.AnyValue_DoubleValue:
		return attribute.Float64Value(x.DoubleValue), nil
	case *commonpb.AnyValue_BytesValue:
		return attribute.ByteSliceValue(x.BytesValue), nil
	case *commonpb.AnyValue_ArrayValue:
		vs := make([]attribute.Value, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			ev, err := value(e)
			if err != nil {
				return attribute.Value{}, err
			}
			vs = append(vs, ev)
		}
		return attribute.SliceValue(vs...), nil
	case *commonpb.AnyValue_KvlistValue:
		kvs, err := KeyValues(x.KvlistValue.GetValues())
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.MapValue(kvs...), nil
	case nil:
		return attribute.Value{}, nil
	}
	return attribute.Value{}, fmt.Errorf("value type %T", v.GetValue())
}

func timeOf(ns uint64) time.Time { return time.Unix(0, int64(ns)) }

func eventOf(name string, ns uint64, attrs []attribute.KeyValue) sdktrace.Event {
	return sdktrace.Event{Name: name, Time: timeOf(ns), Attributes: attrs}
}

func linkOf(sc trace.SpanContext, attrs []attribute.KeyValue) sdktrace.Link {
	return sdktrace.Link{SpanContext: sc, Attributes: attrs}
}
