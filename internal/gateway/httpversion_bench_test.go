package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

// BenchmarkProxyMCPBackendHTTPVersion is BenchmarkProxyMCPToolsCall
// against one backend that serves both HTTP/1.1 and h2c, reached as
// http1 (the lean client) and as http2 (h2c on net/http's transport).
// backend-conns is the number of connections the backend accepted.
func BenchmarkProxyMCPBackendHTTPVersion(b *testing.B) {
	for _, version := range []string{"http1", "http2"} {
		b.Run(version, func(b *testing.B) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"sunny"}]}}`)
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			b.Cleanup(srv.Close)
			port, admin := gatewaytest.FreePort(b), gatewaytest.FreePort(b)
			cfg := gatewaytest.Config(b, fmt.Sprintf(`
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            backends:
              - name: b
                type: mcp-http
                address: %s
                http: {version: %s}
admin:
  address: 127.0.0.1
  port: %d
`, port, srv.URL, version, admin))
			g := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err := g.Apply(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = g.Shutdown(time.Second) })
			runBench(b, fmt.Sprintf("http://127.0.0.1:%d/mcp", port))
			b.ReportMetric(float64(conns.Load()), "backend-conns")
		})
	}
}
