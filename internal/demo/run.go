package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/policy/ratelimit"
	"github.com/agentgateway-go/agentgateway/internal/policy/retry"
	"github.com/agentgateway-go/agentgateway/internal/policy/timeout"
)

// Options configure Run.
type Options struct {
	Port, AdminPort int
	// StateDir is where the development issuer keeps its signing key, so
	// that `agentgateway token` mints tokens this demo accepts. ""
	// means devissuer.DefaultStateDir().
	StateDir       string
	Stdout, Stderr io.Writer
	// Ready, if set, is called with the gateway once it serves (tests).
	Ready func(*gateway.Gateway)
}

// ConfigOptions are the inputs of the generated gateway.yaml.
type ConfigOptions struct {
	Port, AdminPort  int
	MCPURL, AgentURL string
	// PlanningURL is the planning agent's address ("" leaves it out).
	PlanningURL string
	// EventsURL is the second MCP server's address; with it the config
	// has a federated route (FederatedPath) over it and MCPURL ("" leaves
	// it out).
	EventsURL string
	// JWKSURI is the development issuer's key set.
	JWKSURI string
	// Enforced reports whether this build enforces a policy type
	// (policy.Enforced); the config only uses enforced ones.
	Enforced func(typ string) bool
}

// seedPolicies are the policy types of the example gateway.yaml
// (examples/gateway.yaml), in the order it uses them, with what they do.
var seedPolicies = []struct{ typ, what string }{
	{config.PolicyJWTAuthn, "JWT authentication"},
	{config.PolicyMCPAuthz, "tool authorization"},
	{ratelimit.Type, "rate limits"},
	{timeout.Type, "timeouts"},
	{retry.Type, "retries"},
	{config.PolicyA2AAuthz, "agent-to-agent authorization"},
}

// The weather agent's tools, as the example mcp-authz rule lists them.
var weatherAgentTools = []string{"get_weather_data", "generate_analysis_code", "execute_code",
	"store_user_preferences", "get_activity_preferences", "store_activity_plan"}

// FederatedPath is where the demo serves its federated MCP route: the
// Agent Core tools as weather_* and the events server's as events_*
// behind one endpoint (docs/federation.md).
const FederatedPath = "/federated"

// federatedRoute is the demo's federated route, indented for the MCP
// listener's routes.
func federatedRoute(o ConfigOptions) string {
	if o.EventsURL == "" {
		return ""
	}
	var pol strings.Builder
	if o.Enforced(config.PolicyJWTAuthn) {
		fmt.Fprintf(&pol, `              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences:
                    - %s
                  jwksUri: %s
`, devissuer.DefaultIssuer, devissuer.DefaultAudience, o.JWKSURI)
	}
	if o.Enforced(config.PolicyJWTAuthn) && o.Enforced(config.PolicyMCPAuthz) {
		fmt.Fprintf(&pol, `              - type: mcp-authz
                mcp:
                  rules:
                    # Rules name the prefixed tools; a glob takes a whole
                    # backend.
                    - principal: "%s"
                      allowedTools:
                        - weather_%s
                        - "events_*"
`, devissuer.SubjectWeatherAgent, ToolGetWeatherData)
	}
	policies := "            policies: []\n"
	if pol.Len() > 0 {
		policies = "            policies:\n" + pol.String()
	}
	return fmt.Sprintf(`          # Two MCP servers behind one endpoint (docs/federation.md): the
          # gateway holds the client's session and names each backend's
          # tools <backend>_<tool>.
          - name: federated-tools
            match:
              path:
                prefix: %s
            mcp:
              federation: true
              # A backend that is down drops out of the lists instead of
              # failing them.
              failureMode: failOpen
%s            backends:
              - name: weather
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
              - name: events
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
`, FederatedPath, policies, o.MCPURL, o.EventsURL)
}

