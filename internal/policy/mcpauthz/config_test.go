package mcpauthz_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/policy/mcpauthz"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

const jwtPolicy = `
              - type: jwt-authn
                jwt:
                  issuer: https://kubernetes.default.svc
                  audiences: [agent-gateway]
                  jwksUri: https://kubernetes.default.svc/openid/v1/jwks`

func configWith(policies string) string {
	return `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /mcp
            policies:` + policies + `
            backends:
              - name: b
                type: mcp-http
                address: http://mcp:8000
`
}

func authz(rules string) string {
	return `
              - type: mcp-authz
                mcp:
                  rules:` + rules
}

func problems(t *testing.T, src string) []string {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c.SetDefaults()
	err = c.Validate()
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings, in order
	}{
		{"seed rule", configWith(jwtPolicy + authz(`
                    - principal: "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
                      allowedTools: [get_weather_data, execute_code]
                      rateLimit: {requestsPerMinute: 100}`)), nil},
		{"globs, resources and prompts", configWith(jwtPolicy + authz(`
                    - principal: "system:serviceaccount:agent-core-infra:*"
                      allowedTools: ["get_*", "*"]
                    - principal: "**"
                      allowedResources: ["file:///docs/**"]
                    - principal: "system:serviceaccount:docs:reader"
                      allowedPrompts: ["summarize_*"]`)), nil},
		{"client certificates instead of jwt-authn", strings.Replace(strings.Replace(configWith(authz(`
                    - principal: "system:serviceaccount:agent-core-infra:*"
                      allowedTools: [get_weather_data]`)),
			"            policies:", "            authentication:\n              clientCertificate: true\n            policies:", 1),
			"    listeners:", "    tls:\n      certFile: /tls/tls.crt\n      keyFile: /tls/tls.key\n      clientCA: /tls/ca.crt\n      clientAuth: STRICT\n    listeners:", 1), nil},
		{"requires jwt-authn", configWith(authz(`
                    - principal: p
                      allowedTools: [t]`)),
			[]string{"policies[0].type: mcp-authz requires jwt-authn on the same route"}},
		{"bad patterns", configWith(jwtPolicy + authz(`
                    - principal: "*"
                      allowedTools: ["get_weather_data ", "a***"]
                    - principal: "ns:\tx"
                      allowedResources: [""]
                      allowedPrompts: [" p"]
                    - principal: q
                    - principal: r
                      allowedTools: [t]
                      rateLimit: {requestsPerMinute: 10, burst: 20}`)),
			[]string{
				`rules[0].principal: principal "*" matches only subjects without ":"; write "**"`,
				`rules[0].allowedTools[0]: tool name "get_weather_data " must not start or end with whitespace`,
				`rules[0].allowedTools[1]: tool name "a***": a run of three or more "*" is ambiguous`,
				`rules[1].principal: principal "ns:\tx" must not contain control characters`,
				`rules[1].allowedResources[0]: resource URI must not be empty`,
				`rules[1].allowedPrompts[0]: prompt name " p" must not start or end with whitespace`,
				`rules[2].allowedTools: at least one tool is required (or allowedResources / allowedPrompts)`,
				`rules[3].rateLimit.burst: burst is not supported in mcp-authz rules`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want …%s…", i, got[i], w)
				}
			}
		})
	}
}

func TestNewRefusesARouteWithoutAuthn(t *testing.T) {
	p := &config.Policy{Type: mcpauthz.Type, Spec: &mcpauthz.Config{Rules: []mcpauthz.Rule{{Principal: "p", AllowedTools: []string{"t"}}}}}
	route := &config.Route{Name: "r", Policies: []config.Policy{*p}}
	if _, err := mcpauthz.New(context.Background(), p, policy.Env{RouteName: "r", Route: route}); !errors.Is(err, mcpauthz.ErrNoAuthn) {
		t.Fatalf("err = %v", err)
	}
	route.Authentication = &config.RouteAuthentication{ClientCertificate: true}
	if _, err := mcpauthz.New(context.Background(), p, policy.Env{RouteName: "r", Route: route}); err != nil {
		t.Fatalf("client certificate route: %v", err)
	}
	route.Authentication = nil
	route.Policies = append(route.Policies, config.Policy{Type: config.PolicyJWTAuthn})
	if _, err := mcpauthz.New(context.Background(), p, policy.Env{RouteName: "r", Route: route}); err != nil {
		t.Fatal(err)
	}
	bad := &config.Policy{Type: mcpauthz.Type, Spec: &mcpauthz.Config{Rules: []mcpauthz.Rule{{Principal: "\xff*", AllowedTools: []string{"t"}}}}}
	if _, err := mcpauthz.New(context.Background(), bad, policy.Env{RouteName: "r", Route: route}); err == nil {
		t.Fatal("invalid UTF-8 pattern provisioned")
	}
}

// New builds its limiter and session store from the shared store (sharedstate): a
// store it cannot build fails provisioning, a store given through Env is
// used as it is, and otherwise the process's store is acquired and
// released with the policy.
func TestNewUsesTheRateLimitStore(t *testing.T) {
	p := &config.Policy{Type: mcpauthz.Type, Spec: &mcpauthz.Config{Rules: []mcpauthz.Rule{{Principal: "p", AllowedTools: []string{"t"}}}}}
	users := func() int {
		n := 0
		for _, s := range sharedstate.Stores() {
			n += s.Users
		}
		return n
	}
	before := users()

	bad := &config.Config{RateLimiting: &config.RateLimiting{Redis: &config.RedisStore{
		Address: "127.0.0.1:1", PasswordFile: filepath.Join(t.TempDir(), "missing")}}}
	if _, err := mcpauthz.New(context.Background(), p, policy.Env{Config: bad}); err == nil || !strings.Contains(err.Error(), "rate-limit store") {
		t.Fatalf("unbuildable store: err = %v", err)
	}

	fresh := sharedstate.NewLocalStore(gcra.NewLocal(0))
	pol, err := mcpauthz.New(context.Background(), p, policy.Env{Limits: fresh})
	if err != nil {
		t.Fatal(err)
	}
	if n := users(); n != before {
		t.Fatalf("a policy given a store acquired the process's: %d users, want %d", n, before)
	}
	if err := pol.(policy.Cleaner).Cleanup(); err != nil {
		t.Fatal(err)
	}

	pol, err = mcpauthz.New(context.Background(), p, policy.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if n := users(); n != before+1 {
		t.Fatalf("%d store users, want %d", n, before+1)
	}
	if err := pol.(policy.Cleaner).Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := users(); n != before {
		t.Fatalf("store not released: %d users, want %d", n, before)
	}
}
