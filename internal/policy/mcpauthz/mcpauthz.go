// Package mcpauthz implements the mcp-authz policy: per-principal
// authorization of MCP traffic on a route.
//
// It runs after authentication (config validation requires jwt-authn on
// the same route, or a route that authenticates client certificates) and
// matches the verified principal (internal/identity) against the route's
// rules. Every JSON-RPC message of a POST is authorized before
// anything reaches the backend: tools/call by tool name, resources/* by
// URI, prompts/* by name, and the session methods (initialize, ping, ...)
// for any principal that has a rule. Default deny: a principal without a
// matching rule gets nothing, and unknown methods are refused.
//
// The policy also filters list results (tools/list, resources/list,
// resources/templates/list, prompts/list; JSON and SSE responses) down to
// what the caller may use, binds MCP sessions to the identity that started
// them, applies a rule's rateLimit to tools/call, and writes an audit
// record for every decision. docs/authz.md states every rule.
package mcpauthz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderAuthz,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: New,
	})
}

// Policy is a provisioned mcp-authz policy.
type Policy struct {
	route    string
	rules    rules
	log      *slog.Logger
	sessions SessionStore
	// limiter counts a rule's rateLimit; it is the rate-limit policy's
	// store (Redis when rateLimiting.redis is configured).
	limiter *sharedstate.Store
	release func() // gives limiter back (Env.AcquireLimits)
	// legacy is set on a route whose backend speaks the legacy HTTP+SSE
	// transport (protocol: sse): POSTs must target a message endpoint
	// announced to the caller, and the GET stream carries the responses.
	legacy bool
	once   sync.Once
	// rec receives each decision (agentgateway_authz_decisions_total, and
	// agentgateway_ratelimit_decisions_total for a rule's rateLimit).
	rec policy.Recorder
}

var (
	_ policy.Policy  = (*Policy)(nil)
	_ policy.Cleaner = (*Policy)(nil)
)

// ErrNoAuthn is returned by New for a route that establishes no verified
// principal: neither jwt-authn nor authentication.clientCertificate.
var ErrNoAuthn = errors.New("mcp-authz requires jwt-authn on the same route, or authentication.clientCertificate: true (rules match the verified principal)")

