package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// Algorithms accepted in a token's "alg" header, compared exactly (case
// sensitive). Never "none", never HMAC.
var allowedAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

func algAllowed(alg string) bool { return slices.Contains(allowedAlgs, alg) }

// Key limits.
const (
	minRSABits = 2048
	maxRSABits = 8192 // bounds the cost of one verification
	maxKIDLen  = 256
	maxKeys    = 256 // usable keys kept from one JWKS
	// maxSkippedListed bounds the skipped keys named in a log line.
	maxSkippedListed = 20
)

// jwk is one usable verification key from a JWKS.
type jwk struct {
	kid string
	kty string // RSA, EC, OKP
	crv string // P-256, P-384, Ed25519; "" for RSA
	alg string // optional; when set the token's alg must equal it
	pub crypto.PublicKey
	// id identifies the key material (kid, kty, crv, alg and public key
	// bytes), so two fetches can be compared.
	id string
}

// fits reports whether a token signed with alg may be verified with k:
// the JWK's alg (when present) must equal it and its kty/crv must be the
// one the algorithm uses.
func (k *jwk) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	return ktyFits(k.kty, k.crv, alg)
}

func ktyFits(kty, crv, alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return kty == "RSA"
	case "ES256":
		return kty == "EC" && crv == "P-256"
	case "ES384":
		return kty == "EC" && crv == "P-384"
	case "EdDSA":
		return kty == "OKP" && crv == "Ed25519"
	}
	return false
}

// rawJWK holds the members of a JWK the gateway reads. Unknown members
// (x5c, x5t, x5u, ...) are ignored: certificates in a JWKS are not
// validated and never fetched.
type rawJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// privateMembers are JWK members that only private or symmetric keys have.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWK parses one key of a JWKS. An error means the key is skipped;
// its text names the kid (from the JWKS, never from a token) and why.
func parseJWK(data json.RawMessage) (*jwk, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return nil, errors.New("key is not a JSON object")
	}
	var r rawJWK
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errors.New("key has a member of the wrong type")
	}
	name := "key"
	if r.Kid != "" {
		name = fmt.Sprintf("key %q", truncate(r.Kid, 64))
	}
	fail := func(format string, args ...any) (*jwk, error) {
		return nil, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			if r.Kty == "oct" {
				return fail("symmetric (oct) keys are never used")
			}
			return fail("contains private key material (%q); refusing it, the key must be considered compromised", m)
		}
	}
	switch {
	case r.Kid == "":
		return fail("no kid (tokens select keys by kid)")
	case len(r.Kid) > maxKIDLen:
		return fail("kid longer than %d bytes", maxKIDLen)
	case r.Use != "" && r.Use != "sig":
		return fail("use is %q, not \"sig\"", r.Use)
	case r.KeyOps != nil && !slices.Contains(r.KeyOps, "verify"):
		return fail("key_ops does not contain \"verify\"")
	case r.Alg != "" && !algAllowed(r.Alg):
		return fail("alg %q is not accepted", truncate(r.Alg, 32))
	}
	k := &jwk{kid: r.Kid, kty: r.Kty, alg: r.Alg}
	var material []byte
	switch r.Kty {
	case "RSA":
		pub, err := parseRSA(r.N, r.E)
		if err != nil {
			return fail("%v", err)
		}
		k.pub = pub
		material = append(pub.N.Bytes(), big.NewInt(int64(pub.E)).Bytes()...)
	case "EC":
		pub, err := parseEC(r.Crv, r.X, r.Y)
		if err != nil {
			return fail("%v", err)
		}
		k.crv = r.Crv
		k.pub = pub
		material, _ = pub.Bytes()
	case "OKP":
		if r.Crv != "Ed25519" {
			return fail("OKP curve %q is not supported (only Ed25519)", truncate(r.Crv, 32))
		}
		x, err := b64(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return fail("x is not a %d-byte base64url value", ed25519.PublicKeySize)
		}
		k.crv = r.Crv
		k.pub = ed25519.PublicKey(x)
		material = x
	case "oct":
		return fail("symmetric (oct) keys are never used")
	case "":
		return fail("no kty")
	default:
		return fail("kty %q is not supported", truncate(r.Kty, 32))
	}
	if r.Alg != "" && !ktyFits(k.kty, k.crv, r.Alg) {
		return fail("alg %s does not fit kty %s %s", r.Alg, k.kty, k.crv)
	}
	sum := sha256.Sum256(material)
	k.id = strings.Join([]string{k.kid, k.kty, k.crv, k.alg, hex.EncodeToString(sum[:])}, "\x00")
	return k, nil
}

