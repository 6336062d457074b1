package devissuer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	jwtpolicy "github.com/agentgateway-go/agentgateway/internal/policy/jwt"
)

var (
	rsaOnce sync.Once
	rsaKey  *Key
)

// testRSAKey generates one RSA key per test binary (RSA is slow).
func testRSAKey(t *testing.T) *Key {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = GenerateKey("RS256"); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func TestMintShapedLikeAServiceAccountToken(t *testing.T) {
	for _, k := range []*Key{testRSAKey(t), mustKey(t, "ES256")} {
		t.Run(k.Alg(), func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			tok, err := k.Mint(TokenOptions{Subject: SubjectWeatherAgent, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			claims := jwtlib.MapClaims{}
			parsed, err := jwtlib.NewParser(jwtlib.WithTimeFunc(func() time.Time { return now })).
				ParseWithClaims(tok, claims, func(*jwtlib.Token) (any, error) { return k.Public(), nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(parsed.Header) != 2 || parsed.Header["alg"] != k.Alg() || parsed.Header["kid"] != k.KID() {
				t.Errorf("header = %v, want alg and kid only", parsed.Header)
			}
			want := map[string]any{
				"iss": DefaultIssuer, "sub": SubjectWeatherAgent, "aud": []any{DefaultAudience},
				"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix()),
			}
			for name, v := range want {
				if got, _ := json.Marshal(claims[name]); string(got) != mustJSON(t, v) {
					t.Errorf("%s = %s, want %s", name, got, mustJSON(t, v))
				}
			}
			if jti, _ := claims["jti"].(string); len(jti) != 36 {
				t.Errorf("jti = %v", claims["jti"])
			}
			kio, _ := claims["kubernetes.io"].(map[string]any)
			sa, _ := kio["serviceaccount"].(map[string]any)
			if kio["namespace"] != "agent-core-infra" || sa["name"] != "ekspoc-v6-kagent-agent-sa" || len(sa["uid"].(string)) != 36 {
				t.Errorf("kubernetes.io = %v", kio)
			}
			// The uid is stable per ServiceAccount, the jti is not.
			tok2, _ := k.Mint(TokenOptions{Subject: SubjectWeatherAgent, Now: now})
			c2 := jwtlib.MapClaims{}
			_, _, _ = jwtlib.NewParser().ParseUnverified(tok2, c2)
			if c2["kubernetes.io"].(map[string]any)["serviceaccount"].(map[string]any)["uid"] != sa["uid"] || c2["jti"] == claims["jti"] {
				t.Error("uid not stable or jti repeated")
			}
		})
	}
}

func TestMintOptionsAndErrors(t *testing.T) {
	k := mustKey(t, "ES256")
	tok, err := k.Mint(TokenOptions{Subject: "alice", Issuer: "https://issuer.example", Audiences: []string{"a", "b"}, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := jwtlib.MapClaims{}
	if _, _, err := jwtlib.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != "https://issuer.example" || c["kubernetes.io"] != nil || len(c["aud"].([]any)) != 2 {
		t.Errorf("claims = %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 300 {
		t.Errorf("exp-iat = %v", exp-iat)
	}
	for name, o := range map[string]TokenOptions{
		"no subject":         {},
		"bad ServiceAccount": {Subject: "system:serviceaccount:Bad_NS:x"},
		"short SA subject":   {Subject: "system:serviceaccount:ns"},
		"control character":  {Subject: "a\nb"},
		"ttl too long":       {Subject: "a", TTL: 25 * time.Hour},
		"ttl too short":      {Subject: "a", TTL: time.Millisecond},
		"empty audience":     {Subject: "a", Audiences: []string{""}},
	} {
		if _, err := k.Mint(o); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}

func TestKeyIDIsTheKubernetesOne(t *testing.T) {
	k := mustKey(t, "ES256")
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if k.KID() != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("kid = %s", k.KID())
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("%v %s", err, k.JWKS())
	}
	if j := set.Keys[0]; j["kid"] != k.KID() || j["kty"] != "EC" || j["alg"] != "ES256" || j["use"] != "sig" || j["d"] != "" {
		t.Errorf("jwk = %v", j)
	}
	if _, err := GenerateKey("HS256"); err == nil {
		t.Error("HS256 key generated")
	}
}

func TestStateDirKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := LoadKey(dir); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "agentgateway demo") {
		t.Fatalf("LoadKey of an empty dir: %v", err)
	}
	k, created, err := LoadOrCreateKey(dir, "ES256")
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(filepath.Join(dir, KeyFileName))
		di, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("modes: file %v dir %v", fi.Mode().Perm(), di.Mode().Perm())
		}
	}
	again, created, err := LoadOrCreateKey(dir, "RS256")
	if err != nil || created || again.KID() != k.KID() {
		t.Fatalf("second LoadOrCreateKey: created=%v err=%v", created, err)
	}
	loaded, err := LoadKey(dir)
	if err != nil || loaded.KID() != k.KID() {
		t.Fatalf("LoadKey: %v", err)
	}
	// A token minted with the loaded key verifies with the first one.
	tok, _ := loaded.Mint(TokenOptions{Subject: "a"})
	if _, err := jwtlib.Parse(tok, func(*jwtlib.Token) (any, error) { return k.Public(), nil }); err != nil {
		t.Fatal(err)
	}
	// SaveKey never replaces an existing key.
	other := mustKey(t, "ES256")
	kept, created, err := SaveKey(dir, other)
	if err != nil || created || kept.KID() != k.KID() {
		t.Fatalf("SaveKey over an existing key: created=%v err=%v", created, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestStateDirKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateKey(dir, "ES256"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir, "ES256"); err == nil {
		t.Error("a corrupt key was replaced or accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("a corrupt key file was overwritten")
	}
}

func TestConcurrentCreateAgreesOnOneKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	kids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateKey(dir, "ES256")
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.KID()
		}()
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("kids differ: %v", kids)
		}
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv(StateDirEnv, "/custom/dir")
	if d := DefaultStateDir(); d != "/custom/dir" {
		t.Errorf("env override: %s", d)
	}
	t.Setenv(StateDirEnv, "")
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	if d := DefaultStateDir(); d != filepath.Join("/xdg/state", StateDirName) {
		t.Errorf("XDG: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // ignored, as the spec says
	t.Setenv("HOME", "/home/u")
	if d := DefaultStateDir(); runtime.GOOS != "windows" && d != filepath.Join("/home/u", ".local", "state", StateDirName) {
		t.Errorf("home: %s", d)
	}
}

func TestServer(t *testing.T) {
	k := mustKey(t, "ES256")
	if _, err := Start("0.0.0.0:0", k, ""); err == nil {
		t.Fatal("non-loopback address accepted")
	}
	s, err := Start("", k, DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || s.JWKSURI() != s.URL+JWKSPath {
		t.Fatalf("URL %s JWKS %s", s.URL, s.JWKSURI())
	}
	resp, body := httpGet(t, s.JWKSURI())
	if resp.Header.Get("Content-Type") != "application/jwk-set+json" || body != string(k.JWKS()) {
		t.Errorf("jwks: %v %s", resp.Header, body)
	}
	_, body = httpGet(t, s.URL+DiscoveryPath)
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != DefaultIssuer || doc["jwks_uri"] != s.JWKSURI() {
		t.Errorf("discovery = %v", doc)
	}
	if resp, _ := httpGet(t, s.URL+"/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/other: %d", resp.StatusCode)
	}
}

// The jwt-authn policy accepts the issuer's tokens, both with jwksUri and
// by OIDC discovery of a self-issuing server.
func TestTokensPassJWTAuthn(t *testing.T) {
	k := testRSAKey(t)
	kube, err := Start("", k, DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	defer kube.Close()
	self, err := Start("", k, "")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()

	for name, tc := range map[string]struct {
		jwt    jwtpolicy.Config
		issuer string
	}{
		"jwksUri":        {jwtpolicy.Config{Issuer: DefaultIssuer, Audiences: []string{DefaultAudience}, JWKSURI: kube.JWKSURI()}, DefaultIssuer},
		"oidc discovery": {jwtpolicy.Config{Issuer: self.Issuer, Audiences: []string{DefaultAudience}}, self.Issuer},
	} {
		t.Run(name, func(t *testing.T) {
			j := tc.jwt
			pol, err := jwtpolicy.New(context.Background(), &config.Policy{Type: jwtpolicy.Type, Spec: &j}, policy.Env{RouteName: "r"})
			if err != nil {
				t.Fatal(err)
			}
			defer pol.(policy.Cleaner).Cleanup()
			for _, sub := range DemoSubjects {
				tok, err := k.Mint(TokenOptions{Subject: sub, Issuer: tc.issuer})
				if err != nil {
					t.Fatal(err)
				}
				var got *identity.Principal
				h := pol.Wrap(policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					got, _ = identity.From(r.Context())
					return nil
				}))
				r := httptest.NewRequest(http.MethodPost, "http://gw/mcp", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
					t.Fatalf("%s: %v", sub, err)
				}
				if got == nil || got.Subject != sub || got.Namespace != "agent-core-infra" || !got.IsServiceAccount() {
					t.Fatalf("principal = %+v", got)
				}
			}
			// The wrong audience is refused.
			tok, _ := k.Mint(TokenOptions{Subject: SubjectWeatherAgent, Issuer: tc.issuer, Audiences: []string{"other"}})
			r := httptest.NewRequest(http.MethodPost, "http://gw/mcp", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			err = pol.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })).ServeHTTP(httptest.NewRecorder(), r)
			if pe := policy.AsError(err); pe.Status != http.StatusUnauthorized {
				t.Fatalf("wrong audience: %v", err)
			}
		})
	}
}

func mustKey(t *testing.T, alg string) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
