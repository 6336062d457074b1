package telemetry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series gathers reg into "name{a="x",b="y"}" -> value (counter/gauge
// value, or sample count for histograms), skipping go_, process_ and
// promhttp_ families.
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[seriesKey(name, m)] = metricValue(mf.GetType(), m)
		}
	}
	return out
}

func seriesKey(name string, m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

func metricValue(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// requestSeries keeps only the seed metrics' series.
func requestSeries(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	out := series(t, reg)
	for k := range out {
		if strings.HasPrefix(k, "agentgateway_") {
			delete(out, k)
		}
	}
	return out
}

func newTestMetrics(t testing.TB, o MetricsOptions) *Metrics {
	t.Helper()
	m, err := NewMetrics(o)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	return m
}

const weatherSA = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"

func TestObserveRequestLabels(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want map[string]float64
	}{
		{
			name: "mcp tools/call success",
			req: Request{Route: "mcp", Backend: "weather-mcp", Kind: "mcp", Method: "tools/call", Status: 200,
				Duration: 30 * time.Millisecond, Identity: weatherSA, Tool: "get_weather", ToolKnown: true, Decision: "allowed"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="` + weatherSA + `",kind="mcp",method="tools/call",route="mcp",status="200"}`:                  1,
				`agent_request_duration_seconds{kind="mcp",method="tools/call",route="mcp"}`:                                                        1,
				`tool_invocations_total{agent_identity="` + weatherSA + `",backend="weather-mcp",route="mcp",status="200",tool_name="get_weather"}`: 1,
				`tool_invocation_duration_seconds{route="mcp",tool_name="get_weather"}`:                                                             1,
				`mcp_tool_calls_total{route="mcp",status="200",tool_name="get_weather"}`:                                                            1,
				`mcp_tool_call_duration_seconds{route="mcp",tool_name="get_weather"}`:                                                               1,
			},
		},
		{
			name: "mcp tools/call denied, unknown tool, anonymous",
			req: Request{Route: "mcp", Backend: "weather-mcp", Kind: "mcp", Method: "tools/call", Status: 403,
				Tool: "rm_rf", ToolKnown: false, Decision: "denied", ErrorType: "forbidden"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="mcp",method="tools/call",route="mcp",status="403"}`:              1,
				`agent_request_duration_seconds{kind="mcp",method="tools/call",route="mcp"}`:                                            1,
				`tool_invocations_total{agent_identity="anonymous",backend="weather-mcp",route="mcp",status="403",tool_name="unknown"}`: 1,
				`tool_invocation_duration_seconds{route="mcp",tool_name="unknown"}`:                                                     1,
				`mcp_tool_calls_total{route="mcp",status="403",tool_name="unknown"}`:                                                    1,
				`mcp_tool_call_duration_seconds{route="mcp",tool_name="unknown"}`:                                                       1,
				`mcp_tool_errors_total{error_type="forbidden",route="mcp",tool_name="unknown"}`:                                         1,
				`mcp_errors_total{error_type="forbidden",route="mcp"}`:                                                                  1,
			},
		},
		{
			name: "mcp tools/call jsonrpc error in a 200",
			req: Request{Route: "mcp", Backend: "b", Kind: "mcp", Method: "tools/call", Status: 200,
				Identity: "alice", Tool: "t", ToolKnown: true, ErrorType: "jsonrpc_error"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="alice",kind="mcp",method="tools/call",route="mcp",status="200"}`: 1,
				`agent_request_duration_seconds{kind="mcp",method="tools/call",route="mcp"}`:                           1,
				`tool_invocations_total{agent_identity="alice",backend="b",route="mcp",status="200",tool_name="t"}`:    1,
				`tool_invocation_duration_seconds{route="mcp",tool_name="t"}`:                                          1,
				`mcp_tool_calls_total{route="mcp",status="200",tool_name="t"}`:                                         1,
				`mcp_tool_call_duration_seconds{route="mcp",tool_name="t"}`:                                            1,
				`mcp_tool_errors_total{error_type="jsonrpc_error",route="mcp",tool_name="t"}`:                          1,
				`mcp_errors_total{error_type="jsonrpc_error",route="mcp"}`:                                             1,
			},
		},
		{
			name: "mcp tools/list is discovery, not a tool call",
			req:  Request{Route: "mcp", Backend: "b", Kind: "mcp", Method: "tools/list", Status: 200, Identity: "alice", Discovery: true},
			want: map[string]float64{
				`agent_requests_total{agent_identity="alice",kind="mcp",method="tools/list",route="mcp",status="200"}`: 1,
				`agent_request_duration_seconds{kind="mcp",method="tools/list",route="mcp"}`:                           1,
				`mcp_discovery_requests_total{method="tools/list",route="mcp"}`:                                        1,
			},
		},
		{
			name: "mcp parse error on a non-JSON-RPC body",
			req:  Request{Route: "mcp", Kind: "mcp", Method: "unknown", Status: 400, ErrorType: "parse_error"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="mcp",method="unknown",route="mcp",status="400"}`: 1,
				`agent_request_duration_seconds{kind="mcp",method="unknown",route="mcp"}`:                               1,
				`mcp_errors_total{error_type="parse_error",route="mcp"}`:                                                1,
			},
		},
		{
			name: "mcp invented method and error type are bounded",
			req:  Request{Route: "mcp", Kind: "mcp", Method: "x/1234", Status: 200, ErrorType: "weird"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="mcp",method="other",route="mcp",status="200"}`: 1,
				`agent_request_duration_seconds{kind="mcp",method="other",route="mcp"}`:                               1,
				`mcp_errors_total{error_type="other",route="mcp"}`:                                                    1,
			},
		},
		{
			name: "a2a allowed",
			req: Request{Route: "a2a-weather", Backend: "weather-agent-backend", Kind: "a2a", Method: "message/send", Status: 200,
				Identity: "planner", Source: "planner", Target: "weather-agent-v6", Decision: "allowed"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="planner",kind="a2a",method="message/send",route="a2a-weather",status="200"}`:  1,
				`agent_request_duration_seconds{kind="a2a",method="message/send",route="a2a-weather"}`:                              1,
				`a2a_calls_total{decision="allowed",method="message/send",source="planner",status="200",target="weather-agent-v6"}`: 1,
			},
		},
		{
			name: "a2a unauthenticated, v1 method",
			req:  Request{Route: "a2a", Kind: "a2a", Method: "SendMessage", Status: 401, Target: "weather-agent-v6", Decision: "unauthenticated", ErrorType: "unauthenticated"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="a2a",method="SendMessage",route="a2a",status="401"}`:                  1,
				`agent_request_duration_seconds{kind="a2a",method="SendMessage",route="a2a"}`:                                                1,
				`a2a_calls_total{decision="unauthenticated",method="SendMessage",source="anonymous",status="401",target="weather-agent-v6"}`: 1,
			},
		},
		{
			name: "a2a stream aborted, no decision",
			req:  Request{Route: "a2a", Kind: "a2a", Method: "message/stream", Status: 0, Source: "p", Target: "w", ErrorType: "aborted"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="a2a",method="message/stream",route="a2a",status="0"}`: 1,
				`agent_request_duration_seconds{kind="a2a",method="message/stream",route="a2a"}`:                             1,
				`a2a_calls_total{decision="none",method="message/stream",source="p",status="0",target="w"}`:                  1,
			},
		},
		{
			name: "plain http",
			req:  Request{Route: "", Kind: "http", Method: "GET", Status: 404, ErrorType: "not_found"},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="http",method="GET",route="none",status="404"}`: 1,
				`agent_request_duration_seconds{kind="http",method="GET",route="none"}`:                               1,
			},
		},
		{
			name: "odd kind and status",
			req:  Request{Route: "r", Kind: "grpc", Method: "BREW", Status: 999},
			want: map[string]float64{
				`agent_requests_total{agent_identity="anonymous",kind="other",method="other",route="r",status="other"}`: 1,
				`agent_request_duration_seconds{kind="other",method="other",route="r"}`:                                 1,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMetrics(t, MetricsOptions{})
			r := tc.req
			m.ObserveRequest(&r)
			got := requestSeries(t, m.Registry())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("series mismatch\n got: %s\nwant: %s", dump(got), dump(tc.want))
			}
		})
	}
}

func dump(m map[string]float64) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s %g", k, v))
	}
	sort.Strings(ks)
	return "\n  " + strings.Join(ks, "\n  ")
}

func TestDurationHistogram(t *testing.T) {
	m := newTestMetrics(t, MetricsOptions{})
	m.ObserveRequest(&Request{Route: "mcp", Kind: "mcp", Method: "tools/call", Status: 200, Duration: 1500 * time.Millisecond, Tool: "t", ToolKnown: true})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != MetricAgentRequestDuration {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleSum() != 1.5 {
			t.Errorf("sum = %g, want 1.5", h.GetSampleSum())
		}
		var bounds []float64
		for _, b := range h.GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
			want := uint64(0)
			if b.GetUpperBound() >= 1.5 {
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%g count %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
		if !reflect.DeepEqual(bounds, DurationBuckets) || bounds[0] != 0.001 || bounds[len(bounds)-1] != 300 {
			t.Errorf("buckets %v", bounds)
		}
		return
	}
	t.Fatal("no agent_request_duration_seconds family")
}

func TestIdentityCap(t *testing.T) {
	m := newTestMetrics(t, MetricsOptions{MaxIdentities: 2, MaxTools: 2})
	for _, id := range []string{"a", "b", "c", "a", "d", ""} {
		m.ObserveRequest(&Request{Route: "r", Kind: "mcp", Method: "ping", Status: 200, Identity: id})
	}
	got := series(t, m.Registry())
	want := map[string]float64{
		`a`: 2, `b`: 1, `other`: 2, `anonymous`: 1,
	}
	for id, n := range want {
		k := `agent_requests_total{agent_identity="` + id + `",kind="mcp",method="ping",route="r",status="200"}`
		if got[k] != n {
			t.Errorf("%s = %g, want %g", k, got[k], n)
		}
	}
	for k := range got {
		if strings.Contains(k, `"c"`) || strings.Contains(k, `"d"`) {
			t.Errorf("value past the cap exported: %s", k)
		}
	}

	// source and target share the identity budget, already full.
	m.ObserveRequest(&Request{Route: "a", Kind: "a2a", Method: "message/send", Status: 200, Source: "a", Target: "new-agent", Decision: "allowed"})
	k := `a2a_calls_total{decision="allowed",method="message/send",source="a",status="200",target="other"}`
	if got := series(t, m.Registry()); got[k] != 1 {
		t.Errorf("want %s, got %s", k, dump(got))
	}
}

func TestToolCap(t *testing.T) {
	m := newTestMetrics(t, MetricsOptions{MaxTools: 2})
	calls := []struct {
		tool  string
		known bool
	}{{"t1", true}, {"t2", true}, {"t3", true}, {"t1", true}, {"random-1", false}, {"random-2", false}, {"", true}}
	for _, c := range calls {
		m.ObserveRequest(&Request{Route: "r", Kind: "mcp", Method: "tools/call", Status: 200, Tool: c.tool, ToolKnown: c.known})
	}
	got := series(t, m.Registry())
	for tool, n := range map[string]float64{"t1": 2, "t2": 1, "other": 1, "unknown": 3} {
		k := `mcp_tool_calls_total{route="r",status="200",tool_name="` + tool + `"}`
		if got[k] != n {
			t.Errorf("%s = %g, want %g", k, got[k], n)
		}
	}
	// Unknown tools do not use up the budget: t2 got in after two unknowns
	// in another instance.
	m2 := newTestMetrics(t, MetricsOptions{MaxTools: 1})
	m2.ObserveRequest(&Request{Route: "r", Kind: "mcp", Method: "tools/call", Status: 200, Tool: "x", ToolKnown: false})
	m2.ObserveRequest(&Request{Route: "r", Kind: "mcp", Method: "tools/call", Status: 200, Tool: "t", ToolKnown: true})
	if k := `mcp_tool_calls_total{route="r",status="200",tool_name="t"}`; series(t, m2.Registry())[k] != 1 {
		t.Errorf("want %s", k)
	}
}

func TestCapConcurrent(t *testing.T) {
	const max = 50
	m := newTestMetrics(t, MetricsOptions{MaxIdentities: max})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				m.ObserveRequest(&Request{Route: "r", Kind: "http", Method: "GET", Status: 200, Identity: fmt.Sprintf("id-%d", (g*200+i)%300)})
				m.StreamOpened("r")
				m.StreamClosed("r")
			}
		}(g)
	}
	wg.Wait()
	distinct, total := 0, 0.0
	for k, v := range series(t, m.Registry()) {
		if strings.HasPrefix(k, "agent_requests_total{") {
			total += v
			if !strings.Contains(k, `agent_identity="other"`) {
				distinct++
			}
		}
	}
	if distinct != max {
		t.Errorf("%d distinct identities exported, want exactly %d", distinct, max)
	}
	if total != 8*200 {
		t.Errorf("total %g, want %d", total, 8*200)
	}
	if v := series(t, m.Registry())[`agentgateway_active_streams{route="r"}`]; v != 0 {
		t.Errorf("active streams %g, want 0", v)
	}
}

func registeredSeed(t *testing.T, m *Metrics) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 256)
	go func() { m.Registry().Describe(ch); close(ch) }()
	seed := map[string]bool{}
	for _, n := range SeedMetrics {
		seed[n] = true
	}
	var out []string
	for d := range ch {
		s := d.String()
		i := strings.Index(s, `fqName: "`) + len(`fqName: "`)
		n := s[i : i+strings.IndexByte(s[i:], '"')]
		if seed[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestSelection(t *testing.T) {
	all := append([]string(nil), SeedMetrics...)
	sort.Strings(all)
	cases := []struct {
		name     string
		selected []string
		want     []string
	}{
		{"empty selects all", nil, all},
		{"seed prometheus list", []string{"agent_requests_total", "agent_request_duration_seconds", "tool_invocations_total",
			"tool_invocation_duration_seconds", "mcp_errors_total", "a2a_calls_total"},
			[]string{"a2a_calls_total", "agent_request_duration_seconds", "agent_requests_total", "mcp_errors_total",
				"tool_invocation_duration_seconds", "tool_invocations_total"}},
		{"seed mcp list, short spellings", []string{"mcp_tool_calls_total", "mcp_tool_call_duration", "mcp_tool_errors", "mcp_discovery_requests"},
			[]string{"mcp_discovery_requests_total", "mcp_tool_call_duration_seconds", "mcp_tool_calls_total", "mcp_tool_errors_total"}},
		{"both lists together", []string{"agent_requests_total", "agent_request_duration_seconds", "tool_invocations_total",
			"tool_invocation_duration_seconds", "mcp_errors_total", "a2a_calls_total",
			"mcp_tool_calls_total", "mcp_tool_call_duration", "mcp_tool_errors", "mcp_discovery_requests"}, all},
		{"long and short of one, plus spaces", []string{"mcp_errors", " mcp_errors_total ", "agent_requests"},
			[]string{"agent_requests_total", "mcp_errors_total"}},
		{"operational names only are a no-op selection", []string{"agentgateway_build_info", "agentgateway_active_streams"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMetrics(t, MetricsOptions{Selected: tc.selected})
			if got := registeredSeed(t, m); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("registered %v, want %v", got, tc.want)
			}
			// Recording into unselected metrics is a no-op, not a panic.
			m.ObserveRequest(&Request{Route: "r", Kind: "mcp", Method: "tools/call", Status: 500, Tool: "t", ToolKnown: true, ErrorType: "upstream_error", Discovery: true})
			m.ObserveRequest(&Request{Route: "r", Kind: "a2a", Method: "message/send", Status: 200})
			// Operational metrics are always there.
			if _, ok := series(t, m.Registry())[`agentgateway_config_last_reload_successful{}`]; !ok {
				t.Error("operational metrics missing")
			}
		})
	}
}

func TestSelectionErrors(t *testing.T) {
	for _, sel := range [][]string{{"agent_requests_total", "tool_calls"}, {"mcp_errors_seconds"}, {""}, {"AGENT_REQUESTS_TOTAL"}} {
		_, err := NewMetrics(MetricsOptions{Selected: sel})
		if err == nil {
			t.Errorf("%v: no error", sel)
			continue
		}
		for _, n := range SeedMetrics {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%v: error does not list %s: %v", sel, n, err)
			}
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", sel[len(sel)-1])) {
			t.Errorf("%v: error does not name the bad entry: %v", sel, err)
		}
	}
	if _, err := NewMetrics(MetricsOptions{MaxTools: -1}); err == nil {
		t.Error("negative cap accepted")
	}
}

func TestOperationalMetrics(t *testing.T) {
	m := newTestMetrics(t, MetricsOptions{Version: "1.2.3"})
	m.AuthnDecision("mcp", "success")
	m.AuthnDecision("mcp", "failure")
	m.AuthnDecision("mcp", "bogus")
	m.AuthzDecision("mcp", "mcp", "denied")
	m.AuthzDecision("a2a", "a2a", "allowed")
	m.RateLimitDecision("mcp", "limited")
	m.RateLimitDecision("mcp", "allowed")
	m.UpstreamAttempt("mcp", "weather", "connect_failure")
	m.UpstreamAttempt("mcp", "weather", "ok")
	m.UpstreamAttempt("mcp", "weather", "dns-fail")
	m.UpstreamRetry("mcp", "weather")
	m.StreamOpened("mcp")
	m.StreamOpened("mcp")
	m.StreamClosed("mcp")
	m.JWKSFetch("ok")
	m.TokenReview("denied")
	m.TokenReview("boom")
	m.TokenCache(true)
	m.TokenCache(false)
	m.TokenCache(false)
	before := time.Now().Unix()
	m.ConfigReload(true)
	got := series(t, m.Registry())
	want := map[string]float64{
		`agentgateway_authn_decisions_total{result="success",route="mcp"}`:                             1,
		`agentgateway_authn_decisions_total{result="failure",route="mcp"}`:                             1,
		`agentgateway_authn_decisions_total{result="other",route="mcp"}`:                               1,
		`agentgateway_authz_decisions_total{decision="denied",kind="mcp",route="mcp"}`:                 1,
		`agentgateway_authz_decisions_total{decision="allowed",kind="a2a",route="a2a"}`:                1,
		`agentgateway_ratelimit_decisions_total{decision="limited",route="mcp"}`:                       1,
		`agentgateway_ratelimit_decisions_total{decision="allowed",route="mcp"}`:                       1,
		`agentgateway_upstream_attempts_total{backend="weather",result="connect_failure",route="mcp"}`: 1,
		`agentgateway_upstream_attempts_total{backend="weather",result="ok",route="mcp"}`:              1,
		`agentgateway_upstream_attempts_total{backend="weather",result="error",route="mcp"}`:           1,
		`agentgateway_upstream_retries_total{backend="weather",route="mcp"}`:                           1,
		`agentgateway_active_streams{route="mcp"}`:                                                     1,
		`agentgateway_jwks_fetches_total{result="ok"}`:                                                 1,
		`agentgateway_jwks_fetches_total{result="error"}`:                                              0,
		`agentgateway_tokenreview_requests_total{result="ok"}`:                                         0,
		`agentgateway_tokenreview_requests_total{result="denied"}`:                                     1,
		`agentgateway_tokenreview_requests_total{result="error"}`:                                      1,
		`agentgateway_token_cache_requests_total{result="hit"}`:                                        1,
		`agentgateway_token_cache_requests_total{result="miss"}`:                                       2,
		`agentgateway_config_reloads_total{result="success"}`:                                          1,
		`agentgateway_config_reloads_total{result="failure"}`:                                          0,
		`agentgateway_config_last_reload_successful{}`:                                                 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %g (present %v), want %g", k, g, ok, v)
		}
	}
	ts := got[`agentgateway_config_last_reload_success_timestamp_seconds{}`]
	if ts < float64(before) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("last success timestamp %g, want about %d", ts, before)
	}
	found := false
	for k, v := range got {
		if strings.HasPrefix(k, "agentgateway_build_info{") {
			found = true
			if !strings.Contains(k, `version="1.2.3"`) || !strings.Contains(k, `goversion="go`) || v != 1 {
				t.Errorf("build info %s %g", k, v)
			}
		}
	}
	if !found {
		t.Error("no agentgateway_build_info")
	}

	m.ConfigReload(false)
	got = series(t, m.Registry())
	if got[`agentgateway_config_last_reload_successful{}`] != 0 || got[`agentgateway_config_reloads_total{result="failure"}`] != 1 {
		t.Errorf("after a failed reload: %s", dump(got))
	}
	if got[`agentgateway_config_last_reload_success_timestamp_seconds{}`] != ts {
		t.Error("a failed reload moved the last-success timestamp")
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest(&Request{Kind: "mcp"})
	m.AuthnDecision("r", "success")
	m.AuthzDecision("r", "mcp", "allowed")
	m.RateLimitDecision("r", "allowed")
	m.UpstreamAttempt("r", "b", "ok")
	m.UpstreamRetry("r", "b")
	m.StreamOpened("r")
	m.StreamClosed("r")
	m.JWKSFetch("ok")
	m.TokenReview("ok")
	m.TokenCache(true)
	m.ConfigReload(true)
}

