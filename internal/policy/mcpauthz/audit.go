package mcpauthz

import (
	"context"
	"log/slog"
	"net/http"
)

// Audit decisions, the "decision" attribute of an audit record.
const (
	DecisionAllow       = "allow"
	DecisionDeny        = "deny"
	DecisionRateLimited = "rate_limited"
)

// TraceIDFromContext, when set (by the tracing integration), returns the
// trace id of the request's span, or "". Without it, or when it returns
// "", audit records carry the trace id of the request's W3C traceparent
// header.
var TraceIDFromContext func(ctx context.Context) string

// auditRecord is one authorization decision.
type auditRecord struct {
	decision  string
	principal string
	method    string // JSON-RPC method, or the HTTP method for GET/DELETE
	d         *decision
	status    int
}

// audit writes the decision as one structured log record with
// audit=true. Denies, rate limits and every decision about a tool,
// resource or prompt are logged at INFO; other allows (initialize, ping,
// lists, notifications, responses, GET streams, DELETE) at DEBUG.
func (p *Policy) audit(r *http.Request, rec auditRecord) {
	lvl := slog.LevelInfo
	if rec.decision == DecisionAllow && (rec.d == nil || !rec.d.targeted) {
		lvl = slog.LevelDebug
	}
	ctx := r.Context()
	if !p.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.Bool("audit", true),
		slog.String("policy", "mcp-authz"),
		slog.String("route", p.route),
		slog.String("decision", rec.decision),
		slog.String("principal", rec.principal),
		slog.String("method", rec.method),
	)
	if d := rec.d; d != nil {
		if d.kind != "" {
			attrs = append(attrs, slog.String(d.kind, d.target))
		}
		if d.rule != nil {
			attrs = append(attrs, slog.Int("rule", d.rule.index), slog.String("rule_principal", d.rule.principal))
		} else {
			attrs = append(attrs, slog.Int("rule", -1))
		}
		if d.reason != "" {
			attrs = append(attrs, slog.String("reason", d.reason))
		}
	}
	if rec.status != 0 {
		attrs = append(attrs, slog.Int("status", rec.status))
	}
	if tid := traceID(r); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	if rid := requestID(r); rid != "" {
		attrs = append(attrs, slog.String("request_id", rid))
	}
	p.log.LogAttrs(ctx, lvl, "authz "+rec.decision, attrs...)
}

// traceID returns the request's trace id: from the tracing integration,
// else from a valid W3C traceparent header
// (version "-" 32 hex trace id "-" 16 hex parent id "-" 2 hex flags).
func traceID(r *http.Request) string {
	if f := TraceIDFromContext; f != nil {
		if id := f(r.Context()); id != "" {
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

// requestID returns X-Request-Id when it is short visible ASCII (it is
// client-controlled: anything else is not logged).
func requestID(r *http.Request) string {
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
