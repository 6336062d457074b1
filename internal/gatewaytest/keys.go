package gatewaytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/devissuer"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// Key is a token signing key and its key id: RS256 (RSA 2048) or ES256
// (EC P-256).
type Key struct {
	KID    string
	Signer crypto.Signer
}

// NewRSAKey generates an RS256 key with key id kid.
func NewRSAKey(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{KID: kid, Signer: k}
}

// NewECKey generates an ES256 key with key id kid.
func NewECKey(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{KID: kid, Signer: k}
}

// Alg is the JWS algorithm the key signs with.
func (k *Key) Alg() string {
	if _, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		return "ES256"
	}
	return "RS256"
}

// JWK is the public key as a JSON Web Key with use "sig", its alg and
// its kid.
func (k *Key) JWK() map[string]string { return devissuer.JWK(k.Signer.Public(), k.KID, k.Alg()) }

// JWKS is the JSON Web Key Set of keys.
func JWKS(keys ...*Key) []byte {
	jwks := make([]any, len(keys))
	for i, k := range keys {
		jwks[i] = k.JWK()
	}
	b, _ := json.Marshal(map[string]any{"keys": jwks})
	return b
}

// Sign returns a token with claims, signed by k, with k's kid in its
// header. It fails the test on an error: from a goroutine other than the
// test's, use Token.
func (k *Key) Sign(t testing.TB, claims jwtlib.MapClaims) string {
	t.Helper()
	s, err := k.Token(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Token is Sign returning its error.
func (k *Key) Token(claims jwtlib.MapClaims) (string, error) {
	var m jwtlib.SigningMethod = jwtlib.SigningMethodRS256
	if k.Alg() == "ES256" {
		m = jwtlib.SigningMethodES256
	}
	tok := jwtlib.NewWithClaims(m, claims)
	tok.Header["kid"] = k.KID
	return tok.SignedString(k.Signer)
}

// Issuer is a JWKS endpoint on loopback serving one key, which signs the
// issuer's tokens.
type Issuer struct {
	*Key
	// URL is the JWKS document's URL (every path of the server serves
	// it).
	URL string
}

// StartIssuer serves the JWKS of k on loopback until the test ends.
func StartIssuer(t testing.TB, k *Key) *Issuer {
	t.Helper()
	doc := JWKS(k)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return &Issuer{Key: k, URL: srv.URL + "/jwks"}
}
