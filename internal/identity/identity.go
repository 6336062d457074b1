// Package identity carries the verified caller (the principal) through a
// request's context, from the authentication policy that establishes it to
// every policy and handler that runs after it (authorization, rate limits,
// A2A, metrics, tracing).
//
// Only an authentication policy calls With, and only after it has verified
// the caller's credentials; everything else reads the principal with From:
//
//	p, ok := identity.From(r.Context())
//	if !ok {
//		// unauthenticated: no authn policy on this route, or it did not run
//	}
//	if p.IsServiceAccount() {
//		_ = p.Namespace      // "agent-core-infra"
//		_ = p.ServiceAccount // "ekspoc-v6-kagent-agent-sa"
//	}
//	v, ok := p.ClaimString("kubernetes.io.namespace")
//
// A Principal is shared between concurrent requests (a verified token may
// be served from a cache) and must be treated as read-only, its Claims
// included.
package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Authentication methods recorded in Principal.Method.
const (
	// MethodJWT: a JSON Web Token verified against a JWKS.
	MethodJWT = "jwt"
	// MethodMTLS: a verified TLS client certificate whose SPIFFE ID names
	// a ServiceAccount, on a route with authentication.clientCertificate
	// (docs/tls.md). Set by the gateway before the policy chain runs.
	MethodMTLS = "mtls"
)

// ServiceAccountPrefix starts every Kubernetes ServiceAccount username:
// system:serviceaccount:<namespace>:<name>.
const ServiceAccountPrefix = "system:serviceaccount:"

// Principal is a verified caller.
type Principal struct {
	// Subject is the caller's identity: the token's "sub" claim, e.g.
	// "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa".
	// Authorization rules match on it. Never empty.
	Subject string
	// Namespace and ServiceAccount are parsed from a Subject of the form
	// system:serviceaccount:<namespace>:<name> (both valid Kubernetes
	// names); both are empty for any other subject.
	Namespace      string
	ServiceAccount string
	// Issuer is the verified "iss" claim.
	Issuer string
	// Audiences is the verified "aud" claim (one of them matched the
	// route's configured audiences).
	Audiences []string
	// ExpiresAt is the credential's expiry ("exp").
	ExpiresAt time.Time
	// Method says how the caller was authenticated (MethodJWT,
	// MethodMTLS).
	Method string
	// Claims holds every claim of the verified token as decoded JSON:
	// string, bool, nil, json.Number (numbers keep their exact text),
	// []any and map[string]any. Read-only.
	Claims map[string]any
}

// IsServiceAccount reports whether the principal is a Kubernetes
// ServiceAccount.
func (p *Principal) IsServiceAccount() bool {
	return p != nil && p.Namespace != "" && p.ServiceAccount != ""
}

// Claim returns the claim at path. A path is a claim name ("sub"), or
// names of nested objects joined by dots ("kubernetes.io.namespace"). An
// exact top-level name always wins; otherwise the longest object key that
// is a prefix of the path is tried first, so keys that themselves contain
// dots ("kubernetes.io") work. Array elements cannot be addressed.
func (p *Principal) Claim(path string) (any, bool) {
	if p == nil || p.Claims == nil || path == "" {
		return nil, false
	}
	return lookup(p.Claims, path, 0)
}

// maxPathDepth bounds the nesting Claim follows.
const maxPathDepth = 16

func lookup(m map[string]any, path string, depth int) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	if depth >= maxPathDepth {
		return nil, false
	}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		sub, ok := m[path[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookup(sub, path[i+1:], depth+1); ok {
			return v, true
		}
	}
	return nil, false
}

// ClaimString returns the claim at path (see Claim) as a string: a JSON
// string as is, anything else (numbers, booleans, null, arrays, objects)
// as compact JSON, e.g. `["a","b"]` or `42`.
func (p *Principal) ClaimString(path string) (string, bool) {
	v, ok := p.Claim(path)
	if !ok {
		return "", false
	}
	return ValueString(v), true
}

// ValueString formats a decoded JSON value as ClaimString does.
func ValueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ParseServiceAccount splits a Kubernetes ServiceAccount username
// "system:serviceaccount:<namespace>:<name>". ok is false unless the
// namespace is a valid DNS-1123 label and the name a valid DNS-1123
// subdomain, as Kubernetes requires, with nothing else in the string.
func ParseServiceAccount(username string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(username, ServiceAccountPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	if !found || !isDNSLabel(namespace) || !isDNSSubdomain(name) {
		return "", "", false
	}
	return namespace, name, true
}

// isDNSLabel matches [a-z0-9]([-a-z0-9]*[a-z0-9])? up to 63 bytes.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNSSubdomain matches dot-separated DNS labels up to 253 bytes.
func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}

type contextKey struct{}

// With returns ctx carrying p. Only an authentication policy that has
// verified p calls it, or the gateway for a verified client certificate
// (MethodMTLS) on a route that accepts one. A nil p returns ctx unchanged.
func With(ctx context.Context, p *Principal) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, contextKey{}, p)
}

// IsKey reports whether key is the key From looks up, so that a context
// that keeps the principal elsewhere (the exchange's: policy.Exchange.Bind)
// can answer it without a context of its own per identity. Only the
// policy that verified the principal sets it there.
func IsKey(key any) bool {
	_, ok := key.(contextKey)
	return ok
}

// From returns the verified principal in ctx. ok is false when the request
// has not been authenticated.
func From(ctx context.Context) (p *Principal, ok bool) {
	p, _ = ctx.Value(contextKey{}).(*Principal)
	return p, p != nil
}
