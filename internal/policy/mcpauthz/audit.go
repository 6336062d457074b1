package mcpauthz

import (
	"log/slog"
	"net/http"

	"github.com/agentgateway-go/agentgateway/internal/auditlog"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Audit decisions, the "decision" attribute of an audit record.
const (
	DecisionAllow       = "allow"
	DecisionDeny        = "deny"
	DecisionRateLimited = "rate_limited"
)

// auditRecord is one authorization decision.
type auditRecord struct {
	decision  string
	principal string
	method    string // JSON-RPC method, or the HTTP method for GET/DELETE
	d         *decision
	status    int
}

// audit reports the decision to the recorder (a rule's rateLimit
// refusing a call is a rate-limit decision, everything else an
// authorization decision) and writes it as one structured log record with
// audit=true. Denies, rate limits and every decision about a tool,
// resource or prompt are logged at INFO; other allows (initialize, ping,
// lists, notifications, responses, GET streams, DELETE) at DEBUG.
func (p *Policy) audit(r *http.Request, rec auditRecord) {
	ex := policy.ExchangeFrom(r.Context())
	recorder := p.rec
	if recorder == nil { // a Policy built without New
		recorder = policy.NopRecorder{}
	}
	switch rec.decision {
	case DecisionAllow:
		recorder.AuthzDecision(p.route, policy.KindMCP, true)
		if ex != nil {
			ex.Decision = policy.DecisionAllowed
		}
	case DecisionDeny:
		recorder.AuthzDecision(p.route, policy.KindMCP, false)
		if ex != nil {
			ex.Decision = policy.DecisionDenied
		}
	case DecisionRateLimited:
		recorder.RateLimitDecision(p.route, true)
		if ex != nil {
			ex.Decision = policy.DecisionRateLimited
		}
	}
	lvl := slog.LevelInfo
	if rec.decision == DecisionAllow && (rec.d == nil || !rec.d.targeted) {
		lvl = slog.LevelDebug
	}
	ctx := r.Context()
	if !p.log.Enabled(ctx, lvl) {
		return
	}
	ap := auditlog.GetAttrs()
	defer auditlog.PutAttrs(ap)
	attrs := append(*ap,
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
	if ex != nil && ex.Backend != "" {
		// Set before the policies only on federated routes, where the
		// tool's prefix names the backend (docs/federation.md).
		attrs = append(attrs, slog.String("backend", ex.Backend))
	}
	if rec.status != 0 {
		attrs = append(attrs, slog.Int("status", rec.status))
	}
	if tid := auditlog.TraceID(r, p.rec); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	if rid := auditlog.RequestID(r); rid != "" {
		attrs = append(attrs, slog.String("request_id", rid))
	}
	*ap = attrs
	auditlog.LogAttrs(ctx, p.log, lvl, auditMessage(rec.decision), attrs...)
}

// auditMessage is "authz <decision>", without building it per record.
func auditMessage(decision string) string {
	switch decision {
	case DecisionAllow:
		return "authz " + DecisionAllow
	case DecisionDeny:
		return "authz " + DecisionDeny
	case DecisionRateLimited:
		return "authz " + DecisionRateLimited
	}
	return "authz " + decision
}
