// Package devissuer is a local token issuer for DEVELOPMENT ONLY.
//
// It signs JSON Web Tokens shaped like Kubernetes ServiceAccount tokens
// (iss https://kubernetes.default.svc, aud agent-gateway, sub
// system:serviceaccount:<ns>:<name>, exp/iat/nbf, kid, and the
// "kubernetes.io" claim block), and serves its public key on loopback at
// /openid/v1/jwks with an OIDC discovery document at
// /.well-known/openid-configuration, as the Kubernetes API server does. The
// demo (`agentgateway demo`) points jwt-authn at it, and `agentgateway
// token --sub …` mints tokens for a running demo.
//
// The signing key is kept in a state directory (DefaultStateDir, or one
// given explicitly) as a PKCS#8 PEM file readable only by its owner, so
// that `agentgateway token` and a running demo sign with the same key.
// Anyone who can read that file can mint tokens the demo accepts: it must
// never be used for anything but local development.
package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/identity"
)

// Defaults of minted tokens: those of the user guide's ServiceAccount
// tokens.
const (
	DefaultIssuer   = "https://kubernetes.default.svc"
	DefaultAudience = "agent-gateway"
	DefaultTTL      = time.Hour
	// MaxTTL bounds a development token's lifetime.
	MaxTTL = 24 * time.Hour
	// DefaultAlg is the algorithm of generated keys (Kubernetes signs
	// ServiceAccount tokens with RS256).
	DefaultAlg = "RS256"
)

// The demo's identities: the user guide's three ServiceAccounts and one
// that no authorization rule mentions.
const (
	SubjectWeatherAgent      = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	SubjectPlanningAgent     = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	SubjectOrchestratorAgent = "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"
	SubjectUnknownAgent      = "system:serviceaccount:agent-core-infra:unknown-agent-sa"
)

// DemoSubjects lists the demo's identities.
var DemoSubjects = []string{SubjectWeatherAgent, SubjectPlanningAgent, SubjectOrchestratorAgent, SubjectUnknownAgent}

// State directory layout.
const (
	// StateDirName is the directory created under $XDG_STATE_HOME (or its
	// default, ~/.local/state).
	StateDirName = "agentgateway-demo"
	// KeyFileName is the signing key inside the state directory.
	KeyFileName = "signing-key.pem"
	// StateDirEnv overrides DefaultStateDir.
	StateDirEnv = "AGENTGATEWAY_DEMO_STATE_DIR"
	maxKeyFile  = 64 << 10
)

// DefaultStateDir is where the demo keeps its signing key:
// $AGENTGATEWAY_DEMO_STATE_DIR if set, else $XDG_STATE_HOME/agentgateway-demo,
// else ~/.local/state/agentgateway-demo, else (no home directory)
// <tmp>/agentgateway-demo-<uid>. A per-user directory is preferred to a
// shared temporary one so another local user cannot plant the directory.
func DefaultStateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, StateDirName)
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "state", StateDirName)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d", StateDirName, os.Getuid()))
}

// Key is a signing key with its algorithm and key id.
type Key struct {
	signer crypto.Signer
	alg    string
	kid    string
}

// GenerateKey creates a key for alg: "RS256" (RSA 2048) or "ES256"
// (P-256).
func GenerateKey(alg string) (*Key, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case "RS256":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q (RS256 or ES256)", alg)
	}
	if err != nil {
		return nil, err
	}
	return newKey(s)
}

func newKey(s crypto.Signer) (*Key, error) {
	k := &Key{signer: s}
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small (2048 at least)", pub.N.BitLen())
		}
		k.alg = "RS256"
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("EC key is not on P-256")
		}
		k.alg = "ES256"
	default:
		return nil, fmt.Errorf("unsupported key type %T (RSA or EC P-256)", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	// The key id Kubernetes uses: base64url(SHA-256(PKIX public key)).
	sum := sha256.Sum256(der)
	k.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	return k, nil
}

// ParseKey reads a PKCS#8 PEM private key (RSA of 2048 bits or more, or EC
// P-256).
func ParseKey(b []byte) (*Key, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM \"PRIVATE KEY\" block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", priv)
	}
	return newKey(s)
}

// MarshalPEM returns the private key as PKCS#8 PEM.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Alg is the JWS algorithm the key signs with.
func (k *Key) Alg() string { return k.alg }

// KID is the key id: base64url(SHA-256(PKIX public key)), as Kubernetes
// computes it.
func (k *Key) KID() string { return k.kid }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// JWKS returns the public key set as JSON.
func (k *Key) JWKS() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []any{JWK(k.signer.Public(), k.kid, k.alg)}})
	return b
}

// JWK returns pub (RSA, or EC P-256) as a JSON Web Key for signatures with
// key id kid and algorithm alg.
func JWK(pub crypto.PublicKey, kid, alg string) map[string]string {
	jwk := map[string]string{"use": "sig", "kid": kid, "alg": alg}
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		jwk["kty"] = "RSA"
		jwk["n"] = b64(pub.N.Bytes())
		jwk["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, _ := pub.Bytes() // 0x04 || X || Y, 32 bytes each
		jwk["kty"] = "EC"
		jwk["crv"] = "P-256"
		jwk["x"] = b64(raw[1:33])
		jwk["y"] = b64(raw[33:65])
	}
	return jwk
}

