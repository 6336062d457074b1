package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// decisionsBackend is a go-sdk MCP server (stateful, so the gateway
// tracks its sessions) behind the backend's own front door, which answers
// some calls itself the way a backend's ingress or auth proxy would: 429
// for busy_tool (its own rate limit), 401 for guarded_tool (its own
// authentication). GETs get an SSE stream held open.
func decisionsBackend(t *testing.T) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "decisions", Version: "1.0.0"}, nil)
	for _, name := range []string{"get_weather_data", "execute_code", "busy_tool", "guarded_tool"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name, Description: name}, func(context.Context, *mcp.CallToolRequest, rlArgs) (*mcp.CallToolResult, any, error) {
			return mtText("done"), nil, nil
		})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, ": open\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case bytes.Contains(body, []byte(`"busy_tool"`)):
			w.Header().Set("Retry-After", "30")
			http.Error(w, "the backend's own rate limit", http.StatusTooManyRequests)
		case bytes.Contains(body, []byte(`"guarded_tool"`)):
			w.Header().Set("WWW-Authenticate", `Bearer realm="backend"`)
			http.Error(w, "the backend's own authentication", http.StatusUnauthorized)
		default:
			h.ServeHTTP(w, r)
		}
	}))
}

// metricValue returns the value of the series whose name and labels
// (as exposed, labels sorted) are series; 0 when it is absent.
func metricValue(t *testing.T, m, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: value %q", series, v)
			}
			return f
		}
	}
	return 0
}