// populated returns Metrics with a child in every metric vector.
func populated(t testing.TB) *Metrics {
	m := newTestMetrics(t, MetricsOptions{Version: "test"})
	for _, r := range []Request{
		{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/call", Status: 200, Duration: 20 * time.Millisecond, Identity: weatherSA, Tool: "get_weather", ToolKnown: true, Decision: "allowed"},
		{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/call", Status: 502, Duration: 2 * time.Second, Identity: weatherSA, Tool: "get_weather", ToolKnown: true, Decision: "allowed", ErrorType: "upstream_error"},
		{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/list", Status: 200, Identity: weatherSA, Discovery: true},
		{Route: "a2a", Backend: "weather-agent", Kind: "a2a", Method: "message/send", Status: 403, Identity: "planner", Source: "planner", Target: "weather-agent-v6", Decision: "denied", ErrorType: "forbidden"},
	} {
		m.ObserveRequest(&r)
	}
	m.AuthnDecision("mcp", "success")
	m.AuthzDecision("mcp", "mcp", "allowed")
	m.RateLimitDecision("mcp", "limited")
	m.UpstreamAttempt("mcp", "weather", "5xx")
	m.UpstreamRetry("mcp", "weather")
	m.StreamOpened("mcp")
	m.JWKSFetch("ok")
	m.TokenReview("ok")
	m.TokenCache(true)
	m.ConfigReload(true)
	return m
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	m := populated(t)
	body := scrape(t, m.Handler())
	for _, want := range []string{
		"# TYPE agent_requests_total counter",
		"# TYPE agent_request_duration_seconds histogram",
		`agent_request_duration_seconds_bucket{kind="mcp",method="tools/call",route="mcp",le="300"} 2`,
		`agent_requests_total{agent_identity="` + weatherSA + `",kind="mcp",method="tools/call",route="mcp",status="200"} 1`,
		"go_goroutines ", "go_memstats_alloc_bytes ", "process_cpu_seconds_total ", "process_resident_memory_bytes ",
		`agentgateway_build_info{goversion="go`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// Its own registry: nothing leaks into the global one.
	mfs, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "agent") {
			t.Errorf("%s in the default registry", mf.GetName())
		}
	}
	// Two Metrics side by side (a config reload builds a new one) work.
	if body2 := scrape(t, populated(t).Handler()); !strings.Contains(body2, "agent_requests_total") {
		t.Error("second Metrics scrape empty")
	}
}

// promtoolPath finds the promtool binary (apt package prometheus, which
// scripts/deps.sh installs). In CI a missing promtool fails the test.
func promtoolPath(t *testing.T) string {
	return testbin.Need(t, "promtool", "apt package prometheus; scripts/deps.sh installs it")
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := promtoolPath(t)
	m := populated(t)
	body := scrape(t, m.Handler())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := newTestMetrics(b, MetricsOptions{})
	reqs := []Request{
		{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/call", Status: 200, Duration: 20 * time.Millisecond, Identity: weatherSA, Tool: "get_weather", ToolKnown: true, Decision: "allowed"},
		{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/list", Status: 200, Duration: 5 * time.Millisecond, Identity: weatherSA, Discovery: true},
		{Route: "a2a", Backend: "weather-agent", Kind: "a2a", Method: "message/send", Status: 200, Duration: 200 * time.Millisecond, Identity: "planner", Source: "planner", Target: "weather-agent-v6", Decision: "allowed"},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveRequest(&reqs[i%len(reqs)])
			i++
		}
	})
}

func BenchmarkObserveToolCall(b *testing.B) {
	m := newTestMetrics(b, MetricsOptions{})
	r := Request{Route: "mcp", Backend: "weather", Kind: "mcp", Method: "tools/call", Status: 200, Duration: 20 * time.Millisecond, Identity: weatherSA, Tool: "get_weather", ToolKnown: true, Decision: "allowed"}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(&r)
	}
}
