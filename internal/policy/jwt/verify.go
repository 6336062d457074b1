package jwt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// tokenCacheSize bounds the cache of verified tokens per policy.
const tokenCacheSize = 4096

// maxNumericDate is 9999-12-31T23:59:59Z; larger exp/nbf/iat values are
// refused rather than converted in platform-dependent ways.
const maxNumericDate = 253402300799

// verifier checks tokens for one policy.
type verifier struct {
	issuer    string
	audiences []string
	skew      time.Duration
	maxToken  int
	src       *source
	parser    *jwtlib.Parser
	cache     *tokenCache
	now       func() time.Time
}

func newVerifier(j *Config, src *source) *verifier {
	v := &verifier{
		issuer:    j.Issuer,
		audiences: j.Audiences,
		skew:      DefaultClockSkew.D(),
		maxToken:  int(DefaultMaxTokenBytes),
		src:       src,
		cache:     newTokenCache(tokenCacheSize),
		now:       time.Now,
	}
	if j.ClockSkew != nil && *j.ClockSkew >= 0 {
		v.skew = j.ClockSkew.D()
	}
	if j.MaxTokenBytes != nil && *j.MaxTokenBytes > 0 {
		v.maxToken = int(min(*j.MaxTokenBytes, MaxTokenBytes))
	}
	v.parser = jwtlib.NewParser(
		jwtlib.WithValidMethods(allowedAlgs),
		jwtlib.WithIssuer(j.Issuer),
		jwtlib.WithAudience(j.Audiences...),
		jwtlib.WithExpirationRequired(),
		jwtlib.WithIssuedAt(),
		jwtlib.WithLeeway(v.skew),
		jwtlib.WithJSONNumber(),
		jwtlib.WithStrictDecoding(),
		jwtlib.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// header is what the gateway reads from a JOSE header. jku, x5u, jwk and
// x5c are never read: keys come only from the configured JWKS.
type header struct {
	alg string
	kid string
}

// verify checks tok and returns the principal. Every error is a
// *policy.Error whose text is fixed: nothing of the token is echoed.
func (v *verifier) verify(ctx context.Context, tok string) (*identity.Principal, *policy.Error) {
	if len(tok) > v.maxToken {
		return nil, invalidToken("token too large")
	}
	snap := v.src.usable()
	if snap == nil {
		if msg := checkShape(tok); msg != "" {
			return nil, invalidToken(msg)
		}
		v.src.refreshLimited(ctx)
		if snap = v.src.usable(); snap == nil {
			return nil, v.unavailable()
		}
	}
	// A hit means these exact bytes (same keyed hash) passed every check
	// below under this key set, so the shape check is skipped for them.
	if p := v.cache.get(tok, snap.gen, v.now()); p != nil {
		return p, nil
	}
	if msg := checkShape(tok); msg != "" {
		return nil, invalidToken(msg)
	}
	hdr, msg := parseHeader(tok[:strings.IndexByte(tok, '.')])
	if msg != "" {
		return nil, invalidToken(msg)
	}
	keys, gen, st := v.src.keysFor(ctx, hdr.kid, hdr.alg)
	switch st {
	case keyUnavailable:
		return nil, v.unavailable()
	case keyUnknown:
		return nil, invalidToken("unknown signing key")
	case keyMismatch:
		return nil, invalidToken("signing key does not match the token algorithm")
	}

	claims := jwtlib.MapClaims{}
	_, err := v.parser.ParseWithClaims(tok, claims, func(t *jwtlib.Token) (any, error) {
		// Defence in depth: the library parsed the same header bytes.
		if t.Method == nil || t.Method.Alg() != hdr.alg {
			return nil, errors.New("algorithm changed")
		}
		set := jwtlib.VerificationKeySet{}
		for _, k := range keys {
			if !k.fits(hdr.alg) {
				return nil, errors.New("key does not fit")
			}
			set.Keys = append(set.Keys, k.pub)
		}
		return set, nil
	})
	if err != nil {
		return nil, invalidToken(describe(err, claims))
	}
	if msg := checkClaims(claims); msg != "" {
		return nil, invalidToken(msg)
	}

	sub := claims["sub"].(string) // checked by checkClaims
	iss, _ := claims.GetIssuer()
	aud, _ := claims.GetAudience()
	exp, _ := claims.GetExpirationTime()
	p := &identity.Principal{
		Subject:   sub,
		Issuer:    iss,
		Audiences: []string(aud),
		ExpiresAt: exp.Time,
		Method:    identity.MethodJWT,
		Claims:    map[string]any(claims),
	}
	p.Namespace, p.ServiceAccount, _ = identity.ParseServiceAccount(sub)
	v.cache.put(tok, p, gen, exp.Time, v.now())
	return p, nil
}

func (v *verifier) unavailable() *policy.Error {
	v.src.mu.Lock()
	cause := v.src.lastErr
	v.src.mu.Unlock()
	return unavailable(v.src.retryAfter(), cause)
}

// checkShape accepts only the JWS compact serialization: three non-empty
// base64url segments. JWE (five segments), the JSON serialization and
// anything with other characters are refused before any decoding.
func checkShape(tok string) string {
	dots := 0
	for i := 0; i < len(tok); i++ {
		switch tokenByte[tok[i]] {
		case 0:
			return "malformed token"
		case 2:
			dots++
		}
	}
	switch dots {
	case 2:
	case 4:
		return "encrypted tokens (JWE) are not accepted"
	default:
		return "malformed token"
	}
	h, rest, _ := strings.Cut(tok, ".")
	p, sig, _ := strings.Cut(rest, ".")
	if h == "" || p == "" || sig == "" {
		return "malformed token"
	}
	return ""
}

// tokenByte classifies the bytes of a compact JWS: 1 for base64url, 2 for
// '.', 0 for anything else. A table keeps the scan of every request's
// token (about 1 KB for a ServiceAccount token) to one load per byte.
var tokenByte = func() (t [256]byte) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	t['-'], t['_'], t['.'] = 1, 1, 2
	return t
}()

// parseHeader decodes the JOSE header and applies the header rules.
func parseHeader(seg string) (header, string) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return header{}, "malformed token"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return header{}, "malformed token"
	}
	switch {
	case m["enc"] != nil:
		return header{}, "encrypted tokens (JWE) are not accepted"
	case m["crit"] != nil:
		// No extension is understood, so any critical one must be refused
		// (RFC 7515 §4.1.11); this covers b64=false (RFC 7797) too.
		return header{}, "unsupported critical header"
	case m["b64"] != nil, m["zip"] != nil:
		return header{}, "unsupported token header"
	}
	var h header
	if err := json.Unmarshal(m["alg"], &h.alg); err != nil || m["alg"] == nil {
		return header{}, "malformed token"
	}
	if !algAllowed(h.alg) {
		return header{}, "unsupported algorithm"
	}
	rawKID, ok := m["kid"]
	if !ok {
		return header{}, "token has no key id (kid)"
	}
	if err := json.Unmarshal(rawKID, &h.kid); err != nil {
		return header{}, "malformed token"
	}
	switch {
	case h.kid == "":
		return header{}, "token has no key id (kid)"
	case len(h.kid) > maxKIDLen:
		return header{}, "unknown signing key"
	}
	return h, ""
}

