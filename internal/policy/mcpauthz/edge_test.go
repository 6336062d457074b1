package mcpauthz_test

// These tests run mcp-authz behind the real edge (internal/gateway), after
// the real jwt-authn policy (tokens signed with a test key, verified against
// an httptest JWKS), in front of real go-sdk MCP servers: the demo server
// with the seed's six tools plus extra tools, resources and prompts. Every
// refused request is checked not to reach the backend by counting the
// requests the backend receives.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/demo"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/jwt"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/retry"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/timeout"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

const (
	weatherSA = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	plannerSA = "system:serviceaccount:agent-core-infra:planner-sa"
	limitedSA = "system:serviceaccount:limited:caller"
	readerSA  = "system:serviceaccount:docs:reader"
	nobodySA  = "system:serviceaccount:other:nobody"
	issuer    = "https://kubernetes.default.svc"
	protocol  = "2025-11-25"
)

// rulesYAML is the seed's mcp-authz rule (first) plus rules exercising
// globs, rate limits, resources and prompts.
const rulesYAML = `
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
                    - principal: "system:serviceaccount:agent-core-infra:*"
                      allowedTools: [get_weather_data, "report_*"]
                    - principal: "system:serviceaccount:limited:caller"
                      allowedTools: [get_weather_data]
                      rateLimit:
                        requestsPerMinute: 3
                    - principal: "system:serviceaccount:docs:reader"
                      allowedResources: ["demo://docs/*"]
                      allowedPrompts: ["summarize_*"]`

type harness struct {
	t       *testing.T
	gw      string // http://127.0.0.1:port
	key     *gatewaytest.Key
	tokens  map[string]string
	hits    atomic.Int64 // requests that reached any backend
	server  *mcp.Server
	logs    *gatewaytest.LogBuffer
	bodies  sync.Map // backend request bodies seen, by body
	toolRun atomic.Int64
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, tokens: map[string]string{}, logs: &gatewaytest.LogBuffer{}}
	iss := gatewaytest.StartIssuer(t, gatewaytest.NewECKey(t, "k1"))
	h.key = iss.Key

	// One go-sdk server, served as SSE (the SDK default) and as JSON.
	h.server = demo.NewMCPServer()
	mcp.AddTool(h.server, &mcp.Tool{Name: "delete_everything", Description: "granted to no one"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			h.toolRun.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted"}}}, nil, nil
		})
	for _, uri := range []string{"demo://docs/readme", "demo://secret/keys"} {
		h.server.AddResource(&mcp.Resource{URI: uri, Name: uri, MIMEType: "text/plain"},
			func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "content of " + r.Params.URI}}}, nil
			})
	}
	for _, name := range []string{"summarize_week", "leak_secrets"} {
		h.server.AddPrompt(&mcp.Prompt{Name: name}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: name}}}}, nil
		})
	}
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.hits.Add(1)
			b, _ := io.ReadAll(r.Body)
			h.bodies.Store(string(b), true)
			r.Body = io.NopCloser(bytes.NewReader(b))
			next.ServeHTTP(w, r)
		})
	}
	serve := func(jsonResp bool) string {
		mux := http.NewServeMux()
		mux.Handle("/mcp", count(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return h.server },
			&mcp.StreamableHTTPOptions{JSONResponse: jsonResp})))
		s := httptest.NewServer(mux)
		t.Cleanup(s.Close)
		return s.URL
	}
	sseURL, jsonURL := serve(false), serve(true)

	// A fresh rate-limit store (per-rule counts and session bindings) per
	// harness, so that repeated runs (-count) start from full buckets and
	// no bindings.
	limits := sharedstate.NewLocalStore(gcra.NewLocal(0))
	t.Cleanup(func() { _ = limits.Close() })

	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	route := func(name, prefix, addr string) string {
		return fmt.Sprintf(`
          - name: %s
            match:
              path:
                prefix: %s
            maxBodyBytes: 64KiB
            policies:
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [agent-gateway]
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
              - type: mcp-authz
                mcp:%s
              - type: timeout
                timeout:
                  request: 300s
                  idle: 60s
              - type: retry
                retry:
                  attempts: 3
                  perTryTimeout: 30s
                  retryOn: [5xx, reset, connect-failure]
                  backoff:
                    baseInterval: 1s
                    maxInterval: 10s
            backends:
              - name: agent-core-mcp-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
                  timeout: 300s`, name, prefix, issuer, iss.URL, rulesYAML, addr)
	}
	src := fmt.Sprintf(`
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: mcp-listener
        routes:%s%s
admin:
  address: 127.0.0.1
  port: %d
`, port, route("agent-to-mcp-tools", "/mcp", sseURL), route("json-tools", "/json", jsonURL), admin)
	g := gateway.New(gateway.Options{Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Limits: limits})
	gatewaytest.Start(t, g, src)
	h.gw = fmt.Sprintf("http://127.0.0.1:%d", port)
	return h
}

