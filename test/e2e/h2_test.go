package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPOverH2C runs go-sdk MCP sessions through the gateway binary to a
// backend declared http.version: http2 (cleartext HTTP/2 with prior
// knowledge): tools/list, tools/call, progress notifications streamed
// event by event, every request over HTTP/2, and all sessions on one
// backend connection.
func TestMCPOverH2C(t *testing.T) {
	release := make(chan struct{})
	srv := mtNewServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "progress", Description: "reports progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
		tok := req.Params.GetProgressToken()
		if tok == nil {
			return nil, nil, errors.New("no progress token")
		}
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2}); err != nil {
			return nil, nil, err
		}
		if err := mtBlock(ctx, release); err != nil {
			return nil, nil, err
		}
		return mtText("progress done"), nil, nil
	})
	var h1, h2, conns atomic.Int64
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 {
				h2.Add(1)
			} else {
				h1.Add(1)
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
		Protocols: new(http.Protocols),
	}
	bs.Protocols.SetHTTP1(true)
	bs.Protocols.SetUnencryptedHTTP2(true)
	go bs.Serve(ln)
	t.Cleanup(func() { _ = bs.Close() })

	cfg := mtPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: mcp
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            backends:
              - name: h2c-backend
                type: mcp-http
                address: http://%s
                http: {version: http2}
`, ln.Addr())
	g := mtStartGatewayCfg(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	first := mtConnect(ctx, t, g.URL("/mcp"), "", nil, nil)
	if tools, err := first.ListTools(ctx, nil); err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list: %v %+v", err, tools)
	}
	if res, err := first.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "h2"}}); err != nil || mtResultText(t, res) != "echo: h2" {
		t.Fatalf("tools/call: %v", err)
	}

	// Three sessions call the progress tool at once: each gets its first
	// notification while the tool is still blocked (streamed event by
	// event), then the result.
	const sessions = 3
	progress := make(chan struct{}, sessions)
	results := make(chan error, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		opts := &mcp.ClientOptions{ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
			progress <- struct{}{}
		}}
		cs := mtConnect(ctx, t, g.URL("/mcp"), "", opts, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			params := &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{}}
			params.SetProgressToken(fmt.Sprintf("p%d", i))
			res, err := cs.CallTool(ctx, params)
			if err == nil && (len(res.Content) == 0 || res.Content[0].(*mcp.TextContent).Text != "progress done") {
				err = fmt.Errorf("result %+v", res)
			}
			results <- err
		}()
	}
	for range sessions {
		mtRecv(t, progress, 10*time.Second, "a progress notification before the tool returns")
	}
	close(release)
	wg.Wait()
	for range sessions {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if h1.Load() != 0 || h2.Load() == 0 {
		t.Fatalf("backend saw %d HTTP/1 and %d HTTP/2 requests", h1.Load(), h2.Load())
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("backend accepted %d connections for %d sessions, want 1", n, sessions+1)
	}
}
