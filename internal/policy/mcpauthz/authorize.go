package mcpauthz

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/glob"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// rule is one compiled Rule.
type rule struct {
	index     int
	principal string // the pattern as written, for audit records
	who       *glob.Matcher
	tools     *glob.Matcher
	resources *glob.Matcher
	prompts   *glob.Matcher
	perMinute int
}

// rules is the compiled rule list of one policy, in config order.
type rules []*rule

// compileRules compiles validated rules; it panics on patterns config
// validation refuses (see newRules for unvalidated input).
func compileRules(cfg []Rule) rules {
	rs, err := newRules(cfg)
	if err != nil {
		panic(err)
	}
	return rs
}

func newRules(cfg []Rule) (rules, error) {
	rs := make(rules, 0, len(cfg))
	for i, r := range cfg {
		cr := &rule{index: i, principal: r.Principal}
		var err error
		for _, f := range []struct {
			dst  **glob.Matcher
			pats []string
			sep  byte
		}{
			{&cr.who, []string{r.Principal}, glob.SepPrincipal},
			{&cr.tools, r.AllowedTools, glob.SepNone},
			{&cr.resources, r.AllowedResources, glob.SepResource},
			{&cr.prompts, r.AllowedPrompts, glob.SepNone},
		} {
			if *f.dst, err = glob.Compile(f.pats, f.sep); err != nil {
				return nil, fmt.Errorf("rules[%d]: %w", i, err)
			}
		}
		if r.RateLimit != nil {
			cr.perMinute = r.RateLimit.RequestsPerMinute
		}
		rs = append(rs, cr)
	}
	return rs, nil
}

// matching returns the rules whose principal pattern matches subject, in
// config order, appended to buf.
func (rs rules) matching(subject string, buf []*rule) []*rule {
	for _, r := range rs {
		if r.who.Match(subject) {
			buf = append(buf, r)
		}
	}
	return buf
}

// Target kinds recorded in decisions and audit records.
const (
	kindTool     = "tool"
	kindResource = "resource"
	kindPrompt   = "prompt"
)

// listKind names a list method whose result the gateway filters.
type listKind int

const (
	listNone listKind = iota
	listTools
	listResources
	listTemplates
	listPrompts
)

// kindList is the list method of each filtered list kind.
var kindList = [...]mcp.List{
	listTools:     mcp.ListTools,
	listResources: mcp.ListResources,
	listTemplates: mcp.ListResourceTemplates,
	listPrompts:   mcp.ListPrompts,
}

// listed returns the rule field that the items of list l are matched
// against.
func (r *rule) listed(l mcp.List) *glob.Matcher {
	switch l {
	case mcp.ListTools:
		return r.tools
	case mcp.ListPrompts:
		return r.prompts
	}
	return r.resources
}

// decision is the outcome of authorizing one POST body (or one GET/DELETE).
type decision struct {
	allow bool
	// err is what the client gets when allow is false.
	err *policy.Error
	// method is the JSON-RPC method ("" for responses, "batch" for a
	// batch), kind and target what it acts on.
	method string
	kind   string
	target string
	// rule is the deciding rule; nil when no rule decided.
	rule *rule
	// reason explains a deny for the audit record.
	reason string
	// list is set for list requests whose response is filtered.
	list listKind
	// targeted marks decisions about a tool, resource or prompt (audited
	// at INFO even when allowed).
	targeted bool
}

// Methods a client may send, by what they need. Everything else is denied.
var (
	// sessionMethods need only a matching rule.
	sessionMethods = map[string]bool{
		"initialize":       true,
		"ping":             true,
		"server/discover":  true,
		"logging/setLevel": true,
	}
	// taskMethods need a matching rule that allows at least one tool:
	// tasks only come from tool calls.
	taskMethods = map[string]bool{
		"tasks/get":    true,
		"tasks/list":   true,
		"tasks/result": true,
		"tasks/cancel": true,
	}
	// clientNotifications are the notifications a client sends.
	clientNotifications = map[string]bool{
		"notifications/initialized":        true,
		"notifications/cancelled":          true,
		"notifications/progress":           true,
		"notifications/roots/list_changed": true,
		"notifications/tasks/status":       true,
	}
	// requestOnly are methods that must carry an id.
	requestOnly = map[string]bool{
		"tools/call": true, "tools/list": true, "prompts/get": true, "prompts/list": true,
		"resources/read": true, "resources/list": true, "resources/templates/list": true,
		"resources/subscribe": true, "resources/unsubscribe": true, "completion/complete": true,
		"initialize": true, "ping": true, "server/discover": true, "logging/setLevel": true,
		"subscriptions/listen": true, "tasks/get": true, "tasks/list": true, "tasks/result": true,
		"tasks/cancel": true,
	}
)

func invalidRequest(format string, args ...any) *policy.Error {
	return &policy.Error{Status: http.StatusBadRequest, Code: mcp.CodeInvalidRequest, Message: "Invalid Request: " + fmt.Sprintf(format, args...)}
}