func (h *harness) token(sub string) string {
	if tok, ok := h.tokens[sub]; ok {
		return tok
	}
	s := h.key.Sign(h.t, jwtlib.MapClaims{
		"iss": issuer, "aud": []string{"agent-gateway"}, "sub": sub,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	h.tokens[sub] = s
	return s
}

type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// client connects a go-sdk client as sub through the gateway; version ""
// is the SDK's default (2026-07-28: server/discover, no session).
func (h *harness) client(t *testing.T, sub, path, version string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{
		Endpoint:   h.gw + path,
		HTTPClient: &http.Client{Transport: bearer{h.token(sub), http.DefaultTransport}},
		MaxRetries: -1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var so *mcp.ClientSessionOptions
	if version != "" {
		so = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := c.Connect(ctx, tr, so)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

// reply is a raw exchange's outcome: the HTTP status and the JSON-RPC
// message the client got (from a JSON body or the first SSE data event).
type reply struct {
	status int
	header http.Header
	msg    map[string]any
	raw    string
}

func (r reply) code() int {
	e, _ := r.msg["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return int(c)
}

func (r reply) message() string {
	e, _ := r.msg["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends one raw request through the gateway as sub ("" = no token).
func (h *harness) do(method, path, sub string, body []byte, hdr http.Header) reply {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.gw+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", protocol)
	if sub != "" {
		req.Header.Set("Authorization", "Bearer "+h.token(sub))
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	rep := reply{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(d, `"id"`) {
				rep.raw = d
				break
			}
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		rep.raw = string(b)
	}
	_ = json.Unmarshal([]byte(rep.raw), &rep.msg)
	return rep
}

// session initializes a 2025-11-25 session as sub with raw requests and
// returns its Mcp-Session-Id.
func (h *harness) session(path, sub string) string {
	h.t.Helper()
	r := h.do(http.MethodPost, path, sub, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+protocol+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`), nil)
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != http.StatusOK || sid == "" {
		h.t.Fatalf("initialize: %d %s", r.status, r.raw)
	}
	r = h.do(http.MethodPost, path, sub, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), http.Header{"Mcp-Session-Id": {sid}})
	if r.status != http.StatusAccepted {
		h.t.Fatalf("notifications/initialized: %d %s", r.status, r.raw)
	}
	return sid
}

func toolCall(id int, name string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": name, "arguments": map[string]any{"city": "Tampa, FL"}}})
	return b
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

var sixTools = []string{"execute_code", "generate_analysis_code", "get_activity_preferences", "get_weather_data", "store_activity_plan", "store_user_preferences"}

func TestSeedConfigThroughTheEdge(t *testing.T) {
	h := newHarness(t)
	args := map[string]map[string]any{
		"get_weather_data":         {"city": "Tampa, FL"},
		"generate_analysis_code":   {"weather_data": "sunny"},
		"execute_code":             {"python_code": "print(1)"},
		"store_user_preferences":   {"preferences": "hiking"},
		"get_activity_preferences": {},
		"store_activity_plan":      {"city": "Tampa, FL", "plan": "beach"},
	}
	for _, tc := range []struct{ path, version string }{
		{"/mcp", ""}, {"/mcp", protocol}, {"/json", ""}, {"/json", "2025-03-26"},
	} {
		t.Run(tc.path+" "+tc.version, func(t *testing.T) {
			cs, err := h.client(t, weatherSA, tc.path, tc.version, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := toolNames(t, cs); !slices.Equal(got, sixTools) {
				t.Errorf("tools/list = %v, want exactly the six seed tools", got)
			}
			if tc.version == "" {
				// 2026-07-28 results carry cache hints: a filtered list
				// is the caller's own.
				res, err := cs.ListTools(context.Background(), nil)
				if err != nil || res.CacheScope != "private" {
					t.Errorf("cacheScope = %q, %v", res.CacheScope, err)
				}
			}
			for name, a := range args {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: a})
				if err != nil || res.IsError {
					t.Errorf("%s: %v %+v", name, err, res)
				}
			}
			_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "delete_everything", Arguments: map[string]any{}})
			if err == nil || !strings.Contains(err.Error(), "not allowed") {
				t.Errorf("delete_everything: err = %v", err)
			}
		})
	}
	if n := h.toolRun.Load(); n != 0 {
		t.Fatalf("delete_everything ran %d times", n)
	}

	t.Run("glob principal sees its tools only", func(t *testing.T) {
		cs, err := h.client(t, plannerSA, "/mcp", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := toolNames(t, cs); !slices.Equal(got, []string{"get_weather_data"}) {
			t.Errorf("tools/list = %v", got)
		}
	})

	t.Run("an identity without rules gets nothing", func(t *testing.T) {
		before := h.hits.Load()
		for _, v := range []string{"", protocol} {
			if _, err := h.client(t, nobodySA, "/mcp", v, nil); err == nil {
				t.Error("connected")
			}
		}
		for _, body := range []string{
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
			string(toolCall(1, "get_weather_data")),
		} {
			r := h.do(http.MethodPost, "/mcp", nobodySA, []byte(body), nil)
			if r.status != http.StatusForbidden || r.code() != -32003 || !strings.Contains(r.message(), nobodySA) {
				t.Errorf("%s: %d %s", body, r.status, r.raw)
			}
		}
		if r := h.do(http.MethodGet, "/mcp", nobodySA, nil, nil); r.status != http.StatusForbidden {
			t.Errorf("GET: %d", r.status)
		}
		if n := h.hits.Load() - before; n != 0 {
			t.Errorf("backend reached %d times", n)
		}
	})

	t.Run("resources and prompts", func(t *testing.T) {
		cs, err := h.client(t, readerSA, "/mcp", protocol, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		rl, err := cs.ListResources(ctx, nil)
		if err != nil || len(rl.Resources) != 1 || rl.Resources[0].URI != "demo://docs/readme" {
			t.Errorf("resources/list = %+v, %v", rl, err)
		}
		if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://docs/readme"}); err != nil {
			t.Error(err)
		}
		if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://secret/keys"}); err == nil {
			t.Error("secret resource read")
		}
		pl, err := cs.ListPrompts(ctx, nil)
		if err != nil || len(pl.Prompts) != 1 || pl.Prompts[0].Name != "summarize_week" {
			t.Errorf("prompts/list = %+v, %v", pl, err)
		}
		if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "leak_secrets"}); err == nil {
			t.Error("forbidden prompt served")
		}
		if got := toolNames(t, cs); len(got) != 0 {
			t.Errorf("reader sees tools %v", got)
		}
		wcs, err := h.client(t, weatherSA, "/mcp", protocol, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wcs.ListResources(ctx, nil); err == nil {
			t.Error("weather agent listed resources without allowedResources")
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		sid := h.session("/mcp", limitedSA)
		hdr := http.Header{"Mcp-Session-Id": {sid}}
		for i := 1; i <= 3; i++ {
			if r := h.do(http.MethodPost, "/mcp", limitedSA, toolCall(i, "get_weather_data"), hdr); r.status != http.StatusOK || r.msg["result"] == nil {
				t.Fatalf("call %d: %d %s", i, r.status, r.raw)
			}
		}
		before := h.hits.Load()
		r := h.do(http.MethodPost, "/mcp", limitedSA, toolCall(4, "get_weather_data"), hdr)
		if r.status != http.StatusTooManyRequests || r.code() != -32029 || r.header.Get("Retry-After") == "" || r.msg["id"] != float64(4) {
			t.Fatalf("4th call: %d %v %s", r.status, r.header, r.raw)
		}
		if n := h.hits.Load() - before; n != 0 {
			t.Errorf("rate-limited call reached the backend")
		}
		// Only tools/call counts.
		if r := h.do(http.MethodPost, "/mcp", limitedSA, []byte(`{"jsonrpc":"2.0","id":9,"method":"ping"}`), hdr); r.status != http.StatusOK {
			t.Errorf("ping after the limit: %d", r.status)
		}
	})
}

func TestBypassAttemptsNeverReachTheBackend(t *testing.T) {
	h := newHarness(t)
	sid := h.session("/mcp", weatherSA)
	sess := http.Header{"Mcp-Session-Id": {sid}}
	with := func(kv ...string) http.Header {
		hd := sess.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			hd[http.CanonicalHeaderKey(kv[i])] = []string{kv[i+1]}
		}
		return hd
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	rawCall := func(name string) []byte {
		return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":` + name + `,"arguments":{}}}`)
	}
	deep := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"x":` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}}`

	tests := []struct {
		name   string
		body   []byte
		hdr    http.Header
		status int
		code   int
	}{
		{"forbidden tool", toolCall(7, "delete_everything"), sess, 403, -32003},
		{"batch mixing an allowed and a forbidden tool", []byte(`[` + string(toolCall(1, "get_weather_data")) + `,` + string(toolCall(2, "delete_everything")) + `]`), sess, 400, -32600},
		{"batch of allowed tools", []byte(`[` + string(toolCall(1, "get_weather_data")) + `,` + string(toolCall(2, "execute_code")) + `]`), sess, 400, -32600},
		{"duplicate name keys", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data","name":"delete_everything"}}`), sess, 400, -32600},
		{"duplicate escaped name keys", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data","n\u0061me":"delete_everything"}}`), sess, 400, -32600},
		{"Name versus name", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data","Name":"delete_everything"}}`), sess, 400, -32600},
		{"Name only", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"Name":"delete_everything"}}`), sess, 400, -32600},
		{"Method versus method", []byte(`{"jsonrpc":"2.0","id":7,"method":"ping","Method":"tools/call","params":{"name":"delete_everything"}}`), sess, 400, -32600},
		{"Params versus params", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data"},"Params":{"name":"delete_everything"}}`), sess, 400, -32600},
		{"Tools/Call", []byte(`{"jsonrpc":"2.0","id":7,"method":"Tools/Call","params":{"name":"delete_everything"}}`), sess, 403, -32003},
		{"TOOLS/CALL allowed tool", []byte(`{"jsonrpc":"2.0","id":7,"method":"TOOLS/CALL","params":{"name":"get_weather_data"}}`), sess, 403, -32003},
		{"trailing space", rawCall(`"execute_code "`), sess, 403, -32003},
		{"trailing NUL", rawCall(`"execute_code\u0000"`), sess, 403, -32003},
		{"method with trailing space", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call ","params":{"name":"get_weather_data"}}`), sess, 403, -32003},
		{"Cyrillic look-alike", rawCall(`"ex\u0435cute_code"`), sess, 403, -32003},
		{"full-width", rawCall(`"ｅｘｅｃｕｔｅ_ｃｏｄｅ"`), sess, 403, -32003},
		{"zero-width space", rawCall(`"execute\u200b_code"`), sess, 403, -32003},
		{"zero-width joiner", rawCall(`"execute_code` + "\u200d" + `"`), sess, 403, -32003},
		{"NFD form", rawCall(`"store_activity_pla` + "n\u0303" + `"`), sess, 403, -32003},
		{"params as an array", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":["delete_everything"]}`), sess, 400, -32602},
		{"name as a number", rawCall(`42`), sess, 400, -32602},
		{"name as an object", rawCall(`{"name":"get_weather_data"}`), sess, 400, -32602},
		{"tools/call as a notification", []byte(`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_weather_data"}}`), sess, 400, -32600},
		{"too large", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"x":"` + strings.Repeat("a", 70<<10) + `"}}}`), sess, 413, -32000},
		{"too deep", []byte(deep), sess, 400, -32600},
		{"invalid JSON", []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call",`), sess, 400, -32700},
		{"text/plain", toolCall(7, "get_weather_data"), with("Content-Type", "text/plain"), 415, -32600},
		{"no Content-Type", toolCall(7, "get_weather_data"), with("Content-Type", ""), 415, -32600},
		{"json with a foreign charset", toolCall(7, "get_weather_data"), with("Content-Type", "application/json; charset=utf-16"), 415, -32600},
		{"gzip body", gz(toolCall(7, "delete_everything")), with("Content-Encoding", "gzip"), 400, -32700},
		{"gzip header on a plain body", toolCall(7, "get_weather_data"), with("Content-Encoding", "gzip"), 415, -32600},
		{"Mcp-Method header disagrees", toolCall(7, "delete_everything"), with("Mcp-Method", "tools/list"), 400, -32600},
		{"Mcp-Name header disagrees", toolCall(7, "delete_everything"), with("Mcp-Method", "tools/call", "Mcp-Name", "get_weather_data"), 400, -32600},
		{"sampling request from the client", []byte(`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}`), sess, 403, -32003},
		{"unknown notification", []byte(`{"jsonrpc":"2.0","method":"notifications/evil"}`), sess, 403, -32003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.hits.Load()
			hdr := tt.hdr
			if v, ok := hdr["Content-Type"]; ok && v[0] == "" {
				hdr = hdr.Clone()
				hdr["Content-Type"] = nil
			}
			r := h.do(http.MethodPost, "/mcp", weatherSA, tt.body, hdr)
			if r.status != tt.status || r.code() != tt.code {
				t.Errorf("got %d %d, want %d %d: %s", r.status, r.code(), tt.status, tt.code, r.raw)
			}
			if n := h.hits.Load() - before; n != 0 {
				t.Errorf("reached the backend %d times", n)
			}
		})
	}
	if n := h.toolRun.Load(); n != 0 {
		t.Fatalf("delete_everything ran %d times", n)
	}

	t.Run("deny echoes the id and names tool and identity", func(t *testing.T) {
		r := h.do(http.MethodPost, "/mcp", weatherSA, []byte(`{"jsonrpc":"2.0","id":"req-42","method":"tools/call","params":{"name":"delete_everything"}}`), sess)
		want := `tool "delete_everything" is not allowed for "` + weatherSA + `"`
		if r.status != 403 || r.msg["id"] != "req-42" || r.message() != want {
			t.Errorf("%d %s", r.status, r.raw)
		}
		e, _ := r.msg["error"].(map[string]any)
		if d, _ := e["data"].(map[string]any); d["httpStatus"] != float64(403) {
			t.Errorf("error.data = %v", e["data"])
		}
	})

	t.Run("control: the allowed call goes through", func(t *testing.T) {
		before := h.hits.Load()
		r := h.do(http.MethodPost, "/mcp", weatherSA, toolCall(8, "get_weather_data"), with("Mcp-Method", "tools/call", "Mcp-Name", "get_weather_data"))
		if r.status != 200 || r.msg["result"] == nil {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if h.hits.Load()-before != 1 {
			t.Error("backend not reached exactly once")
		}
	})
}

func TestSessionsAreBoundToTheirIdentity(t *testing.T) {
	h := newHarness(t)
	sid := h.session("/mcp", weatherSA)
	ping := []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)

	for _, sub := range []string{plannerSA, readerSA} {
		before := h.hits.Load()
		for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			var body []byte
			if m == http.MethodPost {
				body = ping
			}
			r := h.do(m, "/mcp", sub, body, http.Header{"Mcp-Session-Id": {sid}})
			if r.status != http.StatusNotFound || r.code() != -32600 || r.message() != "session not found" {
				t.Errorf("%s %s: %d %s", sub, m, r.status, r.raw)
			}
		}
		if n := h.hits.Load() - before; n != 0 {
			t.Errorf("hijack attempts by %s reached the backend %d times", sub, n)
		}
	}
	// The owner is unaffected, on both routes' shared store.
	if r := h.do(http.MethodPost, "/mcp", weatherSA, ping, http.Header{"Mcp-Session-Id": {sid}}); r.status != 200 {
		t.Fatalf("owner ping: %d %s", r.status, r.raw)
	}

	// A session started by a go-sdk client is bound too.
	cs, err := h.client(t, weatherSA, "/mcp", protocol, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cs.ID() == "" {
		t.Fatal("no session id")
	}
	if r := h.do(http.MethodPost, "/mcp", plannerSA, toolCall(3, "get_weather_data"), http.Header{"Mcp-Session-Id": {cs.ID()}}); r.status != 404 {
		t.Errorf("hijack of an SDK session: %d", r.status)
	}
	if got := toolNames(t, cs); !slices.Equal(got, sixTools) {
		t.Errorf("owner's session broken: %v", got)
	}

	// An unknown id (a gateway restart) passes to the backend, which
	// decides, and is bound to its first user.
	before := h.hits.Load()
	r := h.do(http.MethodPost, "/mcp", plannerSA, ping, http.Header{"Mcp-Session-Id": {"unknown-session-1"}})
	if r.status != http.StatusNotFound || h.hits.Load()-before != 1 {
		t.Errorf("unknown session: %d, backend hits %d", r.status, h.hits.Load()-before)
	}
	before = h.hits.Load()
	r = h.do(http.MethodPost, "/mcp", weatherSA, ping, http.Header{"Mcp-Session-Id": {"unknown-session-1"}})
	if r.status != http.StatusNotFound || r.message() != "session not found" || h.hits.Load() != before {
		t.Errorf("second identity on a claimed unknown session: %d %s", r.status, r.raw)
	}

	// The owner may end the session.
	if r := h.do(http.MethodDelete, "/mcp", weatherSA, nil, http.Header{"Mcp-Session-Id": {sid}}); r.status/100 != 2 {
		t.Errorf("owner DELETE: %d %s", r.status, r.raw)
	}
}

func TestListChangedRefetchIsFiltered(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ path, version string }{{"/mcp", ""}, {"/mcp", protocol}, {"/json", protocol}} {
		t.Run(tc.path+" "+tc.version, func(t *testing.T) {
			changed := make(chan struct{}, 16)
			cs, err := h.client(t, plannerSA, tc.path, tc.version, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			})
			if err != nil {
				t.Fatal(err)
			}
			before := toolNames(t, cs)
			suffix := strings.NewReplacer("/", "", ".", "", "-", "").Replace(tc.path + tc.version)
			report, secret := "report_"+suffix, "secret_admin_"+suffix
			for _, name := range []string{report, secret} {
				h.server.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
					func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						return &mcp.CallToolResult{}, nil
					})
			}
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("no notifications/tools/list_changed through the gateway")
			}
			after := toolNames(t, cs)
			if !slices.Contains(after, report) || slices.Contains(after, secret) {
				t.Errorf("after list_changed: %v (before %v)", after, before)
			}
			for _, n := range after {
				if n != "get_weather_data" && !strings.HasPrefix(n, "report_") {
					t.Errorf("tool %q leaked", n)
				}
			}
		})
	}
}

