package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPSessions: the gateway tracks MCP sessions (docs/operations.md,
// "Idle sessions and streams"). One identity cannot hold more than
// server.maxSessionsPerIdentity sessions, and a session its client
// abandons without DELETE is closed at the backend (a real go-sdk server)
// after server.sessionIdleTimeout, unless a stream on it is open.
func TestMCPSessions(t *testing.T) {
	iss := rlStartIssuer(t)
	srv := mtNewServer()
	be, _ := mtStartBackend(t, srv, nil)
	cfg := mtPorts(t)
	cfg.Listeners = MCPListener("tools", "/mcp", be, "/mcp", "http", iss.jwtAuthn())
	cfg.Extra = "server:\n  maxSessionsPerIdentity: 2\n  sessionIdleTimeout: 2s\n"
	g := mtStartGatewayCfg(t, cfg)

	backendSessions := func() int {
		n := 0
		for range srv.Sessions() {
			n++
		}
		return n
	}
	waitSessions := func(t *testing.T, want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for backendSessions() != want {
			if time.Now().After(deadline) {
				t.Fatalf("backend holds %d sessions after %v, want %d", backendSessions(), within, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	connect := func(t *testing.T, sub string) (*mcp.ClientSession, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c := mcp.NewClient(&mcp.Implementation{Name: "sessions-e2e", Version: "1.0.0"}, nil)
		return c.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint:   g.URL("/mcp"),
			HTTPClient: &http.Client{Transport: ktBearer{tok: iss.token(t, sub), base: mtHTTP.Transport}},
			MaxRetries: -1,
		}, nil)
	}
	post := func(t *testing.T, sub, sid, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.URL("/mcp"), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+iss.token(t, sub))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", mtV1125)
		}
		resp, err := mtHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const initialize = `{"jsonrpc":"2.0","id":41,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	// open starts a session the way a client that then crashes would:
	// initialize, initialized, and never a DELETE.
	open := func(t *testing.T, sub string) string {
		t.Helper()
		resp := post(t, sub, "", initialize)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sid := resp.Header.Get("Mcp-Session-Id")
		if resp.StatusCode != 200 || sid == "" {
			t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
		}
		resp = post(t, sub, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("notifications/initialized: %d", resp.StatusCode)
		}
		return sid
	}

	t.Run("per-identity cap", func(t *testing.T) {
		a1, err := connect(t, rlWeather)
		if err != nil {
			t.Fatal(err)
		}
		a2, err := connect(t, rlWeather)
		if err != nil {
			t.Fatal(err)
		}
		defer a2.Close()
		// The third session of the same identity is refused before the
		// backend sees it, as a JSON-RPC error echoing the id.
		resp := post(t, rlWeather, "", initialize)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third session: %d %s", resp.StatusCode, body)
		}
		var rpc struct {
			ID    json.RawMessage `json:"id"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &rpc); err != nil || string(rpc.ID) != "41" || rpc.Error == nil {
			t.Fatalf("third session: body %s is not a JSON-RPC error for id 41", body)
		}
		if n := backendSessions(); n != 2 {
			t.Fatalf("backend holds %d sessions, want 2", n)
		}
		// Another identity is not affected.
		b1, err := connect(t, a2aPlanning)
		if err != nil {
			t.Fatalf("another identity: %v", err)
		}
		defer b1.Close()
		// Ending a session (the client's DELETE) frees its slot.
		if err := a1.Close(); err != nil {
			t.Fatal(err)
		}
		a3, err := connect(t, rlWeather)
		if err != nil {
			t.Fatalf("after closing one session: %v", err)
		}
		a3.Close()
		m := scrape(t, g.AdminURL("/metrics"))
		if !strings.Contains(m, `agentgateway_shed_requests_total{reason="identity_sessions",route="tools"} 1`) {
			t.Error("the refusal is not counted in agentgateway_shed_requests_total")
		}
	})
	waitSessions(t, 0, 10*time.Second)

	t.Run("abandoned session is closed", func(t *testing.T) {
		sid := open(t, rlWeather)
		if n := backendSessions(); n != 1 {
			t.Fatalf("backend holds %d sessions, want 1", n)
		}
		// 2s idle lifetime, swept at most once a second.
		start := time.Now()
		waitSessions(t, 0, 8*time.Second)
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Errorf("session closed after %v, before its idle lifetime", took)
		}
		// The client coming back gets the backend's 404 and must start a
		// new session (MCP spec).
		resp := post(t, rlWeather, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("request on the closed session: %d, want 404", resp.StatusCode)
		}
		m := scrape(t, g.AdminURL("/metrics"))
		if !regexp.MustCompile(`agentgateway_mcp_sessions_closed_total\{reason="idle",route="tools"\} [1-9]`).MatchString(m) {
			t.Error("agentgateway_mcp_sessions_closed_total{reason=\"idle\"} not counted")
		}
	})

	t.Run("open stream keeps the session", func(t *testing.T) {
		sid := open(t, rlWeather)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL("/mcp"), nil)
		req.Header.Set("Authorization", "Bearer "+iss.token(t, rlWeather))
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", mtV1125)
		resp, err := mtHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET stream: %d", resp.StatusCode)
		}
		time.Sleep(4 * time.Second) // twice the idle lifetime
		if n := backendSessions(); n != 1 {
			t.Fatalf("a session with an open stream was closed (%d sessions)", n)
		}
		cancel()
		resp.Body.Close()
		waitSessions(t, 0, 8*time.Second)
	})

	t.Run("abandoned sessions leak nothing", func(t *testing.T) {
		base := goroutines(t, g)
		closedIdle := func() int {
			m := scrape(t, g.AdminURL("/metrics"))
			mm := regexp.MustCompile(`agentgateway_mcp_sessions_closed_total\{reason="idle",route="tools"\} (\d+)`).FindStringSubmatch(m)
			if mm == nil {
				return 0
			}
			v, _ := strconv.Atoi(mm[1])
			return v
		}
		before := closedIdle()
		const n = 40
		for i := range n {
			open(t, fmt.Sprintf("system:serviceaccount:load:agent-%d", i))
		}
		// On a loaded machine opening 40 sessions can take longer than
		// their 2s idle lifetime, so the first may be closed already: the
		// backend ending with none, and the gateway having closed exactly
		// these 40, is what shows that none leaked.
		waitSessions(t, 0, 15*time.Second)
		if got := closedIdle() - before; got != n {
			t.Fatalf("the gateway closed %d idle sessions, want the %d abandoned ones", got, n)
		}
		// The gateway keeps no record either: its goroutines return to
		// their level before, allowing for the pooled upstream
		// connections of its (at most 4) concurrent DELETEs.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := goroutines(t, g)
			if got <= base+8 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway goroutines %d, %d before", got, base)
			}
			time.Sleep(100 * time.Millisecond)
		}
		m := scrape(t, g.AdminURL("/metrics"))
		re := regexp.MustCompile(`agentgateway_mcp_sessions\{route="tools"\} (\d+)`)
		if mm := re.FindStringSubmatch(m); mm == nil {
			t.Error("no agentgateway_mcp_sessions gauge")
		} else if v, _ := strconv.Atoi(mm[1]); v != 0 {
			t.Errorf("agentgateway_mcp_sessions = %d after every session was closed", v)
		}
	})
}
