package gateway

import (
	"context"
	"crypto/tls"
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
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

// BenchmarkProxyMCPBackendHTTPVersion is BenchmarkProxyMCPToolsCall
// against one backend that serves both HTTP/1.1 and HTTP/2: in cleartext
// reached as http1 (the lean client) and as http2 (h2c on net/http's
// transport); over TLS as http1 (the transport, HTTP/1.1: what every
// https:// backend got before) and auto (ALPN picks h2).
// backend-conns is the number of connections the backend accepted.
func BenchmarkProxyMCPBackendHTTPVersion(b *testing.B) {
	for _, tc := range []struct {
		name, version string
		tls           bool
	}{
		{"http1", "http1", false},
		{"h2c", "http2", false},
		{"tls-http1", "http1", true},
		{"tls-auto", "auto", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"sunny"}]}}`)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			extra := ""
			if tc.tls {
				ca := tlstest.NewCA(b, "bench-ca")
				cert := ca.Issue(b, tlstest.Options{CommonName: "backend", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS(b)}}
				srv.EnableHTTP2 = true
				srv.StartTLS()
				extra = "\n                tls: {caFile: " + tlstest.WriteFile(b, b.TempDir(), "ca.crt", ca.PEM) + "}"
			} else {
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetHTTP1(true)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Start()
			}
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
                http: {version: %s}%s
admin:
  address: 127.0.0.1
  port: %d
`, port, srv.URL, tc.version, extra, admin))
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
