package a2aauthz

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

const (
	planning     = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	orchestrator = "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"
	unknown      = "system:serviceaccount:agent-core-infra:unknown-agent-sa"
	weather      = "weather-agent-v6"
)

// seedRules are the user guide's a2a-authz rules (Step 3.1) plus an
// explicit deny and a namespace glob.
var seedRules = []Rule{
	{Source: planning, Target: weather, Allowed: true},
	{Source: orchestrator, Target: "*", Allowed: true},
	{Source: orchestrator, Target: "billing-agent", Allowed: false},
	{Source: "system:serviceaccount:team-a:*", Target: "team-a-*", Allowed: true},
}

func newPolicy(t *testing.T, rules []Rule, log *slog.Logger) *Policy {
	t.Helper()
	p, err := New(context.Background(), &config.Policy{Type: Type, Spec: &Config{Rules: rules}},
		policy.Env{RouteName: "agent-to-agent", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Policy)
}

func TestMatrix(t *testing.T) {
	var logs bytes.Buffer
	p := newPolicy(t, seedRules, slog.New(slog.NewJSONHandler(&logs, nil)))
	tests := []struct {
		name, source, target string
		allow                bool
	}{
		{"planning → weather (seed)", planning, weather, true},
		{"planning → another agent", planning, "planning-agent", false},
		{"planning → weather, other version", planning, "weather-agent-v7", false},
		{"orchestrator → * (seed)", orchestrator, "planning-agent", true},
		{"orchestrator → weather", orchestrator, weather, true},
		{"explicit false overrides *", orchestrator, "billing-agent", false},
		{"unknown identity", unknown, weather, false},
		{"namespace glob", "system:serviceaccount:team-a:bot", "team-a-search", true},
		{"glob does not cross ':'", "system:serviceaccount:team-a:x:y", "team-a-search", false},
		{"glob target only its names", "system:serviceaccount:team-a:bot", "team-b-search", false},
		{"case matters", "system:serviceaccount:agent-core-infra:Planning-agent-sa", weather, false},
		// An agent calling itself is authorized like any other call.
		{"self call without a rule", planning, "planning-agent", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			reached := false
			h := p.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error { reached = true; return nil }))
			ex := &policy.Exchange{Target: tt.target, ProtoMethod: "message/send"}
			ctx := policy.WithExchange(context.Background(), ex)
			ctx = identity.With(ctx, &identity.Principal{Subject: tt.source})
			r := httptest.NewRequest(http.MethodPost, "/agents/"+tt.target, nil).WithContext(ctx)
			err := h.ServeHTTP(httptest.NewRecorder(), r)
			if tt.allow {
				if err != nil || !reached || ex.Decision != policy.DecisionAllowed {
					t.Fatalf("err=%v reached=%v decision=%q; want allowed", err, reached, ex.Decision)
				}
				if !strings.Contains(logs.String(), `"msg":"authz allow"`) {
					t.Errorf("no audit record: %s", logs.String())
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Code != policy.CodeForbidden || reached {
				t.Fatalf("err=%v reached=%v; want 403 and nothing reached", err, reached)
			}
			if ex.Decision != policy.DecisionDenied {
				t.Errorf("decision %q", ex.Decision)
			}
			for _, want := range []string{`"msg":"authz deny"`, `"audit":true`, `"policy":"a2a-authz"`, `"source":"` + tt.source + `"`, `"target":"` + tt.target + `"`, `"method":"message/send"`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("audit record lacks %s: %s", want, logs.String())
				}
			}
		})
	}
}

func TestUnauthenticatedFailsClosed(t *testing.T) {
	p := newPolicy(t, []Rule{{Source: "**", Target: "*", Allowed: true}}, nil)
	reached := false
	h := p.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error { reached = true; return nil }))
	ex := &policy.Exchange{Target: weather}
	r := httptest.NewRequest(http.MethodPost, "/agents/x", nil).WithContext(policy.WithExchange(context.Background(), ex))
	err := h.ServeHTTP(httptest.NewRecorder(), r)
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || reached {
		t.Fatalf("err=%v reached=%v", err, reached)
	}
}

func TestListingFilter(t *testing.T) {
	p := newPolicy(t, seedRules, nil)
	var allowed func(string) bool
	h := p.Wrap(policy.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		allowed = policy.ExchangeFrom(r.Context()).TargetAllowed
		return nil
	}))
	ex := &policy.Exchange{} // GET /agents: no target
	ctx := identity.With(policy.WithExchange(context.Background(), ex), &identity.Principal{Subject: planning})
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/agents", nil).WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	if allowed == nil || !allowed(weather) || allowed("planning-agent") {
		t.Fatal("TargetAllowed does not follow the rules")
	}
}

// TestAliasRulesCanonicalized: with the route's backends known, a rule
// naming a version alias is a rule about the agent it reaches (issue #14).
// The edge hands this policy canonical targets only.
func TestAliasRulesCanonicalized(t *testing.T) {
	route := &config.Route{Backends: []config.Backend{{Name: "billing-agent-backend"}, {Name: "weather-agent-backend"}}}
	rules := []Rule{
		{Source: orchestrator, Target: "*", Allowed: true},
		{Source: orchestrator, Target: "billing-agent-v1", Allowed: false}, // a deny written on an alias
		{Source: planning, Target: "billing-agent-v2", Allowed: true},      // an allow written on another alias
		{Source: planning, Target: weather, Allowed: true},                 // the seed: weather-agent-v6 is canonical
	}
	var logs bytes.Buffer
	p, err := New(context.Background(), &config.Policy{Type: Type, Spec: &Config{Rules: rules}},
		policy.Env{RouteName: "agent-to-agent", Route: route, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pol := p.(*Policy)
	tests := []struct {
		source, target string // target as the edge passes it: canonical
		allow          bool
	}{
		{orchestrator, "billing-agent", false}, // the alias deny covers the agent
		{orchestrator, weather, true},
		{planning, "billing-agent", true},
		{planning, weather, true},
		{planning, "weather-agent", false}, // not a canonical name here; the edge never passes it
	}
	for _, tt := range tests {
		if got, _ := pol.decide(tt.source, tt.target); got != tt.allow {
			t.Errorf("decide(%s, %s) = %v, want %v", tt.source, tt.target, got, tt.allow)
		}
	}
	if !strings.Contains(logs.String(), `"rule_target":"billing-agent-v1","agent":"billing-agent"`) {
		t.Errorf("no notice that an alias rule was canonicalized:\n%s", logs.String())
	}
}