// LoadKey reads the signing key of a state directory. It refuses a key
// file that other users can read or write (except on Windows, where modes
// do not say that).
func LoadKey(dir string) (*Key, error) {
	path := filepath.Join(dir, KeyFileName)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no development signing key at %s: start `agentgateway demo` first (it creates one), or pass the demo's --state-dir: %w", path, err)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by other users (mode %s): anyone who reads it can mint tokens; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxKeyFile)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to let the demo create a new key)", path, err)
	}
	return k, nil
}

// SaveKey writes k to the state directory (created 0700) as a 0600 file.
// An existing key file is kept, not overwritten: created is false and the
// existing key is returned, so two demos started together agree on one
// key.
func SaveKey(dir string, k *Key) (saved *Key, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	b, err := k.MarshalPEM()
	if err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*.tmp") // mode 0600
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, false, err
	}
	final := filepath.Join(dir, KeyFileName)
	// Link fails if the file exists: create-if-absent, atomically.
	switch err := os.Link(tmp.Name(), final); {
	case err == nil:
		return k, true, nil
	case errors.Is(err, fs.ErrExist):
		existing, err := LoadKey(dir)
		return existing, false, err
	default:
		// No hard links on this file system: fall back to a rename unless
		// a key appeared meanwhile.
		if _, serr := os.Lstat(final); serr == nil {
			existing, err := LoadKey(dir)
			return existing, false, err
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
}

// LoadOrCreateKey returns the state directory's key, generating and saving
// one (with alg) if there is none. A key file that exists but cannot be
// used is an error: it is never replaced silently.
func LoadOrCreateKey(dir, alg string) (k *Key, created bool, err error) {
	if _, err := os.Lstat(filepath.Join(dir, KeyFileName)); err == nil {
		k, err := LoadKey(dir)
		return k, false, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	nk, err := GenerateKey(alg)
	if err != nil {
		return nil, false, err
	}
	return SaveKey(dir, nk)
}

// TokenOptions describe a token to mint.
type TokenOptions struct {
	// Subject is the "sub" claim (required). A Kubernetes ServiceAccount
	// username, system:serviceaccount:<namespace>:<name>, also gets the
	// "kubernetes.io" claim block.
	Subject string
	// Issuer is the "iss" claim (default DefaultIssuer).
	Issuer string
	// Audiences is the "aud" claim (default [DefaultAudience]).
	Audiences []string
	// TTL is the lifetime (default DefaultTTL, at most MaxTTL).
	TTL time.Duration
	// Now is the issue time (default time.Now()).
	Now time.Time
}

// Mint signs a token shaped like a Kubernetes ServiceAccount token.
func (k *Key) Mint(o TokenOptions) (string, error) {
	if o.Subject == "" {
		return "", errors.New("a subject (sub) is required")
	}
	if len(o.Subject) > 1024 || strings.ContainsFunc(o.Subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", errors.New("subject is longer than 1024 bytes or contains control characters")
	}
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if len(o.Audiences) == 0 {
		o.Audiences = []string{DefaultAudience}
	}
	for _, a := range o.Audiences {
		if a == "" {
			return "", errors.New("an audience must not be empty")
		}
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < time.Second || o.TTL > MaxTTL {
		return "", fmt.Errorf("ttl %s is out of range 1s-%s", o.TTL, MaxTTL)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	now := o.Now.Unix()
	claims := jwtlib.MapClaims{
		"iss": o.Issuer,
		"sub": o.Subject,
		"aud": o.Audiences,
		"iat": now,
		"nbf": now,
		"exp": o.Now.Add(o.TTL).Unix(),
		"jti": uuid(randomBytes()),
	}
	if strings.HasPrefix(o.Subject, identity.ServiceAccountPrefix) {
		ns, name, ok := identity.ParseServiceAccount(o.Subject)
		if !ok {
			return "", fmt.Errorf("subject %q starts with %q but is not system:serviceaccount:<namespace>:<name> with valid Kubernetes names", o.Subject, identity.ServiceAccountPrefix)
		}
		// A stable uid per ServiceAccount, as the API server would have.
		sum := sha256.Sum256([]byte("agentgateway-devissuer/" + ns + "/" + name))
		claims["kubernetes.io"] = map[string]any{
			"namespace":      ns,
			"serviceaccount": map[string]any{"name": name, "uid": uuid(sum[:16])},
		}
	}
	var m jwtlib.SigningMethod = jwtlib.SigningMethodRS256
	if k.alg == "ES256" {
		m = jwtlib.SigningMethodES256
	}
	t := jwtlib.NewWithClaims(m, claims)
	// Kubernetes' header: alg and kid, no typ.
	t.Header = map[string]any{"alg": k.alg, "kid": k.kid}
	return t.SignedString(k.signer)
}

func randomBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// uuid formats 16 bytes as an RFC 9562 version-4 UUID.
func uuid(b []byte) string {
	u := make([]byte, 16)
	copy(u, b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
