package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy/a2aauthz"
	"github.com/agentgateway-go/agentgateway/internal/policy/mcpauthz"
)

const explainHelp = `Usage: agentgateway explain --config PATH --sub SUBJECT (--tool TOOL | --target AGENT) [--route NAME]

Shows which authorization rule decides a call, and why, using the gateway's
own decision code:

  --tool     an MCP tools/call of TOOL by SUBJECT, on every route with an
             mcp-authz policy
  --target   an A2A call of agent AGENT by SUBJECT, on every route with an
             a2a-authz policy; AGENT is first resolved to its canonical
             agent name, as the gateway does

SUBJECT is the caller's sub claim, for example
system:serviceaccount:NAMESPACE:NAME. For each policy it prints ALLOW or
DENY, the deciding rule with its FILE:LINE:COL, or "no rule" when none
decides (then the call is denied: authorization allows only what a rule
allows).

Exit codes: 0 when an explanation was printed (whatever the decision), 1
when the config has errors or no route has the policy, 2 on a bad command
line.
`

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	f := newFlags("explain", explainHelp, stdout, stderr)
	var path, sub, tool, target, route string
	f.configFlag(&path)
	f.string(&sub, "sub", "SUBJECT", "", "the caller's subject (sub claim) (required)")
	f.string(&tool, "tool", "TOOL", "", "explain an MCP tools/call of this tool")
	f.string(&target, "target", "AGENT", "", "explain an A2A call of this agent")
	f.string(&route, "route", "NAME", "", "only this route")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if code, ok := f.needConfig(path); !ok {
		return code
	}
	if sub == "" {
		code, _ := f.usageError("--sub SUBJECT is required")
		return code
	}
	if (tool == "") == (target == "") {
		code, _ := f.usageError("pass exactly one of --tool and --target")
		return code
	}
	cfg, err := config.Check(path)
	if err != nil {
		var el config.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				fmt.Fprintf(stderr, "error: %s\n", e)
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		fmt.Fprintf(stderr, "%s: invalid; run 'agentgateway validate' for details\n", path)
		return exitConfig
	}
	e := &explainer{cfg: cfg, w: stdout, sub: sub}
	n := 0
	for bi, b := range cfg.Binds {
		for li, l := range b.Listeners {
			for ri := range l.Routes {
				r := &cfg.Binds[bi].Listeners[li].Routes[ri]
				if route != "" && r.Name != route {
					continue
				}
				rp := fmt.Sprintf("binds[%d].listeners[%d].routes[%d]", bi, li, ri)
				var done bool
				if tool != "" {
					done, err = e.mcpRoute(r, rp, tool)
				} else {
					done, err = e.a2aRoute(r, rp, target)
				}
				if err != nil {
					fmt.Fprintln(stderr, "explain:", err)
					return exitConfig
				}
				if done {
					n++
				}
			}
		}
	}
	if n == 0 {
		kind := config.PolicyMCPAuthz
		if target != "" {
			kind = config.PolicyA2AAuthz
		}
		where := "no route"
		if route != "" {
			where = fmt.Sprintf("no route named %q", route)
		}
		fmt.Fprintf(stderr, "%s: %s has an %s policy: nothing to explain\n", path, where, kind)
		return exitConfig
	}
	return exitOK
}

type explainer struct {
	cfg *config.Config
	w   io.Writer
	sub string
}

// at is FILE:LINE:COL of the field at path.
func (e *explainer) at(path string) string {
	p, ok := e.cfg.Position(path)
	if !ok {
		return path
	}
	return fmt.Sprintf("%s:%d:%d", e.cfg.SourceFile(), p.Line, p.Col)
}

func (e *explainer) header(r *config.Route, rp string) {
	fmt.Fprintf(e.w, "route %q (prefix %s, %s)\n", r.Name, r.Match.Path.Prefix, e.at(rp))
}

