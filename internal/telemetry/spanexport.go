package telemetry

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// spanExporter is the goroutine between the recorder's queue and the OTLP
// client: it batches ended spans (up to maxExportBatchSize, or whatever
// batchTimeout collected), encodes them as OTLP messages and uploads them
// with the otlptrace gRPC or HTTP client, one upload at a time. Encoding
// reuses its arrays from batch to batch: the client marshals the messages
// before UploadTraces returns.
type spanExporter struct {
	rec    *recorder
	client otlptrace.Client

	resource  *resourcepb.Resource
	resSchema string
	scope     *commonpb.InstrumentationScope

	// ctx bounds uploads; Shutdown cancels it when its own context ends
	// before the last upload does.
	ctx    context.Context
	cancel context.CancelFunc

	flushes  chan chan error
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	batch []*spanData
	enc   otlpEncoder
}

func newSpanExporter(rec *recorder, client otlptrace.Client, res *resourcepb.Resource, resSchema string) *spanExporter {
	ctx, cancel := context.WithCancel(context.Background())
	e := &spanExporter{
		rec:       rec,
		client:    client,
		resource:  res,
		resSchema: resSchema,
		scope:     &commonpb.InstrumentationScope{Name: TracerName},
		ctx:       ctx,
		cancel:    cancel,
		flushes:   make(chan chan error),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		batch:     make([]*spanData, 0, maxExportBatchSize),
	}
	go e.run()
	return e
}

func (e *spanExporter) run() {
	defer close(e.done)
	timer := time.NewTimer(batchTimeout)
	defer timer.Stop()
	for {
		select {
		case d := <-e.rec.queue:
			e.batch = append(e.batch, d)
			if len(e.batch) >= maxExportBatchSize {
				e.export()
			}
		case <-timer.C:
			e.export()
			timer.Reset(batchTimeout)
		case reply := <-e.flushes:
			reply <- e.drain()
		case <-e.stop:
			if err := e.drain(); err != nil {
				otel.Handle(err)
			}
			return
		}
	}
}

// drain exports everything queued now.
func (e *spanExporter) drain() error {
	var errs []error
	for {
		select {
		case d := <-e.rec.queue:
			e.batch = append(e.batch, d)
			if len(e.batch) >= maxExportBatchSize {
				errs = append(errs, e.upload())
			}
			continue
		default:
		}
		break
	}
	errs = append(errs, e.upload())
	return errors.Join(errs...)
}

// export uploads the batch; an error goes to the OpenTelemetry error
// handler, as the SDK's batch processor reports it.
func (e *spanExporter) export() {
	if err := e.upload(); err != nil {
		otel.Handle(err)
	}
}

func (e *spanExporter) upload() error {
	if len(e.batch) == 0 {
		return nil
	}
	rs := e.enc.encode(e.batch, e.resource, e.resSchema, e.scope)
	for i, d := range e.batch {
		d.recycle()
		e.batch[i] = nil
	}
	e.batch = e.batch[:0]
	ctx, cancel := context.WithTimeout(e.ctx, exportTimeout)
	defer cancel()
	return e.client.UploadTraces(ctx, rs)
}

// forceFlush exports the spans queued now and waits for the upload.
func (e *spanExporter) forceFlush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case e.flushes <- reply:
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown exports what is queued and stops the client. When ctx ends
// first, the upload in flight is cancelled.
func (e *spanExporter) shutdown(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() {
		e.rec.stopped.Store(true)
		close(e.stop)
		select {
		case <-e.done:
		case <-ctx.Done():
			e.cancel()
			<-e.done
			err = ctx.Err()
		}
		e.cancel()
		if serr := e.client.Stop(ctx); serr != nil && err == nil {
			err = serr
		}
	})
	return err
}

// otlpEncoder turns span records into OTLP messages, in arrays it keeps
// from one batch to the next: a batch costs a few allocations, not several
// per span. Attribute values besides strings, integers, floats and
// booleans, events and links (rare on the gateway's spans) are allocated
// as the otlptrace exporter does.
type otlpEncoder struct {
	rs     tracepb.ResourceSpans
	ss     tracepb.ScopeSpans
	rsList [1]*tracepb.ResourceSpans
	ssList [1]*tracepb.ScopeSpans

	spans  []tracepb.Span
	ptrs   []*tracepb.Span
	status []tracepb.Status
	ids    []byte
	kvs    []commonpb.KeyValue
	kvPtrs []*commonpb.KeyValue
	vals   []commonpb.AnyValue
	strs   []commonpb.AnyValue_StringValue
	ints   []commonpb.AnyValue_IntValue
}

