package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// The gateway records its spans itself, behind the OpenTelemetry API
// (trace.TracerProvider, trace.Tracer, trace.Span), instead of through the
// SDK: the SDK's span costs about 5 allocations to start and 6 to end
// (attribute maps and slices, a snapshot per span), on every request. Here
// a span is one small handle plus a pooled record whose attributes go into
// a fixed array; ended records wait in a bounded queue for the exporter
// goroutine (spanexport.go), which encodes them as OTLP and recycles them.
// docs/performance.md has the numbers.

// Span limits. The SDK's defaults are 128 of each; the gateway's own spans
// carry at most about 30 attributes, and set no events or links beyond the
// untrusted-traceparent link.
const (
	maxSpanAttributes = 128
	maxSpanEvents     = 128
	maxSpanLinks      = 128
	// inlineAttributes is the attribute array every pooled record has: a
	// server span with the seed chain's policy decisions (11 to 14
	// attributes) fits without growing it; more spill to a slice. Not
	// larger: a stream's server span lives as long as the stream, and
	// each entry is 64 bytes (an idle stream's budget is 16 KiB).
	inlineAttributes = 16
)

// recorder is the gateway's tracer provider: sampling, span records and
// the queue to the exporter.
type recorder struct {
	embedded.TracerProvider
	tracer tracer

	// ratio is ParentBased(TraceIDRatioBased(rate)) as the SDK computes
	// it: a root span is sampled when the trace id's low 63 bits are below
	// bound; always is rate >= 1.
	bound  uint64
	always bool

	queue   chan *spanData
	dropped atomic.Uint64
	stopped atomic.Bool
}

func newRecorder(rate float64, queueSize int) *recorder {
	r := &recorder{queue: make(chan *spanData, queueSize)}
	r.tracer.rec = r
	switch {
	case rate >= 1:
		r.always = true
	case rate > 0:
		r.bound = uint64(rate * (1 << 63))
	}
	return r
}

// Tracer returns the gateway's one tracer, whatever the name: its scope is
// TracerName.
func (r *recorder) Tracer(string, ...trace.TracerOption) trace.Tracer { return &r.tracer }

// Dropped is the number of ended spans dropped because the export queue
// was full.
func (r *recorder) Dropped() uint64 { return r.dropped.Load() }

type tracer struct {
	embedded.Tracer
	rec *recorder
}

// Start starts a span as the SDK does: a child of ctx's span context (a
// new root with trace.WithNewRoot), sampled as its parent is, or, for a
// root, as the trace id falls under the sampling rate. Unsampled spans
// record nothing but carry a fresh span id, so they still propagate.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := trace.NewSpanStartConfig(opts...)
	var psc trace.SpanContext
	if !cfg.NewRoot() {
		psc = trace.SpanContextFromContext(ctx)
	}
	s := t.start(psc, name, &cfg, nil)
	if s.rec == nil {
		// After Shutdown, as the SDK: nothing recorded, ctx's span
		// context kept.
		s.sc = trace.SpanContextFromContext(ctx)
	}
	return trace.ContextWithSpan(ctx, s), s
}

// start is Start with the parent given, and no context: the gateway's own
// call sites (StartServer, StartClient) know the parent without putting it
// in a context first, and the client span needs none of its own. alloc,
// when not nil, provides the handle once the sampling decision is known
// (Observer.Begin keeps a recorded request's server span in the
// bookkeeping it allocates anyway).
func (t *tracer) start(psc trace.SpanContext, name string, cfg *trace.SpanConfig, alloc func(sampled bool) *span) *span {
	r := t.rec
	if r.stopped.Load() {
		return &span{}
	}
	var scc trace.SpanContextConfig
	if psc.TraceID().IsValid() {
		scc.TraceID = psc.TraceID()
	} else {
		scc.TraceID = newTraceID()
	}
	scc.SpanID = newSpanID()
	scc.TraceState = psc.TraceState()
	sampled := r.sample(psc, scc.TraceID)
	if sampled {
		scc.TraceFlags = psc.TraceFlags() | trace.FlagsSampled
	} else {
		scc.TraceFlags = psc.TraceFlags() &^ trace.FlagsSampled
	}
	var s *span
	if alloc != nil {
		s = alloc(sampled)
	} else {
		s = &span{}
	}
	s.sc, s.rec = trace.NewSpanContext(scc), r
	if sampled {
		d := spanPool.Get().(*spanData)
		d.name = name
		d.parent = psc
		d.kind = cfg.SpanKind()
		if d.kind == trace.SpanKindUnspecified {
			d.kind = trace.SpanKindInternal
		}
		d.start = cfg.Timestamp()
		if d.start.IsZero() {
			d.start = time.Now()
		}
		d.setAttributes(cfg.Attributes())
		for _, l := range cfg.Links() {
			d.addLink(l)
		}
		s.d = d
	}
	return s
}