// Config renders the demo's gateway.yaml: the example config's routes and the
// policies this build enforces, in front of the demo backends, with
// jwt-authn trusting the development issuer.
func Config(o ConfigOptions) string {
	on := o.Enforced
	var mcp, a2a strings.Builder
	if on(config.PolicyJWTAuthn) {
		fmt.Fprintf(&mcp, `              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences:
                    - %s
                  # The development issuer (loopback). In a cluster:
                  # https://kubernetes.default.svc/openid/v1/jwks
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
`, devissuer.DefaultIssuer, devissuer.DefaultAudience, o.JWKSURI)
		fmt.Fprintf(&a2a, `              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences:
                    - %s
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
`, devissuer.DefaultIssuer, devissuer.DefaultAudience, o.JWKSURI)
	}
	if on(config.PolicyJWTAuthn) && on(config.PolicyMCPAuthz) {
		fmt.Fprintf(&mcp, `              - type: mcp-authz
                mcp:
                  rules:
                    # The weather agent can use its six tools; nobody else
                    # (planning-agent-sa, unknown-agent-sa) has a rule.
                    - principal: "%s"
                      allowedTools:
`, devissuer.SubjectWeatherAgent)
		for _, t := range weatherAgentTools {
			fmt.Fprintf(&mcp, "                        - %s\n", t)
		}
		mcp.WriteString(`                      rateLimit:
                        requestsPerMinute: 100
`)
	}
	if on(ratelimit.Type) {
		mcp.WriteString(`              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: execute_code
                      rateLimit:
                        requestsPerMinute: 10
`)
	}
	if on(timeout.Type) {
		mcp.WriteString(`              - type: timeout
                timeout:
                  request: 300s
                  idle: 60s
`)
	}
	if on(retry.Type) {
		mcp.WriteString(`              - type: retry
                retry:
                  attempts: 3
                  perTryTimeout: 30s
                  retryOn: [5xx, reset, connect-failure]
                  backoff:
                    baseInterval: 1s
                    maxInterval: 10s
`)
	}
	if on(config.PolicyJWTAuthn) && on(config.PolicyA2AAuthz) {
		fmt.Fprintf(&a2a, `              - type: a2a-authz
                a2a:
                  rules:
                    - source: "%s"
                      target: %s
                      allowed: true
                    - source: "%s"
                      target: "*"
                      allowed: true
`, devissuer.SubjectPlanningAgent, WeatherAgentName, devissuer.SubjectOrchestratorAgent)
	}
	if on(timeout.Type) {
		a2a.WriteString(`              - type: timeout
                timeout:
                  request: 60s
`)
	}
	planning := ""
	if o.PlanningURL != "" {
		planning = "              - name: planning-agent-backend\n                address: " + o.PlanningURL + "\n"
	}
	policies := func(b *strings.Builder) string {
		if b.Len() == 0 {
			return ""
		}
		return "            policies:\n" + b.String()
	}
	return fmt.Sprintf(`# Generated by "agentgateway demo". It mirrors examples/gateway.yaml with
# the policies this build enforces. Edit it while the demo
# runs: the gateway reloads it.
binds:
  - port: %d
    # Loopback only: the demo's tokens are printed on screen and its
    # admin port has no authentication.
    address: 127.0.0.1
    listeners:
      - name: mcp-listener
        routes:
          - name: agent-to-mcp-tools
            match:
              path:
                prefix: /mcp
%s            backends:
              - name: agent-core-mcp-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
                  timeout: 300s
%s      - name: a2a-listener
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
%s            backends:
              # /agents/weather-agent-v6 reaches weather-agent-backend: the
              # backend name without "-backend", plus a version suffix.
              - name: weather-agent-backend
                address: %s
%sadmin:
  address: 127.0.0.1
  port: %d
logging:
  format: text
`, o.Port, policies(&mcp), o.MCPURL, federatedRoute(o), policies(&a2a), o.AgentURL, planning, o.AdminPort)
}

