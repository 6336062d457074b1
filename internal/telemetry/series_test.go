package telemetry

import (
	"fmt"
	"testing"
	"time"
)

// Past the series cache's bound, requests are still recorded in full:
// the cache only skips lookups, it never decides what is counted.
func TestObserveRequestPastSeriesCache(t *testing.T) {
	const n = maxCachedSeries + 500
	m := newTestMetrics(t, MetricsOptions{MaxIdentities: n})
	for range 2 {
		for i := range n {
			r := Request{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/call", Status: 200,
				Duration: time.Millisecond, Identity: fmt.Sprintf("sa-%d", i), Tool: "get_weather", ToolKnown: true}
			m.ObserveRequest(&r)
			m.AuthnDecision("mcp", "success")
			m.UpstreamAttempt("mcp", "weather", "ok")
		}
	}
	if got := len(m.series.m); got != maxCachedSeries {
		t.Errorf("%d cached label sets, want the bound %d", got, maxCachedSeries)
	}
	s := series(t, m.Registry())
	for _, id := range []string{"sa-0", fmt.Sprintf("sa-%d", n-1)} {
		k := fmt.Sprintf(`agent_requests_total{agent_identity=%q,kind="mcp",method="tools/call",route="mcp",status="200"}`, id)
		if s[k] != 2 {
			t.Errorf("%s = %v, want 2", k, s[k])
		}
	}
	if k := `mcp_tool_calls_total{route="mcp",status="200",tool_name="get_weather"}`; s[k] != 2*n {
		t.Errorf("%s = %v, want %d", k, s[k], 2*n)
	}
	if k := `agentgateway_authn_decisions_total{result="success",route="mcp"}`; s[k] != 2*n {
		t.Errorf("%s = %v, want %d", k, s[k], 2*n)
	}
	if k := `agentgateway_upstream_attempts_total{backend="weather",result="ok",route="mcp"}`; s[k] != 2*n {
		t.Errorf("%s = %v, want %d", k, s[k], 2*n)
	}
}