func TestAuditRecords(t *testing.T) {
	h := newHarness(t)
	sid := h.session("/mcp", weatherSA)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	hdr := http.Header{"Mcp-Session-Id": {sid}, "Traceparent": {"00-" + trace + "-00f067aa0ba902b7-01"}, "X-Request-Id": {"req-1"}}
	h.do(http.MethodPost, "/mcp", weatherSA, toolCall(1, "get_weather_data"), hdr)
	h.do(http.MethodPost, "/mcp", weatherSA, toolCall(2, "delete_everything"), hdr)
	h.do(http.MethodPost, "/mcp", nobodySA, toolCall(3, "get_weather_data"), hdr)

	find := func(msg, principal, tool string) map[string]any {
		for _, r := range h.logs.Records(t) {
			if r["msg"] == msg && r["principal"] == principal && (tool == "" || r["tool"] == tool) {
				return r
			}
		}
		t.Fatalf("no %q record for %s %s", msg, principal, tool)
		return nil
	}
	allow := find("authz allow", weatherSA, "get_weather_data")
	deny := find("authz deny", weatherSA, "delete_everything")
	none := find("authz deny", nobodySA, "")
	for _, r := range []map[string]any{allow, deny, none} {
		if r["audit"] != true || r["policy"] != "mcp-authz" || r["route"] != "agent-to-mcp-tools" ||
			r["trace_id"] != trace || r["request_id"] != "req-1" || r["level"] != "INFO" {
			t.Errorf("record %v", r)
		}
	}
	if allow["decision"] != "allow" || allow["rule"] != float64(0) || allow["rule_principal"] != weatherSA || allow["method"] != "tools/call" {
		t.Errorf("allow %v", allow)
	}
	if deny["decision"] != "deny" || deny["rule"] != float64(-1) || deny["status"] != float64(403) || deny["reason"] == "" {
		t.Errorf("deny %v", deny)
	}
	if none["reason"] != "no rule for principal" {
		t.Errorf("no-rule deny %v", none)
	}
	// The troubleshooting step: kubectl logs … | grep authz
	n := 0
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "authz") && strings.Contains(l, "delete_everything") {
			n++
		}
	}
	if n == 0 {
		t.Error("grep authz finds no deny line")
	}
}