func parseRSA(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := b64(n64)
	if err != nil || len(nb) == 0 {
		return nil, errors.New("n is not a base64url value")
	}
	eb, err := b64(e64)
	if err != nil || len(eb) == 0 {
		return nil, errors.New("e is not a base64url value")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus has %d bits (accepted: %d-%d)", bits, minRSABits, maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA modulus is even")
	}
	e := new(big.Int).SetBytes(eb)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("RSA exponent is not an odd number between 3 and 2^31-1")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func parseEC(crv, x64, y64 string) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	var size int
	switch crv {
	case "P-256":
		curve, size = elliptic.P256(), 32
	case "P-384":
		curve, size = elliptic.P384(), 48
	default:
		return nil, fmt.Errorf("EC curve %q is not supported (P-256, P-384)", truncate(crv, 32))
	}
	x, err := b64(x64)
	if err != nil || len(x) != size {
		return nil, fmt.Errorf("x is not a %d-byte base64url value", size)
	}
	y, err := b64(y64)
	if err != nil || len(y) != size {
		return nil, fmt.Errorf("y is not a %d-byte base64url value", size)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, errors.New("point is not on the curve")
	}
	return pub, nil
}

// b64 decodes unpadded base64url strictly. Trailing "=" padding, which
// some issuers add, is tolerated.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}

// keySet is one successfully fetched JWKS.
type keySet struct {
	byKID map[string][]*jwk
	// id identifies the usable keys; it changes when a key is added,
	// removed or changed.
	id string
	// skipped lists keys that were not usable, with the reason.
	skipped []string
}

// parseJWKS parses a JWK Set document. The document must be a JSON object
// with a "keys" array; keys that cannot be used are skipped (and listed).
func parseJWKS(body []byte) (*keySet, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return nil, errors.New("response is not a JSON object")
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, errors.New(`response has no "keys" member`)
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		return nil, errors.New(`"keys" is not an array`)
	}
	ks := &keySet{byKID: map[string][]*jwk{}}
	var ids []string
	seen := map[string]bool{}
	skipped := 0
	skip := func(i int, err error) {
		if skipped++; skipped <= maxSkippedListed {
			ks.skipped = append(ks.skipped, fmt.Sprintf("keys[%d]: %v", i, err))
		}
	}
	for i, data := range keys {
		k, err := parseJWK(data)
		if err != nil {
			skip(i, err)
			continue
		}
		if seen[k.id] {
			continue
		}
		if len(ids) >= maxKeys {
			skip(i, fmt.Errorf("more than %d usable keys", maxKeys))
			continue
		}
		seen[k.id] = true
		ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
		ids = append(ids, k.id)
	}
	if skipped > maxSkippedListed {
		ks.skipped = append(ks.skipped, fmt.Sprintf("and %d more", skipped-maxSkippedListed))
	}
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	ks.id = hex.EncodeToString(sum[:])
	return ks, nil
}

// kids returns the sorted key ids of the set.
func (ks *keySet) kids() []string {
	out := make([]string, 0, len(ks.byKID))
	for kid := range ks.byKID {
		out = append(out, truncate(kid, 64))
	}
	sort.Strings(out)
	return out
}

func (ks *keySet) size() int {
	n := 0
	for _, l := range ks.byKID {
		n += len(l)
	}
	return n
}

// truncate shortens s for log lines.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
