package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStreamsPerIdentity: one agent cannot hold every stream slot. Past
// server.maxStreamsPerIdentity its next stream gets 429; another identity
// still gets its streams.
func TestStreamsPerIdentity(t *testing.T) {
	iss := rlStartIssuer(t)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, ": open\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("agent-to-mcp-tools", "/mcp", be, "/mcp", "http", iss.jwtAuthn())
	cfg.Extra = "server:\n  maxStreamsPerIdentity: 2\n"
	g := StartGateway(t, cfg)

	open := func(sub string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, g.URL("/mcp"), nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+iss.token(t, sub))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := 0; i < 2; i++ {
		if r := open(rlWeather); r.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i, r.StatusCode)
		}
	}
	r := open(rlWeather)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream of one identity: %d", r.StatusCode)
	}
	if r := open(a2aPlanning); r.StatusCode != 200 {
		t.Fatalf("another identity: %d", r.StatusCode)
	}
	if m := scrape(t, g.AdminURL("/metrics")); !strings.Contains(m, `agentgateway_shed_requests_total{reason="identity_streams",route="agent-to-mcp-tools"} 1`) {
		t.Error("the refusal is not counted in agentgateway_shed_requests_total")
	}
}