// resize returns s with length n, zeroed, reusing its array when it can.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func (c *otlpEncoder) encode(batch []*spanData, res *resourcepb.Resource, resSchema string, scope *commonpb.InstrumentationScope) []*tracepb.ResourceSpans {
	nattrs := 0
	for _, d := range batch {
		nattrs += len(d.attrs)
	}
	c.spans = resize(c.spans, len(batch))
	c.ptrs = resize(c.ptrs, len(batch))
	c.status = resize(c.status, len(batch))
	c.ids = resize(c.ids, 32*len(batch))
	c.kvs = resize(c.kvs, nattrs)
	c.kvPtrs = resize(c.kvPtrs, nattrs)
	c.vals = resize(c.vals, nattrs)
	c.strs = resize(c.strs, nattrs)
	c.ints = resize(c.ints, nattrs)
	a := 0 // next free attribute slot
	for i, d := range batch {
		s := &c.spans[i]
		c.ptrs[i] = s
		ids := c.ids[32*i : 32*i+32 : 32*i+32]
		tid, sid, pid := d.sc.TraceID(), d.sc.SpanID(), d.parent.SpanID()
		copy(ids[0:16], tid[:])
		copy(ids[16:24], sid[:])
		s.TraceId, s.SpanId = ids[0:16:16], ids[16:24:24]
		if pid.IsValid() {
			copy(ids[24:32], pid[:])
			s.ParentSpanId = ids[24:32:32]
		}
		s.TraceState = d.sc.TraceState().String()
		s.Flags = spanFlags(d.sc.TraceFlags(), d.parent)
		s.Name = d.name
		s.Kind = tracepb.Span_SpanKind(d.kind) // the same numbers, Internal to Consumer
		s.StartTimeUnixNano = unixNano(d.start)
		s.EndTimeUnixNano = unixNano(d.end)
		st := &c.status[i]
		switch d.status {
		case codes.Error:
			st.Code, st.Message = tracepb.Status_STATUS_CODE_ERROR, d.statusDesc
		case codes.Ok:
			st.Code = tracepb.Status_STATUS_CODE_OK
		}
		s.Status = st
		start := a
		for j, kv := range d.attrs {
			if shadowed(d.attrs, j) {
				continue
			}
			p := &c.kvs[a]
			p.Key = string(kv.Key)
			p.Value = c.value(a, kv.Value)
			c.kvPtrs[a] = p
			a++
		}
		s.Attributes = c.kvPtrs[start:a:a]
		s.DroppedAttributesCount = clampUint32(d.droppedAttrs) // a replaced value is not a dropped one
		s.Events = events(d.events)
		s.DroppedEventsCount = clampUint32(d.droppedEvents)
		s.Links = links(d.links)
		s.DroppedLinksCount = clampUint32(d.droppedLinks)
	}
	c.ss = tracepb.ScopeSpans{Scope: scope, Spans: c.ptrs}
	c.ssList[0] = &c.ss
	c.rs = tracepb.ResourceSpans{Resource: res, ScopeSpans: c.ssList[:], SchemaUrl: resSchema}
	c.rsList[0] = &c.rs
	return c.rsList[:]
}

// shadowed reports whether a later attribute sets attrs[j]'s key again:
// the last value wins, as with the SDK. Spans carry a few dozen attributes
// at most, so a scan beats a map.
func shadowed(attrs []attribute.KeyValue, j int) bool {
	k := attrs[j].Key
	for _, kv := range attrs[j+1:] {
		if kv.Key == k {
			return true
		}
	}
	return false
}

// value encodes v into the arena slot i.
func (c *otlpEncoder) value(i int, v attribute.Value) *commonpb.AnyValue {
	av := &c.vals[i]
	switch v.Type() {
	case attribute.STRING:
		sv := &c.strs[i]
		sv.StringValue = v.AsString()
		av.Value = sv
	case attribute.INT64:
		iv := &c.ints[i]
		iv.IntValue = v.AsInt64()
		av.Value = iv
	default:
		return anyValue(v)
	}
	return av
}

// anyValue encodes v in new messages.
func anyValue(v attribute.Value) *commonpb.AnyValue {
	av := new(commonpb.AnyValue)
	switch v.Type() {
	case attribute.BOOL:
		av.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.INT64:
		av.Value = &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}
	case attribute.FLOAT64:
		av.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.STRING:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: v.AsString()}
	case attribute.BYTESLICE:
		av.Value = &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}
	case attribute.BOOLSLICE:
		av.Value = array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		av.Value = array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		av.Value = array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		av.Value = array(v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		av.Value = array(v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		av.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: keyValues(v.AsMap())}}
	case attribute.EMPTY:
	default:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: "INVALID"}
	}
	return av
}

func array[T any](s []T, f func(T) attribute.Value) *commonpb.AnyValue_ArrayValue {
	vs := make([]*commonpb.AnyValue, len(s))
	for i, x := range s {
		vs[i] = anyValue(f(x))
	}
	return &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}
}

func keyValues(kvs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = &commonpb.KeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)}
	}
	return out
}

func events(es []spanEvent) []*tracepb.Span_Event {
	if len(es) == 0 {
		return nil
	}
	out := make([]*tracepb.Span_Event, len(es))
	for i, e := range es {
		out[i] = &tracepb.Span_Event{Name: e.name, TimeUnixNano: unixNano(e.time), Attributes: keyValues(e.attrs)}
	}
	return out
}

func links(ls []trace.Link) []*tracepb.Span_Link {
	if len(ls) == 0 {
		return nil
	}
	out := make([]*tracepb.Span_Link, len(ls))
	for i, l := range ls {
		tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		out[i] = &tracepb.Span_Link{
			TraceId:    tid[:],
			SpanId:     sid[:],
			TraceState: l.SpanContext.TraceState().String(),
			Attributes: keyValues(l.Attributes),
			Flags:      spanFlags(l.SpanContext.TraceFlags(), l.SpanContext),
		}
	}
	return out
}

// spanFlags are the W3C flags plus whether the parent is remote, as the
// otlptrace exporter writes them.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if parent.IsRemote() {
		f |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return f
}

func unixNano(t time.Time) uint64 { return uint64(max(0, t.UnixNano())) }

func clampUint32(v int) uint32 {
	if v < 0 {
		return 0
	}
	if int64(v) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}