// New provisions an mcp-authz policy.
func New(_ context.Context, p *config.Policy, env policy.Env) (policy.Policy, error) {
	c := ConfigOf(p)
	if c == nil {
		return nil, errors.New("mcp-authz: missing mcp block")
	}
	legacy := false
	if rt := env.Route; rt != nil {
		for _, b := range rt.Backends {
			legacy = legacy || (b.MCP != nil && b.MCP.Protocol == config.MCPProtocolSSE)
		}
		if !rt.Authenticates() {
			return nil, ErrNoAuthn
		}
	}
	rs, err := newRules(c.Rules)
	if err != nil {
		return nil, fmt.Errorf("mcp-authz: %w", err)
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	// Per-rule limits and session bindings use the rate-limit policy's
	// store: Redis when rateLimiting.redis is configured (so a limit and
	// a binding hold across replicas), the process's local one otherwise.
	store, release, err := env.AcquireLimits(context.Background())
	if err != nil {
		return nil, fmt.Errorf("mcp-authz: rate-limit store: %w", err)
	}
	sessLog := env.Logger
	if sessLog == nil {
		sessLog = slog.New(slog.DiscardHandler)
	}
	return &Policy{
		route:    env.RouteName,
		rules:    rs,
		log:      log,
		sessions: newSessionStore(store, sessLog),
		limiter:  store,
		release:  release,
		legacy:   legacy,
		rec:      env.Rec(),
	}, nil
}

// Cleanup stops the session store's background writes, if any, and
// releases the rate-limit store.
func (p *Policy) Cleanup() error {
	var err error
	p.once.Do(func() {
		if c, ok := p.sessions.(policy.Cleaner); ok {
			err = c.Cleanup()
		}
		if p.release != nil {
			p.release()
		}
	})
	return err
}

// ownerKey identifies a principal for session binding: the subject as
// issued by one issuer (routes may trust different issuers).
func ownerKey(p *identity.Principal) string { return p.Issuer + "\x00" + p.Subject }

// Wrap authorizes the request, then calls next.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		ex := policy.ExchangeFrom(ctx)
		if ex == nil {
			ex = &policy.Exchange{Method: r.Method}
		}
		method := auditMethod(r.Method, ex.RPC)
		prin, ok := identity.From(ctx)
		if !ok || prin == nil || prin.Subject == "" {
			// Unreachable with a valid config (jwt-authn runs first and
			// refuses unauthenticated callers); fail closed regardless.
			h := http.Header{}
			h.Set("WWW-Authenticate", `Bearer realm="agentgateway"`)
			err := &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: "authentication required", Header: h}
			p.audit(r, auditRecord{decision: DecisionDeny, method: method, d: &decision{reason: "no authenticated principal"}, status: err.Status})
			return err
		}
		subject := prin.Subject
		deny := func(d *decision, err *policy.Error) error {
			d.allow = false
			p.audit(r, auditRecord{decision: DecisionDeny, principal: subject, method: method, d: d, status: err.Status})
			return err
		}

		var buf [4]*rule
		ms := p.rules.matching(subject, buf[:0])
		if len(ms) == 0 {
			return deny(&decision{reason: "no rule for principal"},
				forbidden("principal %s has no mcp-authz rule on this route", mcp.QuoteName(subject)))
		}

		switch r.Method {
		case http.MethodPost:
			if err := checkContent(r.Header); err != nil {
				return deny(&decision{rule: ms[0], reason: err.Message}, err)
			}
			if ex.RPC == nil {
				return deny(&decision{rule: ms[0], reason: "no JSON-RPC body"}, invalidRequest("a POST must carry one JSON-RPC message"))
			}
		case http.MethodGet, http.MethodDelete:
		default:
			h := http.Header{}
			h.Set("Allow", "GET, POST, DELETE")
			return deny(&decision{rule: ms[0], reason: "HTTP method not allowed"},
				&policy.Error{Status: http.StatusMethodNotAllowed, Code: mcp.CodeInvalidRequest, Message: "method " + mcp.QuoteName(r.Method) + " is not allowed on an MCP endpoint", Header: h})
		}

		owner := ownerKey(prin)
		sid := r.Header.Get(mcp.HeaderSessionID)
		if sid != "" {
			bound, err := p.sessions.Claim(ctx, sid, owner)
			if reason, perr := sessionRefusal(bound, owner, err, "session bound to another identity"); perr != nil {
				return deny(&decision{rule: ms[0], reason: reason}, perr)
			}
		}

		if p.legacy && r.Method != http.MethodGet {
			// A legacy session is its message endpoint: only the identity
			// it was announced to may post into it (the GET stream's hook
			// bound it), and an endpoint never announced is not bound by
			// a POST, or a variant of a known endpoint (another query
			// parameter the backend ignores) would get through.
			key := legacyKey(p.route, r.URL.EscapedPath(), r.URL.RawQuery)
			bound, err := p.sessions.Lookup(ctx, key, owner)
			if reason, perr := sessionRefusal(bound, owner, err, "legacy session not announced to this identity"); perr != nil {
				return deny(&decision{rule: ms[0], reason: reason}, perr)
			}
		}

		d := decision{allow: true, method: method, rule: ms[0]}
		var charged *rule
		if r.Method == http.MethodPost {
			d = authorizeBody(subject, ms, ex.RPC)
			if !d.allow {
				return deny(&d, d.err)
			}
			if d.method == "tools/call" && d.rule != nil && d.rule.perMinute > 0 {
				if err := p.rateLimit(ctx, subject, d.rule); err != nil {
					rec := auditRecord{decision: DecisionRateLimited, principal: subject, method: method, d: &d, status: err.Status}
					if err.Status != http.StatusTooManyRequests {
						rec.decision = DecisionDeny
						d.reason = "rate limiter unavailable"
					}
					p.audit(r, rec)
					return err
				}
				charged = d.rule
			}
			if d.list != listNone {
				p.addListFilter(r, ex, ms, d.list)
			}
		}
		if r.Method == http.MethodGet {
			p.addStreamFilter(ctx, r, ex, ms, owner)
		}
		ex.ResponseHooks = append(ex.ResponseHooks, p.sessionHook(ctx, sid, owner, subject))
		p.audit(r, auditRecord{decision: DecisionAllow, principal: subject, method: method, d: &d})
		if charged != nil {
			return p.serveCharged(w, r, next, subject, charged)
		}
		return next.ServeHTTP(w, r)
	})
}