// Run starts the development issuer, the demo backends and the gateway in
// this process, prints ready-to-paste commands (with tokens), and serves
// until SIGINT/SIGTERM or ctx ends.
func Run(ctx context.Context, o Options) error {
	if !policy.Enforced(config.PolicyJWTAuthn) {
		return errors.New("demo: this build does not enforce jwt-authn")
	}
	if err := checkPorts(o.Port, o.AdminPort); err != nil {
		return err
	}
	stateDir := o.StateDir
	if stateDir == "" {
		stateDir = devissuer.DefaultStateDir()
	}
	key, _, err := devissuer.LoadOrCreateKey(stateDir, devissuer.DefaultAlg)
	if err != nil {
		return fmt.Errorf("development issuer key: %w", err)
	}
	iss, err := devissuer.Start("", key, devissuer.DefaultIssuer)
	if err != nil {
		return fmt.Errorf("development issuer: %w", err)
	}
	defer iss.Close()

	// The planning agent calls the weather agent through the gateway with
	// its own ServiceAccount-style token, refreshed before it expires.
	var planTok struct {
		sync.Mutex
		tok string
		exp time.Time
	}
	planningToken := func() string {
		planTok.Lock()
		defer planTok.Unlock()
		if time.Until(planTok.exp) < time.Minute {
			now := time.Now()
			if t, err := key.Mint(devissuer.TokenOptions{Subject: devissuer.SubjectPlanningAgent, Now: now}); err == nil {
				planTok.tok, planTok.exp = t, now.Add(devissuer.DefaultTTL)
			}
		}
		return planTok.tok
	}
	weatherOnGateway := fmt.Sprintf("http://127.0.0.1:%d/agents/%s", o.Port, WeatherAgentName)
	be, err := StartBackendsWith(ctx, BackendOptions{MCP: MCPOptions{Stateless: true, JSONResponse: true},
		PlanningToken: planningToken, PlanningWeatherURL: weatherOnGateway})
	if err != nil {
		return err
	}
	defer be.Close()
	dir, err := os.MkdirTemp("", "agentgateway-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gateway.yaml")
	cfg := Config(ConfigOptions{Port: o.Port, AdminPort: o.AdminPort, MCPURL: be.MCPURL, AgentURL: be.AgentURL,
		PlanningURL: be.PlanningURL, EventsURL: be.EventsURL, JWKSURI: iss.JWKSURI(), Enforced: policy.Enforced})
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	now := time.Now()
	tokens := map[string]string{}
	for _, sub := range devissuer.DemoSubjects {
		if tokens[sub], err = key.Mint(devissuer.TokenOptions{Subject: sub, Now: now}); err != nil {
			return err
		}
	}
	in := Instructions{Port: o.Port, AdminPort: o.AdminPort, ConfigPath: path, IssuerURL: iss.URL,
		StateDir: stateDir, DefaultStateDir: stateDir == devissuer.DefaultStateDir(),
		Tokens: tokens, Expires: now.Add(devissuer.DefaultTTL), Enforced: policy.Enforced}
	return gateway.RunFile(ctx, gateway.RunOptions{
		ConfigPath: path,
		Stderr:     o.Stderr,
		Ready: func(g *gateway.Gateway) {
			fmt.Fprint(o.Stdout, in.String())
			if o.Ready != nil {
				o.Ready(g)
			}
		},
	})
}

// Instructions are the demo's ready-to-paste commands.
type Instructions struct {
	Port, AdminPort int
	ConfigPath      string
	IssuerURL       string
	StateDir        string
	// DefaultStateDir is set when StateDir is the default one, so the
	// printed `token` command needs no --state-dir.
	DefaultStateDir bool
	// Tokens maps each of devissuer.DemoSubjects to a token.
	Tokens   map[string]string
	Expires  time.Time
	Enforced func(typ string) bool
}

// tokenVars are the shell variables holding the demo tokens.
var tokenVars = []struct{ name, sub, note string }{
	{"TOKEN", devissuer.SubjectWeatherAgent, "the weather agent (KAgent)"},
	{"PLANNING_TOKEN", devissuer.SubjectPlanningAgent, "the planning agent"},
	{"ORCHESTRATOR_TOKEN", devissuer.SubjectOrchestratorAgent, "the orchestrator agent"},
	{"UNKNOWN_TOKEN", devissuer.SubjectUnknownAgent, "an agent no rule mentions"},
}

