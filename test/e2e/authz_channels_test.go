package e2e

// mcp-authz on every channel the client reads (issue #14, findings 3, 4
// and 11): the legacy HTTP+SSE stream is filtered and its session bound
// to its identity, a stream resumed with Last-Event-ID does not replay an
// unfiltered list, and a tools/call refused by a later policy does not
// spend the caller's mcp-authz budget. Real gateway binary, real go-sdk
// servers and clients, real JWTs.
//
// Helpers in this file are prefixed "ac".

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	acAlice = "system:serviceaccount:team:alice" // may use echo only
	acBob   = "system:serviceaccount:team:bob"   // may use echo and secret
)

// acPolicies is jwt-authn plus mcp-authz with the two identities' rules.
func acPolicies(iss *rlIssuerKeys) string {
	return iss.jwtAuthn() + fmt.Sprintf(`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: %q
                      allowedTools: [echo]
                    - principal: %q
                      allowedTools: [echo, secret]
`, acAlice, acBob)
}

// acServer is the echo server plus a tool alice must never see.
func acServer() *mcp.Server {
	s := mtNewServer()
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "only bob may see this"}, func(context.Context, *mcp.CallToolRequest, mtEmpty) (*mcp.CallToolResult, any, error) {
		return mtText("the secret"), nil, nil
	})
	return s
}

// acBearer adds a bearer token to every request and records the URLs of
// the POSTs (a legacy client posts to the endpoint its stream announced).
type acBearer struct {
	token string
	mu    sync.Mutex
	posts []string
}

func (b *acBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	if r.Method == http.MethodPost {
		b.mu.Lock()
		b.posts = append(b.posts, r.URL.String())
		b.mu.Unlock()
	}
	return mtHTTP.Transport.RoundTrip(r)
}

func (b *acBearer) lastPost() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.posts) == 0 {
		return ""
	}
	return b.posts[len(b.posts)-1]
}

