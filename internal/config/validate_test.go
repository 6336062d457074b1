package config

import (
	"strings"
	"testing"
)

// base is a minimal valid config. Cases below append or edit it.
const base = `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /mcp
            backends:
              - name: b
                type: mcp-http
                address: http://mcp:8000
`

// route wraps route-level YAML (policies, backends, ...) in a valid config.
func route(extra string) string {
	return `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /mcp
` + extra
}

const mcpBackend = `            backends:
              - name: b
                type: mcp-http
                address: http://mcp:8000
`

func policy(p string) string {
	return route("            policies:\n" + indent(p, 14) + mcpBackend)
}

const a2aBackend = `            backends:
              - name: weather-agent-backend
                address: http://weather:8080
`

const a2aJWT = `- type: jwt-authn
  jwt: {issuer: https://kubernetes.default.svc, audiences: [agent-gateway], jwksUri: https://kubernetes.default.svc/openid/v1/jwks}
`

// a2aPolicy is a route with jwt-authn, the given policies and an A2A backend.
func a2aPolicy(p string) string {
	return route("            policies:\n" + indent(a2aJWT+p, 14) + a2aBackend)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestValidateValid(t *testing.T) {
	for name, src := range map[string]string{
		"base":        base,
		"root prefix": strings.Replace(base, "prefix: /mcp", "prefix: /", 1),
		"prefixes differing in case, both case-sensitive": strings.Replace(base, "      - name: l\n", "      - name: l0\n        routes: [{name: r0, match: {path: {prefix: /MCP}}, backends: [{name: b, address: 'http://x'}]}]\n      - name: l\n", 1),
		"case-insensitive prefix":                         strings.Replace(base, "prefix: /mcp", "prefix: /mcp\n                caseSensitive: false", 1),
		"origins":                                         route("            allowedOrigins: ['*', 'https://app.example.com', 'http://localhost:3000']\n" + mcpBackend),
		"full retry":                                      policy("- type: retry\n  retry:\n    attempts: 10\n    retryOn: [5xx]\n    backoff: {baseInterval: 1s, maxInterval: 1s}\n    budget: {percent: 100, minConcurrent: 0}\n"),
		"admin+prom":                                      base + "admin: {port: 9100}\nobservability:\n  prometheus: {port: 9100}\n",
		"prom only":                                       base + "observability:\n  prometheus: {enabled: true, port: 9191}\n",
		"otel off":                                        base + "observability:\n  opentelemetry: {enabled: false}\n",
		"idle only":                                       policy("- type: timeout\n  timeout: {idle: 5s}\n"),
		"sampling 0":                                      base + "observability:\n  opentelemetry:\n    enabled: true\n    protocol: http\n    endpoint: https://otel:4318\n    tracing: {samplingRate: 0}\n",
		"ipv6 address":                                    strings.Replace(base, "  - port: 8080\n", "  - port: 8080\n    address: '::1'\n", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if p := problems("t.yaml", src); p != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must be a substring of a distinct error line, in order
	}{
		{"no binds", "binds: []\n", []string{"binds: at least one bind is required"}},
		{"port range", strings.Replace(base, "port: 8080", "port: 0", 1), []string{"t.yaml:2:11: binds[0].port: port 0 is out of range 1-65535"}},
		{"port too big", strings.Replace(base, "port: 8080", "port: 65536", 1), []string{"binds[0].port: port 65536 is out of range"}},
		{"duplicate bind port", base + strings.TrimPrefix(strings.Replace(base, "name: r\n", "name: r2\n", 1), "binds:\n"),
			[]string{"t.yaml:14:11: binds[1].port: port 8080 is already used by binds[0]"}},
		{"bad bind address", strings.Replace(base, "  - port: 8080\n", "  - port: 8080\n    address: 0.0.0.0:80\n", 1),
			[]string{"binds[0].address: address \"0.0.0.0:80\" is not an IP address or host name"}},
		{"bad allowed hosts", strings.Replace(base, "  - port: 8080\n", "  - port: 8080\n    allowedHosts: [ok.example, 'http://x', 'a.*.b', '', 'h:0', '::1', gw.example.]\n", 1),
			[]string{
				`binds[0].allowedHosts[1]: allowed host "http://x" is not host[:port]`,
				`binds[0].allowedHosts[2]: allowed host "a.*.b" is not a valid host name`,
				`binds[0].allowedHosts[3]: allowed host "" is empty`,
				`binds[0].allowedHosts[4]: allowed host "h:0" has an invalid port`,
				`binds[0].allowedHosts[5]: allowed host "::1" is not host[:port]`,
				`binds[0].allowedHosts[6]: allowed host "gw.example." is not a valid host name`,
			}},
		{"headersWithUnderscores", base + "server:\n  headersWithUnderscores: strip\n",
			[]string{`server.headersWithUnderscores: unknown value "strip" (valid: allow, drop, reject)`}},
		{"no listeners", "binds:\n  - port: 1\n", []string{"binds[0].listeners: at least one listener is required"}},
		{"listener names", strings.Replace(base, "      - name: l\n", "      - name: l\n        routes: [{name: x, match: {path: {prefix: /x}}, backends: [{name: b, address: 'http://x'}]}]\n      - name: l\n", 1) + "      - routes: []\n",
			[]string{
				`binds[0].listeners[1].name: duplicate listener name "l" (first at binds[0].listeners[0])`,
				"binds[0].listeners[2].name: name is required",
				"binds[0].listeners[2].routes: at least one route is required",
			}},
		{"route names", strings.Replace(base, "          - name: r\n", "          - name: r\n            match: {path: {prefix: /a}}\n            backends: [{name: b, address: 'http://x'}]\n          - name: r\n", 1),
			[]string{`t.yaml:9:19: binds[0].listeners[0].routes[1].name: duplicate route name "r" (first at binds[0].listeners[0].routes[0]); route names must be unique across the config`}},
		{"route names across binds", base + "  - port: 8081\n    listeners:\n" + strings.SplitN(base, "    listeners:\n", 2)[1],
			[]string{`binds[1].listeners[0].routes[0].name: duplicate route name "r"`}},
		{"same prefix on another bind is fine, same bind is not",
			strings.Replace(base, "      - name: l\n", "      - name: l0\n        routes: [{name: r0, match: {path: {prefix: /mcp}}, backends: [{name: b, address: 'http://x'}]}]\n      - name: l\n", 1),
			[]string{`t.yaml:11:25: binds[0].listeners[1].routes[0].match.path.prefix: prefix "/mcp" is already used by binds[0].listeners[0].routes[0] on the same bind (port 8080)`}},
		{"missing prefix", strings.Replace(base, "            match:\n              path:\n                prefix: /mcp\n", "", 1),
			[]string{"t.yaml:6:13: binds[0].listeners[0].routes[0].match.path.prefix: prefix is required"}},
		{"prefix no slash", strings.Replace(base, "prefix: /mcp", "prefix: mcp", 1), []string{`prefix "mcp" must start with "/"`}},
		{"prefix trailing slash", strings.Replace(base, "prefix: /mcp", "prefix: /mcp/", 1), []string{`prefix "/mcp/" must not end with "/" (prefixes match whole path segments; write "/mcp")`}},
		{"prefix double slash", strings.Replace(base, "prefix: /mcp", "prefix: /a//b", 1), []string{`must not contain "//"`}},
		{"prefix dot", strings.Replace(base, "prefix: /mcp", "prefix: /a/./b", 1), []string{`must not contain "." segments`}},
		{"prefix dotdot", strings.Replace(base, "prefix: /mcp", "prefix: /a/..", 1), []string{`must not contain ".." segments`}},
		{"prefix percent", strings.Replace(base, "prefix: /mcp", "prefix: /a%2f", 1), []string{`must not contain "%"`}},
		{"prefix backslash", strings.Replace(base, "prefix: /mcp", `prefix: '/a\b'`, 1), []string{`must not contain "\\"`}},
		{"prefix nul", strings.Replace(base, "prefix: /mcp", `prefix: "/a\0"`, 1), []string{`must not contain "\x00"`}},
		{"prefix query", strings.Replace(base, "prefix: /mcp", `prefix: "/a?x"`, 1), []string{`must not contain whitespace, control characters, "?" or "#"`}},
		{"prefix semicolon", strings.Replace(base, "prefix: /mcp", `prefix: "/a;x"`, 1), []string{`prefix "/a;x" must not contain ";" or non-ASCII characters`}},
		{"prefix non-ASCII", strings.Replace(base, "prefix: /mcp", `prefix: "/caf\u00e9"`, 1), []string{`must not contain ";" or non-ASCII characters`}},
		{"case-insensitive prefix equal to another but for case",
			strings.Replace(base, "      - name: l\n", "      - name: l0\n        routes: [{name: r0, match: {path: {prefix: /MCP, caseSensitive: false}}, backends: [{name: b, address: 'http://x'}]}]\n      - name: l\n", 1) + "",
			[]string{`binds[0].listeners[1].routes[0].match.path.caseSensitive: prefix "/mcp" and the prefix of binds[0].listeners[0].routes[0] on the same bind (port 8080) differ only in letter case, and one of them is caseSensitive: false`}},
		{"no backends", route(""), []string{"binds[0].listeners[0].routes[0].backends: at least one backend is required"}},
		{"backend problems", route(`            backends:
              - type: grpc
                address: ftp://x
              - name: a
                address: http://user:pw@x
              - name: a
                address: http://x/?q=1
              - name: c
                address: http://x#frag
              - name: d
                address: /relative
              - name: e
                address: http://x:99999
              - name: f
                mcp: {endpoint: /mcp}
                address: http://x
`), []string{
			"routes[0].backends[0].name: name is required",
			`routes[0].backends[0].type: unknown backend type "grpc" (valid: mcp-http, http)`,
			`routes[0].backends[0].address: "ftp://x" must be an absolute http:// or https:// URL`,
			`routes[0].backends[1].address: "http://user:pw@x" must not contain user info`,
			`routes[0].backends[2].name: duplicate backend name "a" (first at backends[1])`,
			`routes[0].backends[2].address: "http://x/?q=1" must not contain a query`,
			`routes[0].backends[3].address: "http://x#frag" must not contain a fragment`,
			`routes[0].backends[4].address: "/relative" must be an absolute http:// or https:// URL`,
			`routes[0].backends[5].address: "http://x:99999" has an invalid port`,
			`routes[0].backends[6].mcp: an mcp block requires type: mcp-http (backend type is "http")`,
		}},
		{"backend address required", route("            backends: [{name: b}]\n"), []string{"backends[0].address: address is required"}},
		{"mcp backend block", route(`            backends:
              - name: b
                type: mcp-http
                address: https://x
                mcp: {endpoint: mcp, protocol: websocket}
`), []string{
			`backends[0].mcp.endpoint: endpoint "mcp" must start with "/"`,
			`backends[0].mcp.protocol: unknown MCP protocol "websocket" (valid: http, sse)`,
		}},
		{"policy type required", policy("- timeout: {request: 1s}\n"),
			[]string{"t.yaml:11:17: binds[0].listeners[0].routes[0].policies[0].type: type is required; valid: timeout, jwt-authn, a2a-authz, mcp-authz, rate-limit, retry (the timeout block suggests type: timeout)"}},
		{"policy block missing and extra", policy("- type: timeout\n  retry: {attempts: 2, retryOn: [5xx]}\n"),
			[]string{
				"t.yaml:11:17: binds[0].listeners[0].routes[0].policies[0]: a timeout policy requires a timeout block",
				"t.yaml:12:17: binds[0].listeners[0].routes[0].policies[0].retry: a retry block is not allowed in a timeout policy (it configures type retry)",
			}},
		{"policy type twice", policy("- type: timeout\n  timeout: {request: 1s}\n- type: timeout\n  timeout: {request: 2s}\n"),
			[]string{`policies[1].type: policy type "timeout" appears more than once in this route (first at policies[0])`}},
		{"jwt", policy(`- type: jwt-authn
  jwt:
    audiences: [""]
    jwksUri: kubernetes.default.svc/jwks
    claimToHeaders:
      - {claim: sub, header: "x agent"}
      - {header: x-a}
      - {claim: sub}
      - {claim: a, header: X-A}
      - {claim: h, header: Host}
`), []string{
			"policies[0].jwt.issuer: issuer is required",
			"policies[0].jwt.audiences[0]: audience must not be empty",
			`policies[0].jwt.jwksUri: "kubernetes.default.svc/jwks" must be an absolute http:// or https:// URL`,
			`claimToHeaders[0].header: "x agent" is not a valid HTTP header name`,
			"claimToHeaders[1].claim: claim is required",
			"claimToHeaders[2].header: header is required",
			`claimToHeaders[3].header: header "X-A" is already set by claimToHeaders[1]`,
			`claimToHeaders[4].header: header "Host" is reserved`,
		}},
		{"jwt missing audiences and jwks", policy("- type: jwt-authn\n  jwt: {issuer: x}\n"),
			[]string{"jwt.audiences: at least one audience is required", "jwt.issuer: without jwksUri the issuer is used for OIDC discovery"}},
		{"jwt discovery issuer", policy("- type: jwt-authn\n  jwt: {issuer: 'https://i.example/?q=1', audiences: [a], jwks: {caFile: /ca.pem}}\n"),
			[]string{"jwt.issuer: issuer \"https://i.example/?q=1\" must not have a query"}},
		{"jwt discovery files need https issuer", policy("- type: jwt-authn\n  jwt: {issuer: 'http://i.example', audiences: [a], jwks: {caFile: /ca.pem, bearerTokenFile: /t}}\n"),
			[]string{"jwt.jwks.caFile: caFile requires an https:// issuer (OIDC discovery)", "jwt.jwks.bearerTokenFile: bearerTokenFile requires an https:// issuer (OIDC discovery)"}},
		{"mcp-authz", policy(`- type: mcp-authz
  mcp:
    rules:
      - allowedTools: [a, ""]
        rateLimit: {requestsPerMinute: 0}
      - principal: p
      - principal: p
        allowedTools: [x]
`), []string{
			"policies[0].type: mcp-authz requires jwt-authn on the same route",
			"rules[0].principal: principal is required",
			"rules[0].allowedTools[1]: tool name must not be empty",
			"rules[0].rateLimit.requestsPerMinute: must be greater than 0",
			"rules[1].allowedTools: at least one tool is required",
			`rules[2].principal: principal "p" already has a rule (rules[1])`,
		}},
		{"mcp-authz empty rules", policy("- type: mcp-authz\n  mcp: {}\n"), []string{"policies[0].type: mcp-authz requires jwt-authn", "policies[0].mcp.rules: at least one rule is required"}},
		{"mcp-authz needs mcp backend", route("            policies:\n              - type: mcp-authz\n                mcp: {rules: [{principal: p, allowedTools: [t]}]}\n            backends: [{name: b, address: 'http://x'}]\n"),
			[]string{"policies[0].type: mcp-authz requires an mcp-http backend on the route", "policies[0].type: mcp-authz requires jwt-authn"}},
		{"rate-limit", policy(`- type: rate-limit
  rateLimit:
    descriptors:
      - {value: x, rateLimit: {requestsPerMinute: 1}}
      - {key: tool-name}
      - {key: tool-name, rateLimit: {requestsPerMinute: 5}}
      - {key: k, value: v, rateLimit: {requestsPerMinute: 5}}
`), []string{
			"descriptors[0].key: key is required",
			"descriptors[1].rateLimit.requestsPerMinute: must be greater than 0",
			`descriptors[2]: descriptor tool-name="*" is already limited by descriptors[1]`,
			`descriptors[3].key: unknown descriptor key "k" (valid: tool-name, principal, method, backend)`,
		}},
		{"rate-limit empty", policy("- type: rate-limit\n  rateLimit: {descriptors: []}\n"), []string{"rateLimit.descriptors: at least one descriptor is required"}},
		{"timeout empty", policy("- type: timeout\n  timeout: {request: 0s}\n"), []string{"policies[0].timeout: at least one of request or idle must be set"}},
		{"retry", policy(`- type: retry
  retry:
    attempts: 11
    retryOn: [5xx, gateway-error, 5xx]
    backoff: {baseInterval: 2s, maxInterval: 1s}
    budget: {percent: 0, minConcurrent: -1}
`), []string{
			"retry.attempts: attempts 11 is out of range 1-10 (counting the first try)",
			`retry.retryOn[1]: unknown retry condition "gateway-error" (valid: 5xx, reset, connect-failure)`,
			`retry.retryOn[2]: duplicate retry condition "5xx" (first at retryOn[0])`,
			"retry.backoff.maxInterval: maxInterval 1s must be at least baseInterval 2s",
			"retry.budget.percent: percent 0 is out of range (0, 100]",
			"retry.budget.minConcurrent: must not be negative",
		}},
		{"retry attempts missing", policy("- type: retry\n  retry: {backoff: {maxInterval: 1s}}\n"), []string{
			"retry.attempts: attempts is required (1-10, counting the first try)",
			"retry.retryOn: at least one condition is required (valid: 5xx, reset, connect-failure)",
			"retry.backoff.baseInterval: must be greater than 0",
		}},
		{"a2a", a2aPolicy(`- type: a2a-authz
  a2a:
    rules:
      - {target: t}
      - {source: s}
      - {source: s, target: t}
      - {source: s, target: t, allowed: false}
`), []string{
			"rules[0].source: source is required",
			"rules[1].target: target is required",
			`rules[3]: source "s" and target "t" already have a rule (rules[2])`,
		}},
		{"a2a empty", a2aPolicy("- type: a2a-authz\n  a2a: {rules: []}\n"), []string{"a2a.rules: at least one rule is required"}},
		{"a2a needs authn and no mcp backend", policy("- type: a2a-authz\n  a2a: {rules: [{source: s, target: t, allowed: true}]}\n"), []string{
			"a2a-authz routes by target agent and cannot have an mcp-http backend",
			"a2a-authz requires jwt-authn on the same route",
		}},
		{"a2a names", a2aPolicy(`- type: a2a-authz
  a2a:
    rules:
      - {source: "s***", target: "a/b", allowed: true}
`) + `              - name: b2
                address: http://b2:8080
                agents: [weather-agent-v6, "bad name", weather-agent-v6]
            externalUrl: "https://gw.example.com?x=1"
`, []string{
			`rules[0].source: "s***": a run of three`,
			`rules[0].target: target "a/b" must be an agent name`,
			`backends[1].agents[1]: agent name "bad name" must be`,
			`backends[1].agents[2]: agent "weather-agent-v6" is already served by`,
			`externalUrl: "https://gw.example.com?x=1" must not contain a query`,
		}},
		// Push-notification URLs (issue #19.6): allow-list entries and
		// ranges must be canonical, schemes http or https, and the block
		// is for A2A routes.
		{"a2a push notifications", a2aPolicy(`- type: a2a-authz
  a2a: {rules: [{source: s, target: "*", allowed: true}]}
`) + `            a2a:
              pushNotifications:
                schemes: [https, ftp]
                allowedHosts: [Hooks.Example.com, "*.example.com", "*.com", "*.10.0.0.1", "0x0a.0.0.1", "[2001:db8::1]", "a_b.example.com", "2001:db8::1", hooks.example.com]
                allowedCIDRs: [10.0.5.7/24, "::ffff:10.0.0.0/104", nope, 10.0.5.0/24]
`, []string{
			`a2a.pushNotifications.schemes[1]: scheme "ftp": push notifications are HTTP callbacks`,
			`a2a.pushNotifications.allowedHosts[0]: "Hooks.Example.com" is not in canonical form: write "hooks.example.com"`,
			`a2a.pushNotifications.allowedHosts[2]: "*.com": a wildcard must name a domain with at least two labels`,
			`a2a.pushNotifications.allowedHosts[3]: "*.10.0.0.1": a wildcard applies to names, not IP addresses`,
			`a2a.pushNotifications.allowedHosts[4]: "0x0a.0.0.1" is not in canonical form: write "10.0.0.1"`,
			`a2a.pushNotifications.allowedHosts[5]: "[2001:db8::1]" is not in canonical form: write "2001:db8::1"`,
			`a2a.pushNotifications.allowedHosts[6]: "a_b.example.com" is not a host name`,
			`a2a.pushNotifications.allowedCIDRs[0]: "10.0.5.7/24" is not in canonical form: write "10.0.5.0/24"`,
			`a2a.pushNotifications.allowedCIDRs[1]: "::ffff:10.0.0.0/104": write IPv4 ranges in IPv4 form`,
			`a2a.pushNotifications.allowedCIDRs[2]: "nope" is not an IP range`,
		}},
		{"a2a block on an MCP route", route(`            a2a: {pushNotifications: {}}
` + mcpBackend), []string{`routes[0].a2a: a2a options are for A2A routes`}},
		// Canonical names (issue #14): a glob that matches only version
		// aliases of an agent, a name two backends serve, and a rate-limit
		// method that is not a canonical A2A method are refused.
		{"a2a canonical names", a2aPolicy(`- type: a2a-authz
  a2a:
    rules:
      - {source: s, target: "*", allowed: true}
      - {source: s, target: "weather-agent-v7*", allowed: false}
      - {source: s, target: "weather-*", allowed: false}
      - {source: s, target: weather-agent-v6, allowed: true}
- type: rate-limit
  rateLimit:
    descriptors:
      - {key: method, value: SendMessage, rateLimit: {requestsPerMinute: 1}}
      - match: [{key: method, value: tools/call}, {key: principal}]
        rateLimit: {requestsPerMinute: 1}
      - {key: method, value: message/send, rateLimit: {requestsPerMinute: 1}}
      - {key: method, value: "*", rateLimit: {requestsPerMinute: 1}}
`) + `              - name: weather-agent
                address: http://w2:8080
              - name: p
                address: http://p:8080
                agents: [planning-agent]
              - name: planning-agent-backend
                address: http://p2:8080
`, []string{
			`rules[1].target: target "weather-agent-v7*" matches names of agent "weather-agent-v6" (its version aliases) but not its canonical name "weather-agent-v6"`,
			`descriptors[0].value: on an A2A route methods are counted under their canonical name: use "message/send" for "SendMessage"`,
			`descriptors[1].match[0].value: "tools/call" is not an A2A method (canonical names: message/send,`,
			`backends[1].name: backend "weather-agent" serves agent "weather-agent", which binds[0].listeners[0].routes[0].backends[0] already serves`,
			`backends[3].name: backend "planning-agent-backend" serves agent "planning-agent", which binds[0].listeners[0].routes[0].backends[2].agents[0] lists`,
		}},
		{"origins", route("            allowedOrigins: ['https://x/', 'null', 'https://*.x.com', 'x.com', 'https://x?a', '']\n" + mcpBackend), []string{
			`allowedOrigins[0]: "https://x/" is not an origin`,
			`allowedOrigins[1]: "null" is not an origin`,
			`allowedOrigins[2]: "https://*.x.com": wildcards are only supported as a lone "*"`,
			`allowedOrigins[3]: "x.com" is not an origin`,
			`allowedOrigins[4]: "https://x?a" is not an origin`,
			`allowedOrigins[5]: "" is not an origin`,
		}},
		{"route max body", route("            maxBodyBytes: 0\n" + mcpBackend), []string{"routes[0].maxBodyBytes: must be greater than 0"}},
		{"prometheus collides with bind", base + "observability:\n  prometheus: {port: 8080, path: metrics, metrics: [ok_total, 'bad-name']}\n", []string{
			"t.yaml:15:22: observability.prometheus.port: port 8080 collides with binds[0].port",
			`observability.prometheus.path: path "metrics" must start with "/"`,
			`observability.prometheus.metrics[1]: "bad-name" is not a valid Prometheus metric name`,
		}},
		{"prometheus port range", base + "observability:\n  prometheus: {port: 70000}\n", []string{"observability.prometheus.port: port 70000 is out of range 1-65535"}},
		{"admin differs from prometheus", base + "admin: {port: 9000}\nobservability:\n  prometheus: {port: 9100}\n",
			[]string{"observability.prometheus.port: port 9100 differs from admin.port 9000: metrics are served on the admin listener"}},
		{"admin collides", base + "admin: {port: 8080, address: 'not valid'}\n", []string{
			"admin.port: port 8080 collides with binds[0].port",
			`admin.address: address "not valid" is not an IP address or host name`,
		}},
		{"default admin port collides", strings.Replace(base, "port: 8080", "port: 9090", 1), []string{
			"binds[0].port: port 9090 is taken by the admin listener (admin.port defaults to 9090); set admin.port to another port",
		}},
		{"otel", base + `observability:
  opentelemetry:
    enabled: true
    tracing:
      samplingRate: 1.5
      attributes:
        - {value: x}
        - {key: a, value: b}
        - {key: a, value: c}
  mcp:
    metrics: ["1bad"]
`, []string{
			"observability.opentelemetry.protocol: protocol is required when enabled (valid: grpc, http)",
			"observability.opentelemetry.endpoint: endpoint is required when enabled",
			"observability.opentelemetry.tracing.samplingRate: samplingRate 1.5 is out of range [0, 1]",
			"attributes[0].key: key is required",
			`attributes[2].key: duplicate attribute key "a" (first at attributes[1])`,
			`observability.mcp.metrics[0]: "1bad" is not a valid Prometheus metric name`,
		}},
		{"otel bad values", base + "observability:\n  opentelemetry: {protocol: thrift, endpoint: 'jaeger:4317'}\n", []string{
			`observability.opentelemetry.protocol: unknown protocol "thrift" (valid: grpc, http)`,
			`observability.opentelemetry.endpoint: "jaeger:4317" must be an absolute http:// or https:// URL`,
		}},
		{"logging", base + "logging: {format: xml, level: trace}\n", []string{
			`logging.format: unknown log format "xml" (valid: json, text)`,
			`logging.level: unknown log level "trace" (valid: debug, info, warn, error)`,
		}},
		{"server", base + "server: {maxHeaderBytes: 0, maxBodyBytes: 0, maxConcurrentStreams: -1}\n", []string{
			"server.maxHeaderBytes: must be between 1 and 2147483647",
			"server.maxBodyBytes: must be greater than 0",
			"server.maxConcurrentStreams: must be between 0 and 4294967295",
		}},
		{"body budget below maxBodyBytes", base + "server: {maxBodyBytes: 8MiB, maxBufferedBodyBytes: 4MiB}\n", []string{
			"routes[0].maxBodyBytes: 8388608 is more than server.maxBufferedBodyBytes (4194304)",
			"server.maxBufferedBodyBytes: 4194304 is less than server.maxBodyBytes (8388608)",
		}},
		{"body budget zero", base + "server: {maxBufferedBodyBytes: 0}\n", []string{
			"server.maxBufferedBodyBytes: must be greater than 0",
		}},
		{"server caps", base + "server: {maxHeaderCount: -1, maxSessions: -1, maxSessionsPerIdentity: -2}\n", []string{
			"server.maxHeaderCount: must not be negative",
			"server.maxSessions: must not be negative",
			"server.maxSessionsPerIdentity: must not be negative",
		}},
		{"server idle lifetimes", base + "server: {sessionIdleTimeout: -1s, streamIdleTimeout: -1s}\n", []string{
			`server.sessionIdleTimeout: invalid duration "-1s": must not be negative`,
			`server.streamIdleTimeout: invalid duration "-1s": must not be negative`,
		}},
		{"unknown policy type lists valid ones", policy("- type: oauth\n  jwt: {}\n"),
			[]string{`policies[0].type: unknown policy type "oauth" (valid: timeout, jwt-authn, a2a-authz, mcp-authz, rate-limit, retry)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := problems("t.yaml", tc.src)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want …%s…", i, got[i], w)
				}
			}
		})
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	c := &Config{Binds: []Bind{{Port: 80, Listeners: []Listener{{Name: "l", Routes: []Route{{
		Name:     "r",
		Match:    Match{Path: PathMatch{Prefix: "/x/"}},
		Backends: []Backend{{Name: "b", Address: "http://b"}},
	}}}}}}}
	err := c.Validate()
	want := `binds[0].listeners[0].routes[0].match.path.prefix: prefix "/x/" must not end with "/" (prefixes match whole path segments; write "/x")`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	c.Binds[0].Listeners[0].Routes[0].Match.Path.Prefix = "/x"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate before SetDefaults: %v", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after SetDefaults: %v", err)
	}
	var nilCfg *Config
	if nilCfg.Validate() == nil {
		t.Error("nil config validated")
	}
}

func TestValidateDoesNotStopAtFirst(t *testing.T) {
	src := `binds:
  - port: 0
    listeners:
      - routes:
          - match: {path: {prefix: x}}
            policies:
              - type: nope
`
	got := problems("t.yaml", src)
	want := []string{
		"t.yaml:2:11: binds[0].port: port 0 is out of range 1-65535",
		"t.yaml:4:9: binds[0].listeners[0].name: name is required",
		"t.yaml:5:13: binds[0].listeners[0].routes[0].name: name is required",
		"t.yaml:5:13: binds[0].listeners[0].routes[0].backends: at least one backend is required",
		`t.yaml:5:36: binds[0].listeners[0].routes[0].match.path.prefix: prefix "x" must start with "/"`,
		`t.yaml:7:23: binds[0].listeners[0].routes[0].policies[0].type: unknown policy type "nope" (valid: timeout, jwt-authn, a2a-authz, mcp-authz, rate-limit, retry)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
