package mcpauthz

import (
	_ "embed"
	"strconv"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Type is the policy type name (config.PolicyMCPAuthz: the admin status
// page and explain name it), and Block the key of its config block.
const (
	Type  = config.PolicyMCPAuthz
	Block = "mcp"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the mcp-authz block.
type Config struct {
	// Rules grant principals tools, resources and prompts; what no rule
	// grants is denied (docs/authz.md).
	Rules []Rule `yaml:"rules"`
}

// Rule grants a principal (an exact subject or a glob, see docs/authz.md)
// a set of tools, resources and prompts.
type Rule struct {
	// Principal is the verified subject, exact or a glob ("**" for every
	// authenticated principal).
	Principal string `yaml:"principal"`
	// AllowedTools are tool names or globs the principal may call and list.
	AllowedTools []string `yaml:"allowedTools"`
	// AllowedResources are resource URI globs the principal may read,
	// subscribe to and list (resources/*).
	AllowedResources []string `yaml:"allowedResources"`
	// AllowedPrompts are prompt names or globs the principal may get and
	// list (prompts/*).
	AllowedPrompts []string `yaml:"allowedPrompts"`
	// RateLimit bounds the principal's tools/call rate (its burst is
	// requestsPerMinute).
	RateLimit *config.RateValue `yaml:"rateLimit"`
}

// ConfigOf returns the mcp-authz block of p, or nil when p is of another
// type.
func ConfigOf(p *config.Policy) *Config {
	if p == nil {
		return nil
	}
	c, _ := p.Spec.(*Config)
	return c
}

// SetDefaults does nothing: mcp-authz has no defaults.
func (c *Config) SetDefaults() {}

// SchemaRequired tells the schema generator the required fields.
func (*Config) SchemaRequired() map[string][]string {
	return map[string][]string{"Config": {"rules"}, "Rule": {"principal"}}
}

// HasRateLimits reports whether a rule limits a rate (config.RateLimiter:
// the warning about limits kept in one process's memory).
func (c *Config) HasRateLimits() bool {
	for _, r := range c.Rules {
		if r.RateLimit != nil {
			return true
		}
	}
	return false
}

// Validate checks the block on its route.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	add := func(field, format string, args ...any) { errs = append(errs, at.Errorf(field, format, args...)) }
	r := at.Route
	if !r.IsMCP() && len(r.Backends) > 0 {
		errs = append(errs, at.TypeErrorf("mcp-authz requires an mcp-http backend on the route"))
	}
	if !r.Authenticates() {
		// Authorization matches rules against the verified principal;
		// without authentication every call would be refused at run
		// time. Say so now.
		errs = append(errs, at.TypeErrorf("%s", ErrNoAuthn.Error()))
	}
	if len(c.Rules) == 0 {
		add("rules", "at least one rule is required")
	}
	principals := map[string]int{}
	for i, rule := range c.Rules {
		rp := "rules[" + strconv.Itoa(i) + "]"
		switch {
		case rule.Principal == "":
			add(rp+".principal", "principal is required")
		case rule.Principal == "*":
			add(rp+".principal", `principal "*" matches only subjects without ":"; write "**" for every authenticated principal, or a pattern such as "system:serviceaccount:<namespace>:*"`)
		default:
			if msg := config.CheckPattern(rule.Principal); msg != "" {
				add(rp+".principal", "principal %s", msg)
			} else if first, dup := principals[rule.Principal]; dup {
				add(rp+".principal", "principal %q already has a rule (rules[%d])", rule.Principal, first)
			} else {
				principals[rule.Principal] = i
			}
		}
		if len(rule.AllowedTools) == 0 && len(rule.AllowedResources) == 0 && len(rule.AllowedPrompts) == 0 {
			add(rp+".allowedTools", "at least one tool is required (or allowedResources / allowedPrompts)")
		}
		for _, list := range []struct {
			field, what string
			vals        []string
		}{
			{"allowedTools", "tool name", rule.AllowedTools},
			{"allowedResources", "resource URI", rule.AllowedResources},
			{"allowedPrompts", "prompt name", rule.AllowedPrompts},
		} {
			for ti, t := range list.vals {
				tp := rp + "." + list.field + "[" + strconv.Itoa(ti) + "]"
				if t == "" {
					add(tp, "%s must not be empty", list.what)
				} else if msg := config.CheckPattern(t); msg != "" {
					add(tp, "%s %s", list.what, msg)
				}
			}
		}
		if rule.RateLimit != nil && rule.RateLimit.RequestsPerMinute <= 0 {
			add(rp+".rateLimit.requestsPerMinute", "must be greater than 0")
		}
		if rule.RateLimit != nil && rule.RateLimit.Burst != 0 {
			add(rp+".rateLimit.burst", "burst is not supported in mcp-authz rules (the burst is requestsPerMinute); use a rate-limit descriptor with key principal for another burst")
		}
	}
	return errs
}
