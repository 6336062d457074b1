package e2e

// End-to-end rate-limit tests: the real gateway binary, with jwt-authn
// against a test JWKS and the seed's rate-limit descriptor, in front of a
// real go-sdk MCP server with the seed's execute_code and get_weather_data
// tools; limits shared across two gateway processes through a real
// redis-server, which the test kills and restarts.
//
// Helpers in this file are prefixed "rl" so they cannot collide with other
// files of the package.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

const (
	rlIssuer   = "https://kubernetes.default.svc"
	rlAudience = "agent-gateway"
	rlWeather  = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
)

// rlIssuerKeys serves a JWKS on loopback and signs RS256 tokens with its key.
type rlIssuerKeys struct {
	*gatewaytest.Issuer
	JWKSURL string
}

func rlStartIssuer(t *testing.T) *rlIssuerKeys {
	t.Helper()
	iss := gatewaytest.StartIssuer(t, gatewaytest.NewRSAKey(t, "rl-k1"))
	return &rlIssuerKeys{Issuer: iss, JWKSURL: iss.URL}
}

func (k *rlIssuerKeys) token(t *testing.T, sub string) string {
	t.Helper()
	now := time.Now()
	return k.Sign(t, jwtlib.MapClaims{
		"iss": rlIssuer, "aud": []string{rlAudience}, "sub": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

// rlBackend is a go-sdk MCP server with two of the seed's tools; it counts
// the calls that reach it.
type rlBackend struct {
	URL          string
	executeCode  atomic.Int64
	weatherCalls atomic.Int64
}

type rlArgs struct {
	Code     string `json:"code,omitempty"`
	Location string `json:"location,omitempty"`
}

func rlStartBackend(t *testing.T) *rlBackend {
	t.Helper()
	b := &rlBackend{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "agent-core-mcp", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "execute_code", Description: "runs code"}, func(ctx context.Context, req *mcp.CallToolRequest, in rlArgs) (*mcp.CallToolResult, any, error) {
		b.executeCode.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_weather_data", Description: "weather"}, func(ctx context.Context, req *mcp.CallToolRequest, in rlArgs) (*mcp.CallToolResult, any, error) {
		b.weatherCalls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	b.URL = serve(t, h)
	return b
}

// jwtAuthn is a jwt-authn policy trusting k, indented for a route's
// policies list.
func (k *rlIssuerKeys) jwtAuthn() string {
	return fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
`, rlIssuer, rlAudience, k.JWKSURL)
}

// rlPolicies is the seed's MCP route policies (Step 3.1), indented for
// MCPListener.
func rlPolicies(jwksURL string) string {
	return fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
              - type: mcp-authz
                mcp:
                  rules:
                    - principal: "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
                      allowedTools:
                        - get_weather_data
                        - generate_analysis_code
                        - execute_code
                        - store_user_preferences
                        - get_activity_preferences
                        - store_activity_plan
                      rateLimit:
                        requestsPerMinute: 100
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: execute_code
                      rateLimit:
                        requestsPerMinute: 10
              - type: timeout
                timeout:
                  request: 30s
`, rlIssuer, rlAudience, jwksURL)
}

func rlStart(t *testing.T, iss *rlIssuerKeys, be *rlBackend, extra string) *Gateway {
	t.Helper()
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("agent-to-mcp-tools", "/mcp", be.URL, "/mcp", "http", rlPolicies(iss.JWKSURL))
	cfg.Extra = extra
	return StartGateway(t, cfg)
}

func rlRedisSection(addr, mode, prefix string) string {
	return fmt.Sprintf("rateLimiting:\n  failureMode: %s\n  replicas: 2\n  redis:\n    address: %s\n    keyPrefix: %q\n", mode, addr, prefix)
}

// rlResult is one tools/call through the gateway.
type rlResult struct {
	Status     int
	RetryAfter string
	Body       string
	RPC        struct {
		ID    json.RawMessage `json:"id"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				HTTPStatus int `json:"httpStatus"`
			} `json:"data"`
		} `json:"error"`
		Result json.RawMessage `json:"result"`
	}
}

func rlCall(t *testing.T, g *Gateway, token string, id any, tool string) rlResult {
	t.Helper()
	idJSON, _ := json.Marshal(id)
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, idJSON, tool)
	resp, text := postJSON(t, g.URL("/mcp"), body, map[string]string{
		"Authorization":        "Bearer " + token,
		"MCP-Protocol-Version": "2025-06-18",
		// A client cannot choose its bucket: this header is stripped and
		// the verified subject is used.
		"X-Agent-Identity": "system:serviceaccount:evil:spoofed",
	})
	r := rlResult{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Body: text}
	if err := json.Unmarshal([]byte(text), &r.RPC); err != nil {
		t.Fatalf("%s: status %d, body not JSON: %q", tool, resp.StatusCode, text)
	}
	return r
}

// rlCount calls tool n times, spread round-robin over gws, and returns how
// many got 200 and how many 429.
func rlCount(t *testing.T, gws []*Gateway, token, tool string, n int) (ok, limited int) {
	t.Helper()
	for i := 0; i < n; i++ {
		r := rlCall(t, gws[i%len(gws)], token, i+1, tool)
		switch {
		case r.Status == http.StatusOK && r.RPC.Error == nil:
			ok++
		case r.Status == http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("%s call %d: status %d: %s", tool, i+1, r.Status, r.Body)
		}
	}
	return ok, limited
}

func rlWaitLog(t *testing.T, g *Gateway, s string, n int, d time.Duration) {
	t.Helper()
	g.waitLog(func(logs string) bool { return strings.Count(logs, s) >= n }, d)
}

// TestRateLimitSeed: one gateway, local limits: the 11th execute_code in a
// minute gets 429 with Retry-After and a JSON-RPC error echoing the id;
// get_weather_data is unaffected.
func TestRateLimitSeed(t *testing.T) {
	iss := rlStartIssuer(t)
	be := rlStartBackend(t)
	g := rlStart(t, iss, be, "")
	tok := iss.token(t, rlWeather)

	for i := 1; i <= 10; i++ {
		r := rlCall(t, g, tok, i, "execute_code")
		if r.Status != 200 || r.RPC.Error != nil || len(r.RPC.Result) == 0 {
			t.Fatalf("call %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := rlCall(t, g, tok, "call-11", "execute_code")
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("11th call: %d %s", r.Status, r.Body)
	}
	if secs, err := strconv.Atoi(r.RetryAfter); err != nil || secs < 1 || secs > 6 {
		t.Fatalf("Retry-After %q", r.RetryAfter)
	}
	if string(r.RPC.ID) != `"call-11"` || r.RPC.Error == nil || r.RPC.Error.Code != -32029 || r.RPC.Error.Data.HTTPStatus != 429 ||
		!strings.Contains(r.RPC.Error.Message, "retry after") || !strings.Contains(r.RPC.Error.Message, "execute_code") {
		t.Fatalf("11th call body: %s", r.Body)
	}
	if n := be.executeCode.Load(); n != 10 {
		t.Fatalf("backend ran execute_code %d times, want 10", n)
	}
	// An identity without mcp-authz rules gets nothing: 403 before the
	// limit, and the backend never sees the call.
	if r := rlCall(t, g, iss.token(t, "system:serviceaccount:agent-core-infra:planning-agent-sa"), 12, "execute_code"); r.Status != 403 {
		t.Fatalf("identity without rules: %d %s", r.Status, r.Body)
	}
	if n := be.executeCode.Load(); n != 10 {
		t.Fatalf("backend ran execute_code %d times after a denied call", n)
	}
	if ok, _ := rlCount(t, []*Gateway{g}, tok, "get_weather_data", 15); ok != 15 {
		t.Fatalf("get_weather_data: %d of 15", ok)
	}
	if n := be.weatherCalls.Load(); n != 15 {
		t.Fatalf("backend ran get_weather_data %d times", n)
	}
	// Without a token: 401 from jwt-authn, before the limit.
	resp, _ := postJSON(t, g.URL("/mcp"), `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_code"}}`, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if !strings.Contains(g.Logs(), "rate limits are kept in this process's memory") {
		t.Error("no log line about local limits")
	}
	// 10 + 15 calls passed the rate-limit policy; one was refused by it.
	m := scrape(t, g.AdminURL("/metrics"))
	for _, want := range []string{
		`agentgateway_ratelimit_decisions_total{decision="allowed",route="agent-to-mcp-tools"} 25`,
		`agentgateway_ratelimit_decisions_total{decision="limited",route="agent-to-mcp-tools"} 1`,
		`mcp_errors_total{error_type="rate_limited",route="agent-to-mcp-tools"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// No token, nor its signature alone, ever reaches a log line.
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(g.Logs(), tok) || strings.Contains(g.Logs(), sig) {
		t.Error("a token appears in the gateway's logs")
	}
}

// TestRateLimitSharedRedis: two gateway processes and one Redis allow
// exactly the configured number in total. With Redis killed, fail-open
// gateways serve with local limits and a fail-closed one answers 503; when
// Redis returns, the shared limit holds again.
func TestRateLimitSharedRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	redis := redistest.Start(t)
	iss := rlStartIssuer(t)
	be := rlStartBackend(t)
	gwA := rlStart(t, iss, be, rlRedisSection(redis.Addr(), "open", "e2e:"))
	gwB := rlStart(t, iss, be, rlRedisSection(redis.Addr(), "open", "e2e:"))
	// The fail-closed gateway counts under its own prefix, so that probing
	// it does not use the others' budget.
	gwC := rlStart(t, iss, be, rlRedisSection(redis.Addr(), "closed", "e2e-closed:"))
	both := []*Gateway{gwA, gwB}
	tok := iss.token(t, rlWeather)

	// Shared: 14 calls alternating between the two processes, 10 pass.
	// (GCRA gives one more call per 6s; these take well under that.)
	if ok, limited := rlCount(t, both, tok, "execute_code", 14); ok != 10 || limited != 4 {
		t.Fatalf("two gateways, one redis: %d allowed, %d limited; want exactly 10 and 4", ok, limited)
	}
	if n := be.executeCode.Load(); n != 10 {
		t.Fatalf("backend ran execute_code %d times", n)
	}
	if ok, _ := rlCount(t, both, tok, "get_weather_data", 12); ok != 12 {
		t.Fatalf("get_weather_data: %d of 12", ok)
	}

	// Redis dies.
	redis.Kill()
	// Fail-open: gwA keeps serving on its own local limit (10 per
	// process), going on from the 5 calls it admitted through Redis (it
	// charged them locally too): the outage hands out no fresh burst.
	// (GCRA may give back one more if 6s passed since.)
	if ok, limited := rlCount(t, []*Gateway{gwA}, tok, "execute_code", 11); ok < 5 || ok > 6 || ok+limited != 11 {
		t.Fatalf("fail-open gateway A: %d allowed, %d limited; want local 10 minus the 5 admitted through redis", ok, limited)
	}
	if ok, _ := rlCount(t, []*Gateway{gwB}, tok, "execute_code", 1); ok != 1 {
		t.Fatal("fail-open gateway B refused its first call")
	}
	// Fail-closed: 503 with a JSON-RPC error. The seed's mcp-authz rule
	// also puts a per-principal limit (100/min) on every tool call, so
	// get_weather_data is refused too while the shared store is down.
	r := rlCall(t, gwC, tok, 99, "execute_code")
	if r.Status != http.StatusServiceUnavailable || r.RPC.Error == nil || string(r.RPC.ID) != "99" || r.RPC.Error.Data.HTTPStatus != 503 {
		t.Fatalf("fail-closed: %d %s", r.Status, r.Body)
	}
	if r := rlCall(t, gwC, tok, 98, "get_weather_data"); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("fail-closed get_weather_data: %d %s", r.Status, r.Body)
	}
	weatherBefore := be.weatherCalls.Load()
	if ok, _ := rlCount(t, []*Gateway{gwA}, tok, "get_weather_data", 3); ok != 3 || be.weatherCalls.Load() != weatherBefore+3 {
		t.Fatal("fail-open gateway refused get_weather_data while redis is down")
	}
	for _, g := range []*Gateway{gwA, gwB, gwC} {
		// A store goes down after sharedstate.FailureThreshold (3) failed
		// Redis calls in a row; a gateway that has made fewer so far gets
		// a few more calls (each is one or two Redis calls).
		for i := 0; i < sharedstate.FailureThreshold && !strings.Contains(g.Logs(), "rate limit store down"); i++ {
			rlCall(t, g, tok, 200+i, "get_weather_data")
			time.Sleep(50 * time.Millisecond)
		}
		rlWaitLog(t, g, "rate limit store down", 1, 5*time.Second)
		if n := strings.Count(g.Logs(), "rate limit store down"); n != 1 {
			t.Fatalf("logged store down %d times, want once", n)
		}
	}

	// Redis returns (empty): every gateway finds it again by itself.
	redis.Restart()
	for _, g := range []*Gateway{gwA, gwB, gwC} {
		rlWaitLog(t, g, "limits are shared through redis again", 1, 30*time.Second)
	}
	if r := rlCall(t, gwC, tok, 100, "execute_code"); r.Status != 200 {
		t.Fatalf("fail-closed after recovery: %d %s", r.Status, r.Body)
	}
	if ok, limited := rlCount(t, both, tok, "execute_code", 13); ok != 10 || limited != 3 {
		t.Fatalf("after recovery: %d allowed, %d limited; want exactly 10 and 3", ok, limited)
	}
}