// TestMetricsDecisions (issue #15): the decision counters count what the
// gateway's policies decided, as the policies report it, not what a
// response status suggests. A backend's own 429 is no rate-limit
// decision, nor are the per-identity stream and session caps' 429s (they
// are load shedding); a backend's own 401 is no authentication failure.
// The real decisions (jwt-authn failure, mcp-authz deny, rate-limit
// limited, a2a-authz deny) are still counted.
func TestMetricsDecisions(t *testing.T) {
	iss := rlStartIssuer(t)
	be := decisionsBackend(t)
	agentURL, _ := startAgent03(t, "weather-agent-v6", &taskExecutor{gate: make(chan struct{})})
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("tools", "/mcp", be, "/mcp", "http", iss.jwtAuthn()+`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: "`+rlWeather+`"
                      allowedTools: [get_weather_data, execute_code, busy_tool, guarded_tool]
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: execute_code
                      rateLimit:
                        requestsPerMinute: 1
`) + fmt.Sprintf(`      - name: a2a-listener
        routes:
          - name: agents
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
      - name: open-listener
        routes:
          - name: open
            match:
              path:
                prefix: /open
            policies: []
            backends:
              - name: open-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
`, iss.jwtAuthn(), a2aPlanning, agentURL, be)
	cfg.Extra = "server:\n  maxSessionsPerIdentity: 1\n  maxStreamsPerIdentity: 1\n"
	g := StartGateway(t, cfg)

	tok := iss.token(t, rlWeather)
	hdr := func(sid string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + tok}
		if sid != "" {
			h["Mcp-Session-Id"], h["MCP-Protocol-Version"] = sid, mtV1125
		}
		return h
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	resp, body := postJSON(t, g.URL("/mcp"), initialize, hdr(""))
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q: %s", resp.StatusCode, sid, body)
	}
	if resp, body = postJSON(t, g.URL("/mcp"), `{"jsonrpc":"2.0","method":"notifications/initialized"}`, hdr(sid)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d %s", resp.StatusCode, body)
	}
	call := func(id int, tool string, h map[string]string) (*http.Response, string) {
		return postJSON(t, g.URL("/mcp"), fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool), h)
	}
	for i, tool := range []string{"get_weather_data", "execute_code"} {
		if resp, body = call(10+i, tool, hdr(sid)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "done") {
			t.Fatalf("%s: %d %s", tool, resp.StatusCode, body)
		}
	}

	// The real decisions.
	if resp, body = call(20, "execute_code", hdr(sid)); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "-32029") {
		t.Fatalf("second execute_code: %d %s; want the rate-limit policy's 429", resp.StatusCode, body)
	}
	if resp, body = call(21, "random_tool", hdr(sid)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a tool no rule allows: %d %s", resp.StatusCode, body)
	}
	if resp, body = call(22, "get_weather_data", map[string]string{"Authorization": "Bearer not.a.token"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad token: %d %s", resp.StatusCode, body)
	}
	a2aHdr := func(sub string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + iss.token(t, sub)}
	}
	if resp, body = postJSON(t, g.URL("/agents/weather-agent-v6"), `{"task": "Get weather forecast for Tampa, FL"}`, a2aHdr(a2aPlanning)); resp.StatusCode != http.StatusOK {
		t.Fatalf("allowed A2A call: %d %s", resp.StatusCode, body)
	}
	if resp, body = postJSON(t, g.URL("/agents/weather-agent-v6"), `{"task": "Get weather forecast for Tampa, FL"}`, a2aHdr(a2aUnknown)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("denied A2A call: %d %s", resp.StatusCode, body)
	}

	// What the policies did not decide.
	if resp, body = call(30, "busy_tool", hdr(sid)); resp.StatusCode != http.StatusTooManyRequests || strings.Contains(body, "-32029") {
		t.Fatalf("busy_tool: %d %s; want the backend's own 429", resp.StatusCode, body)
	}
	if resp, body = call(31, "guarded_tool", hdr(sid)); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "the backend's own authentication") {
		t.Fatalf("guarded_tool: %d %s; want the backend's own 401", resp.StatusCode, body)
	}
	// On a route without authentication, where no principal tells a
	// guess otherwise.
	openHdr := map[string]string{"MCP-Protocol-Version": mtV1125}
	for i, c := range []struct {
		tool   string
		status int
	}{{"busy_tool", http.StatusTooManyRequests}, {"guarded_tool", http.StatusUnauthorized}} {
		resp, body = postJSON(t, g.URL("/open"), fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, 40+i, c.tool), openHdr)
		if resp.StatusCode != c.status || !strings.Contains(body, "the backend's own") {
			t.Fatalf("%s on the open route: %d %s", c.tool, resp.StatusCode, body)
		}
	}
	// A second session of the identity: past server.maxSessionsPerIdentity.
	if resp, body = postJSON(t, g.URL("/mcp"), initialize, hdr("")); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second session: %d %s", resp.StatusCode, body)
	}
	// A second stream of the identity: past server.maxStreamsPerIdentity.
	openStream := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, g.URL("/mcp"), nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := openStream(); r.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", r.StatusCode)
	}
	if r := openStream(); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second stream: %d", r.StatusCode)
	}

	m := scrape(t, g.AdminURL("/metrics"))
	for _, c := range []struct {
		series string
		want   float64
	}{
		// Only the rate-limit policy's refusal: not the backend's 429,
		// not the session or stream cap's.
		{`agentgateway_ratelimit_decisions_total{decision="limited",route="tools"}`, 1},
		// Only the bad token: not the backend's 401.
		{`agentgateway_authn_decisions_total{result="failure",route="tools"}`, 1},
		{`agentgateway_authz_decisions_total{decision="denied",kind="mcp",route="tools"}`, 1},
		{`agentgateway_authz_decisions_total{decision="denied",kind="a2a",route="agents"}`, 1},
		{`agentgateway_authz_decisions_total{decision="allowed",kind="a2a",route="agents"}`, 1},
		{`agentgateway_authn_decisions_total{result="success",route="agents"}`, 2},
		{`agentgateway_ratelimit_decisions_total{decision="limited",route="open"}`, 0},
		{`agentgateway_authn_decisions_total{result="failure",route="open"}`, 0},
		{`agentgateway_shed_requests_total{reason="identity_sessions",route="tools"}`, 1},
		{`agentgateway_shed_requests_total{reason="identity_streams",route="tools"}`, 1},
	} {
		if got := metricValue(t, m, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
	// Every request past authn on /mcp: initialize twice, initialized,
	// six calls, two streams. Each passed mcp-authz (the denied call
	// aside), and the rate-limit policy (its refusal aside).
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`agentgateway_authn_decisions_total{result="success",route="tools"}`, 11},
		{`agentgateway_authz_decisions_total{decision="allowed",kind="mcp",route="tools"}`, 10},
		{`agentgateway_ratelimit_decisions_total{decision="allowed",route="tools"}`, 9},
	} {
		if got := metricValue(t, m, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
}
