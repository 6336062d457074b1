package jwt

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestAccepts(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1, k.rsa2, k.ec256, k.ec384, k.ed)
	p := mustPolicy(t, jwtConfig(srv.URL))

	tests := []struct {
		name string
		tok  string
		auth string // full Authorization value when not "Bearer <tok>"
	}{
		{"RS256", sign(t, k.rsa1, claims()), ""},
		{"RS384", sign(t, k.rsa1.withAlg("RS384"), claims()), ""},
		{"RS512", sign(t, k.rsa2.withAlg("RS512"), claims()), ""},
		{"PS256", sign(t, k.rsa1.withAlg("PS256"), claims()), ""},
		{"PS384", sign(t, k.rsa1.withAlg("PS384"), claims()), ""},
		{"PS512", sign(t, k.rsa1.withAlg("PS512"), claims()), ""},
		{"ES256", sign(t, k.ec256, claims()), ""},
		{"ES384", sign(t, k.ec384, claims()), ""},
		{"EdDSA", sign(t, k.ed, claims()), ""},
		{"aud as a string", sign(t, k.rsa1, claims(set("aud", testAudience))), ""},
		{"aud list with one match", sign(t, k.rsa1, claims(set("aud", []any{"x", testAudience, "y"}))), ""},
		{"no nbf and iat", sign(t, k.rsa1, claims(del("nbf"), del("iat"))), ""},
		{"expired within clock skew", sign(t, k.rsa1, claims(set("exp", time.Now().Unix()-30))), ""},
		{"nbf within clock skew", sign(t, k.rsa1, claims(set("nbf", time.Now().Unix()+30))), ""},
		{"lower-case scheme", sign(t, k.rsa1, claims()), "bearer %s"},
		{"extra spaces", sign(t, k.rsa1, claims()), "Bearer    %s"},
		{"jku, x5u, jwk, x5c ignored", sign(t, k.rsa1, claims(), map[string]any{
			"jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/cert", "jwk": k.attacker.jwk(), "x5c": []any{"MIIB"},
		}), ""},
		{"typ absent", sign(t, k.rsa1, claims(), map[string]any{"typ": nil}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("")
			if tt.auth != "" {
				r.Header.Set("Authorization", strings.Replace(tt.auth, "%s", tt.tok, 1))
			} else {
				r.Header.Set("Authorization", "Bearer "+tt.tok)
			}
			r.Header.Set("X-Missing", "left over")
			res := p.do(r)
			if res.err != nil || !res.called {
				t.Fatalf("err = %v, called = %v", res.err, res.called)
			}
			pr := res.principal
			if pr == nil || pr.Subject != testSubject || pr.Namespace != "agent-core-infra" ||
				pr.ServiceAccount != "ekspoc-v6-kagent-agent-sa" || pr.Issuer != testIssuer || pr.Method != "jwt" {
				t.Fatalf("principal = %+v", pr)
			}
			if pr.ExpiresAt.IsZero() || len(pr.Audiences) == 0 {
				t.Errorf("principal exp/aud = %v %v", pr.ExpiresAt, pr.Audiences)
			}
			h := res.header
			if v := h.Values("X-Agent-Identity"); len(v) != 1 || v[0] != testSubject {
				t.Errorf("X-Agent-Identity = %q", v)
			}
			if v := h.Values("X-Namespace"); len(v) != 1 || v[0] != "agent-core-infra" {
				t.Errorf("X-Namespace = %q", v)
			}
			if v := h.Get("X-Groups"); v != `["a","b"]` {
				t.Errorf("X-Groups = %q", v)
			}
			if v, ok := h["X-Missing"]; ok {
				t.Errorf("X-Missing = %q, want absent (claim missing)", v)
			}
			if h.Get("Authorization") == "" {
				t.Error("the policy must not remove Authorization (the proxy decides)")
			}
		})
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (provisioning only)", n)
	}
}

func TestClaimToHeadersSetsExactlyOneValue(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	p := mustPolicy(t, jwtConfig(srv.URL))
	r := request(sign(t, k.rsa1, claims(set("exp", json.Number("17999999999")))))
	r.Header["X-Agent-Identity"] = []string{"spoof-1", "spoof-2"}
	res := p.do(r)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if v := res.header.Values("X-Agent-Identity"); len(v) != 1 || v[0] != testSubject {
		t.Errorf("X-Agent-Identity = %q", v)
	}
}

func TestClaimHeaderValueMustBeValid(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	p := mustPolicy(t, jwtConfig(srv.URL))
	tok := sign(t, k.rsa1, claims(set("sub", "system:serviceaccount:ns:sa\r\nX-Injected: 1")))
	wantRejected(t, p.do(request(tok)), "invalid_token", tok)
}