// command is one printed command and what pasting it shows.
type command struct {
	comment string
	cmd     string
	// want are substrings of the output (checked by the tests).
	want []string
	// fails is set when curl exits non-zero: an expected 4xx answer
	// (with --fail-with-body, as the tests run it).
	fails bool
	// sets names the shell variable the command assigns (SID=$(curl ...)),
	// which later commands use.
	sets string
}

func (in Instructions) gw() string { return fmt.Sprintf("http://localhost:%d", in.Port) }

// missing lists the example config's policy types this build does not enforce.
func (in Instructions) missing() []string {
	var out []string
	for _, p := range seedPolicies {
		if !in.Enforced(p.typ) {
			out = append(out, fmt.Sprintf("%s (%s)", p.what, p.typ))
		}
	}
	return out
}

func (in Instructions) commands() []command {
	gw := in.gw()
	on := in.Enforced
	call := func(tokVar, body string) string {
		auth := ""
		if tokVar != "" {
			auth = ` -H "Authorization: Bearer $` + tokVar + `"`
		}
		return "curl -sS -X POST " + gw + "/mcp" + auth + " \\\n  -H \"Content-Type: application/json\" \\\n  -d '" + body + "'"
	}
	const weather = `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_weather_data","arguments":{"city":"Tampa, FL"}},"id":1}`
	cmds := []command{
		{comment: "Call an MCP tool as the weather agent:",
			cmd: call("TOKEN", weather), want: []string{`"result"`, "Tampa"}},
		{comment: "List the tools:",
			cmd: call("TOKEN", `{"jsonrpc":"2.0","method":"tools/list","id":2}`), want: []string{"get_weather_data"}},
		{comment: "execute_code never executes anything in the demo:",
			cmd:  call("TOKEN", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"execute_code","arguments":{"python_code":"print(1)"}},"id":3}`),
			want: []string{"NOT EXECUTED"}},
		{comment: "No token: 401, and WWW-Authenticate points MCP clients at the route's\n# OAuth protected-resource metadata (RFC 9728):",
			cmd:  strings.Replace(call("", weather), "curl -sS", "curl -sS -i", 1),
			want: []string{"401", "resource_metadata=", `"code":-32001`}, fails: true},
	}
	if on(config.PolicyMCPAuthz) {
		cmds = append(cmds, command{comment: "A valid token, but unknown-agent-sa has no mcp-authz rule: 403:",
			cmd: call("UNKNOWN_TOKEN", weather), want: []string{`"code":-32003`}, fails: true})
	}
	cmds = append(cmds,
		command{comment: "The protected-resource metadata itself:",
			cmd: "curl -sS " + gw + "/.well-known/oauth-protected-resource/mcp", want: []string{`"authorization_servers":["` + devissuer.DefaultIssuer + `"]`}},
		command{comment: "Ask the weather agent over A2A as the planning agent (message/send):",
			cmd: "curl -sS -X POST " + gw + "/agents/" + WeatherAgentName + ` -H "Authorization: Bearer $PLANNING_TOKEN" \` + "\n" +
				`  -H "Content-Type: application/json" \` + "\n" +
				`  -d '{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"msg-1","role":"user","parts":[{"kind":"text","text":"Get weather forecast for Tampa, FL this weekend"}]}}}'`,
			want: []string{`"kind":"message"`}},
	)
	a2aPost := func(tokVar, agent, body string) string {
		return "curl -sS -X POST " + gw + "/agents/" + agent + ` -H "Authorization: Bearer $` + tokVar + `" \` + "\n" +
			`  -H "Content-Type: application/json" \` + "\n" +
			`  -d '` + body + `'`
	}
	cmds = append(cmds,
		command{comment: "The same request as a plain {\"task\": ...} body (not A2A JSON-RPC):",
			cmd:  a2aPost("PLANNING_TOKEN", WeatherAgentName, `{"task": "Get weather forecast for Tampa, FL this weekend"}`),
			want: []string{`"source_agent":"` + devissuer.SubjectPlanningAgent + `"`, `"target_agent":"` + WeatherAgentName + `"`}},
	)
	if on(config.PolicyA2AAuthz) {
		cmds = append(cmds,
			command{comment: "Ask the planning agent as the orchestrator. The planning agent then calls\n# weather-agent-v6 through the gateway as planning-agent-sa (allowed; see\n# the gateway's \"authz allow\" audit lines):",
				cmd:  a2aPost("ORCHESTRATOR_TOKEN", PlanningAgentName, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"msg-3","role":"user","parts":[{"kind":"text","text":"Plan my weekend in Tampa, FL"}]}}}`),
				want: []string{"Trip plan for Tampa, FL", "called through the gateway"}},
			command{comment: "The planning agent may not call the planning agent (no rule allows it): 403:",
				cmd:  a2aPost("PLANNING_TOKEN", PlanningAgentName, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"msg-4","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`),
				want: []string{`"code":-32003`, "may not call agent planning-agent"}, fails: true},
			command{comment: "unknown-agent-sa may not call the weather agent: 403:",
				cmd:  a2aPost("UNKNOWN_TOKEN", WeatherAgentName, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"msg-2","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`),
				want: []string{`"error"`}, fails: true},
			command{comment: "The agents the planning agent may call (discovery):",
				cmd: "curl -sS " + gw + `/agents -H "Authorization: Bearer $PLANNING_TOKEN"`, want: []string{`"name":"` + WeatherAgentName + `"`}},
		)
	}
	cmds = append(cmds,
		command{comment: "The weather agent's card, its URL rewritten to point at the gateway:",
			cmd:  "curl -sS " + gw + "/agents/" + WeatherAgentName + `/.well-known/agent-card.json -H "Authorization: Bearer $PLANNING_TOKEN"`,
			want: []string{`"url":"` + gw + "/agents/" + WeatherAgentName + `/"`}},
	)
	cmds = append(cmds, in.federatedCommands()...)
	cmds = append(cmds,
		command{comment: "Health:", cmd: fmt.Sprintf("curl -sS http://localhost:%d/readyz", in.AdminPort), want: []string{"ready"}},
		command{comment: fmt.Sprintf("The running config, secrets redacted (in a browser: http://localhost:%d/ui):", in.AdminPort),
			cmd: fmt.Sprintf("curl -sS http://localhost:%d/config", in.AdminPort), want: []string{`"binds"`, `"agent-to-mcp-tools"`}},
		command{comment: "Metrics (agent_requests_total, tool_invocations_total, a2a_calls_total, ...;\n# docs/metrics.md):", cmd: fmt.Sprintf("curl -sS http://localhost:%d/metrics", in.AdminPort),
			want: []string{`agent_requests_total{agent_identity="` + devissuer.SubjectWeatherAgent + `"`, `a2a_calls_total{`}},
	)
	return cmds
}

