// Package jwt implements the jwt-authn policy: it authenticates the caller
// with a JSON Web Token from the Authorization: Bearer header, verified
// against a JSON Web Key Set (JWKS) fetched from jwksUri, and puts the
// verified principal into the request context (internal/identity). With
// validation tokenreview or both, the Kubernetes TokenReview API decides too
// (tokenreview.go), which catches tokens of deleted ServiceAccounts.
//
// Rejections are *policy.Error values with status 401, JSON-RPC code
// CodeUnauthorized and an RFC 6750 WWW-Authenticate header; the edge renders
// them (a JSON-RPC error on MCP and A2A routes). When no usable key set is
// available (never fetched, or older than jwks.maxStale) the answer is 503
// with Retry-After: the gateway cannot verify, which says nothing about the
// token.
//
// No token, or any part of one, is ever written to an error message, a log
// line or a span. See docs/jwt.md for every decision.
package jwt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderAuthn,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: newForRoute,
	})
}

// Realm is the realm of the WWW-Authenticate challenge.
const Realm = "agentgateway"

// Policy is a provisioned jwt-authn policy.
type Policy struct {
	v       *verifier
	headers []claimHeader
	once    sync.Once
	// tr is the TokenReview step (validation tokenreview or both), nil
	// for jwks. With tokenreview, v has no JWKS source (v.src is nil).
	tr *tokenReview
	// mcp is set on MCP routes, which publish RFC 9728 metadata for
	// prefix (resource.go).
	mcp    bool
	prefix string
	// external is the route's externalUrl without a trailing "/"; ""
	// builds the URLs from the Host the bind allows (resource.go).
	external string
	// route and rec: the policy reports each authentication outcome
	// (agentgateway_authn_decisions_total) to rec.
	route string
	rec   policy.Recorder
}

type claimHeader struct {
	claim  string
	header string // canonical
}

var (
	_ policy.Policy  = (*Policy)(nil)
	_ policy.Cleaner = (*Policy)(nil)
)

// New provisions a jwt-authn policy. It fetches the JWKS now (or reuses the
// key set of another policy with the same jwksUri and jwks options) and
// fails if no usable key set can be loaded, so the gateway does not start
// (or a reload is rejected) with a policy that could only refuse.
func New(ctx context.Context, p *config.Policy, env policy.Env) (policy.Policy, error) {
	j := ConfigOf(p)
	if j == nil {
		return nil, errors.New("jwt-authn: missing jwt block")
	}
	// The gateway's logger, so that these lines follow logging.format and
	// logging.level like every other.
	base := env.Logger
	if base == nil {
		base = slog.Default()
	}
	base = base.With("policy", Type)
	if validationMode(j) == ValidationTokenReview {
		pol, err := newTokenReviewPolicy(ctx, j, base, env.Rec())
		if err != nil {
			return nil, err
		}
		pol.route = env.RouteName
		return pol, nil
	}
	log := base.With("route", env.RouteName)
	if u, err := url.Parse(j.JWKSURI); err == nil && u.Scheme == "http" && !config.IsLoopbackHost(u.Hostname()) {
		log.Warn("INSECURE: jwksUri uses plain http to a non-loopback host; anyone on the path can replace the signing keys and mint tokens. Use https.",
			"jwksUri", u.Redacted())
	}
	sc, err := sourceConfigFor(ctx, j, log) // jwksUri, or OIDC discovery
	if err != nil {
		return nil, fmt.Errorf("jwt-authn: %w", err)
	}
	sc.rec = env.Rec()
	src, err := acquireSource(ctx, sc, base)
	if err != nil {
		return nil, fmt.Errorf("jwt-authn: %w", err)
	}
	pol := &Policy{v: newVerifier(j, src), route: env.RouteName, rec: env.Rec()}
	pol.v.cache.rec = pol.rec
	for _, ch := range j.ClaimToHeaders {
		pol.headers = append(pol.headers, claimHeader{claim: ch.Claim, header: http.CanonicalHeaderKey(ch.Header)})
	}
	if validationMode(j) == ValidationBoth {
		if err := pol.addTokenReview(ctx, j, base); err != nil {
			_ = pol.Cleanup()
			return nil, err
		}
	}
	return pol, nil
}

// Cleanup releases the JWKS source and the TokenReview client; the last
// policy using a source stops its refresh loop. It is safe to call more
// than once.
func (p *Policy) Cleanup() error {
	p.once.Do(func() {
		if p.v.src != nil {
			releaseSource(p.v.src)
		}
		if p.tr != nil {
			releaseReviewer(p.tr.r)
		}
	})
	return nil
}

