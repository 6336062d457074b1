package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// curlBody is the exact body of the user guide's Step 6.2 curl command.
const curlBody = `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_weather_data","arguments":{"city":"Tampa, FL"}},"id":1}`

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeRPC decodes a JSON-RPC response from an application/json body or
// from the first "data:" line of a text/event-stream body.
func decodeRPC(t *testing.T, contentType string, body []byte) rpcResponse {
	t.Helper()
	data := body
	if strings.HasPrefix(contentType, "text/event-stream") {
		data = nil
		for line := range strings.Lines(string(body)) {
			if rest, ok := strings.CutPrefix(line, "data: "); ok {
				data = []byte(rest)
				break
			}
		}
	}
	var r rpcResponse
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decoding %q (%s): %v", body, contentType, err)
	}
	return r
}

// TestMCPHandlerCurl sends the guide's bare tools/call (no initialize, no
// session) straight to MCPHandler and records how the Accept header matters.
func TestMCPHandlerCurl(t *testing.T) {
	const bothAccept = "application/json, text/event-stream"
	tests := []struct {
		name        string
		opts        MCPOptions
		contentType string
		accept      string // "-" = header absent
		wantStatus  int
		wantCT      string // response Content-Type prefix (200 only)
		wantBody    string // substring for non-200
	}{
		{"stateless sse both", MCPOptions{Stateless: true}, "application/json", bothAccept, 200, "text/event-stream", ""},
		{"stateless json both", MCPOptions{Stateless: true, JSONResponse: true}, "application/json", bothAccept, 200, "application/json", ""},
		{"stateless accept */*", MCPOptions{Stateless: true}, "application/json", "*/*", 200, "text/event-stream", ""},
		{"stateless json accept */*", MCPOptions{Stateless: true, JSONResponse: true}, "application/json", "*/*", 200, "application/json", ""},
		{"stateless accept missing", MCPOptions{Stateless: true}, "application/json", "-", 400, "",
			"Accept must contain both 'application/json' and 'text/event-stream'"},
		{"stateless accept json only", MCPOptions{Stateless: true, JSONResponse: true}, "application/json", "application/json", 400, "",
			"Accept must contain both 'application/json' and 'text/event-stream'"},
		{"stateless accept sse only", MCPOptions{Stateless: true}, "application/json", "text/event-stream", 400, "",
			"Accept must contain both 'application/json' and 'text/event-stream'"},
		{"stateless no content-type", MCPOptions{Stateless: true}, "", bothAccept, 415, "", "Content-Type must be 'application/json'"},
		{"stateless form content-type (curl -d default)", MCPOptions{Stateless: true}, "application/x-www-form-urlencoded", "*/*", 415, "", "Content-Type must be 'application/json'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MCPHandler(tt.opts)
			req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(curlBody))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.accept != "-" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			ct := rec.Header().Get("Content-Type")
			t.Logf("status=%d content-type=%q body=%.200q", rec.Code, ct, body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tt.wantStatus, body)
			}
			if tt.wantStatus != http.StatusOK {
				if !strings.Contains(string(body), tt.wantBody) {
					t.Fatalf("body %q does not contain %q", body, tt.wantBody)
				}
				return
			}
			if !strings.HasPrefix(ct, tt.wantCT) {
				t.Fatalf("Content-Type = %q, want %q", ct, tt.wantCT)
			}
			if rec.Header().Get("Mcp-Session-Id") != "" {
				t.Errorf("stateless handler set Mcp-Session-Id")
			}
			r := decodeRPC(t, ct, body)
			if string(r.ID) != "1" || r.Error != nil || r.Result == nil || r.Result.IsError {
				t.Fatalf("unexpected response %s", body)
			}
			if len(r.Result.Content) == 0 || !strings.Contains(r.Result.Content[0].Text, "forecast for Tampa, FL") {
				t.Fatalf("content = %+v", r.Result.Content)
			}
			var rep WeatherReport
			if err := json.Unmarshal(r.Result.StructuredContent, &rep); err != nil || rep.City != "Tampa, FL" || len(rep.Days) != ForecastDays {
				t.Fatalf("structuredContent = %s (err %v)", r.Result.StructuredContent, err)
			}
		})
	}
}

