package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
)

func TestParseJWK(t *testing.T) {
	k := testKeys(t)
	rsaJWK, ecJWK, ec384JWK, edJWK := k.rsa1.jwk(), k.ec256.jwk(), k.ec384.jwk(), k.ed.jwk()
	with := func(base map[string]any, kv ...any) json.RawMessage {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	ok := []struct {
		name string
		data json.RawMessage
		kty  string
		alg  string // an alg the key must fit
	}{
		{"RSA", with(rsaJWK), "RSA", "PS512"},
		{"RSA without use", with(rsaJWK, "use", nil), "RSA", "RS256"},
		{"RSA with alg", with(rsaJWK, "alg", "RS384"), "RSA", "RS384"},
		{"RSA with key_ops verify", with(rsaJWK, "key_ops", []string{"verify"}), "RSA", "RS256"},
		{"RSA with x5c (ignored)", with(rsaJWK, "x5c", []string{"MIIB"}, "x5u", "https://x"), "RSA", "RS256"},
		{"RSA with padding", with(rsaJWK, "e", "AQAB"), "RSA", "RS256"},
		{"P-256", with(ecJWK), "EC", "ES256"},
		{"P-384", with(ec384JWK), "EC", "ES384"},
		{"Ed25519", with(edJWK), "OKP", "EdDSA"},
	}
	for _, tt := range ok {
		key, err := parseJWK(tt.data)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if key.kty != tt.kty || !key.fits(tt.alg) {
			t.Errorf("%s: kty %s does not fit %s", tt.name, key.kty, tt.alg)
		}
		switch key.pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			t.Errorf("%s: key type %T", tt.name, key.pub)
		}
	}

	offCurve := maps.Clone(ecJWK)
	offCurve["y"] = offCurve["x"]
	bad := []struct {
		name string
		data json.RawMessage
		want string
	}{
		{"not an object", json.RawMessage(`[1]`), "not a JSON object"},
		{"null", json.RawMessage(`null`), "not a JSON object"},
		{"kid a number", with(rsaJWK, "kid", 1), "wrong type"},
		{"no kid", with(rsaJWK, "kid", nil), "no kid"},
		{"long kid", with(rsaJWK, "kid", strings.Repeat("k", 257)), "kid longer than 256"},
		{"use enc", with(rsaJWK, "use", "enc"), `use is "enc"`},
		{"key_ops encrypt", with(rsaJWK, "key_ops", []string{"encrypt"}), "key_ops"},
		{"alg HS256", with(rsaJWK, "alg", "HS256"), `alg "HS256" is not accepted`},
		{"alg none", with(rsaJWK, "alg", "none"), `alg "none" is not accepted`},
		{"alg of another kty", with(rsaJWK, "alg", "ES256"), "does not fit"},
		{"EC alg of another curve", with(ecJWK, "alg", "ES384"), "does not fit"},
		{"oct", json.RawMessage(`{"kty":"oct","kid":"h","k":"c2VjcmV0"}`), "symmetric"},
		{"oct without k", json.RawMessage(`{"kty":"oct","kid":"h"}`), "symmetric"},
		{"RSA private key", with(rsaJWK, "d", "AQAB"), "private key material"},
		{"EC private key", with(ecJWK, "d", "AQAB"), "private key material"},
		{"no kty", with(rsaJWK, "kty", nil), "no kty"},
		{"unknown kty", with(rsaJWK, "kty", "XYZ"), "not supported"},
		{"RSA 1024", json.RawMessage(mustJSON(k.weak.jwk())), "1024 bits"},
		{"RSA bad n", with(rsaJWK, "n", "!!"), "n is not"},
		{"RSA missing e", with(rsaJWK, "e", nil), "e is not"},
		{"RSA e=1", with(rsaJWK, "e", "AQ"), "exponent"},
		{"RSA even e", with(rsaJWK, "e", "AQAA"), "exponent"},
		{"RSA huge e", with(rsaJWK, "e", "AQAAAAAAAAAB"), "exponent"},
		{"RSA even n", with(rsaJWK, "n", b64u(append([]byte{0x80}, make([]byte, 255)...))), "even"},
		{"RSA n too big", with(rsaJWK, "n", b64u(append([]byte{0x80}, make([]byte, 1024)...))), "bits"},
		{"EC P-521", with(ecJWK, "crv", "P-521"), "not supported"},
		{"EC secp256k1", with(ecJWK, "crv", "secp256k1"), "not supported"},
		{"EC short x", with(ecJWK, "x", b64u(make([]byte, 31))), "x is not a 32-byte"},
		{"EC missing y", with(ecJWK, "y", nil), "y is not"},
		{"EC off curve", json.RawMessage(mustJSON(offCurve)), "not on the curve"},
		{"EC P-384 coordinates on P-256", with(ec384JWK, "crv", "P-256"), "x is not a 32-byte"},
		{"Ed448", with(edJWK, "crv", "Ed448"), "not supported"},
		{"X25519", with(edJWK, "crv", "X25519"), "not supported"},
		{"Ed25519 short x", with(edJWK, "x", b64u(make([]byte, 31))), "x is not a 32-byte"},
		{"Ed25519 private", with(edJWK, "d", b64u(make([]byte, 32))), "private key material"},
	}
	for _, tt := range bad {
		_, err := parseJWK(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseJWKS(t *testing.T) {
	k := testKeys(t)
	body := mustJSON(map[string]any{"keys": []any{
		k.rsa1.jwk(), k.rsa1.jwk(), // duplicate: kept once
		k.ec256.withKID("k1").jwk(), // same kid, other kty: both kept
		k.weak.jwk(),
		map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
		"not a key",
	}})
	ks, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if ks.size() != 2 || len(ks.byKID["k1"]) != 2 {
		t.Errorf("keys: %v", ks.byKID)
	}
	if len(ks.skipped) != 3 {
		t.Errorf("skipped: %q", ks.skipped)
	}
	if keys, st := match(ks, "k1", "ES256"); st != keyFound || len(keys) != 1 || keys[0].kty != "EC" {
		t.Errorf("match ES256: %v %v", keys, st)
	}
	if _, st := match(ks, "k1", "EdDSA"); st != keyMismatch {
		t.Errorf("match EdDSA: %v", st)
	}
	if _, st := match(ks, "k9", "RS256"); st != keyUnknown {
		t.Errorf("match unknown: %v", st)
	}
	// The id depends on the keys, not on their order or on skipped ones.
	ks2, _ := parseJWKS(mustJSON(map[string]any{"keys": []any{k.ec256.withKID("k1").jwk(), k.rsa1.jwk()}}))
	if ks2.id != ks.id {
		t.Error("same keys, different id")
	}
	ks3, _ := parseJWKS(mustJSON(map[string]any{"keys": []any{k.rsa1.jwk()}}))
	if ks3.id == ks.id {
		t.Error("different keys, same id")
	}
	// Too many keys are bounded.
	many := []any{}
	for i := range maxKeys + 5 {
		many = append(many, k.ed.withKID(strings.Repeat("x", i+1)).jwk())
	}
	ks4, err := parseJWKS(mustJSON(map[string]any{"keys": many}))
	if err != nil || ks4.size() != maxKeys || len(ks4.skipped) != 5 {
		t.Errorf("many keys: size %d skipped %d err %v", ks4.size(), len(ks4.skipped), err)
	}
	// The list of skipped keys is bounded.
	bad := []any{}
	for range 100 {
		bad = append(bad, map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"})
	}
	ks5, err := parseJWKS(mustJSON(map[string]any{"keys": bad}))
	if err != nil || len(ks5.skipped) != maxSkippedListed+1 || ks5.skipped[maxSkippedListed] != "and 80 more" {
		t.Errorf("skipped list: %d %q", len(ks5.skipped), ks5.skipped[len(ks5.skipped)-1])
	}
}

func TestTokenCache(t *testing.T) {
	c := newTokenCache(16)
	now := time.Now()
	p := &identity.Principal{Subject: "s"}
	c.put("tok", p, 1, now.Add(time.Minute), now)
	if got := c.get("tok", 1, now); got != p {
		t.Fatal("miss")
	}
	if c.get("tok", 2, now) != nil {
		t.Error("hit across key set generations")
	}
	c.put("tok", p, 1, now.Add(time.Minute), now)
	if c.get("tok", 1, now.Add(time.Minute)) != nil {
		t.Error("hit at exp")
	}
	if c.get("other", 1, now) != nil {
		t.Error("hit for another token")
	}
	c.put("expired", p, 1, now, now)
	if c.len() != 0 {
		t.Errorf("expired token cached (%d entries)", c.len())
	}
	for i := range 100 {
		c.put(strings.Repeat("t", i+1), p, 1, now.Add(time.Minute), now)
		if c.len() > 16 {
			t.Fatalf("cache grew to %d", c.len())
		}
	}
	// Keys are HMACs: no raw token is stored.
	c.mu.Lock()
	for k := range c.m {
		if strings.Contains(string(k[:]), "ttt") {
			t.Error("raw token in the cache")
		}
	}
	c.mu.Unlock()
}

func TestCheckShape(t *testing.T) {
	for tok, want := range map[string]string{
		"a.b.c":        "",
		"a.b.c.d.e":    "encrypted tokens (JWE) are not accepted",
		"a.b":          "malformed token",
		"a.b.c.d":      "malformed token",
		"a.b.c.d.e.f":  "malformed token",
		"":             "malformed token",
		"..":           "malformed token",
		"a.b.":         "malformed token",
		"a b.c.d":      "malformed token",
		"a=.b.c":       "malformed token",
		"{\"a\":1}":    "malformed token",
		"a.b.c\n":      "malformed token",
		"a.b.c\u00e9":  "malformed token",
		"A-_z.0-9.x_Y": "",
	} {
		if got := checkShape(tok); got != want {
			t.Errorf("checkShape(%q) = %q, want %q", tok, got, want)
		}
	}
}
