package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

const (
	testIssuer   = "https://kubernetes.default.svc"
	testAudience = "agent-gateway"
	testSubject  = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
)

// testKey is a generated signing key and its public JWK.
type testKey struct {
	kid  string
	alg  string // alg used to sign by default
	priv crypto.Signer
	// jwkAlg, when set, is published as the JWK's "alg".
	jwkAlg string
}

func (k testKey) withKID(kid string) testKey { k.kid = kid; return k }
func (k testKey) withAlg(alg string) testKey { k.alg = alg; return k }
func (k testKey) pinned(alg string) testKey  { k.jwkAlg = alg; return k }

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk returns the public JWK of k.
func (k testKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "use": "sig"}
	if k.jwkAlg != "" {
		m["alg"] = k.jwkAlg
	}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64u(pub.N.Bytes())
		m["e"] = b64u(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		size := (pub.Curve.Params().BitSize + 7) / 8
		raw, _ := pub.Bytes()
		m["crv"] = pub.Curve.Params().Name
		m["x"] = b64u(raw[1 : 1+size])
		m["y"] = b64u(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64u(pub)
	}
	return m
}

var (
	keysOnce sync.Once
	keys     struct {
		rsa1, rsa2, attacker, weak testKey
		ec256, ec384, ed           testKey
	}
)

// testKeys generates the keys once per test binary (RSA is slow).
func testKeys(t testing.TB) *struct {
	rsa1, rsa2, attacker, weak testKey
	ec256, ec384, ed           testKey
} {
	t.Helper()
	keysOnce.Do(func() {
		must := func(k crypto.Signer, err error) crypto.Signer {
			if err != nil {
				panic(err)
			}
			return k
		}
		rsaKey := func(bits int) crypto.Signer { return must(rsa.GenerateKey(rand.Reader, bits)) }
		_, edPriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keys.rsa1 = testKey{kid: "k1", alg: "RS256", priv: rsaKey(2048)}
		keys.rsa2 = testKey{kid: "k2", alg: "RS256", priv: rsaKey(2048)}
		keys.attacker = testKey{kid: "k1", alg: "RS256", priv: rsaKey(2048)}
		// A 1024-bit key is refused in a JWKS. Go refuses to generate keys
		// under 1024 bits without GODEBUG, so this is the weakest we test.
		keys.weak = testKey{kid: "weak", alg: "RS256", priv: rsaKey(1024)}
		keys.ec256 = testKey{kid: "ec256", alg: "ES256", priv: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))}
		keys.ec384 = testKey{kid: "ec384", alg: "ES384", priv: must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))}
		keys.ed = testKey{kid: "ed", alg: "EdDSA", priv: edPriv}
	})
	return &keys
}

// claims returns valid claims for the test issuer and audience, changed by
// mods.
func claims(mods ...func(map[string]any)) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": testIssuer,
		"aud": []any{testAudience},
		"sub": testSubject,
		"iat": now,
		"nbf": now,
		"exp": now + 3600,
		"kubernetes.io": map[string]any{
			"namespace":      "agent-core-infra",
			"serviceaccount": map[string]any{"name": "ekspoc-v6-kagent-agent-sa", "uid": "u-1"},
		},
		"groups": []any{"a", "b"},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func set(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
func del(k string) func(map[string]any)        { return func(c map[string]any) { delete(c, k) } }

// encode builds header.payload from JSON-marshalled parts.
func encode(t testing.TB, hdr, payload any) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b64u(h) + "." + b64u(p)
}

// sign signs claims with k (its alg and kid), adding extra header members.
func sign(t testing.TB, k testKey, c map[string]any, extra ...map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": k.alg, "typ": "JWT"}
	if k.kid != "" {
		hdr["kid"] = k.kid
	}
	for _, e := range extra {
		for name, v := range e {
			if v == nil {
				delete(hdr, name)
			} else {
				hdr[name] = v
			}
		}
	}
	return signRaw(t, k.priv, k.alg, encode(t, hdr, c))
}

// signRaw signs an already encoded header.payload with the algorithm
// method (which may differ from the header's alg).
func signRaw(t testing.TB, key any, method, signingInput string) string {
	t.Helper()
	m := jwtlib.GetSigningMethod(method)
	if m == nil {
		t.Fatalf("no signing method %s", method)
	}
	sig, err := m.Sign(signingInput, key)
	if err != nil {
		t.Fatal(err)
	}
	return signingInput + "." + b64u(sig)
}

// jwksServer serves a JWKS and counts requests.
type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	body  []byte
	hdr   http.Header
	mode  http.HandlerFunc // overrides the JWKS when set
	paths []string
	auth  []string
}

