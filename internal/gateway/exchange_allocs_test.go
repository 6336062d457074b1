package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

// TestExchangeAllocs pins the allocations of one exchange through the
// whole chain, the in-memory benchmark's (BenchmarkSeedChainInMemory):
// a tools/call through the lean client to an in-memory backend. Counts
// are deterministic, so a change that adds a context, a timer or a
// request copy per exchange fails here rather than as a slower benchmark
// nobody reran. The limits are the figures in docs/performance.md
// ("one context and one timer per exchange"); lower them when the chain
// gets cheaper.
func TestExchangeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.Short() {
		t.Skip("builds three gateways")
	}
	tests := []struct {
		name  string
		kind  gwconfig.Kind
		limit float64
	}{
		// Before issue 20's one-context work: 55 and 73.
		{"none", gwconfig.None, 39},
		{"seed-notrace", gwconfig.SeedNoTrace, 47},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var jwks, token string
			if tt.kind != gwconfig.None {
				jwks, token = chainToken(t)
			}
			mb := newMemBackend(t, chainResult)
			src := gwconfig.YAML(tt.kind, gatewaytest.FreePort(t), gatewaytest.FreePort(t), "http://backend.invalid:8000", jwks)
			h := chainGateway(t, src, mb.dial)
			w := &chainWriter{h: http.Header{}}
			call := func() {
				clear(w.h)
				w.status = 0
				hdr := http.Header{
					"Content-Type":         {"application/json"},
					"Accept":               {"application/json, text/event-stream"},
					"Mcp-Protocol-Version": {"2025-06-18"},
				}
				if token != "" {
					hdr["Authorization"] = []string{"Bearer " + token}
				}
				r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://127.0.0.1:8080/mcp", nil)
				r.Header, r.Body, r.ContentLength = hdr, io.NopCloser(strings.NewReader(chainCallBody)), int64(len(chainCallBody))
				r.RemoteAddr, r.RequestURI = "127.0.0.1:40000", "/mcp"
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					t.Fatalf("status %d", w.status)
				}
			}
			call() // warm: the JWKS, the token cache, the pooled connection
			// The request the caller builds costs allocations of its
			// own; they are measured and taken off.
			caller := testing.AllocsPerRun(200, func() {
				r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://127.0.0.1:8080/mcp", nil)
				r.Header = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}, "Mcp-Protocol-Version": {"2025-06-18"}}
				if token != "" {
					r.Header["Authorization"] = []string{"Bearer " + token}
				}
				r.Body = io.NopCloser(strings.NewReader(chainCallBody))
			})
			got := testing.AllocsPerRun(200, call) - caller
			t.Logf("%.0f allocations per exchange (limit %.0f; the caller's request: %.0f)", got, tt.limit, caller)
			if got > tt.limit {
				t.Errorf("%.0f allocations per exchange, want at most %.0f", got, tt.limit)
			}
		})
	}
}