// federatedProtocol is the MCP version the federated commands speak.
const federatedProtocol = "2025-11-25"

// federatedCommands are the commands of the federated route: open a
// session (the gateway terminates MCP there, so a session comes first),
// then list and call across the two backends.
func (in Instructions) federatedCommands() []command {
	url := in.gw() + FederatedPath
	post := func(hdr, body string) string {
		return "curl -sS -X POST " + url + ` -H "Authorization: Bearer $TOKEN"` + hdr + " \\\n" +
			`  -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \` + "\n" +
			"  -d '" + body + "'"
	}
	session := ` -H "Mcp-Session-Id: $SID" -H "MCP-Protocol-Version: ` + federatedProtocol + `"`
	cmds := []command{
		{comment: "Federation: the weather tools and a second MCP server's events tools behind\n" +
			"# one endpoint, " + FederatedPath + ", as weather_* and events_* (docs/federation.md).\n" +
			"# The gateway holds the MCP session there; open one (its id is sealed and\n" +
			"# bound to your token):",
			cmd: "SID=$(" + post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+federatedProtocol+`","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`) +
				" \\\n  -o /dev/null -D - | tr -d '\\r' | awk -F': ' 'tolower($1)==\"mcp-session-id\" {print $2}')",
			sets: "SID"},
		{comment: "Tell it the client is ready (202, no body):",
			cmd: post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)},
		{comment: "One merged list, filtered by mcp-authz on the prefixed names:",
			cmd:  post(session, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`),
			want: []string{"weather_" + ToolGetWeatherData, "events_" + ToolFindEvents}},
		{comment: "Calls are routed by prefix; the backend sees find_events:",
			cmd:  post(session, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"events_`+ToolFindEvents+`","arguments":{"city":"Tampa, FL"}}}`),
			want: []string{"Events in Tampa"}},
	}
	return cmds
}

// String renders the instructions.
func (in Instructions) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `
Agent Gateway demo is running.
  gateway  %s   (MCP at /mcp, federated MCP at %s, A2A agents at /agents/%s and /agents/%s)
  admin    http://localhost:%d   (/healthz, /readyz, /metrics, status pages at /ui, config at /config)
  config   %s   (edit it: the gateway hot-reloads)
  issuer   %s   (development token issuer: /openid/v1/jwks)

