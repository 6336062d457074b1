package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/policy/retry"
	"github.com/agentgateway-go/agentgateway/internal/policy/timeout"
)

// The generated config is valid whichever policies the build enforces,
// uses exactly those, and the printed text names the others.
func TestConfigAndInstructionsFollowTheBuild(t *testing.T) {
	builds := map[string]map[string]bool{
		"jwt only":     {config.PolicyJWTAuthn: true},
		"this build":   {config.PolicyJWTAuthn: true, timeout.Type: true, retry.Type: true},
		"with authz":   {config.PolicyJWTAuthn: true, timeout.Type: true, retry.Type: true, config.PolicyMCPAuthz: true},
		"every policy": {},
	}
	for _, p := range seedPolicies {
		builds["every policy"][p.typ] = true
	}
	for name, on := range builds {
		t.Run(name, func(t *testing.T) {
			enforced := func(typ string) bool { return on[typ] }
			src := Config(ConfigOptions{Port: 18080, AdminPort: 19090, MCPURL: "http://127.0.0.1:1", AgentURL: "http://127.0.0.1:2",
				EventsURL: "http://127.0.0.1:4", JWKSURI: "http://127.0.0.1:3/openid/v1/jwks", Enforced: enforced})
			cfg, err := config.Parse("demo.yaml", []byte(src))
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			var fed *config.Route
			for _, l := range cfg.Binds[0].Listeners {
				for i, r := range l.Routes {
					if r.Name == "federated-tools" {
						fed = &l.Routes[i]
					}
				}
			}
			if fed == nil || len(fed.Backends) != 2 || fed.Match.Path.Prefix != FederatedPath || !strings.Contains(src, "federation: true") {
				t.Errorf("no federated route of two backends at %s:\n%s", FederatedPath, src)
			}
			for _, p := range seedPolicies {
				if used := strings.Contains(src, "type: "+p.typ+"\n"); used != on[p.typ] {
					t.Errorf("%s used=%v, enforced=%v", p.typ, used, on[p.typ])
				}
			}
			in := Instructions{Port: 18080, AdminPort: 19090, ConfigPath: "/tmp/c.yaml", IssuerURL: "http://127.0.0.1:3",
				StateDir: "/tmp/my state", Tokens: map[string]string{}, Expires: time.Now(), Enforced: enforced}
			text := in.String()
			var missing string
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "Not in this build yet") {
					missing = line
				}
			}
			for _, p := range seedPolicies {
				if listed := strings.Contains(missing, "("+p.typ+")"); listed == on[p.typ] {
					t.Errorf("%s listed as missing=%v, enforced=%v:\n%s", p.typ, listed, on[p.typ], text)
				}
			}
			if all := len(on) == len(seedPolicies); all == strings.Contains(text, "Not in this build yet") {
				t.Errorf("'Not in this build yet' shown=%v with every policy=%v", !all, all)
			}
			denied := strings.Contains(text, "$UNKNOWN_TOKEN")
			if denied != (on[config.PolicyMCPAuthz] || on[config.PolicyA2AAuthz]) {
				t.Errorf("denied call shown=%v", denied)
			}
			if !strings.Contains(text, "--state-dir '/tmp/my state'") {
				t.Errorf("token command lacks the quoted state dir:\n%s", text)
			}
		})
	}
}

func TestInstructionsDefaultStateDir(t *testing.T) {
	in := Instructions{Port: 1, AdminPort: 2, StateDir: devissuer.DefaultStateDir(), DefaultStateDir: true,
		Tokens: map[string]string{}, Enforced: func(string) bool { return true }}
	if text := in.String(); strings.Contains(text, "--state-dir") || !strings.Contains(text, "token --sub "+devissuer.SubjectWeatherAgent+")") {
		t.Errorf("token command:\n%s", text)
	}
}
