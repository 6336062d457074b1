package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// FuzzVerify feeds token strings to the verifier: it must never panic, and
// whatever it accepts must carry a signature that the standard library
// verifies, with the test keys, over the exact signing input.
func FuzzVerify(f *testing.F) {
	k := testKeys(f)
	srv := newJWKSServer(f, k.rsa1, k.ec256, k.ed)
	p := mustPolicy(f, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.MinRefreshInterval = config.Duration(time.Hour)
	}))
	public := map[string]crypto.PublicKey{
		"k1": k.rsa1.priv.Public(), "ec256": k.ec256.priv.Public(), "ed": k.ed.priv.Public(),
	}

	exp := time.Now().Add(24 * time.Hour).Unix()
	c := claims(set("exp", exp))
	valid := sign(f, k.rsa1, c)
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		sign(f, k.rsa1.withAlg("PS256"), c),
		sign(f, k.ec256, c),
		sign(f, k.ed, c),
		sign(f, k.rsa1, c, map[string]any{"jku": "http://127.0.0.1:1/", "jwk": k.attacker.jwk()}),
		sign(f, k.attacker, c),
		sign(f, k.rsa1.withKID("nope"), c),
		encode(f, map[string]any{"alg": "none", "kid": "k1"}, c) + ".",
		encode(f, map[string]any{"alg": "HS256", "kid": "k1"}, c) + "." + parts[2],
		parts[0] + "." + parts[1],
		valid + "." + parts[2] + "." + parts[2],
		"", ".", "..", "....", "a.b.c", strings.Repeat(".", 100),
		`{"payload":"` + parts[1] + `"}`,
	} {
		f.Add(seed)
	}

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		prin, perr := p.v.verify(ctx, tok)
		if perr != nil {
			if prin != nil || perr.Status != 401 && perr.Status != 503 {
				t.Fatalf("rejection %v with principal %v", perr, prin)
			}
			assertNoLeak(t, tok, perr.Error(), perr.Header.Get("WWW-Authenticate"))
			return
		}
		if prin == nil || prin.Subject == "" {
			t.Fatalf("accepted without a principal")
		}
		// Independent check with the standard library only.
		segs := strings.Split(tok, ".")
		if len(segs) != 3 {
			t.Fatalf("accepted a token with %d segments", len(segs))
		}
		hb, err := base64.RawURLEncoding.Strict().DecodeString(segs[0])
		if err != nil {
			t.Fatalf("accepted an undecodable header: %v", err)
		}
		var hdr struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		}
		if err := json.Unmarshal(hb, &hdr); err != nil {
			t.Fatalf("accepted a non-JSON header: %v", err)
		}
		sig, err := base64.RawURLEncoding.Strict().DecodeString(segs[2])
		if err != nil {
			t.Fatalf("accepted an undecodable signature: %v", err)
		}
		pub, ok := public[hdr.Kid]
		if !ok {
			t.Fatalf("accepted a token with kid %q not in the test JWKS", hdr.Kid)
		}
		if !stdlibVerify(hdr.Alg, pub, []byte(segs[0]+"."+segs[1]), sig) {
			t.Fatalf("accepted a token that is not signed by the test key (alg %q kid %q)", hdr.Alg, hdr.Kid)
		}
	})
}

func stdlibVerify(alg string, pub crypto.PublicKey, input, sig []byte) bool {
	hashes := map[string]crypto.Hash{
		"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
		"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
		"ES256": crypto.SHA256, "ES384": crypto.SHA384,
	}
	switch key := pub.(type) {
	case *rsa.PublicKey:
		h, ok := hashes[alg]
		if !ok || alg[0] != 'R' && alg[0] != 'P' {
			return false
		}
		hh := h.New()
		hh.Write(input)
		d := hh.Sum(nil)
		if alg[0] == 'R' {
			return rsa.VerifyPKCS1v15(key, h, d, sig) == nil
		}
		return rsa.VerifyPSS(key, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		d := sha256.Sum256(input)
		return ecdsa.Verify(key, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case ed25519.PublicKey:
		return alg == "EdDSA" && ed25519.Verify(key, input, sig)
	}
	return false
}
