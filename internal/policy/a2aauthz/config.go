package a2aauthz

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/glob"
)

// Type is the policy type name (config.PolicyA2AAuthz: the route's kind
// depends on it, Route.IsA2A), and Block the key of its config block.
const (
	Type  = config.PolicyA2AAuthz
	Block = "a2a"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the a2a-authz block.
type Config struct {
	// Rules decide which source identities may call which target agents;
	// what no rule allows is denied.
	Rules []Rule `yaml:"rules"`
}

// Rule allows (or denies) a source identity calling a target agent.
type Rule struct {
	// Source is the caller's verified subject, exact or a glob.
	Source string `yaml:"source"`
	// Target is a canonical agent name, a glob over agent names, or "*".
	Target string `yaml:"target"`
	// Allowed is true for an allow rule; false denies, and a matching deny
	// wins over any allow.
	Allowed bool `yaml:"allowed"`
}

// SetDefaults does nothing: a2a-authz has no defaults.
func (c *Config) SetDefaults() {}

// SchemaRequired tells the schema generator the required fields.
func (*Config) SchemaRequired() map[string][]string {
	return map[string][]string{"Config": {"rules"}, "Rule": {"source", "target"}}
}

// ConfigOf returns the a2a-authz block of p, or nil when p is of another
// type.
func ConfigOf(p *config.Policy) *Config {
	c, _ := p.Spec.(*Config)
	return c
}

// RouteTargets lists the targets of every a2a-authz rule of route r: the
// exact names among them pick a derived agent's canonical name
// (a2a.NewDirectory), for the agent router and for the policy alike.
func RouteTargets(r *config.Route) []string {
	var out []string
	for i := range r.Policies {
		if c := ConfigOf(&r.Policies[i]); c != nil {
			for _, rule := range c.Rules {
				out = append(out, rule.Target)
			}
		}
	}
	return out
}

// directory is the agent directory of route r as this block's rules see
// it.
func (c *Config) directory(r *config.Route) *a2a.Directory {
	dbs := make([]a2a.Backend, len(r.Backends))
	for i, b := range r.Backends {
		dbs[i] = a2a.Backend{Name: b.Name, Agents: b.Agents}
	}
	targets := make([]string, len(c.Rules))
	for i, rule := range c.Rules {
		targets[i] = rule.Target
	}
	return a2a.NewDirectory(dbs, targets)
}

// Validate checks the block on its route.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	r := at.Route
	if r.IsMCP() {
		errs = append(errs, at.TypeErrorf("a2a-authz routes by target agent and cannot have an mcp-http backend"))
	}
	if !r.Authenticates() {
		errs = append(errs, at.TypeErrorf("a2a-authz requires jwt-authn on the same route, or authentication.clientCertificate: true (rules match the verified source identity)"))
	}
	dir := c.directory(r)
	if len(c.Rules) == 0 {
		errs = append(errs, at.Errorf("rules", "at least one rule is required"))
	}
	seen := map[[2]string]int{}
	for i, rule := range c.Rules {
		rp := "rules[" + strconv.Itoa(i) + "]"
		if rule.Source == "" {
			errs = append(errs, at.Errorf(rp+".source", "source is required"))
		}
		if rule.Target == "" {
			errs = append(errs, at.Errorf(rp+".target", "target is required"))
		} else if rule.Target != "*" && !a2a.ValidAgentName(strings.ReplaceAll(rule.Target, "*", "x")) {
			errs = append(errs, at.Errorf(rp+".target", "target %q must be an agent name, a glob over agent names, or \"*\"", rule.Target))
		} else if m, err := glob.Compile([]string{rule.Target}, glob.SepNone); err == nil {
			// Rules match canonical agent names. A glob that matches
			// version aliases of an agent but not the agent would match
			// nothing at run time, which is never what it was written for
			// (a deny of "billing-agent-v*" must not silently allow).
			if agent, bad := dir.AliasOnlyMatch(rule.Target, m.Match); bad {
				errs = append(errs, at.Errorf(rp+".target", "target %q matches names of agent %q (its version aliases) but not its canonical name %q; rules match canonical agent names, and every name that reaches a backend is the same agent: name %q, or use a pattern that matches it", rule.Target, agent, agent, agent))
			}
		}
		if msg := config.CheckPattern(rule.Source); rule.Source != "" && msg != "" {
			errs = append(errs, at.Errorf(rp+".source", "%s", msg))
		}
		if rule.Source != "" && rule.Target != "" {
			k := [2]string{rule.Source, rule.Target}
			if first, dup := seen[k]; dup {
				errs = append(errs, at.Errorf(rp, "source %q and target %q already have a rule (rules[%d])", rule.Source, rule.Target, first))
			} else {
				seen[k] = i
			}
		}
	}
	return errs
}

// Warnings flags rules whose target no backend of the route serves: the
// rule can never match a call, which usually means a typo (an allow that
// never allows, or worse, a deny that never denies).
func (c *Config) Warnings(at config.PolicyAt) []*config.FieldError {
	r := at.Route
	dir := c.directory(r)
	var canonical []string
	for i := range r.Backends {
		canonical = append(canonical, dir.Names(i)...)
	}
	var out []*config.FieldError
	for i, rule := range c.Rules {
		if rule.Target == "" || rule.Target == "*" {
			continue
		}
		served := false
		if strings.Contains(rule.Target, "*") {
			if m, err := glob.Compile([]string{rule.Target}, glob.SepNone); err == nil {
				for _, n := range canonical {
					if m.Match(n) {
						served = true
						break
					}
				}
			} else {
				served = true // Validate reports the pattern
			}
		} else {
			_, _, served = dir.Resolve(rule.Target)
		}
		if !served {
			out = append(out, at.Errorf("rules["+strconv.Itoa(i)+"]"+".target", "no backend of this route serves agent %q (it serves %s): this rule never matches a call", rule.Target, quoteList(canonical)))
		}
	}
	return out
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "no agent"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
