package a2aauthz

import (
	"context"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Explanation is what an a2a-authz policy decides for one call, for
// `agentgateway explain`.
type Explanation struct {
	Allowed bool
	// Rule is the index of the deciding rule, -1 when no rule matched.
	Rule int
	// Agent is the canonical agent name the rules were matched against;
	// Served is false when no backend of the route serves target (the
	// call then ends in 404 if authorization lets it through).
	Agent  string
	Served bool
}

// Explain runs the decision the gateway makes when subject calls target on
// route: target is resolved to its canonical agent name through the
// route's directory (as the agent router does before any policy runs),
// then the policy's own rules decide. p must have passed config
// validation.
func Explain(p *config.Policy, route *config.Route, subject, target string) (Explanation, error) {
	pp, err := New(context.Background(), p, policy.Env{RouteName: route.Name, Route: route})
	if err != nil {
		return Explanation{}, err
	}
	pol := pp.(*Policy)
	dbs := make([]a2a.Backend, len(route.Backends))
	for i, b := range route.Backends {
		dbs[i] = a2a.Backend{Name: b.Name, Agents: b.Agents}
	}
	// The agent router's directory: every a2a-authz rule of the route
	// names canonical agents (gateway.newAgentRouter).
	targets := RouteTargets(route)
	ex := Explanation{Rule: -1, Agent: target}
	if _, canonical, ok := a2a.NewDirectory(dbs, targets).Resolve(target); ok {
		ex.Agent, ex.Served = canonical, true
	}
	allowed, by := pol.decide(subject, ex.Agent)
	ex.Allowed = allowed
	if by != nil {
		ex.Rule = by.index
	}
	return ex, nil
}