// sample is ParentBased(TraceIDRatioBased): a valid parent decides (remote
// or local, by its sampled flag); otherwise the trace id against the rate.
func (r *recorder) sample(parent trace.SpanContext, tid trace.TraceID) bool {
	if parent.IsValid() {
		return parent.IsSampled()
	}
	if r.always {
		return true
	}
	return binary.BigEndian.Uint64(tid[8:16])>>1 < r.bound
}

// newTraceID and newSpanID draw from math/rand/v2's global source: a
// per-thread ChaCha8 seeded by the runtime, with no lock (the SDK's
// generator is one math/rand source behind a mutex).
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// span is the handle callers hold. It outlives its record: a context may
// keep it after End (the access log reads its span context), so the record
// goes back to the pool and the handle keeps only what is immutable.
type span struct {
	embedded.Span
	sc  trace.SpanContext
	rec *recorder

	mu  sync.Mutex
	d   *spanData // nil once ended, and for a span that does not record
	tid string    // traceID's cache
}

func (s *span) SpanContext() trace.SpanContext { return s.sc }

// traceID is the span's trace id in hex, computed once: the access log
// and audit records of a request both write it.
func (s *span) traceID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tid == "" {
		s.tid = s.sc.TraceID().String()
	}
	return s.tid
}

func (s *span) IsRecording() bool {
	if s.rec == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d != nil
}

func (s *span) TracerProvider() trace.TracerProvider {
	if s.rec == nil {
		return noopProvider
	}
	return s.rec
}

func (s *span) SetName(name string) {
	if s.rec == nil {
		return
	}
	s.mu.Lock()
	if s.d != nil {
		s.d.name = name
	}
	s.mu.Unlock()
}

// SetAttributes appends kv. A key set twice keeps its last value: the
// exporter removes the earlier one, off the request path.
func (s *span) SetAttributes(kv ...attribute.KeyValue) {
	if s.rec == nil {
		return
	}
	s.mu.Lock()
	if s.d != nil {
		s.d.setAttributes(kv)
	}
	s.mu.Unlock()
}

// SetStatus follows the SDK: Ok is final, Error beats Unset, and only an
// Error keeps its description.
func (s *span) SetStatus(code codes.Code, description string) {
	if s.rec == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	if d == nil || d.status > code {
		return
	}
	d.status, d.statusDesc = code, ""
	if code == codes.Error {
		d.statusDesc = description
	}
}

