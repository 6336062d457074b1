// Package a2aauthz enforces the a2a-authz policy: which verified source
// identities may call which target agents on an A2A route
// (docs/a2a.md#authorization).
//
// Deny by default. A rule matches a call when its source pattern matches
// the caller's verified subject and its target pattern matches the
// canonical name of the target agent (a2a.Directory): the edge resolves
// the name in the path (billing-agent-v1) to the agent its backend serves
// (billing-agent) before this policy runs, and a rule that names an alias
// is canonicalized the same way when the policy is provisioned. So a deny
// covers every name that reaches the same backend. Among the matching rules an explicit `allowed: false` wins over
// any `allowed: true`; with no matching allow the call is denied. An agent
// calling itself is authorized like any other call.
package a2aauthz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/auditlog"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/glob"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderAuthz,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: New,
	})
}

// Policy is a provisioned a2a-authz policy.
type Policy struct {
	route string
	rules []rule
	log   *slog.Logger
	// rec receives each decision (agentgateway_authz_decisions_total).
	rec policy.Recorder
}

type rule struct {
	index   int
	source  string
	target  string
	who     *glob.Matcher
	what    *glob.Matcher
	allowed bool
}

// New provisions the policy from its config block.
func New(_ context.Context, p *config.Policy, env policy.Env) (policy.Policy, error) {
	c := ConfigOf(p)
	if c == nil {
		return nil, errors.New("a2a-authz: missing a2a block")
	}
	pol := &Policy{route: env.RouteName, log: env.Logger, rec: env.Rec()}
	if pol.log == nil {
		pol.log = slog.New(slog.DiscardHandler)
	}
	var dir *a2a.Directory
	if env.Route != nil {
		dir = c.directory(env.Route)
	}
	for i, r := range c.Rules {
		who, err := glob.Compile([]string{r.Source}, glob.SepPrincipal)
		if err != nil {
			return nil, err
		}
		target := r.Target
		if dir != nil && !strings.Contains(target, "*") {
			// An exact target that is a version alias means the agent it
			// reaches. (Globs are matched against canonical names as
			// written; config validation refuses one that would match
			// only aliases.)
			if _, canonical, ok := dir.Resolve(target); ok && canonical != target {
				pol.log.Info("a2a-authz rule target is a version alias; the rule applies to the agent it reaches",
					"route", env.RouteName, "rule", i, "rule_target", target, "agent", canonical)
				target = canonical
			}
		}
		// Agent names contain no ':' or '/', so "*" in a target is any
		// run of name characters.
		what, err := glob.Compile([]string{target}, glob.SepNone)
		if err != nil {
			return nil, err
		}
		pol.rules = append(pol.rules, rule{index: i, source: r.Source, target: r.Target, who: who, what: what, allowed: r.Allowed})
	}
	return pol, nil
}

// decide returns whether subject may call target, and the deciding rule
// (nil when no rule matched).
func (p *Policy) decide(subject, target string) (bool, *rule) {
	var allow *rule
	for i := range p.rules {
		r := &p.rules[i]
		if !r.who.Match(subject) || !r.what.Match(target) {
			continue
		}
		if !r.allowed {
			return false, r
		}
		if allow == nil {
			allow = r
		}
	}
	return allow != nil, allow
}

// Wrap authorizes the call before anything reaches a backend.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		prin, ok := identity.From(r.Context())
		if !ok || prin == nil || prin.Subject == "" {
			// Unreachable with a valid config (jwt-authn runs first and
			// refuses unauthenticated callers); fail closed regardless.
			ex.Decision = policy.DecisionUnauthenticated
			p.rec.AuthzDecision(p.route, policy.KindA2A, false)
			h := http.Header{}
			h.Set("WWW-Authenticate", `Bearer realm="agentgateway"`)
			return &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: "authentication required", Header: h}
		}
		subject := prin.Subject
		ex.TargetAllowed = func(target string) bool {
			ok, _ := p.decide(subject, target)
			return ok
		}
		if ex.Target == "" {
			// The agent listing (GET <prefix>): it shows only what
			// TargetAllowed admits, and calls nothing.
			return next.ServeHTTP(w, r)
		}
		allowed, by := p.decide(subject, ex.Target)
		p.rec.AuthzDecision(p.route, policy.KindA2A, allowed)
		if !allowed {
			ex.Decision = policy.DecisionDenied
			p.audit(r, ex, subject, false, by)
			return &policy.Error{Status: http.StatusForbidden, Code: policy.CodeForbidden, Message: "agent " + subject + " may not call agent " + ex.Target}
		}
		ex.Decision = policy.DecisionAllowed
		p.audit(r, ex, subject, true, by)
		return next.ServeHTTP(w, r)
	})
}

// audit writes the decision to the audit log, as mcp-authz does: one
// record with audit=true and "authz allow" or "authz deny" as message.
func (p *Policy) audit(r *http.Request, ex *policy.Exchange, subject string, allowed bool, by *rule) {
	decision, msg, lvl := "deny", "authz deny", slog.LevelInfo
	if allowed {
		decision, msg = "allow", "authz allow"
	}
	ctx := r.Context()
	if !p.log.Enabled(ctx, lvl) {
		return
	}
	ap := auditlog.GetAttrs()
	defer auditlog.PutAttrs(ap)
	attrs := append(*ap,
		slog.Bool("audit", true),
		slog.String("policy", "a2a-authz"),
		slog.String("route", p.route),
		slog.String("decision", decision),
		slog.String("source", subject),
		slog.String("target", ex.Target),
		slog.String("method", ex.ProtoMethod),
	)
	if by != nil {
		attrs = append(attrs, slog.Int("rule", by.index), slog.String("rule_source", by.source), slog.String("rule_target", by.target))
	} else {
		attrs = append(attrs, slog.Int("rule", -1), slog.String("reason", "no rule allows this source and target"))
	}
	if tid := auditlog.TraceID(r, p.rec); tid != "" {
		attrs = append(attrs, slog.String("trace_id", tid))
	}
	if rid := auditlog.RequestID(r); rid != "" {
		attrs = append(attrs, slog.String("request_id", rid))
	}
	*ap = attrs
	auditlog.LogAttrs(ctx, p.log, lvl, msg, attrs...)
}
