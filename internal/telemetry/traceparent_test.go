package telemetry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagatorParent is what the W3C propagator extracts from h.
func propagatorParent(h http.Header) trace.SpanContext {
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
}

// remoteParent reads a traceparent and tracestate exactly as the W3C
// propagator does, valid or not.
func TestRemoteParentMatchesPropagator(t *testing.T) {
	const tid, sid = incomingTraceID, incomingSpanID
	for _, tc := range []struct {
		traceparent, tracestate string
		valid                   bool
	}{
		{"00-" + tid + "-" + sid + "-01", "", true},
		{"00-" + tid + "-" + sid + "-00", "vendor=x,other=y", true},
		{"00-" + tid + "-" + sid + "-03", "not a tracestate", true}, // a bad tracestate is dropped, the parent kept
		{"00-" + tid + "-" + sid + "-04", "", false},                // version 00: reserved flag
		{"00-" + tid + "-" + sid + "-01-extra", "", false},          // version 00: extra field
		{"01-" + tid + "-" + sid + "-ff-extra", "", true},           // a later version may add fields; flags masked
		{"fe-" + tid + "-" + sid + "-01", "", true},
		{"ff-" + tid + "-" + sid + "-01", "", false}, // version ff is invalid
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", "", false},
		{"00-" + strings.Repeat("0", 32) + "-" + sid + "-01", "", false},
		{"00-" + tid + "-" + strings.Repeat("0", 16) + "-01", "", false},
		{"00-" + tid + "-" + sid, "", false},
		{"00-" + tid[:31] + "-" + sid + "-01", "", false},
		{"0-" + tid + "-" + sid + "-01", "", false},
		{"00_" + tid + "_" + sid + "_01", "", false},
		{"", "vendor=x", false},
		{"garbage", "", false},
	} {
		h := http.Header{}
		if tc.traceparent != "" {
			h.Set("traceparent", tc.traceparent)
		}
		if tc.tracestate != "" {
			h.Set("tracestate", tc.tracestate)
		}
		got, want := remoteParent(h), propagatorParent(h)
		if got.IsValid() != tc.valid || !got.Equal(want) {
			t.Errorf("traceparent %q tracestate %q: got %+v (valid %v), propagator %+v, want valid %v",
				tc.traceparent, tc.tracestate, got, got.IsValid(), want, tc.valid)
		}
	}
}

// FuzzTraceparent: remoteParent agrees with the W3C propagator on any
// traceparent and tracestate.
func FuzzTraceparent(f *testing.F) {
	f.Add("00-"+incomingTraceID+"-"+incomingSpanID+"-01", "vendor=x")
	f.Add("01-"+incomingTraceID+"-"+incomingSpanID+"-09-x", "")
	f.Add("00-"+incomingTraceID+"-"+incomingSpanID+"-01-", "a=1,b=2")
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		h := http.Header{"Traceparent": {traceparent}, "Tracestate": {tracestate}}
		got, want := remoteParent(h), propagatorParent(h)
		if !got.Equal(want) {
			t.Fatalf("traceparent %q tracestate %q: got %+v, propagator %+v", traceparent, tracestate, got, want)
		}
	})
}
