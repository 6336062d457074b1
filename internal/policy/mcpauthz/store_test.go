package mcpauthz

import (
	"context"
	"net/http"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

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
		if got := policy.TraceID(r); got != want {
			t.Errorf("traceID(%q) = %q, want %q", tp, got, want)
		}
	}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	policy.TraceIDFromContext = func(context.Context) string { return "from-span" }
	defer func() { policy.TraceIDFromContext = nil }()
	if got := policy.TraceID(r); got != "from-span" {
		t.Errorf("hook ignored: %q", got)
	}
	r.Header.Set("X-Request-Id", "abc-1")
	if policy.RequestID(r) != "abc-1" {
		t.Error("request id")
	}
	r.Header.Set("X-Request-Id", "a b")
	if policy.RequestID(r) != "" {
		t.Error("request id with a space logged")
	}
}
