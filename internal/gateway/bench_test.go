package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

const benchBody = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"city":"Tampa, FL"}}}`

func benchBackend(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"sunny"}]}}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchGateway(b *testing.B, backendURL, policies string) string {
	return benchGatewayObs(b, backendURL, policies, "", false)
}

// benchGatewayObs is benchGateway with an observability section; with tel
// the gateway runs the telemetry `agentgateway run` builds from it.
func benchGatewayObs(b *testing.B, backendURL, policies, observability string, tel bool) string {
	b.Helper()
	ln := gatewaytest.FreePort(b)
	admin := gatewaytest.FreePort(b)
	src := fmt.Sprintf(`
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
            policies: %s
            backends:
              - name: b
                type: mcp-http
                address: %s
admin:
  address: 127.0.0.1
  port: %d
%s`, ln, policies, backendURL, admin, observability)
	cfg := gatewaytest.Config(b, src)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	opts := Options{Logger: log}
	if tel {
		t, err := telemetry.NewObserver(context.Background(), cfg, "bench", log)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = t.Tracing.Shutdown(context.Background()) })
		opts.Observer = t
	}
	g := New(opts)
	if err := g.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Shutdown(time.Second) })
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", ln)
}

func runBench(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(benchBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkDirect is the baseline: the client talks to the backend.
func BenchmarkDirect(b *testing.B) {
	runBench(b, benchBackend(b).URL+"/mcp")
}

// BenchmarkProxyMCPToolsCall measures a tools/call through the gateway
// with no policies (parse, route, proxy).
func BenchmarkProxyMCPToolsCall(b *testing.B) {
	runBench(b, benchGateway(b, benchBackend(b).URL, "[]"))
}

// BenchmarkProxyMCPTimeoutRetry adds the timeout and retry policies.
func BenchmarkProxyMCPTimeoutRetry(b *testing.B) {
	pol := `
              - type: timeout
                timeout:
                  request: 30s
                  idle: 10s
              - type: retry
                retry:
                  attempts: 3
                  retryOn: [connect-failure, 5xx]`
	runBench(b, benchGateway(b, benchBackend(b).URL, pol))
}

// BenchmarkProxyMCPTelemetry is BenchmarkProxyMCPToolsCall with the
// seed's telemetry: metrics and access log, then also spans sampled at 1.0
// (exported to a closed loopback port, so the cost is the span pipeline's,
// not a collector's).
func BenchmarkProxyMCPTelemetry(b *testing.B) {
	const metrics = `observability:
  prometheus:
    enabled: true
`
	const tracing = `observability:
  opentelemetry:
    enabled: true
    endpoint: http://127.0.0.1:1
    protocol: grpc
    tracing:
      enabled: true
      samplingRate: 1.0
      attributes:
        - key: agent.identity
          value: ${jwt.sub}
        - key: tool.name
          value: ${mcp.tool}
`
	b.Run("off", func(b *testing.B) { runBench(b, benchGatewayObs(b, benchBackend(b).URL, "[]", "", false)) })
	b.Run("metrics+accesslog", func(b *testing.B) { runBench(b, benchGatewayObs(b, benchBackend(b).URL, "[]", metrics, true)) })
	b.Run("metrics+accesslog+tracing", func(b *testing.B) { runBench(b, benchGatewayObs(b, benchBackend(b).URL, "[]", tracing, true)) })
}
