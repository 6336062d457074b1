package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

// TestSessionBindingRedisStall: MCP session bindings live in Redis, and a
// binding is a security decision, not a rate limit, so it never fails
// open (failureMode: open notwithstanding). While Redis stalls:
//   - another identity cannot take over a session (it was allowed to,
//     through the fail-open fallback to an empty local table), and the
//     owner keeps using it;
//   - a replica that does not know a session answers 503, not "bind it to
//     whoever asks";
//   - a session created during the stall is written to Redis once Redis
//     answers, so another identity cannot take it through another replica
//     afterwards.
func TestSessionBindingRedisStall(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	redis := redistest.Start(t)
	raw := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	t.Cleanup(func() { raw.Close() })
	iss := rlStartIssuer(t)
	be, _ := mtStartBackend(t, mtNewServer(), nil)
	const other = "system:serviceaccount:agent-core-infra:other-agent-sa"
	policies := iss.jwtAuthn() + fmt.Sprintf(`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: %q
                      allowedTools: ["*"]
                    - principal: %q
                      allowedTools: ["*"]
`, rlWeather, other)
	start := func() *Gateway {
		cfg := mtPorts(t)
		cfg.Listeners = MCPListener("tools", "/mcp", be, "/mcp", "http", policies)
		cfg.Extra = rlRedisSection(redis.Addr(), "open", "stall:")
		return mtStartGatewayCfg(t, cfg)
	}
	gwA, gwB := start(), start()

	post := func(g *Gateway, sub, sid, body string) (int, string) {
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
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	const list = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	open := func(g *Gateway, sub string) string {
		t.Helper()
		st, sid := post(g, sub, "", initialize)
		if st != 200 || sid == "" {
			t.Fatalf("initialize: %d %q", st, sid)
		}
		if st, _ := post(g, sub, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); st != http.StatusAccepted {
			t.Fatalf("initialized: %d", st)
		}
		return sid
	}
	// pause stalls every Redis command for d (CLIENT PAUSE), far longer
	// than the gateways' 100ms Redis timeout.
	pause := func(d time.Duration) time.Time {
		t.Helper()
		if err := raw.Do(context.Background(), "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err(); err != nil {
			t.Fatal(err)
		}
		return time.Now().Add(d)
	}
	sessionKeys := func() int {
		keys, err := raw.Keys(context.Background(), "stall:session:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	sid := open(gwA, rlWeather)
	until := pause(2 * time.Second)
	if st, _ := post(gwA, other, sid, list); st != http.StatusNotFound {
		t.Errorf("another identity on the owner's replica during a Redis stall: %d, want 404", st)
	}
	if st, _ := post(gwA, rlWeather, sid, list); st != 200 {
		t.Errorf("the owner during a Redis stall: %d, want 200", st)
	}
	if st, _ := post(gwB, other, sid, list); st != http.StatusServiceUnavailable {
		t.Errorf("another identity on a replica that does not know the session, during a stall: %d, want 503", st)
	}
	// A session created during the stall.
	fresh := open(gwA, rlWeather)
	time.Sleep(time.Until(until) + 100*time.Millisecond)

	// Once Redis answers, the binding made during the stall is written.
	deadline := time.Now().Add(15 * time.Second)
	for sessionKeys() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the session created during the stall never reached Redis (%d bindings)", sessionKeys())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := post(gwB, other, fresh, list); st != http.StatusNotFound {
		t.Errorf("another identity, through another replica, on a session created during the stall: %d, want 404", st)
	}
	if st, _ := post(gwB, other, sid, list); st != http.StatusNotFound {
		t.Errorf("another identity after the stall: %d, want 404", st)
	}
	for _, s := range []string{sid, fresh} {
		if st, _ := post(gwA, rlWeather, s, list); st != 200 {
			t.Errorf("the owner after the stall: %d, want 200", st)
		}
		if st, _ := post(gwB, rlWeather, s, list); st != 200 {
			t.Errorf("the owner through the other replica after the stall: %d, want 200", st)
		}
	}
}