func newJWKSServer(t testing.TB, ks ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(ks...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func newTLSJWKSServer(t testing.TB, ks ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(ks...)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.Path)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	mode, body, hdr := s.mode, s.body, s.hdr
	s.mu.Unlock()
	if mode != nil {
		mode(w, r)
		return
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

func (s *jwksServer) setKeys(ks ...testKey) {
	list := []any{}
	for _, k := range ks {
		list = append(list, k.jwk())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	s.setBody(b)
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.mode = b, nil
}

func (s *jwksServer) setMode(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = h
}

func (s *jwksServer) setHeader(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hdr = h
}

func (s *jwksServer) seenAuth() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

func (s *jwksServer) seenPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// jwtConfig is the policy block used by tests: refreshes far apart so
// that only what a test triggers happens.
func jwtConfig(uri string, mods ...func(*Config)) *Config {
	j := &Config{
		Issuer:    testIssuer,
		Audiences: []string{"other-audience", testAudience},
		JWKSURI:   uri,
		ClaimToHeaders: []ClaimHeader{
			{Claim: "sub", Header: "x-agent-identity"},
			{Claim: "kubernetes.io.namespace", Header: "x-namespace"},
			{Claim: "groups", Header: "x-groups"},
			{Claim: "not-there", Header: "x-missing"},
		},
		JWKS: &JWKSOptions{
			RefreshInterval:    config.Duration(time.Hour),
			MinRefreshInterval: config.Duration(200 * time.Millisecond),
			MaxStale:           config.Duration(time.Hour),
			Timeout:            config.Duration(2 * time.Second),
		},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func newPolicy(t testing.TB, j *Config) (*Policy, error) {
	t.Helper()
	p, err := New(context.Background(), &config.Policy{Type: Type, Spec: j}, policy.Env{RouteName: "r"})
	if err != nil {
		return nil, err
	}
	pol := p.(*Policy)
	t.Cleanup(func() { _ = pol.Cleanup() })
	return pol, nil
}

func mustPolicy(t testing.TB, j *Config) *Policy {
	t.Helper()
	p, err := newPolicy(t, j)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// result is what a request through the policy produced.
type result struct {
	err       error
	called    bool
	principal *identity.Principal
	header    http.Header // request headers seen by next
}

func (p *Policy) do(r *http.Request) result {
	var res result
	next := policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.called = true
		res.principal, _ = identity.From(r.Context())
		res.header = r.Header.Clone()
		return nil
	})
	res.err = p.Wrap(next).ServeHTTP(httptest.NewRecorder(), r)
	return res
}

// request builds a request with "Authorization: Bearer tok" ("" = none).
func request(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://gw/mcp", strings.NewReader(`{}`))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// wantRejected checks a 401 whose challenge carries errCode ("" for none),
// that next was not called, and that no part of tok leaked.
func wantRejected(t testing.TB, res result, errCode, tok string) *policy.Error {
	t.Helper()
	if res.called {
		t.Fatal("next was called for a rejected request")
	}
	var pe *policy.Error
	if !errors.As(res.err, &pe) {
		t.Fatalf("error = %v, want *policy.Error", res.err)
	}
	if pe.Status != http.StatusUnauthorized || pe.Code != policy.CodeUnauthorized {
		t.Fatalf("status %d code %d (%q), want 401/%d", pe.Status, pe.Code, pe.Message, policy.CodeUnauthorized)
	}
	ch := pe.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `Bearer realm="agentgateway"`) {
		t.Errorf("WWW-Authenticate = %q", ch)
	}
	if errCode == "" {
		if strings.Contains(ch, "error=") {
			t.Errorf("WWW-Authenticate = %q, want no error code", ch)
		}
	} else if !strings.Contains(ch, `error="`+errCode+`"`) || !strings.Contains(ch, `error_description="`+pe.Message+`"`) {
		t.Errorf("WWW-Authenticate = %q, want error=%q and the message as description", ch, errCode)
	}
	assertNoLeak(t, tok, pe.Error(), ch)
	return pe
}

// assertNoLeak fails if any 12-byte window of tok appears in texts.
func assertNoLeak(t testing.TB, tok string, texts ...string) {
	t.Helper()
	const w = 12
	for _, s := range texts {
		for i := 0; i+w <= len(tok); i += w / 2 {
			if frag := tok[i : i+w]; strings.Contains(s, frag) {
				t.Fatalf("token fragment %q leaked into %q", frag, s)
			}
		}
	}
}

// captureLogs sends slog.Default to a buffer for the test.
func captureLogs(t testing.TB) *gatewaytest.LogBuffer {
	t.Helper()
	buf := &gatewaytest.LogBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}

// eventually polls cond for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