func invalidParams(format string, args ...any) *policy.Error {
	return &policy.Error{Status: http.StatusBadRequest, Code: mcp.CodeInvalidParams, Message: "Invalid params: " + fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *policy.Error {
	return &policy.Error{Status: http.StatusForbidden, Code: policy.CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

// authorizeBody authorizes a parsed POST body for subject, given the rules
// that match subject (at least one). A batch passes only if every element
// may be batched and passes on its own.
func authorizeBody(subject string, ms []*rule, body *mcp.Body) decision {
	if body == nil || len(body.Messages) == 0 {
		return decision{err: invalidRequest("empty body"), reason: "empty body"}
	}
	if !body.Batch && len(body.Messages) == 1 {
		return authorizeMessage(subject, ms, body.Messages[0])
	}
	for _, m := range body.Messages {
		if !batchable(m) {
			what := m.Method
			d := decision{method: "batch", reason: "batch contains " + mcp.QuoteName(what)}
			d.err = invalidRequest("%s must be sent alone, one JSON-RPC message per POST; batches may only carry responses, notifications and ping", mcp.QuoteName(what))
			return d
		}
		if d := authorizeMessage(subject, ms, m); !d.allow {
			d.method = "batch/" + d.method
			return d
		}
	}
	return decision{allow: true, method: "batch", rule: ms[0]}
}

// batchable reports whether m may travel in a batch: batches only carry
// messages that need no per-target decision, no response filtering and no
// rate limit.
func batchable(m *mcp.Message) bool {
	switch m.Kind {
	case mcp.KindResponse, mcp.KindNotification:
		return true
	}
	return m.Method == "ping"
}

// authorizeMessage authorizes one JSON-RPC message that mcp.ParseBody
// read. It relies on the guarantees documented on mcp.Message instead of
// walking the message again: no member appears twice at any depth, and
// neither the top-level members nor params.name / params.uri have a
// case-folded twin, so m.Method and m.Name are what the backend reads.
// Members deeper in params (completion/complete's ref, subscriptions/
// listen's notifications) have no such guarantee and are read with
// mcp.Lookup, which refuses their case variants.
func authorizeMessage(subject string, ms []*rule, m *mcp.Message) decision {
	d := decision{method: m.Method, rule: ms[0]}
	deny := func(err *policy.Error, reason string) decision {
		d.allow, d.err, d.reason = false, err, reason
		return d
	}
	switch m.Kind {
	case mcp.KindResponse:
		// A client answering a server request (sampling, elicitation,
		// roots). The session it belongs to is bound to this principal.
		d.allow = true
		return d
	case mcp.KindNotification:
		if clientNotifications[m.Method] {
			d.allow = true
			return d
		}
		if requestOnly[m.Method] {
			return deny(invalidRequest("%s must be a request with an id, not a notification", mcp.QuoteName(m.Method)), "request sent as a notification")
		}
		return deny(forbidden("notification %s is not allowed for %s", mcp.QuoteName(m.Method), mcp.QuoteName(subject)), "notification not allowed")
	}

	switch {
	case sessionMethods[m.Method]:
		d.allow = true
		return d
	case taskMethods[m.Method]:
		for _, r := range ms {
			if !r.tools.Empty() {
				d.allow, d.rule = true, r
				return d
			}
		}
		return deny(forbidden("%s is not allowed for %s: no tool is allowed", m.Method, mcp.QuoteName(subject)), "no tool allowed")
	}

	switch m.Method {
	case "tools/list":
		d.allow, d.list = true, listTools
		return d
	case "resources/list", "resources/templates/list", "prompts/list":
		kind := map[string]listKind{"resources/list": listResources, "resources/templates/list": listTemplates, "prompts/list": listPrompts}[m.Method]
		for _, r := range ms {
			if !r.listed(kindList[kind]).Empty() {
				d.allow, d.rule, d.list = true, r, kind
				return d
			}
		}
		return deny(forbidden("%s is not allowed for %s", m.Method, mcp.QuoteName(subject)), "no rule grants this list")

	case "tools/call":
		d.kind, d.target, d.targeted = kindTool, m.Name, true
		for _, r := range ms {
			if r.tools.Match(m.Name) {
				d.allow, d.rule = true, r
				return d
			}
		}
		d.rule = nil
		return deny(forbidden("tool %s is not allowed for %s", mcp.QuoteName(m.Name), mcp.QuoteName(subject)), "no rule allows the tool")

	case "prompts/get":
		d.kind, d.target, d.targeted = kindPrompt, m.Name, true
		return promptDecision(d, subject, ms, m.Name)

	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		d.kind, d.target, d.targeted = kindResource, m.Name, true
		return resourceDecision(d, subject, ms, m.Name)

	case "completion/complete":
		return completionDecision(d, subject, ms, m.Params)

	case "subscriptions/listen":
		return listenDecision(d, subject, ms, m.Params)
	}
	return deny(forbidden("method %s is not allowed for %s", mcp.QuoteName(m.Method), mcp.QuoteName(subject)), "method not allowed")
}

func promptDecision(d decision, subject string, ms []*rule, name string) decision {
	for _, r := range ms {
		if r.prompts.Match(name) {
			d.allow, d.rule = true, r
			return d
		}
	}
	d.rule, d.reason = nil, "no rule allows the prompt"
	d.err = forbidden("prompt %s is not allowed for %s", mcp.QuoteName(name), mcp.QuoteName(subject))
	return d
}

func resourceDecision(d decision, subject string, ms []*rule, uri string) decision {
	if reason := unsafeURI(uri); reason != "" {
		d.rule, d.reason = nil, reason
		d.err = forbidden("resource %s is not allowed for %s: %s", mcp.QuoteName(uri), mcp.QuoteName(subject), reason)
		return d
	}
	for _, r := range ms {
		if r.resources.Match(uri) {
			d.allow, d.rule = true, r
			return d
		}
	}
	d.rule, d.reason = nil, "no rule allows the resource"
	d.err = forbidden("resource %s is not allowed for %s", mcp.QuoteName(uri), mcp.QuoteName(subject))
	return d
}

// completionDecision authorizes completion/complete by its reference: a
// prompt (by name) or a resource template (by URI template text).
func completionDecision(d decision, subject string, ms []*rule, params []byte) decision {
	bad := func(msg string) decision {
		d.err, d.reason = invalidParams("%s", msg), msg
		return d
	}
	if len(params) == 0 || params[0] != '{' {
		return bad("completion/complete needs params.ref")
	}
	p, err := mcp.Lookup(params, 0, "ref")
	if err != nil {
		return bad(err.Error())
	}
	if !p[0].Present() || params[p[0].Start] != '{' {
		return bad("params.ref must be an object")
	}
	ref, err := mcp.Lookup(params, p[0].Start, "type", "name", "uri")
	if err != nil {
		return bad(err.Error())
	}
	typ, _ := mcp.String(params, ref[0])
	d.targeted = true
	switch typ {
	case "ref/prompt":
		name, ok := mcp.String(params, ref[1])
		if !ok {
			return bad("params.ref.name must be a string")
		}
		d.kind, d.target = kindPrompt, name
		return promptDecision(d, subject, ms, name)
	case "ref/resource":
		uri, ok := mcp.String(params, ref[2])
		if !ok {
			return bad("params.ref.uri must be a string")
		}
		d.kind, d.target = kindResource, uri
		return resourceDecision(d, subject, ms, uri)
	}
	return bad(`params.ref.type must be "ref/prompt" or "ref/resource"`)
}

// listenDecision authorizes subscriptions/listen: list-change
// notifications need only a matching rule; every URI in
// notifications.resourceSubscriptions must be an allowed resource.
func listenDecision(d decision, subject string, ms []*rule, params []byte) decision {
	bad := func(msg string) decision {
		d.err, d.reason = invalidParams("%s", msg), msg
		return d
	}
	d.allow = true
	if len(params) == 0 || params[0] != '{' {
		return d
	}
	p, err := mcp.Lookup(params, 0, "notifications")
	if err != nil {
		return bad(err.Error())
	}
	if !p[0].Present() || params[p[0].Start] != '{' {
		return d
	}
	n, err := mcp.Lookup(params, p[0].Start, "resourceSubscriptions")
	if err != nil {
		return bad(err.Error())
	}
	if !n[0].Present() || string(params[n[0].Start:n[0].End]) == "null" {
		return d
	}
	var out decision
	done := false
	err = mcp.Elements(params, n[0].Start, func(s, e int) bool {
		uri, ok := mcp.String(params, mcp.Member{Start: s, End: e})
		if !ok {
			out, done = bad("resourceSubscriptions must hold strings"), true
			return false
		}
		rd := d
		rd.kind, rd.target, rd.targeted, rd.allow = kindResource, uri, true, false
		if rd = resourceDecision(rd, subject, ms, uri); !rd.allow {
			out, done = rd, true
			return false
		}
		return true
	})
	if err != nil {
		return bad("resourceSubscriptions must be an array")
	}
	if done {
		out.allow = false
		return out
	}
	return d
}

// unsafeURI returns why a resource URI is refused whatever the rules say,
// or "": wildcards match text, so anything a backend could decode or
// resolve into another resource is refused.
func unsafeURI(u string) string {
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return "control character in URI"
		case c == '\\':
			return "backslash in URI"
		case c == '%' && i+2 < len(u):
			switch strings.ToLower(u[i+1 : i+3]) {
			case "2e", "2f", "5c", "00", "25":
				return "encoded '.', '/', '\\', '%' or NUL in URI"
			}
		}
	}
	for _, seg := range strings.FieldsFunc(u, func(r rune) bool { return r == '/' || r == '?' || r == '#' }) {
		if seg == "." || seg == ".." {
			return "dot segment in URI"
		}
	}
	return ""
}
