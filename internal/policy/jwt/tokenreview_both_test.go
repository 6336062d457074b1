package jwt

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/test/kubeenv"
)

// clusterSigningKey is the kube-apiserver's own ServiceAccount signing key
// (test/kubeenv writes it to pki/sa.key), with the kid it signs with.
func clusterSigningKey(t *testing.T, c *kubeenv.Cluster) testKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "pki", "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("pki/sa.key: no PEM block")
	}
	priv, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// The kid the API server signs with, read from a token it issued.
	c.CreateServiceAccount(t, "default", "kid-probe")
	hdr, _, _ := strings.Cut(c.Token(t, "default", "kid-probe", []string{kubeenv.DefaultAudience}, 600), ".")
	b, err = base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.KID == "" {
		t.Fatalf("token header %s: %v", b, err)
	}
	return testKey{kid: h.KID, alg: "RS256", priv: priv}
}

// TestTokenReviewBothSubjectMismatch: with validation both the JWT's sub
// must be the user the API server authenticates (issue #19, finding 9).
//
// kube-apiserver builds a bound token's username from its kubernetes.io
// claims and never reads sub, so a token signed by a key the JWKS trusts
// can carry a sub naming one ServiceAccount (a privileged orchestrator)
// and kubernetes.io claims naming another (a weather agent). The JWKS
// accepts the signature, the API server authenticates the weather agent,
// and the gateway used to authorize the orchestrator. It must refuse.
func TestTokenReviewBothSubjectMismatch(t *testing.T) {
	f := newKubeFixture(t)
	p := f.policy(t, ValidationBoth)
	key := clusterSigningKey(t, f.c)
	const (
		privileged = "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"
		actual     = "system:serviceaccount:agent-core-infra:weather-agent"
	)
	uid := f.c.CreateServiceAccount(t, f.agentNS, "weather-agent")
	mint := func(sub string) string {
		return sign(t, key, claims(
			set("iss", kubeenv.DefaultIssuer),
			set("aud", []any{kubeenv.DefaultAudience}),
			set("sub", sub),
			set("kubernetes.io", map[string]any{
				"namespace":      f.agentNS,
				"serviceaccount": map[string]any{"name": "weather-agent", "uid": uid},
			}),
		))
	}

	tok := mint(privileged)
	// The premise, from the API server itself: it vouches for the weather
	// agent, whatever the sub says.
	if ok, user, _ := f.c.TokenReview(t, tok, []string{kubeenv.DefaultAudience}); !ok || user != actual {
		t.Fatalf("TokenReview: authenticated=%v username=%q, want %q", ok, user, actual)
	}
	logs := captureLogs(t)
	pe := wantRejected(t, p.do(request(tok)), "invalid_token", tok)
	if pe.Message != "token subject does not match the Kubernetes API server's user" {
		t.Errorf("message = %q", pe.Message)
	}
	// The reason logged (the edge logs Cause) names both identities, so an
	// operator can tell a claim mapping from an attack; never the token.
	if pe.Cause == nil || !strings.Contains(pe.Cause.Error(), privileged) || !strings.Contains(pe.Cause.Error(), actual) {
		t.Errorf("cause = %v, want both names", pe.Cause)
	}
	assertNoLeak(t, tok, logs.String())
	// Cached answers do not change the verdict.
	wantRejected(t, p.do(request(tok)), "invalid_token", tok)

	// Controls: the same minting with a consistent sub, and a real
	// TokenRequest token, pass as the API server's user.
	for name, good := range map[string]string{"consistent sub": mint(actual), "TokenRequest": f.c.Token(t, f.agentNS, "weather-agent", []string{kubeenv.DefaultAudience}, 3600)} {
		res := p.do(request(good))
		if res.err != nil || !res.called || res.principal.Subject != actual {
			t.Errorf("%s: err %v, principal %+v, want %s", name, res.err, res.principal, actual)
		}
	}
}