`, in.gw(), FederatedPath, WeatherAgentName, PlanningAgentName, in.AdminPort, in.ConfigPath, in.IssuerURL)
	if m := in.missing(); len(m) > 0 {
		fmt.Fprintf(&b, "Not in this build yet, so the demo runs without them: %s.\n", joinAnd(m))
		if !in.Enforced(config.PolicyMCPAuthz) {
			b.WriteString("Without mcp-authz, any valid token may call any tool.\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, `Every call needs a token (jwt-authn). The demo's development issuer signed
these ServiceAccount-style tokens; they are valid until %s. Paste them
into your shell first:

`, in.Expires.Format("15:04 MST"))
	for _, v := range tokenVars {
		fmt.Fprintf(&b, "%s=%s\n", v.name, in.Tokens[v.sub])
	}
	b.WriteString("\n")
	for _, v := range tokenVars {
		fmt.Fprintf(&b, "# %-18s %s: %s\n", v.name, v.note, v.sub)
	}
	stateFlag := ""
	if !in.DefaultStateDir {
		stateFlag = " --state-dir " + shellQuote(in.StateDir)
	}
	fmt.Fprintf(&b, `#
# Mint more, for any subject (development only: the signing key is in
# %s):
#   TOKEN=$(go run ./cmd/agentgateway token --sub %s%s)
`, in.StateDir, devissuer.SubjectWeatherAgent, stateFlag)
	for _, c := range in.commands() {
		fmt.Fprintf(&b, "\n# %s\n%s\n", c.comment, c.cmd)
	}
	b.WriteString("\nPress Ctrl-C to stop.\n")
	return b.String()
}

func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkPorts fails early, with the command to run instead, when a port
// the demo needs is taken: the gateway would otherwise fail after the
// backends have started, with a bare "address already in use".
func checkPorts(port, admin int) error {
	if port == admin {
		return fmt.Errorf("the gateway port and the admin port are both %d; run make demo PORT=%d ADMIN_PORT=%d", port, port, admin+1)
	}
	for _, p := range []struct {
		port      int
		makeVar   string
		flag      string
		otherPort int
	}{{port, "PORT", "port", admin}, {admin, "ADMIN_PORT", "admin-port", port}} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		if err == nil {
			ln.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d: %w", p.port, err)
		}
		alt := p.port + 10000
		if alt > 65535 || alt == p.otherPort {
			alt = 18000 + p.port%1000
		}
		return fmt.Errorf("port %d is in use; run make demo %s=%d (or agentgateway demo --%s %d)", p.port, p.makeVar, alt, p.flag, alt)
	}
	return nil
}
