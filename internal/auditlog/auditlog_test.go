package auditlog

import (
	"context"
	"net/http"
	"testing"
)

// spanRecorder is a tracer whose spans all have one trace id.
type spanRecorder string

func (s spanRecorder) TraceID(context.Context) string { return string(s) }

func TestTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for tp, want := range map[string]string{
		"00-" + id + "-00f067aa0ba902b7-01":                       id,
		"01-" + id + "-00f067aa0ba902b7-01-future":                id,
		"00-" + id + "-00f067aa0ba902b7-01-x":                     "",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"ff-" + id + "-00f067aa0ba902b7-01":                       "",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "",
		"garbage": "",
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Traceparent", tp)
		if got := TraceID(r, nil); got != want {
			t.Errorf("traceID(%q) = %q, want %q", tp, got, want)
		}
	}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if got := TraceID(r, spanRecorder("from-span")); got != "from-span" {
		t.Errorf("the recorder's trace id ignored: %q", got)
	}
	if got := TraceID(r, spanRecorder("")); got != "" {
		t.Errorf("no span, no traceparent: %q", got)
	}
	r.Header.Set("X-Request-Id", "abc-1")
	if RequestID(r) != "abc-1" {
		t.Error("request id")
	}
	r.Header.Set("X-Request-Id", "a b")
	if RequestID(r) != "" {
		t.Error("request id with a space logged")
	}
}
