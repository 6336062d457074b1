// Package auditlog writes the gateway's per-request log records (the
// access record and the policies' audit records): the request's trace id
// and request id as a record carries them, and the fast path that hands
// attributes straight to the gateway's JSON handler (internal/telemetry)
// with pooled attribute lists. What a policy decides and records is in
// package policy (Env, Recorder); this is how the record gets written.
package auditlog

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
)

// Tracer gives the trace id of the span in ctx, "" when there is none
// (policy.Recorder, implemented by the tracing integration).
type Tracer interface {
	TraceID(ctx context.Context) string
}

// TraceID returns the request's trace id for an audit record: that of its
// span (rec.TraceID, the tracing integration; rec may be nil), else that
// of a valid W3C traceparent header
// (version "-" 32 hex trace id "-" 16 hex parent id "-" 2 hex flags).
func TraceID(r *http.Request, rec Tracer) string {
	if rec != nil {
		if id := rec.TraceID(r.Context()); id != "" {
			return id
		}
	}
	vs := r.Header.Values("Traceparent")
	if len(vs) != 1 {
		return ""
	}
	tp := vs[0]
	if len(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || !isLowerHex(tp[:2]) || tp[:2] == "ff" {
		return ""
	}
	id := tp[3:35]
	if !isLowerHex(id) || id == "00000000000000000000000000000000" || !isLowerHex(tp[36:52]) || !isLowerHex(tp[53:55]) {
		return ""
	}
	if tp[:2] == "00" && len(tp) != 55 {
		return ""
	}
	return id
}

// RequestID returns X-Request-Id when it is short visible ASCII (it is
// client-controlled: anything else is not logged).
func RequestID(r *http.Request) string {
	vs := r.Header.Values("X-Request-Id")
	if len(vs) != 1 || len(vs[0]) == 0 || len(vs[0]) > 128 {
		return ""
	}
	for i := 0; i < len(vs[0]); i++ {
		if c := vs[0][i]; c < 0x21 || c > 0x7e {
			return ""
		}
	}
	return vs[0]
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// attrsHandler is a slog.Handler that can write a record straight from
// its attributes (the gateway's JSON handler, internal/telemetry).
type attrsHandler interface {
	slog.Handler
	HandleAttrs(level slog.Level, msg string, attrs []slog.Attr) bool
}

// LogAttrs is l.LogAttrs(ctx, level, msg, attrs...), for the records
// written on every request (access and audit records): a handler that
// takes the attributes directly gets them without a slog.Record being
// built and the caller being looked up.
func LogAttrs(ctx context.Context, l *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) {
	if h, ok := l.Handler().(attrsHandler); ok {
		if !h.Enabled(ctx, level) || h.HandleAttrs(level, msg, attrs) {
			return
		}
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}

// attrPool recycles the attribute lists of per-request records: handed
// to a handler through an interface, a list escapes, and would otherwise
// be allocated for every record.
var attrPool = sync.Pool{New: func() any { s := make([]slog.Attr, 0, 24); return &s }}

// GetAttrs returns an empty attribute list for a record; give it back
// with PutAttrs once the record is logged, storing the appended list in
// it first.
func GetAttrs() *[]slog.Attr { return attrPool.Get().(*[]slog.Attr) }

// PutAttrs returns a list from GetAttrs to the pool.
func PutAttrs(p *[]slog.Attr) {
	clear(*p) // keep no request's strings alive
	*p = (*p)[:0]
	attrPool.Put(p)
}
