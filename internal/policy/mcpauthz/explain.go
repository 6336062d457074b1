package mcpauthz

import (
	"encoding/json"
	"fmt"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// Explanation is what an mcp-authz policy decides for one tools/call, for
// `agentgateway explain`.
type Explanation struct {
	Allowed bool
	// Rule is the index of the deciding rule, -1 when no rule decided
	// (no rule for the principal, or none allows the tool).
	Rule int
	// PrincipalRules are the indexes of the rules whose principal matches
	// the subject, in config order.
	PrincipalRules []int
	// Reason says why, in the words of the audit log.
	Reason string
}

// ExplainToolCall runs the decision the policy makes when subject calls
// tool: the same compiled rules, principal matching and message
// authorization as a real tools/call request (the request is built and
// parsed as one), without I/O. rules must have passed config validation.
func ExplainToolCall(rules []Rule, subject, tool string) (Explanation, error) {
	rs, err := newRules(rules)
	if err != nil {
		return Explanation{}, err
	}
	ex := Explanation{Rule: -1}
	ms := rs.matching(subject, nil)
	for _, r := range ms {
		ex.PrincipalRules = append(ex.PrincipalRules, r.index)
	}
	if len(ms) == 0 {
		ex.Reason = "no rule for principal"
		return ex, nil
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool}})
	if err != nil {
		return Explanation{}, err
	}
	b, err := mcp.ParseBody(body)
	if err != nil {
		return Explanation{}, fmt.Errorf("tool name %q: %w", tool, err)
	}
	d := authorizeBody(subject, ms, b)
	ex.Allowed = d.allow
	if d.rule != nil {
		ex.Rule = d.rule.index
	}
	ex.Reason = d.reason
	return ex, nil
}
