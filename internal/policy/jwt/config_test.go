package jwt

import (
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// The jwt-authn block through the config's decoder, SetDefaults and
// Validate, as a file is read: positions and field paths included.

const jwtPolicy = `- type: jwt-authn
  jwt:
    issuer: https://kubernetes.default.svc
    audiences: [agent-gateway]
    jwksUri: https://kubernetes.default.svc/openid/v1/jwks
`

const reviewPolicy = `- type: jwt-authn
  jwt:
    audiences: [agent-gateway]
    validation: tokenreview
`

// routeWith is a valid config whose one MCP route has the policies p (a
// YAML list).
func routeWith(p string) string {
	var b strings.Builder
	b.WriteString(`binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /mcp
            policies:
`)
	for _, l := range strings.Split(strings.TrimRight(p, "\n"), "\n") {
		b.WriteString("              " + l + "\n")
	}
	b.WriteString(`            backends:
              - name: b
                type: mcp-http
                address: http://mcp:8000
`)
	return b.String()
}

// problems returns the lines of the error of reading src, defaulting and
// validating it; nil when it is valid.
func problems(t *testing.T, src string) []string {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(src))
	if err == nil {
		c.SetDefaults()
		err = c.Validate()
	}
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestJWTDefaults(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(routeWith(jwtPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config)
	if j.ClockSkew == nil || *j.ClockSkew != config.Duration(time.Minute) {
		t.Errorf("clockSkew = %v", j.ClockSkew)
	}
	if j.MaxTokenBytes == nil || *j.MaxTokenBytes != 16*config.KiB {
		t.Errorf("maxTokenBytes = %v", j.MaxTokenBytes)
	}
	want := JWKSOptions{
		RefreshInterval:    config.Duration(5 * time.Minute),
		MinRefreshInterval: config.Duration(30 * time.Second),
		MaxStale:           config.Duration(24 * time.Hour),
		Timeout:            config.Duration(5 * time.Second),
	}
	if j.JWKS == nil || *j.JWKS != want {
		t.Errorf("jwks = %+v, want %+v", j.JWKS, want)
	}
}

func TestJWTDefaultsKeepValues(t *testing.T) {
	src := routeWith(jwtPolicy + `    clockSkew: 0s
    maxTokenBytes: 8KiB
    jwks:
      refreshInterval: 10m
      minRefreshInterval: 5s
      maxStale: 1h
      timeout: 2s
      caFile: /etc/ca.pem
      bearerTokenFile: /etc/token
`)
	c, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config)
	if *j.ClockSkew != 0 || *j.MaxTokenBytes != 8*config.KiB {
		t.Errorf("clockSkew %v maxTokenBytes %v", *j.ClockSkew, *j.MaxTokenBytes)
	}
	want := JWKSOptions{
		RefreshInterval:    config.Duration(10 * time.Minute),
		MinRefreshInterval: config.Duration(5 * time.Second),
		MaxStale:           config.Duration(time.Hour),
		Timeout:            config.Duration(2 * time.Second),
		CAFile:             "/etc/ca.pem",
		BearerTokenFile:    "/etc/token",
	}
	if *j.JWKS != want {
		t.Errorf("jwks = %+v, want %+v", j.JWKS, want)
	}
}

func TestJWTValidation(t *testing.T) {
	withURI := func(uri, extra string) string {
		return routeWith(strings.Replace(jwtPolicy, "https://kubernetes.default.svc/openid/v1/jwks", uri, 1) + extra)
	}
	valid := map[string]string{
		"plain":                 routeWith(jwtPolicy),
		"zero skew":             routeWith(jwtPolicy + "    clockSkew: 0s\n"),
		"max skew":              routeWith(jwtPolicy + "    clockSkew: 10m\n"),
		"token bounds":          routeWith(jwtPolicy + "    maxTokenBytes: 256\n"),
		"token max":             routeWith(jwtPolicy + "    maxTokenBytes: 1MiB\n"),
		"empty jwks block":      routeWith(jwtPolicy + "    jwks: {}\n"),
		"refresh bounds":        routeWith(jwtPolicy + "    jwks: {refreshInterval: 1m, minRefreshInterval: 1m, maxStale: 1m}\n"),
		"refresh max":           routeWith(jwtPolicy + "    jwks: {refreshInterval: 24h, maxStale: 168h}\n"),
		"https files":           routeWith(jwtPolicy + "    jwks: {caFile: /ca.pem, bearerTokenFile: /token}\n"),
		"loopback bearer":       withURI("http://127.0.0.1:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"localhost bearer":      withURI("http://localhost:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"ipv6 loopback bearer":  withURI("http://[::1]:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"plain http no secrets": withURI("http://issuer.example/jwks", ""),
	}
	for name, src := range valid {
		t.Run("valid/"+name, func(t *testing.T) {
			if p := problems(t, src); p != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}

	invalid := []struct {
		name string
		src  string
		want []string
	}{
		{"skew too big", routeWith(jwtPolicy + "    clockSkew: 11m\n"),
			[]string{"policies[0].jwt.clockSkew: clockSkew 11m0s is out of range 0-10m0s"}},
		{"token too small", routeWith(jwtPolicy + "    maxTokenBytes: 255\n"),
			[]string{"policies[0].jwt.maxTokenBytes: maxTokenBytes 255 is out of range 256-1MiB"}},
		{"token too big", routeWith(jwtPolicy + "    maxTokenBytes: 2MiB\n"),
			[]string{"maxTokenBytes 2MiB is out of range"}},
		{"refresh too short", routeWith(jwtPolicy + "    jwks: {refreshInterval: 59s}\n"),
			[]string{"policies[0].jwt.jwks.refreshInterval: refreshInterval 59s is out of range 1m0s-24h0m0s"}},
		{"refresh too long", routeWith(jwtPolicy + "    jwks: {refreshInterval: 25h, maxStale: 48h}\n"),
			[]string{"jwks.refreshInterval: refreshInterval 25h0m0s is out of range"}},
		{"min refresh too short", routeWith(jwtPolicy + "    jwks: {minRefreshInterval: 500ms}\n"),
			[]string{"jwks.minRefreshInterval: minRefreshInterval 500ms is out of range 1s-5m0s (refreshInterval)"}},
		{"min refresh above refresh", routeWith(jwtPolicy + "    jwks: {refreshInterval: 2m, minRefreshInterval: 3m}\n"),
			[]string{"jwks.minRefreshInterval: minRefreshInterval 3m0s is out of range 1s-2m0s (refreshInterval)"}},
		{"max stale below refresh", routeWith(jwtPolicy + "    jwks: {maxStale: 4m}\n"),
			[]string{"jwks.maxStale: maxStale 4m0s is out of range 5m0s (refreshInterval)-168h0m0s"}},
		{"max stale too long", routeWith(jwtPolicy + "    jwks: {maxStale: 169h}\n"),
			[]string{"jwks.maxStale: maxStale 169h0m0s is out of range"}},
		{"timeout too long", routeWith(jwtPolicy + "    jwks: {timeout: 61s}\n"),
			[]string{"jwks.timeout: timeout 1m1s is out of range 0-1m0s"}},
		{"ca file on http", withURI("http://127.0.0.1/jwks", "    jwks: {caFile: /ca.pem}\n"),
			[]string{"jwks.caFile: caFile requires an https:// jwksUri"}},
		{"bearer over plain http", withURI("http://issuer.example/jwks", "    jwks: {bearerTokenFile: /token}\n"),
			[]string{"jwks.bearerTokenFile: bearerTokenFile requires an https:// jwksUri (or http:// to a loopback address)"}},
		{"bearer to look-alike host", withURI("http://localhost.evil.example/jwks", "    jwks: {bearerTokenFile: /token}\n"),
			[]string{"jwks.bearerTokenFile: bearerTokenFile requires an https:// jwksUri"}},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
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

func TestJWTValidationCodeBuilt(t *testing.T) {
	// Validate before SetDefaults (a Config built in code): zero values
	// take the defaults and are accepted.
	neg := config.Duration(-time.Second)
	c := &config.Config{Binds: []config.Bind{{Port: 8080, Listeners: []config.Listener{{Name: "l", Routes: []config.Route{{
		Name: "r", Match: config.Match{Path: config.PathMatch{Prefix: "/x"}},
		Backends: []config.Backend{{Name: "b", Address: "http://b"}},
		Policies: []config.Policy{{Type: Type, Spec: &Config{
			Issuer: "i", Audiences: []string{"a"}, JWKSURI: "https://i/jwks",
			JWKS: &JWKSOptions{},
		}}},
	}}}}}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("zero jwks block: %v", err)
	}
	c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config).ClockSkew = &neg
	c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config).JWKS.Timeout = neg
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "clockSkew -1s is out of range") || !strings.Contains(err.Error(), "timeout -1s is out of range") {
		t.Errorf("negative values: %v", err)
	}
}

func TestTokenReviewDefaults(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(routeWith(reviewPolicy+"    tokenReview: {apiServer: https://127.0.0.1:6443}\n")))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config)
	want := TokenReviewOptions{
		APIServer:  "https://127.0.0.1:6443",
		CacheTTL:   config.Duration(time.Minute),
		FailureTTL: config.Duration(10 * time.Second),
		Timeout:    config.Duration(5 * time.Second),

		PerClientReviewsPerMinute: 300,
		PerClientBurst:            20,
	}
	if j.TokenReview == nil || *j.TokenReview != want {
		t.Errorf("tokenReview = %+v, want %+v", j.TokenReview, want)
	}

	// validation defaults to jwks, and no tokenReview block is made up.
	c, err = config.Parse("t.yaml", []byte(routeWith(jwtPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	j = c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config)
	if j.Validation != ValidationJWKS || j.TokenReview != nil {
		t.Errorf("validation %q tokenReview %+v", j.Validation, j.TokenReview)
	}
}

func TestTokenReviewValidation(t *testing.T) {
	valid := map[string]string{
		"in-cluster":          routeWith(reviewPolicy),
		"with issuer":         routeWith(reviewPolicy + "    issuer: https://kubernetes.default.svc\n"),
		"both":                routeWith(jwtPolicy + "    validation: both\n"),
		"jwks explicit":       routeWith(jwtPolicy + "    validation: jwks\n"),
		"kubeconfig":          routeWith(reviewPolicy + "    tokenReview: {kubeconfig: /etc/kubeconfig}\n"),
		"everything":          routeWith(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example:6443, caFile: /ca, tokenFile: /tok, cacheTTL: 10m, failureTTL: 1s, timeout: 1m}\n"),
		"loopback http":       routeWith(reviewPolicy + "    tokenReview: {apiServer: http://127.0.0.1:8080}\n"),
		"trailing slash":      routeWith(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example/}\n"),
		"both with options":   routeWith(jwtPolicy + "    validation: both\n    tokenReview: {cacheTTL: 30s}\n"),
		"both with discovery": routeWith(reviewPolicy[:len(reviewPolicy)-len("tokenreview\n")] + "both\n    issuer: https://issuer.example\n"),
		"min TTLs":            routeWith(reviewPolicy + "    tokenReview: {cacheTTL: 1s, failureTTL: 1s}\n"),
		"per-client budget":   routeWith(reviewPolicy + "    tokenReview: {perClientReviewsPerMinute: 3000, perClientBurst: 100}\n"),
		"claimToHeaders kept": routeWith(reviewPolicy + "    claimToHeaders: [{claim: sub, header: x-agent-identity}]\n"),
	}
	for name, src := range valid {
		t.Run("valid/"+name, func(t *testing.T) {
			if p := problems(t, src); p != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}

	invalid := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown validation", routeWith(jwtPolicy + "    validation: TokenReview\n"),
			[]string{`jwt.validation: unknown validation "TokenReview" (valid: jwks, tokenreview, both)`}},
		{"block without mode", routeWith(jwtPolicy + "    tokenReview: {}\n"),
			[]string{"jwt.tokenReview: tokenReview requires validation: tokenreview or both"}},
		{"jwksUri with tokenreview", routeWith(jwtPolicy + "    validation: tokenreview\n"),
			[]string{"jwt.jwksUri: jwksUri is not used with validation: tokenreview"}},
		{"both needs issuer", routeWith(strings.Replace(jwtPolicy, "    issuer: https://kubernetes.default.svc\n", "", 1) + "    validation: both\n"),
			[]string{"jwt.issuer: issuer is required"}},
		{"still needs audiences", routeWith("- type: jwt-authn\n  jwt:\n    validation: tokenreview\n"),
			[]string{"jwt.audiences: at least one audience is required"}},
		{"plain http apiServer", routeWith(reviewPolicy + "    tokenReview: {apiServer: http://k8s.example}\n"),
			[]string{"tokenReview.apiServer: apiServer must be https://"}},
		{"apiServer path", routeWith(reviewPolicy + "    tokenReview: {apiServer: https://k8s.example/api}\n"),
			[]string{"tokenReview.apiServer: apiServer must be scheme://host[:port] only"}},
		{"apiServer not a URL", routeWith(reviewPolicy + "    tokenReview: {apiServer: k8s.example}\n"),
			[]string{"tokenReview.apiServer:"}},
		{"cacheTTL too long", routeWith(reviewPolicy + "    tokenReview: {cacheTTL: 11m}\n"),
			[]string{"tokenReview.cacheTTL: cacheTTL 11m0s is out of range 1s-10m0s"}},
		{"cacheTTL too short", routeWith(reviewPolicy + "    tokenReview: {cacheTTL: 500ms}\n"),
			[]string{"tokenReview.cacheTTL: cacheTTL 500ms is out of range"}},
		{"failureTTL too long", routeWith(reviewPolicy + "    tokenReview: {failureTTL: 6m}\n"),
			[]string{"tokenReview.failureTTL: failureTTL 6m0s is out of range 1s-5m0s"}},
		{"timeout too long", routeWith(reviewPolicy + "    tokenReview: {timeout: 2m}\n"),
			[]string{"tokenReview.timeout: timeout 2m0s is out of range 0-1m0s"}},
		{"per-client rate too high", routeWith(reviewPolicy + "    tokenReview: {perClientReviewsPerMinute: 3001}\n"),
			[]string{"tokenReview.perClientReviewsPerMinute: 3001 is out of range 0-3000"}},
		{"per-client burst negative", routeWith(reviewPolicy + "    tokenReview: {perClientBurst: -1}\n"),
			[]string{"tokenReview.perClientBurst: -1 is out of range 0-100"}},
		{"unknown field", routeWith(reviewPolicy + "    tokenReview: {kubeConfig: /x}\n"),
			[]string{"kubeConfig"}},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
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

// Warnings flags a JWKS fetched over plain http from a host other than
// loopback, at the jwksUri field, and nothing else.
func TestConfigWarnings(t *testing.T) {
	const at = "binds[0].listeners[0].routes[0].policies[0].jwt"
	for _, tc := range []struct {
		uri  string
		want string
	}{
		{"https://keys.example/jwks", ""},
		{"http://127.0.0.1:8080/jwks", ""},
		{"http://localhost/jwks", ""},
		{"", ""}, // OIDC discovery: the issuer is checked at provisioning
		{"http://keys.example/jwks", at + `.jwksUri: the JWKS is fetched over plain http from "keys.example"`},
		{"HTTP://keys.example:8080/jwks", at + `.jwksUri: the JWKS is fetched over plain http from "keys.example:8080"`},
	} {
		c := &Config{Issuer: "https://i.example", Audiences: []string{"a"}, JWKSURI: tc.uri}
		ws := c.Warnings(config.PolicyAt{Path: at})
		switch {
		case tc.want == "" && len(ws) != 0:
			t.Errorf("%q: unexpected warnings %v", tc.uri, ws)
		case tc.want != "" && (len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), tc.want)):
			t.Errorf("%q: warnings %v, want one starting %q", tc.uri, ws, tc.want)
		}
	}
}

// SetsHeaders names every claimToHeaders header in canonical form: the
// edge strips client-sent copies of each (config.HeaderSetter).
func TestSetsHeaders(t *testing.T) {
	var _ config.HeaderSetter = (*Config)(nil)
	c := &Config{ClaimToHeaders: []ClaimHeader{{Claim: "sub", Header: "x-caller"}, {Claim: "ns", Header: "X-CALLER-NS"}}}
	if got, want := strings.Join(c.SetsHeaders(), ","), "X-Caller,X-Caller-Ns"; got != want {
		t.Errorf("SetsHeaders = %s, want %s", got, want)
	}
	if got := (&Config{}).SetsHeaders(); len(got) != 0 {
		t.Errorf("no claimToHeaders: %v", got)
	}
}