// serveCharged serves a tools/call that the rule's rateLimit counted, and
// gives the count back if the call never left the gateway: a later policy
// (rate-limit), a stream or session cap or an open circuit breaker refused
// it. The count is taken first (one atomic check, as before) so that
// concurrent calls cannot overshoot the limit; the refund is the only
// extra cost, and only for refused calls. "Left the gateway" means an
// upstream attempt started (Exchange.SentUpstream, set by the proxy): from
// then on the backend may have run the tool, so the call counts whatever
// happens next.
func (p *Policy) serveCharged(w http.ResponseWriter, r *http.Request, next policy.Handler, subject string, rl *rule) error {
	err := next.ServeHTTP(w, r)
	if ex := policy.ExchangeFrom(r.Context()); ex != nil && !ex.SentUpstream.Load() {
		// The request's context may be cancelled by now; the refund must
		// still happen (the limiter bounds its own calls).
		rctx := context.WithoutCancel(r.Context())
		if rerr := p.limiter.Refund(rctx, p.limitKey(subject, rl), gcra.Limit{PerMinute: rl.perMinute}); rerr != nil {
			p.log.Debug("authz rate limit refund failed", "policy", "mcp-authz", "route", p.route, "err", rerr.Error())
		}
	}
	return err
}

// limitKey is the limiter key of a rule's rateLimit for subject.
func (p *Policy) limitKey(subject string, r *rule) string {
	return "mcp-authz:" + p.route + ":" + strconv.Itoa(r.index) + ":" + subject
}

// legacyKey is the session store id of a legacy HTTP+SSE session: the
// message endpoint (escaped path and query, in the gateway's URL space)
// the client posts to.
func legacyKey(route, escapedPath, rawQuery string) string {
	return "legacy-sse\x00" + route + "\x00" + escapedPath + "?" + rawQuery
}

// sessionRefusal turns the session store's answer for a session owned by
// owner into the refusal and its audit reason, or a nil error when the
// session is owner's. A store failure is 503, to retry; another identity's
// session gets the same 404 as one that does not exist, so the caller
// learns nothing about other identities.
func sessionRefusal(bound, owner string, err error, notOwned string) (string, *policy.Error) {
	if err != nil {
		h := http.Header{}
		h.Set("Retry-After", "1")
		return "session store unavailable", &policy.Error{Status: http.StatusServiceUnavailable, Code: policy.CodeGateway,
			Message: "session store unavailable", Header: h, Cause: err}
	}
	if bound != owner {
		return notOwned, &policy.Error{Status: http.StatusNotFound, Code: mcp.CodeInvalidRequest, Message: "session not found"}
	}
	return "", nil
}

// allowListed reports whether any of the rules ms (copied: the caller's
// buffer is reused) lets the caller see a list item.
func allowListed(ms []*rule) func(mcp.List, string) bool {
	matched := append([]*rule(nil), ms...)
	return func(l mcp.List, v string) bool {
		for _, r := range matched {
			if r.listed(l).Match(v) {
				return true
			}
		}
		return false
	}
}

// addStreamFilter registers the hook that filters every list result on a
// GET stream: the standalone stream, a resumed one (Last-Event-ID) and the
// legacy HTTP+SSE stream, whose endpoint event it also binds to owner.
func (p *Policy) addStreamFilter(ctx context.Context, r *http.Request, ex *policy.Exchange, ms []*rule, owner string) {
	f := &listFilter{
		stream: true,
		allow:  allowListed(ms),
		onError: func(err error) {
			p.log.Warn("authz stream filter failed", "policy", "mcp-authz", "route", p.route, "err", err.Error())
		},
	}
	if p.legacy {
		f.endpoint = func(data string) error {
			u, err := url.Parse(strings.TrimSpace(data))
			if err != nil || !strings.HasPrefix(u.EscapedPath(), "/") {
				return fmt.Errorf("legacy endpoint event %q is not a path", data)
			}
			bound, err := p.sessions.Bind(ctx, legacyKey(p.route, u.EscapedPath(), u.RawQuery), owner)
			if err != nil {
				return fmt.Errorf("session store: %w", err)
			}
			if bound != owner {
				return errors.New("backend announced a legacy session endpoint that belongs to another identity")
			}
			return nil
		}
	}
	// The filter reads the stream: ask for it uncompressed.
	r.Header.Del("Accept-Encoding")
	ex.ResponseHooks = append(ex.ResponseHooks, f.hook)
}