func TestClockSkewZero(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	zero := config.Duration(0)
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) { j.ClockSkew = &zero }))
	tok := sign(t, k.rsa1, claims(set("exp", time.Now().Unix()-2)))
	pe := wantRejected(t, p.do(request(tok)), "invalid_token", tok)
	if pe.Message != "token expired" {
		t.Errorf("message %q", pe.Message)
	}
}

// hs signs header.payload with HMAC (the classic key-confusion attack:
// the verifier's RSA public key used as the HMAC secret).
func hs(t *testing.T, alg string, secret []byte, kid string) string {
	in := encode(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, claims())
	return signRaw(t, secret, alg, in)
}

func TestRejects(t *testing.T) {
	k := testKeys(t)
	attackerSrv := newJWKSServer(t, k.attacker)
	srv := newJWKSServer(t, k.rsa1, k.ec256, k.weak, k.rsa2.withKID("pinned").pinned("RS256"))
	p := mustPolicy(t, jwtConfig(srv.URL))

	rsaPub := k.rsa1.priv.Public()
	der, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	nBytes, _ := base64.RawURLEncoding.DecodeString(k.rsa1.jwk()["n"].(string))
	valid := sign(t, k.rsa1, claims())
	parts := strings.Split(valid, ".")
	now := time.Now().Unix()

	// A certificate for the attacker's key, for the x5c header.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.attacker.priv.Public(), k.attacker.priv)
	if err != nil {
		t.Fatal(err)
	}
	none := func(alg, sig string) string {
		return encode(t, map[string]any{"alg": alg, "kid": "k1"}, claims()) + "." + sig
	}
	tamper := func(s string) string {
		// Flip a character in the middle of the signature.
		b := []byte(s)
		i := len(parts[0]) + len(parts[1]) + 2 + len(parts[2])/2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// Non-canonical base64: change the last signature character so that
	// only its unused low bits differ (strict decoding refuses it).
	lastChar := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i^1])
	}
	hdrOnly := func(hdr map[string]any) string {
		return signRaw(t, k.rsa1.priv, "RS256", encode(t, hdr, claims()))
	}

	tests := []struct {
		name    string
		auth    []string // Authorization header values; nil = none
		target  string   // request URL when not the default
		cookie  string
		errCode string
		msg     string // expected message ("" = don't check)
	}{
		{name: "no Authorization header", errCode: "", msg: "missing bearer token"},
		{name: "empty Authorization header", auth: []string{""}, msg: "missing bearer token"},
		{name: "Basic scheme", auth: []string{"Basic dXNlcjpwYXNz"}, msg: "bearer token required"},
		{name: "token without scheme", auth: []string{valid}, msg: "bearer token required"},
		{name: "Bearer without token", auth: []string{"Bearer"}, errCode: "invalid_token", msg: "malformed token"},
		{name: "Bearer with spaces only", auth: []string{"Bearer    "}, errCode: "invalid_token", msg: "malformed token"},
		{name: "two Authorization headers", auth: []string{"Bearer " + valid, "Bearer " + valid}, errCode: "invalid_request"},
		{name: "two tokens in one header", auth: []string{"Bearer " + valid + ", Bearer " + valid}, errCode: "invalid_token", msg: "malformed token"},
		{name: "token in query string", target: "http://gw/mcp?access_token=" + valid, msg: "missing bearer token"},
		{name: "token in cookie", cookie: "access_token=" + valid, msg: "missing bearer token"},

		{name: "alg none", auth: []string{"Bearer " + none("none", "")}, errCode: "invalid_token", msg: "malformed token"},
		{name: "alg none with signature", auth: []string{"Bearer " + none("none", parts[2])}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "alg None", auth: []string{"Bearer " + none("None", parts[2])}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "alg NONE", auth: []string{"Bearer " + none("NONE", parts[2])}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "alg nOnE", auth: []string{"Bearer " + none("nOnE", parts[2])}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "alg empty", auth: []string{"Bearer " + none("", parts[2])}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "alg missing", auth: []string{"Bearer " + hdrOnly(map[string]any{"kid": "k1"})}, errCode: "invalid_token", msg: "malformed token"},
		{name: "alg not a string", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": 1, "kid": "k1"})}, errCode: "invalid_token", msg: "malformed token"},
		{name: "alg rs256 lower case", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "rs256", "kid": "k1"})}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "ES512 not accepted", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "ES512", "kid": "k1"})}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "HS256 keyed with the PEM public key", auth: []string{"Bearer " + hs(t, "HS256", pemPub, "k1")}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "HS256 keyed with the DER public key", auth: []string{"Bearer " + hs(t, "HS256", der, "k1")}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "HS384 keyed with the modulus", auth: []string{"Bearer " + hs(t, "HS384", nBytes, "k1")}, errCode: "invalid_token", msg: "unsupported algorithm"},
		{name: "HS512 keyed with the PEM public key", auth: []string{"Bearer " + hs(t, "HS512", pemPub, "k1")}, errCode: "invalid_token", msg: "unsupported algorithm"},

		{name: "jwk header with the attacker's key", auth: []string{"Bearer " + sign(t, k.attacker, claims(), map[string]any{"jwk": k.attacker.jwk()})}, errCode: "invalid_token", msg: "invalid signature"},
		{name: "x5c header with the attacker's certificate", auth: []string{"Bearer " + sign(t, k.attacker, claims(), map[string]any{"x5c": []any{base64.StdEncoding.EncodeToString(certDER)}})}, errCode: "invalid_token", msg: "invalid signature"},
		{name: "jku header naming the attacker's JWKS", auth: []string{"Bearer " + sign(t, k.attacker.withKID("attacker"), claims(), map[string]any{"jku": attackerSrv.URL})}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "x5u header naming the attacker", auth: []string{"Bearer " + sign(t, k.attacker.withKID("attacker"), claims(), map[string]any{"x5u": attackerSrv.URL + "/cert.pem"})}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "jku with the known kid", auth: []string{"Bearer " + sign(t, k.attacker, claims(), map[string]any{"jku": attackerSrv.URL})}, errCode: "invalid_token", msg: "invalid signature"},

		{name: "unknown kid", auth: []string{"Bearer " + sign(t, k.rsa1.withKID("nope"), claims())}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "path-like kid", auth: []string{"Bearer " + sign(t, k.rsa1.withKID("../../../../etc/passwd"), claims())}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "URL kid", auth: []string{"Bearer " + sign(t, k.rsa1.withKID(attackerSrv.URL+"/jwks"), claims())}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "10 KB kid", auth: []string{"Bearer " + sign(t, k.rsa1.withKID(strings.Repeat("k", 10<<10)), claims())}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "missing kid", auth: []string{"Bearer " + sign(t, k.rsa1.withKID(""), claims())}, errCode: "invalid_token", msg: "token has no key id (kid)"},
		{name: "kid not a string", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": 1})}, errCode: "invalid_token", msg: "malformed token"},
		{name: "key of a weak (1024-bit) RSA JWK", auth: []string{"Bearer " + sign(t, k.weak, claims())}, errCode: "invalid_token", msg: "unknown signing key"},
		{name: "ES256 token naming an RSA key", auth: []string{"Bearer " + sign(t, k.ec256.withKID("k1"), claims())}, errCode: "invalid_token", msg: "signing key does not match the token algorithm"},
		{name: "RS256 token naming an EC key", auth: []string{"Bearer " + sign(t, k.rsa1.withKID("ec256"), claims())}, errCode: "invalid_token", msg: "signing key does not match the token algorithm"},
		{name: "PS256 token for a key pinned to RS256", auth: []string{"Bearer " + sign(t, k.rsa2.withKID("pinned").withAlg("PS256"), claims())}, errCode: "invalid_token", msg: "signing key does not match the token algorithm"},

		{name: "wrong iss", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("iss", "https://evil.example")))}, errCode: "invalid_token", msg: "issuer not accepted"},
		{name: "iss differs in case", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("iss", strings.ToUpper(testIssuer))))}, errCode: "invalid_token", msg: "issuer not accepted"},
		{name: "iss with trailing slash", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("iss", testIssuer+"/")))}, errCode: "invalid_token", msg: "issuer not accepted"},
		{name: "missing iss", auth: []string{"Bearer " + sign(t, k.rsa1, claims(del("iss")))}, errCode: "invalid_token", msg: "issuer not accepted"},
		{name: "iss a number", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("iss", 1)))}, errCode: "invalid_token", msg: "issuer not accepted"},
		{name: "wrong aud", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", "someone-else")))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "wrong aud list", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", []any{"a", "b"})))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "missing aud", auth: []string{"Bearer " + sign(t, k.rsa1, claims(del("aud")))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "aud a number", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", 42)))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "aud an empty list", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", []any{})))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "aud an empty string", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", "")))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "aud list with a number", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", []any{testAudience, 1})))}, errCode: "invalid_token", msg: "audience not accepted"},
		{name: "aud an object", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("aud", map[string]any{"a": testAudience})))}, errCode: "invalid_token", msg: "audience not accepted"},

		{name: "expired", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("exp", now-120)))}, errCode: "invalid_token", msg: "token expired"},
		{name: "missing exp", auth: []string{"Bearer " + sign(t, k.rsa1, claims(del("exp")))}, errCode: "invalid_token", msg: "token has no expiry (exp)"},
		{name: "exp a string", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("exp", "9999999999")))}, errCode: "invalid_token", msg: "token has an invalid time claim"},
		{name: "exp zero", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("exp", 0)))}, errCode: "invalid_token", msg: "token has an invalid time claim"},
		{name: "exp beyond year 9999", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("exp", json.Number("1e300"))))}, errCode: "invalid_token", msg: "token has an invalid time claim"},
		{name: "exp negative", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("exp", -1)))}, errCode: "invalid_token", msg: "token has an invalid time claim"},
		{name: "future nbf", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("nbf", now+300)))}, errCode: "invalid_token", msg: "token not valid yet"},
		{name: "future iat", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("iat", now+300)))}, errCode: "invalid_token", msg: "token issued in the future"},
		{name: "nbf a string", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("nbf", "0")))}, errCode: "invalid_token", msg: "token has an invalid time claim"},
		{name: "missing sub", auth: []string{"Bearer " + sign(t, k.rsa1, claims(del("sub")))}, errCode: "invalid_token", msg: "token has no subject (sub)"},
		{name: "sub a number", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("sub", 7)))}, errCode: "invalid_token", msg: "token has no subject (sub)"},

		{name: "tampered signature", auth: []string{"Bearer " + tamper(valid)}, errCode: "invalid_token", msg: "invalid signature"},
		{name: "non-canonical signature encoding", auth: []string{"Bearer " + lastChar(valid)}, errCode: "invalid_token"},
		{name: "tampered payload", auth: []string{"Bearer " + parts[0] + "." + b64u([]byte(`{"iss":"`+testIssuer+`","aud":"`+testAudience+`","sub":"system:serviceaccount:kube-system:admin","exp":9999999999}`)) + "." + parts[2]}, errCode: "invalid_token", msg: "invalid signature"},
		{name: "signed by another key with a known kid", auth: []string{"Bearer " + sign(t, k.attacker, claims())}, errCode: "invalid_token", msg: "invalid signature"},
		{name: "signature of another token", auth: []string{"Bearer " + parts[0] + "." + parts[1] + "." + strings.Split(sign(t, k.rsa1, claims(set("sub", "x"))), ".")[2]}, errCode: "invalid_token", msg: "invalid signature"},

		{name: "1 segment", auth: []string{"Bearer " + parts[0]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "2 segments", auth: []string{"Bearer " + parts[0] + "." + parts[1]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "2 segments with trailing dot", auth: []string{"Bearer " + parts[0] + "." + parts[1] + "."}, errCode: "invalid_token", msg: "malformed token"},
		{name: "4 segments", auth: []string{"Bearer " + valid + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "5 segments (JWE)", auth: []string{"Bearer " + b64u([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"k1"}`)) + ".a.b.c.d"}, errCode: "invalid_token", msg: "encrypted tokens (JWE) are not accepted"},
		{name: "enc header in 3 segments", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": "k1", "enc": "A256GCM"})}, errCode: "invalid_token", msg: "encrypted tokens (JWE) are not accepted"},
		{name: "6 segments", auth: []string{"Bearer " + valid + "." + valid}, errCode: "invalid_token", msg: "malformed token"},
		{name: "empty header segment", auth: []string{"Bearer ." + parts[1] + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "empty payload segment", auth: []string{"Bearer " + parts[0] + ".." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "JSON serialization (flattened)", auth: []string{"Bearer " + `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`}, errCode: "invalid_token", msg: "malformed token"},
		{name: "JSON serialization (general)", auth: []string{"Bearer " + `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`}, errCode: "invalid_token", msg: "malformed token"},
		{name: "1 MB of dots", auth: []string{"Bearer " + strings.Repeat(".", 1<<20)}, errCode: "invalid_token", msg: "token too large"},
		{name: "token over 16 KiB", auth: []string{"Bearer " + sign(t, k.rsa1, claims(set("pad", strings.Repeat("x", 16<<10))))}, errCode: "invalid_token", msg: "token too large"},
		{name: "padded base64", auth: []string{"Bearer " + parts[0] + "=." + parts[1] + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "standard base64 alphabet", auth: []string{"Bearer " + strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/"}, errCode: "invalid_token", msg: "malformed token"},
		{name: "control character", auth: []string{"Bearer " + valid + "\x00"}, errCode: "invalid_token", msg: "malformed token"},
		{name: "header not JSON", auth: []string{"Bearer " + b64u([]byte("not json")) + "." + parts[1] + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "header a JSON array", auth: []string{"Bearer " + b64u([]byte(`["RS256"]`)) + "." + parts[1] + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "header null", auth: []string{"Bearer " + b64u([]byte(`null`)) + "." + parts[1] + "." + parts[2]}, errCode: "invalid_token", msg: "malformed token"},
		{name: "claims not JSON", auth: []string{"Bearer " + signRaw(t, k.rsa1.priv, "RS256", parts[0]+"."+b64u([]byte("nope")))}, errCode: "invalid_token", msg: "malformed token"},
		{name: "claims a JSON array", auth: []string{"Bearer " + signRaw(t, k.rsa1.priv, "RS256", parts[0]+"."+b64u([]byte("[1]")))}, errCode: "invalid_token", msg: "malformed token"},
		{name: "crit header", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": "k1", "crit": []any{"exp"}, "exp": 1})}, errCode: "invalid_token", msg: "unsupported critical header"},
		{name: "crit b64 false", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": "k1", "crit": []any{"b64"}, "b64": false})}, errCode: "invalid_token", msg: "unsupported critical header"},
		{name: "b64 without crit", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": "k1", "b64": false})}, errCode: "invalid_token", msg: "unsupported token header"},
		{name: "zip header", auth: []string{"Bearer " + hdrOnly(map[string]any{"alg": "RS256", "kid": "k1", "zip": "DEF"})}, errCode: "invalid_token", msg: "unsupported token header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "http://gw/mcp"
			}
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(`{}`))
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			tok := strings.Join(tt.auth, "") + tt.target + tt.cookie
			if len(tok) > 64<<10 {
				tok = tok[:64<<10]
			}
			pe := wantRejected(t, p.do(r), tt.errCode, strings.TrimPrefix(tok, "Bearer "))
			if tt.msg != "" && pe.Message != tt.msg {
				t.Errorf("message = %q, want %q", pe.Message, tt.msg)
			}
		})
	}
	if n := attackerSrv.hits.Load(); n != 0 {
		t.Errorf("a URL named by a token was fetched %d times", n)
	}
	for _, path := range srv.seenPaths() {
		if path != "/" {
			t.Errorf("JWKS fetched at %q: a kid reached the URL", path)
		}
	}
}

func TestHMACNeverUsedEvenWithOctKey(t *testing.T) {
	// A JWKS that (wrongly) publishes a symmetric key: the key is skipped,
	// HS256 is refused before any key lookup.
	k := testKeys(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	body, _ := json.Marshal(map[string]any{"keys": []any{
		k.rsa1.jwk(),
		map[string]any{"kty": "oct", "kid": "hmac", "k": b64u(secret), "alg": "HS256"},
	}})
	srv := newJWKSServer(t)
	srv.setBody(body)
	p := mustPolicy(t, jwtConfig(srv.URL))
	tok := signRaw(t, secret, "HS256", encode(t, map[string]any{"alg": "HS256", "kid": "hmac"}, claims()))
	if pe := wantRejected(t, p.do(request(tok)), "invalid_token", tok); pe.Message != "unsupported algorithm" {
		t.Errorf("message %q", pe.Message)
	}
	// Even under an allowed alg name, an HMAC-signed token cannot verify.
	tok = signRaw(t, secret, "HS256", encode(t, map[string]any{"alg": "RS256", "kid": "hmac"}, claims()))
	wantRejected(t, p.do(request(tok)), "invalid_token", tok)
}

func TestErrorBodyFields(t *testing.T) {
	// The edge renders Header as is: keys must be canonical.
	pe := challenge("invalid_token", "token expired")
	if _, ok := pe.Header["Www-Authenticate"]; !ok {
		t.Errorf("header keys %v", pe.Header)
	}
	if got := pe.Header.Get("WWW-Authenticate"); got != `Bearer realm="agentgateway", error="invalid_token", error_description="token expired"` {
		t.Errorf("challenge = %q", got)
	}
	if got := challenge("", "missing bearer token").Header.Get("WWW-Authenticate"); got != `Bearer realm="agentgateway"` {
		t.Errorf("missing-token challenge = %q", got)
	}
	if pe.RPCCode() != policy.CodeUnauthorized {
		t.Errorf("rpc code %d", pe.RPCCode())
	}
}