// describe maps a library error to a fixed message. Library error texts
// are never used: some quote header values.
func describe(err error, claims jwtlib.MapClaims) string {
	switch {
	case errors.Is(err, jwtlib.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwtlib.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwtlib.ErrTokenUnverifiable):
		return "token could not be verified"
	}
	if msg := checkClaims(claims); msg != "" {
		return msg
	}
	switch {
	case errors.Is(err, jwtlib.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwtlib.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwtlib.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwtlib.ErrTokenInvalidIssuer):
		return "issuer not accepted"
	case errors.Is(err, jwtlib.ErrTokenInvalidAudience):
		return "audience not accepted"
	}
	return "invalid token"
}

// checkClaims applies the shape rules the library leaves open: iss a
// string, aud a non-empty string or a non-empty array of strings, exp
// present, exp/nbf/iat finite numbers in range, sub a non-empty string.
func checkClaims(c jwtlib.MapClaims) string {
	if _, ok := c["iss"].(string); !ok {
		return "issuer not accepted"
	}
	switch a := c["aud"].(type) {
	case string:
		if a == "" {
			return "audience not accepted"
		}
	case []any:
		if len(a) == 0 {
			return "audience not accepted"
		}
		for _, x := range a {
			if s, ok := x.(string); !ok || s == "" {
				return "audience not accepted"
			}
		}
	default:
		return "audience not accepted"
	}
	if _, ok := c["exp"]; !ok {
		return "token has no expiry (exp)"
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		raw, ok := c[name]
		if !ok {
			continue
		}
		n, ok := raw.(json.Number)
		if !ok {
			return "token has an invalid time claim"
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f > maxNumericDate {
			return "token has an invalid time claim"
		}
	}
	if s, ok := c["sub"].(string); !ok || s == "" {
		return "token has no subject (sub)"
	}
	return ""
}

// tokenCache remembers verified tokens by an HMAC of the token (a raw
// token is never a map key), until the token's exp, and only for the key
// set generation that verified it: any change of the key set (a key
// removed, added or replaced) empties it in effect.
type tokenCache struct {
	key []byte
	max int
	// hashers recycles keyed HMAC states and a copy buffer: building an
	// HMAC per lookup was most of a cached check's cost and allocations.
	hashers sync.Pool

	// rec receives each lookup (agentgateway_token_cache_requests_total);
	// nil records nothing.
	rec policy.Recorder

	mu sync.Mutex
	m  map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	p        *identity.Principal
	gen      uint64
	notAfter time.Time
}

func newTokenCache(n int) *tokenCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &tokenCache{key: key, max: n, m: map[[sha256.Size]byte]cacheEntry{}}
}

type tokenHasher struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func (c *tokenCache) sum(tok string) (out [sha256.Size]byte) {
	th, _ := c.hashers.Get().(*tokenHasher)
	if th == nil {
		th = &tokenHasher{h: hmac.New(sha256.New, c.key)}
	}
	th.h.Reset()
	th.buf = append(th.buf[:0], tok...)
	_, _ = th.h.Write(th.buf)
	copy(out[:], th.h.Sum(th.sum[:0]))
	if cap(th.buf) <= 64<<10 {
		c.hashers.Put(th)
	}
	return out
}

func (c *tokenCache) get(tok string, gen uint64, now time.Time) *identity.Principal {
	p := c.lookup(tok, gen, now)
	if c.rec != nil {
		c.rec.TokenCache(p != nil)
	}
	return p
}

func (c *tokenCache) lookup(tok string, gen uint64, now time.Time) *identity.Principal {
	k := c.sum(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	if e.gen != gen || !now.Before(e.notAfter) {
		delete(c.m, k)
		return nil
	}
	return e.p
}

func (c *tokenCache) put(tok string, p *identity.Principal, gen uint64, notAfter, now time.Time) {
	if !now.Before(notAfter) {
		return
	}
	k := c.sum(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for kk, e := range c.m {
			if e.gen != gen || !now.Before(e.notAfter) {
				delete(c.m, kk)
			}
		}
		// Still full: drop an eighth, arbitrary entries (map order).
		for kk := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, kk)
		}
	}
	c.m[k] = cacheEntry{p: p, gen: gen, notAfter: notAfter}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