// Wrap authenticates the request, then calls next with the principal in
// the context and the claimToHeaders headers set.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		prin, err := p.Authenticate(r)
		if err != nil {
			// A verified client certificate (route authentication.
			// clientCertificate, docs/tls.md) stands in for a missing
			// token; a token that is sent always wins.
			cp, ok := identity.From(r.Context())
			if !ok || cp.Method != identity.MethodMTLS || len(r.Header.Values("Authorization")) > 0 {
				return p.refuse(r, ex, err)
			}
			prin = cp
		}
		type set struct {
			value string
			ok    bool
		}
		sets := make([]set, len(p.headers))
		for i, h := range p.headers {
			v, ok := prin.ClaimString(h.claim)
			if ok && !validHeaderValue(v) {
				return p.refuse(r, ex, invalidToken("a claim mapped to a header contains characters not allowed in a header"))
			}
			sets[i] = set{v, ok}
		}
		for i, h := range p.headers {
			// Exactly one value: the edge already removed client copies.
			if sets[i].ok {
				r.Header.Set(h.header, sets[i].value)
			} else {
				r.Header.Del(h.header)
			}
		}
		p.rec.AuthnDecision(p.route, true)
		if ex != nil && ex.Bound() {
			// identity.From finds it through the exchange's context.
			ex.Principal = prin
			return next.ServeHTTP(w, r)
		}
		if ex != nil {
			ex.Principal = prin
		}
		return next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), prin)))
	})
}

// refuse returns err for the client, reporting a refusal for the
// caller's credentials (401) as an authentication failure. A 503 (no
// usable key set, TokenReview unavailable) or a 429 (TokenReview budget)
// says nothing about the credentials and is no authentication decision.
func (p *Policy) refuse(r *http.Request, ex *policy.Exchange, err error) error {
	if pe := policy.AsError(err); pe.Status == http.StatusUnauthorized {
		p.rec.AuthnDecision(p.route, false)
		if ex != nil {
			ex.Decision = policy.DecisionUnauthenticated
		}
	}
	return p.withResourceMetadata(r, err)
}

// Authenticate verifies the request's bearer token and returns the
// principal, or a *policy.Error to return to the client.
func (p *Policy) Authenticate(r *http.Request) (*identity.Principal, error) {
	tok, perr := bearerToken(r.Header, p.v.maxToken)
	if perr != nil {
		return nil, perr
	}
	prin, perr := p.check(r.Context(), clientKey(r.RemoteAddr), tok)
	if perr != nil {
		return nil, perr
	}
	return prin, nil
}

// bearerToken extracts the token from the only Authorization header.
// Tokens are never read from the query string, a form body or a cookie.
func bearerToken(h http.Header, maxLen int) (string, *policy.Error) {
	vals := h.Values("Authorization")
	switch {
	case len(vals) == 0 || len(vals) == 1 && strings.TrimSpace(vals[0]) == "":
		return "", challenge("", "missing bearer token")
	case len(vals) > 1:
		return "", challenge("invalid_request", "more than one Authorization header")
	}
	v := strings.TrimSpace(vals[0])
	if len(v) > maxLen+len("Bearer ")+64 {
		return "", invalidToken("token too large")
	}
	scheme, tok, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// RFC 6750 §3.1: an unsupported scheme gets no error code.
		return "", challenge("", "bearer token required")
	}
	tok = strings.TrimLeft(tok, " ")
	switch {
	case tok == "":
		return "", invalidToken("malformed token")
	case len(tok) > maxLen:
		return "", invalidToken("token too large")
	}
	return tok, nil
}

// validHeaderValue rejects bytes an HTTP header value cannot carry.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// challenge builds a 401 with an RFC 6750 WWW-Authenticate challenge.
// code is "" (no credentials), "invalid_request" or "invalid_token". desc
// is a fixed, client-safe string: it never contains any part of a token.
func challenge(code, desc string) *policy.Error {
	v := `Bearer realm="` + Realm + `"`
	if code != "" {
		v += `, error="` + code + `", error_description="` + desc + `"`
	}
	h := http.Header{}
	h.Set("WWW-Authenticate", v)
	return &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: desc, Header: h}
}

func invalidToken(desc string) *policy.Error { return challenge("invalid_token", desc) }

// unavailable is the answer when no usable key set exists.
func unavailable(retryAfter string, cause error) *policy.Error {
	h := http.Header{}
	h.Set("Retry-After", retryAfter)
	if cause == nil {
		cause = errors.New("jwks key set unavailable")
	}
	return &policy.Error{Status: http.StatusServiceUnavailable, Code: policy.CodeGateway,
		Message: "token signing keys are unavailable", Header: h, Cause: cause}
}