func acToolNames(t *testing.T, ctx context.Context, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// TestAuthzLegacySSE: on a legacy HTTP+SSE route, tools/list (answered on
// the GET stream) is filtered per identity, and a session's message
// endpoint accepts POSTs from the identity it was announced to only.
func TestAuthzLegacySSE(t *testing.T) {
	iss := rlStartIssuer(t)
	srv := acServer()
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	rec := &mtRecorder{h: sse}
	backend := serve(t, rec)
	cfg := mtPorts(t)
	cfg.Listeners = MCPListener("legacy", "/legacy", backend, "/sse", "sse", acPolicies(iss))
	g := mtStartGatewayCfg(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	connect := func(sub string) (*mcp.ClientSession, *acBearer) {
		t.Helper()
		b := &acBearer{token: iss.token(t, sub)}
		c := mcp.NewClient(&mcp.Implementation{Name: "legacy-" + sub, Version: "1.0.0"}, nil)
		cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: g.URL("/legacy"), HTTPClient: &http.Client{Transport: b}}, nil)
		if err != nil {
			t.Fatalf("%s: connect: %v", sub, err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs, b
	}

	alice, aliceHTTP := connect(acAlice)
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || mtResultText(t, res) != "echo: hi" {
		t.Fatalf("alice's echo: %v %+v", err, res)
	}

	t.Run("tools/list filtered on the stream", func(t *testing.T) {
		if got := acToolNames(t, ctx, alice); !slices.Equal(got, []string{"echo"}) {
			t.Errorf("alice's tools/list on the legacy stream = %v, want [echo]", got)
		}
		bob, _ := connect(acBob)
		if got := acToolNames(t, ctx, bob); !slices.Equal(got, []string{"echo", "secret"}) {
			t.Errorf("bob's tools/list = %v, want [echo secret]", got)
		}
	})

	t.Run("session bound to its identity", func(t *testing.T) {
		acLegacyHijack(t, ctx, iss, rec, aliceHTTP, alice)
	})
}

func acLegacyHijack(t *testing.T, ctx context.Context, iss *rlIssuerKeys, rec *mtRecorder, aliceHTTP *acBearer, alice *mcp.ClientSession) {
	// Bob learns alice's endpoint (session id) and posts into it: the
	// same 404 as for a session that does not exist, and the backend
	// never sees the call. Variants of the endpoint that the backend
	// would route to the same session fare no better.
	endpoint := aliceHTTP.lastPost()
	if !strings.Contains(endpoint, "/legacy/sse?sessionid=") {
		t.Fatalf("alice posted to %q", endpoint)
	}
	secretCall := `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"secret","arguments":{}}}`
	bobTok := iss.token(t, acBob)
	before := len(rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodPost }))
	for _, u := range []string{endpoint, endpoint + "&x=1", strings.Replace(endpoint, "?", "?x=1&", 1)} {
		resp, body := postJSON(t, u, secretCall, map[string]string{"Authorization": "Bearer " + bobTok})
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"id":41`) {
			t.Errorf("bob posting into alice's session at %s: %d %s, want 404 echoing the id", u, resp.StatusCode, body)
		}
	}
	// Alice herself cannot post to an endpoint she was not announced.
	resp, body := postJSON(t, endpoint+"&x=1", `{"jsonrpc":"2.0","id":42,"method":"ping"}`, map[string]string{"Authorization": "Bearer " + iss.token(t, acAlice)})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("alice posting to an endpoint variant: %d %s, want 404", resp.StatusCode, body)
	}
	if after := len(rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodPost })); after != before {
		t.Errorf("the backend saw %d refused POSTs", after-before)
	}
	// Alice's session still works.
	if _, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "again"}}); err != nil {
		t.Fatalf("alice's echo after the attempts: %v", err)
	}
}

// TestAuthzResumedStreamFiltered: a GET with Last-Event-ID replays a
// tools/list response from the backend's event store; the replay is
// filtered like the original response.
func TestAuthzResumedStreamFiltered(t *testing.T) {
	iss := rlStartIssuer(t)
	backend, _ := mtStartBackend(t, acServer(), &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	cfg := mtPorts(t)
	cfg.Listeners = MCPListener("resume", "/mcp", backend, "/mcp", "http", acPolicies(iss))
	g := mtStartGatewayCfg(t, cfg)
	url := g.URL("/mcp")
	auth := "Bearer " + iss.token(t, acAlice)

	hdr := func(sid string) map[string]string {
		h := mtHeaders(mtV1125, sid)
		h["Authorization"] = auth
		return h
	}
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, mtV1125)
	resp, body := mtDo(t, http.MethodPost, url, init, hdr(""))
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	if resp, body := mtDo(t, http.MethodPost, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, hdr(sid)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", resp.StatusCode, body)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r1, s1 := mtOpenStream(ctx, t, http.MethodPost, url, `{"jsonrpc":"2.0","id":"L","method":"tools/list"}`, hdr(sid))
	prime := mtNextEvent(t, s1, "priming event")
	if prime.ID == "" || prime.Data != "" {
		t.Fatalf("priming event = %+v, want an id and no data", prime)
	}
	live := mtNextEvent(t, s1, "tools/list response")
	r1.Body.Close()
	if !strings.Contains(live.Data, `"echo"`) || strings.Contains(live.Data, "secret") {
		t.Fatalf("live tools/list = %s", live.Data)
	}

	h := hdr(sid)
	h["Accept"] = "text/event-stream"
	h["Last-Event-ID"] = prime.ID
	r2, s2 := mtResumeStream(ctx, t, url, h)
	defer r2.Body.Close()
	replay := mtNextEvent(t, s2, "replayed tools/list response")
	if strings.Contains(replay.Data, "secret") {
		t.Fatalf("the resumed stream replays a forbidden tool: %s", replay.Data)
	}
	m := mtDecode(t, replay.Data)
	if string(m.ID) != `"L"` || !strings.Contains(replay.Data, `"echo"`) {
		t.Fatalf("replayed event = %+v", replay)
	}
}

// TestAuthzRefusedCallKeepsBudget: a tools/call that the rate-limit
// policy refuses after mcp-authz counted it is given back, so it does not
// block the caller's other allowed tools; the budget itself still holds.
func TestAuthzRefusedCallKeepsBudget(t *testing.T) {
	iss := rlStartIssuer(t)
	be := rlStartBackend(t)
	policies := iss.jwtAuthn() + fmt.Sprintf(`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: %q
                      allowedTools: [execute_code, get_weather_data]
                      rateLimit:
                        requestsPerMinute: 2
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: execute_code
                      rateLimit:
                        requestsPerMinute: 1
`, rlWeather)
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("budget", "/mcp", be.URL, "/mcp", "http", policies)
	g := StartGateway(t, cfg)
	tok := iss.token(t, rlWeather)

	if r := rlCall(t, g, tok, 1, "execute_code"); r.Status != http.StatusOK || r.RPC.Error != nil {
		t.Fatalf("first execute_code: %d %s", r.Status, r.Body)
	}
	// Refused by the rate-limit policy (1 per minute), not by mcp-authz.
	for i := 2; i <= 4; i++ {
		r := rlCall(t, g, tok, i, "execute_code")
		if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "execute_code") {
			t.Fatalf("execute_code %d: %d %s, want 429 from the rate-limit policy", i, r.Status, r.Body)
		}
	}
	if n := be.executeCode.Load(); n != 1 {
		t.Fatalf("backend ran execute_code %d times, want 1", n)
	}
	// One of the two calls a minute is left.
	if r := rlCall(t, g, tok, 5, "get_weather_data"); r.Status != http.StatusOK || r.RPC.Error != nil {
		t.Fatalf("get_weather_data after refused calls: %d %s (refused calls spent the mcp-authz budget)", r.Status, r.Body)
	}
	r := rlCall(t, g, tok, 6, "get_weather_data")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "2 tool calls per minute") {
		t.Fatalf("third forwarded call: %d %s, want mcp-authz's 429", r.Status, r.Body)
	}
	if n := be.weatherCalls.Load(); n != 1 {
		t.Fatalf("backend ran get_weather_data %d times, want 1", n)
	}
}
