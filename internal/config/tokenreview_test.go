package config

import (
	"strings"
	"testing"
	"time"
)

const reviewPolicy = `- type: jwt-authn
  jwt:
    audiences: [agent-gateway]
    validation: tokenreview
`

func TestTokenReviewDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(policy(reviewPolicy+"    tokenReview: {apiServer: https://127.0.0.1:6443}\n")))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT
	want := TokenReviewOptions{
		APIServer:  "https://127.0.0.1:6443",
		CacheTTL:   Duration(time.Minute),
		FailureTTL: Duration(10 * time.Second),
		Timeout:    Duration(5 * time.Second),

		PerClientReviewsPerMinute: 300,
		PerClientBurst:            20,
	}
	if j.TokenReview == nil || *j.TokenReview != want {
		t.Errorf("tokenReview = %+v, want %+v", j.TokenReview, want)
	}

	// validation defaults to jwks, and no tokenReview block is made up.
	c, err = Parse("t.yaml", []byte(policy(jwtPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	j = c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT
	if j.Validation != JWTValidationJWKS || j.TokenReview != nil {
		t.Errorf("validation %q tokenReview %+v", j.Validation, j.TokenReview)
	}
}

func TestTokenReviewValidation(t *testing.T) {
	valid := map[string]string{
		"in-cluster":          policy(reviewPolicy),
		"with issuer":         policy(reviewPolicy + "    issuer: https://kubernetes.default.svc\n"),
		"both":                policy(jwtPolicy + "    validation: both\n"),
		"jwks explicit":       policy(jwtPolicy + "    validation: jwks\n"),
		"kubeconfig":          policy(reviewPolicy + "    tokenReview: {kubeconfig: /etc/kubeconfig}\n"),
		"everything":          policy(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example:6443, caFile: /ca, tokenFile: /tok, cacheTTL: 10m, failureTTL: 1s, timeout: 1m}\n"),
		"loopback http":       policy(reviewPolicy + "    tokenReview: {apiServer: http://127.0.0.1:8080}\n"),
		"trailing slash":      policy(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example/}\n"),
		"both with options":   policy(jwtPolicy + "    validation: both\n    tokenReview: {cacheTTL: 30s}\n"),
		"both with discovery": policy(reviewPolicy[:len(reviewPolicy)-len("tokenreview\n")] + "both\n    issuer: https://issuer.example\n"),
		"min TTLs":            policy(reviewPolicy + "    tokenReview: {cacheTTL: 1s, failureTTL: 1s}\n"),
		"per-client budget":   policy(reviewPolicy + "    tokenReview: {perClientReviewsPerMinute: 3000, perClientBurst: 100}\n"),
		"claimToHeaders kept": policy(reviewPolicy + "    claimToHeaders: [{claim: sub, header: x-agent-identity}]\n"),
	}
	for name, src := range valid {
		t.Run("valid/"+name, func(t *testing.T) {
			if p := problems("t.yaml", src); p != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}

	invalid := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown validation", policy(jwtPolicy + "    validation: TokenReview\n"),
			[]string{`jwt.validation: unknown validation "TokenReview" (valid: jwks, tokenreview, both)`}},
		{"block without mode", policy(jwtPolicy + "    tokenReview: {}\n"),
			[]string{"jwt.tokenReview: tokenReview requires validation: tokenreview or both"}},
		{"jwksUri with tokenreview", policy(jwtPolicy + "    validation: tokenreview\n"),
			[]string{"jwt.jwksUri: jwksUri is not used with validation: tokenreview"}},
		{"both needs issuer", policy(strings.Replace(jwtPolicy, "    issuer: https://kubernetes.default.svc\n", "", 1) + "    validation: both\n"),
			[]string{"jwt.issuer: issuer is required"}},
		{"still needs audiences", policy("- type: jwt-authn\n  jwt:\n    validation: tokenreview\n"),
			[]string{"jwt.audiences: at least one audience is required"}},
		{"plain http apiServer", policy(reviewPolicy + "    tokenReview: {apiServer: http://k8s.example}\n"),
			[]string{"tokenReview.apiServer: apiServer must be https://"}},
		{"apiServer path", policy(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example/api}\n"),
			[]string{"tokenReview.apiServer: apiServer must be scheme://host[:port] only"}},
		{"apiServer not a URL", policy(reviewPolicy + "    tokenReview: {apiServer: k8s.example}\n"),
			[]string{"tokenReview.apiServer:"}},
		{"cacheTTL too long", policy(reviewPolicy + "    tokenReview: {cacheTTL: 11m}\n"),
			[]string{"tokenReview.cacheTTL: cacheTTL 11m0s is out of range 1s-10m0s"}},
		{"cacheTTL too short", policy(reviewPolicy + "    tokenReview: {cacheTTL: 500ms}\n"),
			[]string{"tokenReview.cacheTTL: cacheTTL 500ms is out of range"}},
		{"failureTTL too long", policy(reviewPolicy + "    tokenReview: {failureTTL: 6m}\n"),
			[]string{"tokenReview.failureTTL: failureTTL 6m0s is out of range 1s-5m0s"}},
		{"timeout too long", policy(reviewPolicy + "    tokenReview: {timeout: 2m}\n"),
			[]string{"tokenReview.timeout: timeout 2m0s is out of range 0-1m0s"}},
		{"per-client rate too high", policy(reviewPolicy + "    tokenReview: {perClientReviewsPerMinute: 3001}\n"),
			[]string{"tokenReview.perClientReviewsPerMinute: 3001 is out of range 0-3000"}},
		{"per-client burst negative", policy(reviewPolicy + "    tokenReview: {perClientBurst: -1}\n"),
			[]string{"tokenReview.perClientBurst: -1 is out of range 0-100"}},
		{"unknown field", policy(reviewPolicy + "    tokenReview: {kubeConfig: /x}\n"),
			[]string{"kubeConfig"}},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			got := problems("t.yaml", tt.src)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
