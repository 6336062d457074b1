package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/policy"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

type echoArgs struct {
	Text string `json:"text"`
}

func newMCPBackend(t *testing.T, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		if calls != nil {
			calls.Add(1)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// startGateway applies a config (YAML with %d for the bind port and the
// admin port) and returns the gateway base URL.
func startGateway(t *testing.T, yamlFmt string, args ...any) (*Gateway, string) {
	t.Helper()
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(yamlFmt, append([]any{port}, args...)...)
	src += fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gatewaytest.Start(t, g, src)
	return g, fmt.Sprintf("http://127.0.0.1:%d", port)
}

const mcpConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match:
              path:
                prefix: /mcp
            backends:
              - name: b
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
`

func TestProxyMCPWithSDKClient(t *testing.T) {
	var calls atomic.Int64
	be := newMCPBackend(t, &calls)
	_, gw := startGateway(t, mcpConfig, be.URL)

	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	tools, err := sess.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != 1 || tools.Tools[0].Name != "echo" {
		t.Fatalf("tools = %+v", tools.Tools)
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "echo: hi" {
		t.Fatalf("got %q", got)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestEdgeErrors(t *testing.T) {
	be := newMCPBackend(t, nil)
	_, gw := startGateway(t, mcpConfig, be.URL)
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		want                     string
	}{
		{"no route", "GET", "/nope", "", nil, 404, `"error"`},
		{"segment boundary", "GET", "/mcpx", "", nil, 404, `"error"`},
		{"dot segment", "GET", "/mcp/../x", "", nil, 400, ""},
		{"encoded slash", "POST", "/mcp%2Fx", `{}`, nil, 400, ""},
		{"parse error", "POST", "/mcp", `{`, nil, 400, `"code":-32700`},
		{"empty POST is a parse error", "POST", "/mcp", "", nil, 400, `"code":-32700`},
		{"invalid request echoes id", "POST", "/mcp", `{"jsonrpc":"1.0","id":7,"method":"x"}`, nil, 400, `"id":7`},
		{"foreign origin", "POST", "/mcp", `{"jsonrpc":"2.0","id":3,"method":"ping"}`, map[string]string{"Origin": "http://evil.example"}, 403, `"id":3`},
		{"bad version", "POST", "/mcp", `{"jsonrpc":"2.0","id":4,"method":"ping"}`, map[string]string{"MCP-Protocol-Version": "1999-01-01"}, 400, `"id":4`},
		{"method header mismatch", "POST", "/mcp", `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, map[string]string{"Mcp-Method": "ping"}, 400, `"id":5`},
		{"too large", "POST", "/mcp", `{"jsonrpc":"2.0","id":6,"method":"ping","params":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`, nil, 413, `-3200`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, gw+tt.path, body)
			if tt.path != "" && strings.Contains(tt.path, "..") {
				req.URL.Opaque = tt.path
			}
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Fatalf("body %s does not contain %s", b, tt.want)
			}
		})
	}
}

func TestBackendUnreachableIs502JSONRPC(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "http://" + ln.Addr().String()
	ln.Close()
	_, gw := startGateway(t, mcpConfig, addr)
	req, _ := http.NewRequest("POST", gw+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"a","method":"tools/list"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || !strings.Contains(string(b), `"id":"a"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// An upstream failure is logged without the upstream URL's query string,
// which may carry a credential.
func TestUpstreamErrorLogHasNoQuery(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "http://" + ln.Addr().String()
	ln.Close()
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(mcpConfig, port, addr) + fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	var logs gatewaytest.LogBuffer
	gatewaytest.Start(t, New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}), src)
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/mcp?access_token=s3cr3t-token", port), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "s3cr3t-token") {
		t.Fatalf("query string leaked into logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "request failed") {
		t.Fatalf("no failure logged:\n%s", logs.String())
	}
}

// A retry budget that denies a retry after a failed attempt is a 503, as
// docs/proxy.md says, not a 502.
func TestUpstreamErrorRetryBudget(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}
	err := upstreamError(context.Background(), errors.Join(policy.ErrRetryBudget, dial))
	if pe := policy.AsError(err); pe.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", pe.Status)
	}
}

// A client that gives up is not a failure: the access line records the
// 499, and "request failed" stays at debug, so a flood of cancelled
// requests (HTTP/2 rapid reset) costs one log line each, not two.
func TestClientGivingUpIsNotLoggedAsFailure(t *testing.T) {
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); be.Close() })
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(mcpConfig, port, be.URL) + fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	var logs gatewaytest.LogBuffer
	gatewaytest.Start(t, New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}), src)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://127.0.0.1:%d/mcp", port), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the backend answered a held request")
	}
	time.Sleep(300 * time.Millisecond) // the gateway notices the client left
	if strings.Contains(logs.String(), "request failed") {
		t.Fatalf("a client giving up was logged as a failure:\n%s", logs.String())
	}
}
