package telemetry

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
)

// Span attribute templating: observability.opentelemetry.tracing.attributes
// of the configuration, for example
//
//	- key: agent.identity
//	  value: ${jwt.sub}
//	- key: tool.name
//	  value: ${mcp.tool}
//	- key: gateway.version
//	  value: "0.11"
//
// A value is literal text with ${variable} references; "$$" is a literal
// "$". The variables are listed in Variables (docs/tracing.md). A
// variable that is unset for a request (no MCP tool on an A2A call, a
// claim the token lacks or that is not a string) expands to the empty
// string, and an attribute whose whole value is empty is left off the
// span.
//
// Safety rule: credentials are never variables. There is no jwt.raw, no
// jwt.token, no header and no query-string variable; jwt.<claim> reads
// only the decoded claims of a verified token, request.path is the path
// without its query, and tool arguments are not exposed. A template naming
// anything else fails to compile.

// Limits of a compiled attribute list, so that a configuration cannot make
// every span expensive.
const (
	maxAttributes    = 64
	maxKeyLen        = 256
	maxTemplateLen   = 4096
	maxVarsPerValue  = 32
	maxVariableNameN = 256
)

// Vars are the values a request offers to attribute templates. The zero
// value (every variable unset) is valid.
type Vars struct {
	// Principal is the authenticated caller (nil: anonymous). jwt.sub is
	// its Subject, jwt.iss its Issuer, jwt.<claim> one of its Claims.
	Principal *identity.Principal
	// MCPTool is the tool of a tools/call; MCPMethod the JSON-RPC method;
	// MCPSessionID the Mcp-Session-Id.
	MCPTool, MCPMethod, MCPSessionID string
	// A2AMethod is the A2A JSON-RPC method; A2ATarget the agent called
	// (the route's backend agent); A2ASource the calling agent's identity.
	A2AMethod, A2ATarget, A2ASource string
	// Route and Backend are the names of the matched route and the
	// backend the request went to.
	Route, Backend string
	// RequestMethod and RequestPath are the HTTP method and URL path.
	// Anything from a "?" on is dropped from RequestPath.
	RequestMethod, RequestPath string
}

type varID uint8

const (
	varLiteral varID = iota
	varJWTSub
	varJWTIss
	varJWTClaim
	varMCPTool
	varMCPMethod
	varMCPSessionID
	varA2AMethod
	varA2ATarget
	varA2ASource
	varRoute
	varBackend
	varRequestMethod
	varRequestPath
)

// fixedVars are the variables other than jwt.<claim>.
var fixedVars = map[string]varID{
	"jwt.sub":        varJWTSub,
	"jwt.iss":        varJWTIss,
	"mcp.tool":       varMCPTool,
	"mcp.method":     varMCPMethod,
	"mcp.session_id": varMCPSessionID,
	"a2a.method":     varA2AMethod,
	"a2a.target":     varA2ATarget,
	"a2a.source":     varA2ASource,
	"route":          varRoute,
	"backend":        varBackend,
	"request.method": varRequestMethod,
	"request.path":   varRequestPath,
}

// Variables lists the template variables; "jwt.<claim>" stands for any
// string claim of the token.
func Variables() []string {
	return []string{
		"jwt.sub", "jwt.iss", "jwt.<claim>",
		"mcp.tool", "mcp.method", "mcp.session_id",
		"a2a.method", "a2a.target", "a2a.source",
		"route", "backend", "request.method", "request.path",
	}
}

// forbiddenClaims could be mistaken for the token itself; they are
// rejected rather than looked up as claims.
var forbiddenClaims = map[string]bool{
	"raw": true, "token": true, "signature": true, "header": true,
}

type part struct {
	v     varID
	text  string // varLiteral: the text
	claim string // varJWTClaim: the claim path
}

type template struct {
	key    attribute.Key
	parts  []part
	static bool
	kv     attribute.KeyValue // when static (and non-empty)
}

// Attributes is a compiled attribute list. A nil *Attributes has no
// attributes. It is safe for concurrent use.
type Attributes struct {
	list []template
}

// CompileAttributes parses the configured attributes once. It fails on an
// empty or duplicate key, a malformed ${...} and an unknown variable.
func CompileAttributes(list []config.TraceAttribute) (*Attributes, error) {
	if len(list) > maxAttributes {
		return nil, fmt.Errorf("tracing attributes: %d attributes, at most %d", len(list), maxAttributes)
	}
	a := &Attributes{list: make([]template, 0, len(list))}
	seen := make(map[string]bool, len(list))
	for i, at := range list {
		if err := checkKey(at.Key); err != nil {
			return nil, fmt.Errorf("tracing attributes[%d]: key %q: %w", i, at.Key, err)
		}
		if seen[at.Key] {
			return nil, fmt.Errorf("tracing attributes[%d]: duplicate key %q", i, at.Key)
		}
		seen[at.Key] = true
		parts, err := parseTemplate(at.Value)
		if err != nil {
			return nil, fmt.Errorf("tracing attributes[%d] (%s): %w", i, at.Key, err)
		}
		t := template{key: attribute.Key(at.Key), parts: parts, static: true}
		for _, p := range parts {
			if p.v != varLiteral {
				t.static = false
			}
		}
		if t.static {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.text)
			}
			if b.Len() == 0 {
				continue // always empty: never on a span
			}
			t.kv = t.key.String(b.String())
		}
		a.list = append(a.list, t)
	}
	return a, nil
}

func checkKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty")
	case len(k) > maxKeyLen:
		return fmt.Errorf("longer than %d bytes", maxKeyLen)
	case !utf8.ValidString(k):
		return errors.New("not UTF-8")
	case strings.TrimSpace(k) != k:
		return errors.New("leading or trailing space")
	}
	for _, r := range k {
		if unicode.IsControl(r) {
			return errors.New("control character")
		}
	}
	return nil
}

// parseTemplate splits s into literals and variables; adjacent literals
// are merged.
func parseTemplate(s string) ([]part, error) {
	if len(s) > maxTemplateLen {
		return nil, fmt.Errorf("value longer than %d bytes", maxTemplateLen)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("value is not UTF-8")
	}
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{v: varLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	nvars := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '$':
			lit.WriteByte('$')
			i += 2
			continue
		case i+1 < len(s) && s[i+1] == '{':
		default:
			return nil, fmt.Errorf("value %q: a lone '$' at byte %d (write $$ for a literal $, ${name} for a variable)", s, i)
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return nil, fmt.Errorf("value %q: unterminated ${ at byte %d", s, i)
		}
		name := s[i+2 : i+2+end]
		p, err := parseVar(name)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", s, err)
		}
		nvars++
		if nvars > maxVarsPerValue {
			return nil, fmt.Errorf("value %q: more than %d variables", s, maxVarsPerValue)
		}
		flush()
		parts = append(parts, p)
		i += 2 + end + 1
	}
	flush()
	return parts, nil
}

func parseVar(name string) (part, error) {
	if name == "" {
		return part{}, errors.New("empty ${}")
	}
	if len(name) > maxVariableNameN {
		return part{}, fmt.Errorf("variable name longer than %d bytes", maxVariableNameN)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '$' || r == '{' {
			return part{}, fmt.Errorf("variable ${%s}: invalid character %q", name, r)
		}
	}
	if id, ok := fixedVars[name]; ok {
		return part{v: id}, nil
	}
	if claim, ok := strings.CutPrefix(name, "jwt."); ok {
		if claim == "" || strings.HasPrefix(claim, ".") || strings.HasSuffix(claim, ".") || strings.Contains(claim, "..") {
			return part{}, fmt.Errorf("variable ${%s}: malformed claim path", name)
		}
		if forbiddenClaims[strings.ToLower(claim)] {
			return part{}, fmt.Errorf("variable ${%s}: tokens are never span attributes", name)
		}
		return part{v: varJWTClaim, claim: claim}, nil
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "header") || strings.HasPrefix(lower, "request.header") || strings.Contains(lower, "authorization") ||
		strings.Contains(lower, "token") || strings.Contains(lower, "cookie") || strings.Contains(lower, "argument") || strings.HasPrefix(lower, "request.query") {
		return part{}, fmt.Errorf("variable ${%s}: headers, tokens, query strings and tool arguments are never span attributes", name)
	}
	return part{}, fmt.Errorf("unknown variable ${%s} (known: %s)", name, strings.Join(Variables(), ", "))
}

// Len is the number of attributes that can appear on a span.
func (a *Attributes) Len() int {
	if a == nil {
		return 0
	}
	return len(a.list)
}

// Eval expands the attributes for one request. Attributes whose value is
// empty are left out.
func (a *Attributes) Eval(v Vars) []attribute.KeyValue {
	if a.Len() == 0 {
		return nil
	}
	return a.Append(make([]attribute.KeyValue, 0, len(a.list)), &v)
}

// Append is Eval appending to dst.
func (a *Attributes) Append(dst []attribute.KeyValue, v *Vars) []attribute.KeyValue {
	if a == nil {
		return dst
	}
	for i := range a.list {
		t := &a.list[i]
		if t.static {
			dst = append(dst, t.kv)
			continue
		}
		var s string
		if len(t.parts) == 1 {
			s = value(t.parts[0], v)
		} else {
			var b strings.Builder
			for _, p := range t.parts {
				b.WriteString(value(p, v))
			}
			s = b.String()
		}
		if s != "" {
			dst = append(dst, t.key.String(s))
		}
	}
	return dst
}

func value(p part, v *Vars) string {
	switch p.v {
	case varLiteral:
		return p.text
	case varJWTSub:
		if v.Principal != nil {
			return v.Principal.Subject
		}
	case varJWTIss:
		if v.Principal != nil {
			return v.Principal.Issuer
		}
	case varJWTClaim:
		if c, ok := v.Principal.Claim(p.claim); ok {
			if s, ok := c.(string); ok {
				return s
			}
		}
	case varMCPTool:
		return v.MCPTool
	case varMCPMethod:
		return v.MCPMethod
	case varMCPSessionID:
		return v.MCPSessionID
	case varA2AMethod:
		return v.A2AMethod
	case varA2ATarget:
		return v.A2ATarget
	case varA2ASource:
		return v.A2ASource
	case varRoute:
		return v.Route
	case varBackend:
		return v.Backend
	case varRequestMethod:
		return v.RequestMethod
	case varRequestPath:
		path, _, _ := strings.Cut(v.RequestPath, "?")
		return path
	}
	return ""
}
