package jwt

import (
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Type is the policy type name (config.PolicyJWTAuthn: a route with it
// authenticates, Route.Authenticates), and Block the key of its config
// block.
const (
	Type  = config.PolicyJWTAuthn
	Block = "jwt"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the jwt-authn block. JWKSURI may be omitted: it is then read
// from the issuer's OIDC discovery document,
// <issuer>/.well-known/openid-configuration, at provisioning.
type Config struct {
	// Issuer is the expected iss claim (optional with validation
	// tokenreview).
	Issuer string `yaml:"issuer"`
	// Audiences lists the accepted audiences: the token's aud must
	// contain one of them.
	Audiences []string `yaml:"audiences"`
	// JWKSURI is the URL of the JSON Web Key Set that verifies signatures
	// (default: from the issuer's OIDC discovery document).
	JWKSURI string `yaml:"jwksUri"`
	// ClaimToHeaders copies verified claims into request headers for the
	// backend.
	ClaimToHeaders []ClaimHeader `yaml:"claimToHeaders"`
	// ClockSkew is the leeway applied to exp, nbf and iat (default 60s;
	// 0 allowed, at most 10m).
	ClockSkew *config.Duration `yaml:"clockSkew"`
	// MaxTokenBytes bounds the bearer token (default 16 KiB).
	MaxTokenBytes *config.ByteSize `yaml:"maxTokenBytes"`
	// JWKS tunes how jwksUri is fetched and cached.
	JWKS *JWKSOptions `yaml:"jwks"`
	// Validation selects how a token is verified: "jwks" (default: the
	// signature against jwksUri), "tokenreview" (the Kubernetes TokenReview
	// API decides) or "both" (JWKS, then TokenReview, which also catches
	// tokens of deleted ServiceAccounts and pods). See docs/jwt.md.
	Validation string `yaml:"validation"`
	// TokenReview configures the Kubernetes API client used when
	// validation is tokenreview or both.
	TokenReview *TokenReviewOptions `yaml:"tokenReview"`
}

// Validation modes (Config.Validation).
const (
	ValidationJWKS        = "jwks"
	ValidationTokenReview = "tokenreview"
	ValidationBoth        = "both"
)

// TokenReviewOptions configures the TokenReview client. Inside a pod the
// in-cluster config is used; outside, set Kubeconfig or APIServer. Zero
// durations take their defaults.
type TokenReviewOptions struct {
	// Kubeconfig is a kubeconfig file (its current context is used).
	Kubeconfig string `yaml:"kubeconfig"`
	// APIServer is the API server URL; it overrides the kubeconfig's server.
	APIServer string `yaml:"apiServer"`
	// CAFile is a PEM bundle trusted for the API server; it overrides the
	// kubeconfig's or the in-cluster CA.
	CAFile string `yaml:"caFile"`
	// TokenFile holds the gateway's own bearer token for the API server,
	// re-read periodically; it overrides the kubeconfig's or the
	// in-cluster token.
	TokenFile string `yaml:"tokenFile"`
	// CacheTTL bounds how long an accepted token is remembered (default
	// 1m, never past the token's exp).
	CacheTTL config.Duration `yaml:"cacheTTL"`
	// FailureTTL is how long a rejected token is remembered (default 10s).
	FailureTTL config.Duration `yaml:"failureTTL"`
	// Timeout bounds one TokenReview call (default 5s).
	Timeout config.Duration `yaml:"timeout"`
	// PerClientReviewsPerMinute and PerClientBurst are the token bucket
	// each client (peer IP) draws from for TokenReviews that no cached
	// answer covers (defaults 300 and 20); past it the client gets 429,
	// so one source cannot spend the API quota every caller shares.
	PerClientReviewsPerMinute int `yaml:"perClientReviewsPerMinute"`
	PerClientBurst            int `yaml:"perClientBurst"`
}

// JWKSOptions tunes fetching and caching of a JWKS. Zero durations take
// their defaults.
type JWKSOptions struct {
	// RefreshInterval is the refresh period when the JWKS response has no
	// Cache-Control max-age (default 5m).
	RefreshInterval config.Duration `yaml:"refreshInterval"`
	// MinRefreshInterval is the least time between two fetches triggered
	// by tokens with an unknown kid (default 30s).
	MinRefreshInterval config.Duration `yaml:"minRefreshInterval"`
	// MaxStale is how long the last good key set keeps being used while
	// fetches fail (default 24h).
	MaxStale config.Duration `yaml:"maxStale"`
	// Timeout bounds one fetch (default 5s).
	Timeout config.Duration `yaml:"timeout"`
	// CAFile is a PEM bundle trusted for an https jwksUri instead of the
	// system roots. Default: the in-cluster ServiceAccount CA when jwksUri
	// is the Kubernetes API server and the file exists.
	CAFile string `yaml:"caFile"`
	// BearerTokenFile is read before each fetch and sent as
	// "Authorization: Bearer". Default: the in-cluster ServiceAccount token
	// when jwksUri is the Kubernetes API server and the file exists.
	BearerTokenFile string `yaml:"bearerTokenFile"`
}

// ClaimHeader copies a verified claim into a request header for the backend.
type ClaimHeader struct {
	// Claim is the claim's name, e.g. sub.
	Claim string `yaml:"claim"`
	// Header is the request header that carries it.
	Header string `yaml:"header"`
}

// Defaults (docs/jwt.md).
const (
	DefaultClockSkew              = config.Duration(60 * time.Second)
	DefaultMaxTokenBytes          = 16 * config.KiB
	DefaultJWKSRefreshInterval    = config.Duration(5 * time.Minute)
	DefaultJWKSMinRefreshInterval = config.Duration(30 * time.Second)
	DefaultJWKSMaxStale           = config.Duration(24 * time.Hour)
	DefaultJWKSTimeout            = config.Duration(5 * time.Second)

	// TokenReview mode (docs/jwt.md#tokenreview-mode).
	DefaultValidation            = ValidationJWKS
	DefaultTokenReviewCacheTTL   = config.Duration(time.Minute)
	DefaultTokenReviewFailureTTL = config.Duration(10 * time.Second)
	DefaultTokenReviewTimeout    = config.Duration(5 * time.Second)
	// A tenth of the client's own limit towards the API server (50/s,
	// burst 100): one source alone cannot use up the shared quota.
	DefaultTokenReviewPerClientPerMinute = 300
	DefaultTokenReviewPerClientBurst     = 20
)

// Limits checked by Validate.
const (
	MaxClockSkew              = config.Duration(10 * time.Minute)
	MinTokenBytes             = 256 * config.B
	MaxTokenBytes             = 1 * config.MiB
	MinJWKSRefreshInterval    = config.Duration(time.Minute)
	MaxJWKSRefreshInterval    = config.Duration(24 * time.Hour)
	MinJWKSMinRefreshInterval = config.Duration(time.Second)
	MaxJWKSMaxStale           = config.Duration(7 * 24 * time.Hour)
	MaxJWKSTimeout            = config.Duration(time.Minute)
	MinTokenReviewTTL         = config.Duration(time.Second) // cacheTTL and failureTTL
	MaxTokenReviewCacheTTL    = config.Duration(10 * time.Minute)
	MaxTokenReviewFailureTTL  = config.Duration(5 * time.Minute)
	MaxTokenReviewTimeout     = config.Duration(time.Minute)
	// MaxTokenReviewPerClientPerMinute and MaxTokenReviewPerClientBurst
	// keep the per-client budget within the client's own limit towards
	// the API server (50/s, burst 100): a larger one would never bite.
	MaxTokenReviewPerClientPerMinute = 3000
	MaxTokenReviewPerClientBurst     = 100
)

// ConfigOf returns the jwt-authn block of p, or nil when p is of another
// type.
func ConfigOf(p *config.Policy) *Config {
	if p == nil {
		return nil
	}
	c, _ := p.Spec.(*Config)
	return c
}

// SetDefaults fills clockSkew, maxTokenBytes, the jwks block, validation
// and, when present, the tokenReview block. No tokenReview block is made
// up: without one the in-cluster config applies.
func (c *Config) SetDefaults() {
	if c.ClockSkew == nil {
		v := DefaultClockSkew
		c.ClockSkew = &v
	}
	if c.MaxTokenBytes == nil {
		v := DefaultMaxTokenBytes
		c.MaxTokenBytes = &v
	}
	if c.JWKS == nil {
		c.JWKS = &JWKSOptions{}
	}
	k := c.JWKS
	orDefault(&k.RefreshInterval, DefaultJWKSRefreshInterval)
	orDefault(&k.MinRefreshInterval, DefaultJWKSMinRefreshInterval)
	orDefault(&k.MaxStale, DefaultJWKSMaxStale)
	orDefault(&k.Timeout, DefaultJWKSTimeout)
	orDefault(&c.Validation, DefaultValidation)
	if tr := c.TokenReview; tr != nil {
		orDefault(&tr.CacheTTL, DefaultTokenReviewCacheTTL)
		orDefault(&tr.FailureTTL, DefaultTokenReviewFailureTTL)
		orDefault(&tr.Timeout, DefaultTokenReviewTimeout)
		orDefault(&tr.PerClientReviewsPerMinute, DefaultTokenReviewPerClientPerMinute)
		orDefault(&tr.PerClientBurst, DefaultTokenReviewPerClientBurst)
	}
}

// orDefault sets *v to def when it is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// durationOr returns d, or def when d is unset: Validate accepts a block
// before SetDefaults.
func durationOr(d, def config.Duration) config.Duration {
	if d == 0 {
		return def
	}
	return d
}

// SchemaRequired tells the schema generator the required fields. issuer
// is not among them: validation: tokenreview needs none, and Validate
// says so when another mode lacks it.
func (*Config) SchemaRequired() map[string][]string {
	return map[string][]string{"Config": {"audiences"}, "ClaimHeader": {"claim", "header"}}
}

// SchemaEnums tells the schema generator the values of validation.
func (*Config) SchemaEnums() map[string][]string {
	return map[string][]string{"Config.Validation": {ValidationJWKS, ValidationTokenReview, ValidationBoth}}
}

// SetsHeaders names the request headers the policy sets from claims
// (config.HeaderSetter): the edge removes client-sent copies, so that a
// backend never reads a value the caller chose, even on a request the
// policy lets through without a token (a client certificate).
func (c *Config) SetsHeaders() []string {
	out := make([]string, 0, len(c.ClaimToHeaders))
	for _, ch := range c.ClaimToHeaders {
		out = append(out, http.CanonicalHeaderKey(ch.Header))
	}
	return out
}

// Validate checks the block. Unset values take their defaults, so it
// works before and after SetDefaults.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	add := func(field, format string, args ...any) { errs = append(errs, at.Errorf(field, format, args...)) }
	// With validation: tokenreview the API server checks the issuer and the
	// signature, so issuer is optional and jwksUri unused.
	reviewOnly := c.Validation == ValidationTokenReview
	if c.Issuer == "" && !reviewOnly {
		add("issuer", "issuer is required")
	}
	if len(c.Audiences) == 0 {
		add("audiences", "at least one audience is required")
	}
	for i, a := range c.Audiences {
		if a == "" {
			add("audiences["+strconv.Itoa(i)+"]", "audience must not be empty")
		}
	}
	if reviewOnly && c.JWKSURI != "" {
		add("jwksUri", "jwksUri is not used with validation: tokenreview (use validation: both to verify the signature too)")
	} else if c.JWKSURI == "" && !reviewOnly {
		// OIDC discovery: <issuer>/.well-known/openid-configuration names
		// the JWKS, so the issuer must be a URL.
		if msg := checkDiscoveryIssuer(c.Issuer); msg != "" {
			add("issuer", "%s", msg)
		}
	} else if msg := config.CheckURL(c.JWKSURI); msg != "" && !reviewOnly {
		add("jwksUri", "%s", msg)
	}
	c.validateLimits(add)
	c.validateTokenReview(add)
	headers := map[string]int{}
	for i, ch := range c.ClaimToHeaders {
		cp := "claimToHeaders[" + strconv.Itoa(i) + "]"
		if ch.Claim == "" {
			add(cp+".claim", "claim is required")
		}
		switch {
		case ch.Header == "":
			add(cp+".header", "header is required")
		case !isToken(ch.Header):
			add(cp+".header", "%q is not a valid HTTP header name", ch.Header)
		case reservedHeaders[strings.ToLower(ch.Header)]:
			add(cp+".header", "header %q is reserved for the proxy and cannot carry a claim", ch.Header)
		default:
			if first, dup := headers[strings.ToLower(ch.Header)]; dup {
				add(cp+".header", "header %q is already set by claimToHeaders[%d]", ch.Header, first)
			} else {
				headers[strings.ToLower(ch.Header)] = i
			}
		}
	}
	return errs
}

// validateLimits checks clockSkew, maxTokenBytes and the jwks block.
func (c *Config) validateLimits(add func(field, format string, args ...any)) {
	if c.ClockSkew != nil && (*c.ClockSkew < 0 || *c.ClockSkew > MaxClockSkew) {
		add("clockSkew", "clockSkew %s is out of range 0-%s", *c.ClockSkew, MaxClockSkew)
	}
	if c.MaxTokenBytes != nil && (*c.MaxTokenBytes < MinTokenBytes || *c.MaxTokenBytes > MaxTokenBytes) {
		add("maxTokenBytes", "maxTokenBytes %s is out of range %s-%s", *c.MaxTokenBytes, MinTokenBytes, MaxTokenBytes)
	}
	k := c.JWKS
	if k == nil {
		return
	}
	refresh := durationOr(k.RefreshInterval, DefaultJWKSRefreshInterval)
	if refresh < MinJWKSRefreshInterval || refresh > MaxJWKSRefreshInterval {
		add("jwks.refreshInterval", "refreshInterval %s is out of range %s-%s", refresh, MinJWKSRefreshInterval, MaxJWKSRefreshInterval)
	}
	if m := durationOr(k.MinRefreshInterval, DefaultJWKSMinRefreshInterval); m < MinJWKSMinRefreshInterval || m > refresh {
		add("jwks.minRefreshInterval", "minRefreshInterval %s is out of range %s-%s (refreshInterval)", m, MinJWKSMinRefreshInterval, refresh)
	}
	if m := durationOr(k.MaxStale, DefaultJWKSMaxStale); m < refresh || m > MaxJWKSMaxStale {
		add("jwks.maxStale", "maxStale %s is out of range %s (refreshInterval)-%s", m, refresh, MaxJWKSMaxStale)
	}
	if t := k.Timeout; t < 0 || t > MaxJWKSTimeout {
		add("jwks.timeout", "timeout %s is out of range 0-%s (0: default %s)", t, MaxJWKSTimeout, DefaultJWKSTimeout)
	}
	// Without jwksUri, the two files apply to the issuer's discovery
	// document (and to the JWKS when it is on the issuer's host).
	target, name := c.JWKSURI, "jwksUri"
	if target == "" && c.Validation != ValidationTokenReview {
		target, name = c.Issuer, "issuer (OIDC discovery)"
	}
	u, err := url.Parse(target)
	if target == "" || err != nil {
		return // reported by Validate
	}
	if k.CAFile != "" && u.Scheme != "https" {
		add("jwks.caFile", "caFile requires an https:// %s", name)
	}
	if k.BearerTokenFile != "" && u.Scheme != "https" && !config.IsLoopbackHost(u.Hostname()) {
		add("jwks.bearerTokenFile", "bearerTokenFile requires an https:// %s (or http:// to a loopback address): the token would be sent in clear text", name)
	}
}

// checkDiscoveryIssuer checks an issuer used for OIDC discovery (no
// jwksUri): an absolute http(s) URL without query, fragment or user info.
func checkDiscoveryIssuer(iss string) string {
	if iss == "" {
		return "" // reported as required
	}
	if msg := config.CheckURL(iss); msg != "" {
		return "without jwksUri the issuer is used for OIDC discovery (<issuer>/.well-known/openid-configuration) and must be a URL: " + msg + "; or set jwksUri"
	}
	u, _ := url.Parse(iss)
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.ForceQuery {
		return fmt.Sprintf("issuer %q must not have a query, fragment or user info for OIDC discovery; or set jwksUri", iss)
	}
	return ""
}

// validateTokenReview checks validation and the tokenReview block.
func (c *Config) validateTokenReview(add func(field, format string, args ...any)) {
	switch c.Validation {
	case "", ValidationJWKS:
		if c.TokenReview != nil {
			add("tokenReview", "tokenReview requires validation: tokenreview or both")
		}
		return
	case ValidationTokenReview, ValidationBoth:
	default:
		add("validation", "unknown validation %q (valid: jwks, tokenreview, both)", c.Validation)
		return
	}
	tr := c.TokenReview
	if tr == nil {
		return // in-cluster config and defaults
	}
	if tr.APIServer != "" {
		if msg := config.CheckURL(tr.APIServer); msg != "" {
			add("tokenReview.apiServer", "%s", msg)
		} else if u, _ := url.Parse(tr.APIServer); u.Scheme != "https" && !config.IsLoopbackHost(u.Hostname()) {
			add("tokenReview.apiServer", "apiServer must be https:// (or http:// to a loopback address): tokens would be sent in clear text")
		} else if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			add("tokenReview.apiServer", "apiServer must be scheme://host[:port] only")
		}
	}
	if d := durationOr(tr.CacheTTL, DefaultTokenReviewCacheTTL); d < MinTokenReviewTTL || d > MaxTokenReviewCacheTTL {
		add("tokenReview.cacheTTL", "cacheTTL %s is out of range %s-%s", d, MinTokenReviewTTL, MaxTokenReviewCacheTTL)
	}
	if d := durationOr(tr.FailureTTL, DefaultTokenReviewFailureTTL); d < MinTokenReviewTTL || d > MaxTokenReviewFailureTTL {
		add("tokenReview.failureTTL", "failureTTL %s is out of range %s-%s", d, MinTokenReviewTTL, MaxTokenReviewFailureTTL)
	}
	if d := tr.Timeout; d < 0 || d > MaxTokenReviewTimeout {
		add("tokenReview.timeout", "timeout %s is out of range 0-%s (0: default %s)", d, MaxTokenReviewTimeout, DefaultTokenReviewTimeout)
	}
	if n := tr.PerClientReviewsPerMinute; n < 0 || n > MaxTokenReviewPerClientPerMinute {
		add("tokenReview.perClientReviewsPerMinute", "%d is out of range 0-%d (0: default %d)", n, MaxTokenReviewPerClientPerMinute, DefaultTokenReviewPerClientPerMinute)
	}
	if n := tr.PerClientBurst; n < 0 || n > MaxTokenReviewPerClientBurst {
		add("tokenReview.perClientBurst", "%d is out of range 0-%d (0: default %d)", n, MaxTokenReviewPerClientBurst, DefaultTokenReviewPerClientBurst)
	}
}

// Warnings flags a JWKS fetched over plain http from a host other than
// loopback (config.PolicyWarner): anyone on the path can swap the keys and
// mint tokens the gateway accepts. New logs the same at provisioning.
func (c *Config) Warnings(at config.PolicyAt) []*config.FieldError {
	u, err := url.Parse(c.JWKSURI)
	if c.JWKSURI == "" || err != nil || !strings.EqualFold(u.Scheme, "http") || config.IsLoopbackHost(u.Hostname()) {
		return nil
	}
	return []*config.FieldError{at.Errorf("jwksUri", "the JWKS is fetched over plain http from %q: whoever can alter that traffic can substitute signing keys and mint accepted tokens; use https", u.Host)}
}

// reservedHeaders are hop-by-hop or framing headers a claim must not set.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "upgrade": true, "te": true, "trailer": true, "proxy-connection": true,
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