// TestMCPHandlerStatefulBareCall documents why the demo must be stateless:
// a stateful handler answers a bare tools/call (no initialize) with HTTP 200
// and a JSON-RPC error "method "tools/call" is invalid during session
// initialization".
func TestMCPHandlerStatefulBareCall(t *testing.T) {
	h := MCPHandler(MCPOptions{})
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(curlBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	t.Logf("stateful bare tools/call: status=%d session=%q body=%.300q", rec.Code, rec.Header().Get("Mcp-Session-Id"), rec.Body.String())
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	r := decodeRPC(t, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	if r.Error == nil || !strings.Contains(r.Error.Message, "invalid during session initialization") {
		t.Fatalf("want a JSON-RPC error about initialization, got %s", rec.Body.String())
	}
}

// TestMCPLocalhostProtection: the go-sdk rejects requests that arrive on a
// loopback listener with a non-loopback Host header (DNS-rebinding guard).
// A gateway proxying to a loopback backend must rewrite Host.
func TestMCPLocalhostProtection(t *testing.T) {
	run, err := StartBackends(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	tests := []struct {
		host       string
		wantStatus int
	}{
		{"", http.StatusOK}, // Host = 127.0.0.1:PORT
		{"localhost", http.StatusOK},
		{"agent-gateway.agent-gateway.svc.cluster.local:8080", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, run.MCPEndpoint(), strings.NewReader(curlBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "*/*")
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			t.Logf("status=%d body=%.200q", resp.StatusCode, body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func connectMCP(t *testing.T, endpoint string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-test-client", Version: "v0"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func toolText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var parts []string
	for _, c := range res.Content {
		tc, ok := c.(*mcp.TextContent)
		if !ok {
			t.Fatalf("non-text content %T", c)
		}
		parts = append(parts, tc.Text)
	}
	return strings.Join(parts, "\n")
}

// TestMCPClientTools uses the go-sdk client against the started backend:
// initialize, list the six tools, and call each one.
func TestMCPClientTools(t *testing.T) {
	modes := []struct {
		name string
		opts MCPOptions
	}{
		{"stateless json", MCPOptions{Stateless: true, JSONResponse: true}},
		{"stateless sse", MCPOptions{Stateless: true}},
		{"stateful sse", MCPOptions{}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			run, err := StartBackendsWith(t.Context(), BackendOptions{MCP: mode.opts})
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			cs := connectMCP(t, run.MCPEndpoint())
			if got := cs.InitializeResult().ServerInfo.Name; got != MCPServerName {
				t.Errorf("server name = %q", got)
			}

			// tools/list: exactly the six tools with typed input schemas.
			lt, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantRequired := map[string][]string{
				ToolGetWeatherData:         {"city"},
				ToolGenerateAnalysisCode:   {"weather_data"},
				ToolExecuteCode:            {"python_code"},
				ToolStoreUserPreferences:   {"preferences"},
				ToolGetActivityPreferences: nil,
				ToolStoreActivityPlan:      {"city", "plan"},
			}
			wantProps := map[string][]string{
				ToolGetWeatherData:         {"city"},
				ToolGenerateAnalysisCode:   {"weather_data"},
				ToolExecuteCode:            {"python_code"},
				ToolStoreUserPreferences:   {"preferences", "user_id"},
				ToolGetActivityPreferences: {"user_id"},
				ToolStoreActivityPlan:      {"city", "plan"},
			}
			var names []string
			for _, tool := range lt.Tools {
				names = append(names, tool.Name)
				raw, _ := json.Marshal(tool.InputSchema)
				var schema struct {
					Type       string                     `json:"type"`
					Properties map[string]json.RawMessage `json:"properties"`
					Required   []string                   `json:"required"`
				}
				if err := json.Unmarshal(raw, &schema); err != nil {
					t.Fatal(err)
				}
				props := slices.Sorted(func(yield func(string) bool) {
					for k := range schema.Properties {
						if !yield(k) {
							return
						}
					}
				})
				req := slices.Clone(schema.Required)
				slices.Sort(req)
				if schema.Type != "object" || !slices.Equal(props, wantProps[tool.Name]) || !slices.Equal(req, wantRequired[tool.Name]) {
					t.Errorf("%s schema = %s", tool.Name, raw)
				}
			}
			slices.Sort(names)
			want := slices.Clone(ToolNames)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Fatalf("tools = %v, want %v", names, want)
			}

			marker := filepath.Join(t.TempDir(), "executed")
			evil := "import pathlib\npathlib.Path(" + jsonString(marker) + ").write_text('x')\n"

			calls := []struct {
				tool      string
				args      map[string]any
				wantErr   bool
				wantText  []string
				wantNoTxt string
			}{
				{ToolGetActivityPreferences, map[string]any{"user_id": "alice"}, false, []string{`No stored preferences for user "alice"`}, ""},
				{ToolStoreUserPreferences, map[string]any{"user_id": "alice", "preferences": "I like hiking"}, false, []string{"Stored preferences", "I like hiking"}, ""},
				{ToolGetActivityPreferences, map[string]any{"user_id": "alice"}, false, []string{`Preferences for user "alice": I like hiking`}, ""},
				{ToolStoreUserPreferences, map[string]any{"preferences": "beaches"}, false, []string{`user "default"`}, ""},
				{ToolGetActivityPreferences, map[string]any{}, false, []string{`"default": beaches`}, ""},
				{ToolGetWeatherData, map[string]any{"city": "Tampa, FL"}, false, []string{"7-day forecast for Tampa, FL", "Day 7:"}, ""},
				{ToolGenerateAnalysisCode, map[string]any{"weather_data": `{"city":"Tampa, FL","days":[]}`}, false, []string{"def classify(day):", `WEATHER_DATA = "{\"city\":\"Tampa, FL\"`}, ""},
				{ToolExecuteCode, map[string]any{"python_code": evil}, false, []string{"NOT EXECUTED", "Day 1:", "Day 7:"}, ""},
				{ToolStoreActivityPlan, map[string]any{"city": "Tampa, FL", "plan": "Day 1: beach"}, false, []string{"Stored activity plan for Tampa, FL (12 bytes)"}, ""},
				{ToolGetWeatherData, map[string]any{"city": " "}, true, []string{"city must not be empty"}, ""},
				{ToolGetWeatherData, map[string]any{}, true, []string{"city"}, ""},
				{ToolStoreActivityPlan, map[string]any{"city": "Tampa"}, true, []string{"plan"}, ""},
			}
			for _, c := range calls {
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
				if err != nil {
					if c.wantErr {
						t.Logf("%s(%v): protocol error: %v", c.tool, c.args, err)
						continue
					}
					t.Fatalf("%s(%v): %v", c.tool, c.args, err)
				}
				text := toolText(t, res)
				if res.IsError != c.wantErr {
					t.Fatalf("%s(%v): IsError = %v, text %q", c.tool, c.args, res.IsError, text)
				}
				for _, w := range c.wantText {
					if !strings.Contains(text, w) {
						t.Errorf("%s(%v): text %q does not contain %q", c.tool, c.args, text, w)
					}
				}
				if !c.wantErr && res.StructuredContent == nil {
					t.Errorf("%s: no structuredContent", c.tool)
				}
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatalf("execute_code ran the code: marker stat err = %v", err)
			}

			// Determinism across calls: same city, same content.
			a, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolGetWeatherData, Arguments: map[string]any{"city": "Tampa, FL"}})
			if err != nil {
				t.Fatal(err)
			}
			if toolText(t, a) != ForecastText(Forecast("Tampa, FL")) {
				t.Errorf("get_weather_data text not deterministic")
			}
			// execute_code reports executed=false in structured output.
			ex, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolExecuteCode, Arguments: map[string]any{"python_code": "print(1)"}})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(ex.StructuredContent)
			var out ExecuteCodeOutput
			if err := json.Unmarshal(raw, &out); err != nil || out.Executed || len(out.Classification) != ForecastDays {
				t.Fatalf("execute_code structured = %s", raw)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestStartBackendsStopsOnContext checks that cancelling ctx stops the servers.
func TestStartBackendsStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	run, err := StartBackends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(run.AgentURL + AgentCardPath)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("agent still serving after ctx cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := run.Close(); err != nil {
		t.Logf("Close after ctx cancel: %v", err)
	}
}
