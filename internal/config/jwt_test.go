package config

import (
	"strings"
	"testing"
	"time"
)

const jwtPolicy = `- type: jwt-authn
  jwt:
    issuer: https://kubernetes.default.svc
    audiences: [agent-gateway]
    jwksUri: https://kubernetes.default.svc/openid/v1/jwks
`

func TestJWTDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(policy(jwtPolicy)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT
	if j.ClockSkew == nil || *j.ClockSkew != Duration(time.Minute) {
		t.Errorf("clockSkew = %v", j.ClockSkew)
	}
	if j.MaxTokenBytes == nil || *j.MaxTokenBytes != 16*KiB {
		t.Errorf("maxTokenBytes = %v", j.MaxTokenBytes)
	}
	want := JWKSOptions{
		RefreshInterval:    Duration(5 * time.Minute),
		MinRefreshInterval: Duration(30 * time.Second),
		MaxStale:           Duration(24 * time.Hour),
		Timeout:            Duration(5 * time.Second),
	}
	if j.JWKS == nil || *j.JWKS != want {
		t.Errorf("jwks = %+v, want %+v", j.JWKS, want)
	}
}

func TestJWTDefaultsKeepValues(t *testing.T) {
	src := policy(jwtPolicy + `    clockSkew: 0s
    maxTokenBytes: 8KiB
    jwks:
      refreshInterval: 10m
      minRefreshInterval: 5s
      maxStale: 1h
      timeout: 2s
      caFile: /etc/ca.pem
      bearerTokenFile: /etc/token
`)
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	j := c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT
	if *j.ClockSkew != 0 || *j.MaxTokenBytes != 8*KiB {
		t.Errorf("clockSkew %v maxTokenBytes %v", *j.ClockSkew, *j.MaxTokenBytes)
	}
	want := JWKSOptions{
		RefreshInterval:    Duration(10 * time.Minute),
		MinRefreshInterval: Duration(5 * time.Second),
		MaxStale:           Duration(time.Hour),
		Timeout:            Duration(2 * time.Second),
		CAFile:             "/etc/ca.pem",
		BearerTokenFile:    "/etc/token",
	}
	if *j.JWKS != want {
		t.Errorf("jwks = %+v, want %+v", j.JWKS, want)
	}
}

func TestJWTValidation(t *testing.T) {
	withURI := func(uri, extra string) string {
		return policy(strings.Replace(jwtPolicy, "https://kubernetes.default.svc/openid/v1/jwks", uri, 1) + extra)
	}
	valid := map[string]string{
		"plain":                 policy(jwtPolicy),
		"zero skew":             policy(jwtPolicy + "    clockSkew: 0s\n"),
		"max skew":              policy(jwtPolicy + "    clockSkew: 10m\n"),
		"token bounds":          policy(jwtPolicy + "    maxTokenBytes: 256\n"),
		"token max":             policy(jwtPolicy + "    maxTokenBytes: 1MiB\n"),
		"empty jwks block":      policy(jwtPolicy + "    jwks: {}\n"),
		"refresh bounds":        policy(jwtPolicy + "    jwks: {refreshInterval: 1m, minRefreshInterval: 1m, maxStale: 1m}\n"),
		"refresh max":           policy(jwtPolicy + "    jwks: {refreshInterval: 24h, maxStale: 168h}\n"),
		"https files":           policy(jwtPolicy + "    jwks: {caFile: /ca.pem, bearerTokenFile: /token}\n"),
		"loopback bearer":       withURI("http://127.0.0.1:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"localhost bearer":      withURI("http://localhost:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"ipv6 loopback bearer":  withURI("http://[::1]:8080/jwks", "    jwks: {bearerTokenFile: /token}\n"),
		"plain http no secrets": withURI("http://issuer.example/jwks", ""),
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
		{"skew too big", policy(jwtPolicy + "    clockSkew: 11m\n"),
			[]string{"policies[0].jwt.clockSkew: clockSkew 11m0s is out of range 0-10m0s"}},
		{"token too small", policy(jwtPolicy + "    maxTokenBytes: 255\n"),
			[]string{"policies[0].jwt.maxTokenBytes: maxTokenBytes 255 is out of range 256-1MiB"}},
		{"token too big", policy(jwtPolicy + "    maxTokenBytes: 2MiB\n"),
			[]string{"maxTokenBytes 2MiB is out of range"}},
		{"refresh too short", policy(jwtPolicy + "    jwks: {refreshInterval: 59s}\n"),
			[]string{"policies[0].jwt.jwks.refreshInterval: refreshInterval 59s is out of range 1m0s-24h0m0s"}},
		{"refresh too long", policy(jwtPolicy + "    jwks: {refreshInterval: 25h, maxStale: 48h}\n"),
			[]string{"jwks.refreshInterval: refreshInterval 25h0m0s is out of range"}},
		{"min refresh too short", policy(jwtPolicy + "    jwks: {minRefreshInterval: 500ms}\n"),
			[]string{"jwks.minRefreshInterval: minRefreshInterval 500ms is out of range 1s-5m0s (refreshInterval)"}},
		{"min refresh above refresh", policy(jwtPolicy + "    jwks: {refreshInterval: 2m, minRefreshInterval: 3m}\n"),
			[]string{"jwks.minRefreshInterval: minRefreshInterval 3m0s is out of range 1s-2m0s (refreshInterval)"}},
		{"max stale below refresh", policy(jwtPolicy + "    jwks: {maxStale: 4m}\n"),
			[]string{"jwks.maxStale: maxStale 4m0s is out of range 5m0s (refreshInterval)-168h0m0s"}},
		{"max stale too long", policy(jwtPolicy + "    jwks: {maxStale: 169h}\n"),
			[]string{"jwks.maxStale: maxStale 169h0m0s is out of range"}},
		{"timeout too long", policy(jwtPolicy + "    jwks: {timeout: 61s}\n"),
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

func TestJWTValidationCodeBuilt(t *testing.T) {
	// Validate before SetDefaults (a Config built in code): zero values
	// take the defaults and are accepted.
	neg := Duration(-time.Second)
	c := &Config{Binds: []Bind{{Port: 8080, Listeners: []Listener{{Name: "l", Routes: []Route{{
		Name: "r", Match: Match{Path: PathMatch{Prefix: "/x"}},
		Backends: []Backend{{Name: "b", Address: "http://b"}},
		Policies: []Policy{{Type: PolicyJWTAuthn, JWT: &JWTPolicy{
			Issuer: "i", Audiences: []string{"a"}, JWKSURI: "https://i/jwks",
			JWKS: &JWKSOptions{},
		}}},
	}}}}}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("zero jwks block: %v", err)
	}
	c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT.ClockSkew = &neg
	c.Binds[0].Listeners[0].Routes[0].Policies[0].JWT.JWKS.Timeout = neg
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "clockSkew -1s is out of range") || !strings.Contains(err.Error(), "timeout -1s is out of range") {
		t.Errorf("negative values: %v", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"": false, "10.0.0.1": false, "localhost.example": false, "kubernetes.default.svc": false, "::": false,
	} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", h, got)
		}
	}
}