func (s *span) AddEvent(name string, opts ...trace.EventOption) {
	if s.rec == nil {
		return
	}
	c := trace.NewEventConfig(opts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d != nil {
		s.d.addEvent(name, c)
	}
}

// RecordError is an "exception" event, as the SDK writes it (without the
// stack trace option).
func (s *span) RecordError(err error, opts ...trace.EventOption) {
	if s.rec == nil || err == nil {
		return
	}
	opts = append(opts, trace.WithAttributes(
		semconv.ExceptionType(errorTypeName(err)),
		semconv.ExceptionMessage(err.Error()),
	))
	s.AddEvent(semconv.ExceptionEventName, opts...)
}

func (s *span) AddLink(l trace.Link) {
	if s.rec == nil {
		return
	}
	s.mu.Lock()
	if s.d != nil {
		s.d.addLink(l)
	}
	s.mu.Unlock()
}

// setAttributes is s.SetAttributes(kv...) without kv escaping to the heap
// (a call through the interface would move the caller's array there): the
// gateway's spans copy kv; another Span gets a copy.
func setAttributes(s trace.Span, kv ...attribute.KeyValue) {
	if own, ok := s.(*span); ok {
		own.SetAttributes(kv...)
		return
	}
	s.SetAttributes(slices.Clone(kv)...)
}

// End hands the record to the exporter's queue, or drops it (counted) when
// the queue is full: a slow collector never holds a request up.
func (s *span) End(opts ...trace.SpanEndOption) {
	if s.rec == nil {
		return
	}
	s.mu.Lock()
	d := s.d
	s.d = nil
	s.mu.Unlock()
	if d == nil {
		return
	}
	c := trace.NewSpanEndConfig(opts...)
	if ts := c.Timestamp(); !ts.IsZero() {
		d.end = ts
	} else {
		// Monotonic, as the SDK: the wall clock may step meanwhile.
		d.end = d.start.Add(time.Since(d.start))
	}
	d.sc = s.sc
	select {
	case s.rec.queue <- d:
	default:
		s.rec.dropped.Add(1)
		d.recycle()
	}
}

// spanData is one recorded span, pooled.
type spanData struct {
	name       string
	sc, parent trace.SpanContext
	kind       trace.SpanKind
	start, end time.Time
	status     codes.Code
	statusDesc string

	attrs        []attribute.KeyValue
	attrBuf      [inlineAttributes]attribute.KeyValue
	droppedAttrs int

	events        []spanEvent
	droppedEvents int
	links         []trace.Link
	droppedLinks  int
}

type spanEvent struct {
	name  string
	time  time.Time
	attrs []attribute.KeyValue
}

var spanPool = sync.Pool{New: func() any {
	d := &spanData{}
	d.attrs = d.attrBuf[:0]
	return d
}}

func (d *spanData) setAttributes(kv []attribute.KeyValue) {
	n := len(kv)
	if room := maxSpanAttributes - len(d.attrs); n > room {
		d.droppedAttrs += n - room
		n = room
	}
	d.attrs = append(d.attrs, kv[:n]...)
}

func (d *spanData) addEvent(name string, c trace.EventConfig) {
	if len(d.events) >= maxSpanEvents {
		d.droppedEvents++
		return
	}
	ts := c.Timestamp()
	if ts.IsZero() {
		ts = time.Now()
	}
	d.events = append(d.events, spanEvent{name: name, time: ts, attrs: c.Attributes()})
}

func (d *spanData) addLink(l trace.Link) {
	if !l.SpanContext.IsValid() {
		return
	}
	if len(d.links) >= maxSpanLinks {
		d.droppedLinks++
		return
	}
	d.links = append(d.links, l)
}

// recycle clears the record (its strings must not outlive the request in
// the pool) and returns it. Only the attributes used are cleared: zeroing
// the whole inline array costs more than the rest of the span's end. A
// record whose attributes outgrew the array goes back with the array only.
func (d *spanData) recycle() {
	clear(d.attrBuf[:min(len(d.attrs), inlineAttributes)])
	d.attrs = d.attrBuf[:0]
	d.name, d.statusDesc = "", ""
	d.sc, d.parent = trace.SpanContext{}, trace.SpanContext{}
	d.kind, d.status = 0, 0
	d.start, d.end = time.Time{}, time.Time{}
	d.droppedAttrs, d.droppedEvents, d.droppedLinks = 0, 0, 0
	d.events, d.links = nil, nil
	spanPool.Put(d)
}

// errorTypeName is the exception.type of err, as the SDK writes it.
func errorTypeName(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

var noopProvider = noop.NewTracerProvider()

// registerSpanDrops registers agentgateway_tracing_spans_dropped_total,
// always exported (0 until CountSpanDrops names the Tracing, and with
// tracing off).
func (m *Metrics) registerSpanDrops() {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "agentgateway_tracing_spans_dropped_total",
		Help: "Ended spans dropped because the OTLP exporter did not keep up (collector down or slow) and the gateway's span queue was full.",
	}, func() float64 {
		if f := m.spanDrops.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}))
}

// CountSpanDrops exports dropped() (a Tracing's SpansDropped) as
// agentgateway_tracing_spans_dropped_total.
func (m *Metrics) CountSpanDrops(dropped func() uint64) {
	if m == nil {
		return
	}
	m.spanDrops.Store(&dropped)
}
