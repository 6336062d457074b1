// Package gwconfig renders the gateway configs of the performance
// harness (bench/cmd/agbench) and of the in-process chain benchmark
// (internal/gateway), so that both measure the same chain.
package gwconfig

import (
	"fmt"
	"strings"
)

// Kind selects one of the gateway configs the harness runs.
type Kind int

const (
	None        Kind = iota // no policies, no telemetry, no access log
	Seed                    // the seed's MCP chain, metrics, access log, spans sampled at 1.0
	SeedNoTrace             // Seed with tracing disabled
)

// The identities and token claims the configs trust.
const (
	Issuer       = "https://kubernetes.default.svc"
	Audience     = "agent-gateway"
	SubWeather   = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	SubPlanning  = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	SubOrchestra = "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"
)

// YAML renders a gateway.yaml for kind. The seed variants follow
// examples/seed-configmap.yaml, with three changes: loopback addresses, a
// local JWKS, and rate limits high enough never to trigger: 1,000,000
// requests per minute, the config's maximum, about 16.7k per second (the
// seed's 100 per minute per identity would turn a benchmark into a 429
// test). The rate-limit descriptor names get_weather_data, the tool the
// load calls, so that a bucket is actually consulted on every request.
func YAML(kind Kind, port, admin int, backend, jwksURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "binds:\n  - port: %d\n    address: 127.0.0.1\n    listeners:\n", port)
	if kind == None {
		fmt.Fprintf(&b, `      - name: mcp-listener
        routes:
          - name: agent-to-mcp-tools
            match:
              path:
                prefix: /mcp
            policies: []
            backends:
              - name: agent-core-mcp-backend
                type: mcp-http
                address: %[1]s
                circuitBreaker: {maxRequests: 20000}
                mcp:
                  endpoint: /mcp
                  protocol: http
      - name: a2a-listener
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
            policies: []
            backends:
              - name: weather-agent-backend
                address: %[1]s
# The idle-stream measurement opens ~10k streams from one identity to one
# backend: the per-identity, per-backend and gateway-wide stream caps
# (docs/proxy.md#overload) are raised above that.
server:
  maxStreams: 20000
  maxStreamsPerIdentity: 20000
  maxRequests: 30000
admin:
  address: 127.0.0.1
  port: %[2]d
logging:
  format: json
  level: warn
  accessLog: false
  audit: false
`, backend, admin)
		return b.String()
	}
	jwt := fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences:
                    - %s
                  jwksUri: %s
`, Issuer, Audience, jwksURL)
	fmt.Fprintf(&b, `      - name: mcp-listener
        routes:
          - name: agent-to-mcp-tools
            match:
              path:
                prefix: /mcp
            policies:
%[1]s                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
              - type: mcp-authz
                mcp:
                  rules:
                    - principal: "%[2]s"
                      allowedTools:
                        - get_weather_data
                        - generate_analysis_code
                        - execute_code
                        - store_user_preferences
                        - get_activity_preferences
                        - store_activity_plan
                      rateLimit:
                        requestsPerMinute: 1000000
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: get_weather_data
                      rateLimit:
                        requestsPerMinute: 1000000
              - type: timeout
                timeout:
                  request: 300s
                  idle: 60s
              - type: retry
                retry:
                  attempts: 3
                  perTryTimeout: 30s
                  retryOn:
                    - 5xx
                    - reset
                    - connect-failure
                  backoff:
                    baseInterval: 1s
                    maxInterval: 10s
            backends:
              - name: agent-core-mcp-backend
                type: mcp-http
                address: %[3]s
                circuitBreaker: {maxRequests: 20000}
                mcp:
                  endpoint: /mcp
                  protocol: http
                  timeout: 300s
      - name: a2a-listener
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
            policies:
%[1]s              - type: a2a-authz
                a2a:
                  rules:
                    - source: "%[4]s"
                      target: weather-agent-v6
                      allowed: true
                    - source: "%[5]s"
                      target: "*"
                      allowed: true
              - type: timeout
                timeout:
                  request: 60s
            backends:
              - name: weather-agent-backend
                address: %[3]s
# The idle-stream measurement opens ~10k streams from one identity to one
# backend: the per-identity, per-backend and gateway-wide stream caps
# (docs/proxy.md#overload) are raised above that.
server:
  maxStreams: 20000
  maxStreamsPerIdentity: 20000
  maxRequests: 30000
admin:
  address: 127.0.0.1
  port: %[6]d
logging:
  format: json
  level: info
`, jwt, SubWeather, backend, SubPlanning, SubOrchestra, admin)
	// The OTLP endpoint is a closed loopback port: spans are built,
	// batched and dropped, so the cost measured is the gateway's, not a
	// collector's.
	b.WriteString(Observability("127.0.0.1:1", kind != SeedNoTrace, admin))
	return b.String()
}

// Observability is the seed's observability section (its Step 3.1):
// OpenTelemetry export over gRPC to endpoint (host:port), tracing on or
// off, and the Prometheus metrics on the admin port.
func Observability(endpoint string, tracing bool, admin int) string {
	return fmt.Sprintf(`observability:
  opentelemetry:
    enabled: true
    endpoint: http://%s
    protocol: grpc
    tracing:
      enabled: %t
      samplingRate: 1.0
      attributes:
        - key: agent.identity
          value: ${jwt.sub}
        - key: tool.name
          value: ${mcp.tool}
        - key: gateway.version
          value: "0.11"
  prometheus:
    enabled: true
    port: %d
    path: /metrics
    metrics:
      - agent_requests_total
      - agent_request_duration_seconds
      - tool_invocations_total
      - tool_invocation_duration_seconds
      - mcp_errors_total
      - a2a_calls_total
  mcp:
    enabled: true
    metrics:
      - mcp_tool_calls_total
      - mcp_tool_call_duration
      - mcp_tool_errors
      - mcp_discovery_requests
`, endpoint, tracing, admin)
}

// FederationBackends names the backends of the federated config, in the
// order of the addresses MCP takes; each is also its prefix.
var FederationBackends = []string{"weather", "calendar", "admin"}

// MCP renders a gateway.yaml with one MCP route at /mcp and no policies,
// no telemetry and no access log (as None), for the federation cells. With
// federate false it is the passthrough route to backends[0]; with federate
// true a federated route (docs/federation.md) over every backend, named
// and prefixed FederationBackends[i].
func MCP(port, admin int, backends []string, federate bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: mcp-listener
        routes:
          - name: mcp-tools
            match:
              path:
                prefix: /mcp
`, port)
	if federate {
		b.WriteString("            mcp:\n              federation: true\n")
	} else {
		backends = backends[:1]
	}
	b.WriteString("            policies: []\n            backends:\n")
	for i, addr := range backends {
		fmt.Fprintf(&b, `              - name: %s
                type: mcp-http
                address: %s
                circuitBreaker: {maxRequests: 20000}
                mcp:
                  endpoint: /mcp
                  protocol: http
`, FederationBackends[i], addr)
	}
	fmt.Fprintf(&b, `server:
  maxStreams: 20000
  maxStreamsPerIdentity: 20000
  maxRequests: 30000
admin:
  address: 127.0.0.1
  port: %d
logging:
  format: json
  level: warn
  accessLog: false
  audit: false
`, admin)
	return b.String()
}
