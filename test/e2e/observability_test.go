package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/test/jaegertest"
)

// obsBackend is a go-sdk MCP server that, like an instrumented MCP server
// in the cluster, continues the gateway's trace: it extracts the W3C
// traceparent and exports its own span (service agent-core-mcp) to the
// same Jaeger.
func obsBackend(t *testing.T, otlpGRPC string) string {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(otlpGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "agent-core-mcp"))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	srv := mcp.NewServer(&mcp.Implementation{Name: "agent-core-mcp", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "get_weather_data", Description: "weather"}, func(ctx context.Context, req *mcp.CallToolRequest, in rlArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tp.Tracer("agent-core-mcp").Start(ctx, "mcp-server "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// obsConfig is the seed's observability section (Step 3.1) pointed at a
// local Jaeger, with the seed's MCP and A2A routes.
func obsConfig(t *testing.T, iss *rlIssuerKeys, mcpURL, agentURL, otlp string) GatewayConfig {
	cfg := NewPorts(t)
	jwt := iss.jwtAuthn()
	cfg.Listeners = MCPListener("agent-to-mcp-tools", "/mcp", mcpURL, "/mcp", "http", jwt+`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
                      allowedTools: [get_weather_data, execute_code]
`) + fmt.Sprintf(`      - name: a2a-listener
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
            policies:
%s              - type: a2a-authz
                a2a:
                  rules:
                    - source: "%s"
                      target: weather-agent-v6
                      allowed: true
            backends:
              - name: weather-agent-backend
                address: %s
`, jwt, a2aPlanning, agentURL)
	cfg.Extra = gwconfig.Observability(otlp, true, cfg.AdminPort)
	return cfg
}

// deniedSpan is the server span of a call a policy denied in tr, or nil.
func deniedSpan(tr jaegertest.Trace) *jaegertest.Span {
	for i := range tr.Spans {
		if s := &tr.Spans[i]; s.OperationName == "POST /mcp" && s.Tags["agentgateway.decision"] == "denied" {
			return s
		}
	}
	return nil
}

func TestObservabilitySeed(t *testing.T) {
	j := jaegertest.Start(t)
	iss := rlStartIssuer(t)
	mcpURL := obsBackend(t, j.OTLPGRPC)
	agentURL, _ := startAgent03(t, "weather-agent-v6", &taskExecutor{gate: make(chan struct{})})
	gw := StartGateway(t, obsConfig(t, iss, mcpURL, agentURL, j.OTLPGRPC))

	weatherTok := iss.token(t, rlWeather)
	planningTok := iss.token(t, a2aPlanning)
	unknownTok := iss.token(t, a2aUnknown)
	mcpHdr := map[string]string{"Authorization": "Bearer " + weatherTok, "MCP-Protocol-Version": "2025-06-18",
		// A trace that starts in the calling agent (KAgent).
		"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	resp, body := postJSON(t, gw.URL("/mcp"), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, mcpHdr)
	if resp.StatusCode != 200 {
		t.Fatalf("tools/list %d %s", resp.StatusCode, body)
	}
	for i := 0; i < 3; i++ {
		resp, body = postJSON(t, gw.URL("/mcp"), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"location":"Tampa"}}}`, mcpHdr)
		if resp.StatusCode != 200 || !strings.Contains(body, "sunny") {
			t.Fatalf("tools/call %d %s", resp.StatusCode, body)
		}
	}
	// A tool nobody listed, a denied call, and an A2A call.
	postJSON(t, gw.URL("/mcp"), `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"random_name_1234","arguments":{}}}`, mcpHdr)
	postJSON(t, gw.URL("/mcp"), `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_weather_data","arguments":{}}}`,
		map[string]string{"Authorization": "Bearer " + unknownTok, "MCP-Protocol-Version": "2025-06-18"})
	if resp, body = postJSON(t, gw.URL("/agents/weather-agent-v6"), `{"task": "Get weather forecast for Tampa, FL"}`, map[string]string{"Authorization": "Bearer " + planningTok}); resp.StatusCode != 200 {
		t.Fatalf("a2a %d %s", resp.StatusCode, body)
	}

	t.Run("prometheus metrics", func(t *testing.T) {
		m := scrape(t, gw.AdminURL("/metrics"))
		for _, want := range []string{
			`agent_requests_total{agent_identity="system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa",kind="mcp",method="tools/call",route="agent-to-mcp-tools",status="200"} 3`,
			`tool_invocations_total{agent_identity="system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa",backend="agent-to-mcp-tools-backend",route="agent-to-mcp-tools",status="200",tool_name="get_weather_data"} 3`,
			// Never listed by the backend: not a new series.
			`tool_name="unknown"`,
			// The unknown identity, and the unlisted tool mcp-authz does not allow.
			`mcp_errors_total{error_type="forbidden",route="agent-to-mcp-tools"} 2`,
			// The seed's {"task": ...} body is a message to the agent: message/send.
			`a2a_calls_total{decision="allowed",method="message/send",source="system:serviceaccount:agent-core-infra:planning-agent-sa",status="200",target="weather-agent-v6"} 1`,
			`mcp_tool_calls_total{`,
			`mcp_tool_call_duration_seconds_bucket{`,
			`mcp_discovery_requests_total{method="tools/list",route="agent-to-mcp-tools"} 1`,
			`agent_request_duration_seconds_bucket{`,
			`agentgateway_authz_decisions_total{decision="denied",kind="mcp",route="agent-to-mcp-tools"} 2`,
			`mcp_tool_errors_total{error_type="forbidden",route="agent-to-mcp-tools",tool_name="unknown"} 1`,
			`agentgateway_authn_decisions_total{result="success",route="agent-to-agent"} 1`,
			`agentgateway_upstream_attempts_total{backend="agent-to-mcp-tools-backend",result="ok",route="agent-to-mcp-tools"}`,
			`agentgateway_build_info{`,
			`agentgateway_jwks_fetches_total{result="ok"} 1`, // routes share one key set
			`agentgateway_token_cache_requests_total{result="hit"}`,
			`go_goroutines `,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if t.Failed() {
			t.Logf("metrics:\n%s", m)
		}
		if strings.Contains(m, "random_name_1234") {
			t.Error("an unlisted tool name became a label value")
		}
	})

	t.Run("jaeger trace", func(t *testing.T) {
		traces := j.TracesWhere(t, "agent-gateway", func(ts []jaegertest.Trace) bool {
			for _, tr := range ts {
				// Each tools/call: the server span, the upstream attempt
				// and the backend's span.
				if tr.TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" && len(tr.Spans) >= 3*3 && deniedSpan(tr) != nil {
					return true
				}
			}
			return false
		})
		var tr *jaegertest.Trace
		for i := range traces {
			if traces[i].TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" {
				tr = &traces[i]
			}
		}
		if tr == nil {
			t.Fatalf("no trace joined the caller's traceparent")
		}
		var server, backendSpan, attempt *jaegertest.Span
		for i := range tr.Spans {
			s := &tr.Spans[i]
			switch {
			case s.OperationName == "POST /mcp" && s.Tags["gen_ai.tool.name"] == "get_weather_data":
				server = s
			case s.ServiceName == "agent-core-mcp":
				backendSpan = s
			case s.OperationName == "jwt-authn", s.OperationName == "mcp-authz":
				// Policy spans are opt-in (tracing.policySpans).
				t.Errorf("policy span %s without tracing.policySpans", s.OperationName)
			case strings.HasPrefix(s.OperationName, "upstream "):
				attempt = s
			}
		}
		if server == nil || backendSpan == nil || attempt == nil {
			t.Fatalf("spans missing: server=%v backend=%v attempt=%v", server != nil, backendSpan != nil, attempt != nil)
		}
		if server.ServiceName != "agent-gateway" || server.ParentSpanID != "00f067aa0ba902b7" {
			t.Errorf("server span service %q parent %q", server.ServiceName, server.ParentSpanID)
		}
		for k, v := range map[string]string{
			"agent.identity":  rlWeather,
			"tool.name":       "get_weather_data",
			"gateway.version": "0.11",
			"mcp.method.name": "tools/call",
			// Each policy's decision, on the server span.
			"agentgateway.policy.jwt-authn": "passed",
			"agentgateway.policy.mcp-authz": "allowed",
			"agentgateway.decision":         "allowed",
		} {
			if server.Tags[k] != v {
				t.Errorf("server span %s = %q, want %q", k, server.Tags[k], v)
			}
		}
		// The call mcp-authz denied (a tool the rules do not list): the
		// refusal is on its server span.
		if d := deniedSpan(*tr); d == nil || d.Tags["agentgateway.policy.mcp-authz"] != "denied" || d.Tags["agentgateway.policy.jwt-authn"] != "passed" ||
			d.Tags["http.response.status_code"] != "403" {
			t.Errorf("denied call's server span: %+v", d)
		}
		// The backend's span is a child of the gateway's upstream attempt.
		if backendSpan.TraceID != server.TraceID {
			t.Errorf("backend span in trace %s", backendSpan.TraceID)
		}
		parents := map[string]bool{}
		for _, s := range tr.Spans {
			if s.OperationName == attempt.OperationName {
				parents[s.SpanID] = true
			}
		}
		if !parents[backendSpan.ParentSpanID] {
			t.Errorf("backend span parent %s is not an upstream attempt", backendSpan.ParentSpanID)
		}
		// The A2A call: its own trace, with the A2A attributes.
		a2aTraces := j.TracesWhere(t, "agent-gateway", func(ts []jaegertest.Trace) bool {
			for _, tr := range ts {
				if s := tr.Span("POST /agents"); s != nil {
					return true
				}
			}
			return false
		})
		for _, at := range a2aTraces {
			s := at.Span("POST /agents")
			if s == nil {
				continue
			}
			for k, v := range map[string]string{"a2a.target": "weather-agent-v6", "a2a.source": a2aPlanning, "a2a.method": "message/send", "agent.identity": a2aPlanning, "agentgateway.decision": "allowed",
				"agentgateway.policy.jwt-authn": "passed", "agentgateway.policy.a2a-authz": "allowed"} {
				if s.Tags[k] != v {
					t.Errorf("A2A span %s = %q, want %q", k, s.Tags[k], v)
				}
			}
			if at.Span("upstream weather-agent-backend") == nil || len(at.Spans) != 2 {
				t.Errorf("A2A trace: want the server span and the upstream span: %+v", at.Spans)
			}
		}
		for _, s := range tr.Spans {
			for k, v := range s.Tags {
				if strings.Contains(v, weatherTok) || strings.Contains(v, "Tampa") {
					t.Errorf("span %s attribute %s carries a token or a tool argument", s.OperationName, k)
				}
			}
		}
	})

	t.Run("prometheus server", func(t *testing.T) {
		prom := startPrometheus(t, strings.TrimPrefix(gw.AdminURL(""), "http://"))
		q := func(expr string) []any {
			deadline := time.Now().Add(45 * time.Second)
			for {
				u := prom + "/api/v1/query?query=" + url.QueryEscape(expr)
				resp, err := http.Get(u)
				if err == nil {
					var out struct {
						Data struct {
							Result []struct {
								Value []any `json:"value"`
							} `json:"result"`
						} `json:"data"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					for _, r := range out.Data.Result {
						if len(r.Value) == 2 && r.Value[1] != "0" {
							return r.Value
						}
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no non-zero result for %s", expr)
				}
				// Keep traffic flowing so rate() has two samples to compare.
				postJSON(t, gw.URL("/mcp"), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_weather_data","arguments":{}}}`, mcpHdr)
				time.Sleep(500 * time.Millisecond)
			}
		}
		// The seed's queries (Steps 6.4 and 8.2).
		q(`agent_requests_total{agent_identity="system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"}`)
		q(`rate(tool_invocations_total[5m])`)
		q(`a2a_calls_total{target="weather-agent-v6"}`)
	})

	t.Run("no tokens in logs", func(t *testing.T) {
		logs := gw.Logs()
		for _, tok := range []string{weatherTok, planningTok, unknownTok} {
			if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Fatal("a token (or its signature) appears in the gateway's output")
			}
		}
		if !strings.Contains(logs, `"msg":"access"`) || !strings.Contains(logs, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
			t.Error("no access log record with the trace id")
		}
	})
}

func scrape(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %d", u, resp.StatusCode)
	}
	return string(b)
}

// startPrometheus runs the real Prometheus server (apt prometheus) with the
// seed's scrape job (Step 4.1) adapted to a static loopback target.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: `make deps` installs the apt package")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agent-gateway
    metrics_path: /metrics
    static_configs:
      - targets: ['%s']
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	logs := &gatewaytest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus not ready\n%s", logs.String())
	return ""
}