func (e *explainer) mcpRoute(r *config.Route, rp, tool string) (bool, error) {
	found, allowed := false, true
	for pi, p := range r.Policies {
		if p.Type != config.PolicyMCPAuthz || mcpauthz.ConfigOf(&p) == nil {
			continue
		}
		if !found {
			e.header(r, rp)
			found = true
		}
		pp := fmt.Sprintf("%s.policies[%d]", rp, pi)
		fmt.Fprintf(e.w, "  %s policies[%d] (%s)\n", p.Type, pi, e.at(pp))
		ex, err := mcpauthz.ExplainToolCall(mcpauthz.ConfigOf(&p).Rules, e.sub, tool)
		if err != nil {
			return false, err
		}
		rulePath := func(i int) string { return fmt.Sprintf("%s.mcp.rules[%d]", pp, i) }
		switch {
		case ex.Allowed:
			rule := mcpauthz.ConfigOf(&p).Rules[ex.Rule]
			fmt.Fprintf(e.w, "    ALLOW by rules[%d] (%s): principal %q matches %q and allowedTools [%s] has %q\n",
				ex.Rule, e.at(rulePath(ex.Rule)), rule.Principal, e.sub, strings.Join(rule.AllowedTools, ", "), tool)
			if len(ex.PrincipalRules) > 1 {
				fmt.Fprintf(e.w, "    (the first rule for the principal that allows the tool decides; %s match the principal)\n", indexList(ex.PrincipalRules))
			}
		case len(ex.PrincipalRules) == 0:
			allowed = false
			fmt.Fprintf(e.w, "    DENY, no rule: no rule's principal matches %q, and mcp-authz allows only what a rule allows\n", e.sub)
		case ex.Rule >= 0:
			allowed = false
			fmt.Fprintf(e.w, "    DENY by rules[%d] (%s): %s\n", ex.Rule, e.at(rulePath(ex.Rule)), ex.Reason)
		default:
			allowed = false
			var where []string
			for _, i := range ex.PrincipalRules {
				where = append(where, fmt.Sprintf("rules[%d] (%s)", i, e.at(rulePath(i))))
			}
			fmt.Fprintf(e.w, "    DENY, no rule: %s match the principal, but none lists tool %q in allowedTools (%s)\n", strings.Join(where, ", "), tool, ex.Reason)
		}
	}
	if found {
		e.verdict(allowed)
	}
	return found, nil
}

func (e *explainer) a2aRoute(r *config.Route, rp, target string) (bool, error) {
	found, allowed := false, true
	for pi := range r.Policies {
		p := &r.Policies[pi]
		if p.Type != config.PolicyA2AAuthz || a2aauthz.ConfigOf(p) == nil {
			continue
		}
		pp := fmt.Sprintf("%s.policies[%d]", rp, pi)
		ex, err := a2aauthz.Explain(p, r, e.sub, target)
		if err != nil {
			return false, err
		}
		if !found {
			e.header(r, rp)
			found = true
			switch {
			case !ex.Served:
				fmt.Fprintf(e.w, "  note: no backend of this route serves agent %q: a call that authorization lets through ends in 404\n", target)
			case ex.Agent != target:
				fmt.Fprintf(e.w, "  note: %q is a name of agent %q; rules match canonical agent names\n", target, ex.Agent)
			}
		}
		fmt.Fprintf(e.w, "  %s policies[%d] (%s)\n", p.Type, pi, e.at(pp))
		if ex.Rule < 0 {
			allowed = false
			fmt.Fprintf(e.w, "    DENY, no rule: no rule matches source %q and agent %q, and a2a-authz allows only what a rule allows\n", e.sub, ex.Agent)
			continue
		}
		rule := a2aauthz.ConfigOf(p).Rules[ex.Rule]
		at := e.at(fmt.Sprintf("%s.a2a.rules[%d]", pp, ex.Rule))
		if ex.Allowed {
			fmt.Fprintf(e.w, "    ALLOW by rules[%d] (%s): source %q, target %q, allowed: true (and no matching rule denies)\n", ex.Rule, at, rule.Source, rule.Target)
		} else {
			allowed = false
			fmt.Fprintf(e.w, "    DENY by rules[%d] (%s): source %q, target %q, allowed: false (a matching deny wins over any allow)\n", ex.Rule, at, rule.Source, rule.Target)
		}
	}
	if found {
		e.verdict(allowed)
	}
	return found, nil
}

func (e *explainer) verdict(allowed bool) {
	if allowed {
		fmt.Fprintln(e.w, "  => allow")
	} else {
		fmt.Fprintln(e.w, "  => deny")
	}
}

func indexList(is []int) string {
	s := make([]string, len(is))
	for i, x := range is {
		s[i] = fmt.Sprintf("rules[%d]", x)
	}
	return strings.Join(s, ", ")
}