// auditMethod names what a request does for audit records: the JSON-RPC
// method of a single message, "(response)" for a client's answer to a
// server request, "batch", or the HTTP method of a GET or DELETE.
func auditMethod(httpMethod string, body *mcp.Body) string {
	switch {
	case httpMethod != http.MethodPost || body == nil || len(body.Messages) == 0:
		return httpMethod
	case body.Batch || len(body.Messages) > 1:
		return "batch"
	case body.Messages[0].Kind == mcp.KindResponse:
		return "(response)"
	}
	return body.Messages[0].Method
}

// checkContent requires exactly one Content-Type of application/json
// (charset, if any, utf-8) and no content coding: the body the gateway
// authorized must be the body the backend decodes.
func checkContent(h http.Header) *policy.Error {
	unsupported := func(msg string) *policy.Error {
		return &policy.Error{Status: http.StatusUnsupportedMediaType, Code: mcp.CodeInvalidRequest, Message: msg}
	}
	cts := h.Values("Content-Type")
	if len(cts) != 1 {
		return unsupported("Content-Type must be application/json")
	}
	// The plain spelling needs no parse (mime.ParseMediaType allocates).
	if cts[0] != "application/json" {
		mt, params, err := mime.ParseMediaType(cts[0])
		if err != nil || mt != "application/json" {
			return unsupported("Content-Type must be application/json")
		}
		for k, v := range params {
			if k != "charset" || !strings.EqualFold(v, "utf-8") {
				return unsupported("Content-Type must be application/json (charset utf-8)")
			}
		}
	}
	for _, ce := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(ce, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return unsupported("Content-Encoding is not supported: send an uncompressed JSON body")
			}
		}
	}
	return nil
}

// rateLimit applies the deciding rule's rateLimit to a tools/call.
func (p *Policy) rateLimit(ctx context.Context, subject string, r *rule) *policy.Error {
	res, err := p.limiter.Allow(ctx, p.limitKey(subject, r), gcra.Limit{PerMinute: r.perMinute})
	if err != nil {
		h := http.Header{}
		h.Set("Retry-After", "1")
		return &policy.Error{Status: http.StatusServiceUnavailable, Code: policy.CodeGateway, Message: "rate limiter unavailable", Header: h, Cause: err}
	}
	if res.Allowed {
		return nil
	}
	secs := int(math.Ceil(res.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(secs))
	return &policy.Error{Status: http.StatusTooManyRequests, Code: policy.CodeRateLimited, Header: h,
		Message: fmt.Sprintf("rate limit exceeded for %s: %d tool calls per minute; retry after %ds", mcp.QuoteName(subject), r.perMinute, secs)}
}

// addListFilter registers the response hook that filters a list result to
// the items the matching rules allow.
func (p *Policy) addListFilter(r *http.Request, ex *policy.Exchange, ms []*rule, kind listKind) {
	l := kindList[kind]
	f := &listFilter{
		list:  l,
		allow: allowListed(ms),
		onError: func(err error) {
			p.log.Warn("authz list filter failed", "policy", "mcp-authz", "route", p.route, "method", l.Method(), "err", err.Error())
		},
	}
	if len(ex.RPC.Messages) == 1 {
		f.id = ex.RPC.Messages[0].ID
	}
	// The filter reads the body: ask for it uncompressed.
	r.Header.Del("Accept-Encoding")
	ex.ResponseHooks = append(ex.ResponseHooks, f.hook)
}

// sessionHook binds a session id the backend returns (initialize) to the
// caller. A response carrying the id the request already carried changes
// nothing (the binding was checked and refreshed before).
func (p *Policy) sessionHook(ctx context.Context, reqSID, owner, subject string) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.StatusCode < 200 || res.StatusCode > 299 {
			return nil
		}
		sid := res.Header.Get(mcp.HeaderSessionID)
		if sid == "" || sid == reqSID || !mcp.ValidSessionID(sid) {
			return nil
		}
		bound, err := p.sessions.Bind(ctx, sid, owner)
		if err != nil {
			return &policy.Error{Status: http.StatusServiceUnavailable, Code: policy.CodeGateway, Message: "session store unavailable", Cause: err}
		}
		if bound != owner {
			p.log.Warn("authz deny: backend returned a session bound to another identity", "policy", "mcp-authz", "route", p.route, "principal", subject)
			return &policy.Error{Status: http.StatusBadGateway, Code: policy.CodeGateway, Message: "backend returned a session that belongs to another identity"}
		}
		return nil
	}
}
