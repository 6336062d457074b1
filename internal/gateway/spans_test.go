package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/telemetry/otlptest"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// The spans of a request through a chain with a traced policy: their
// names, parents, attributes and status, for an allowed call and for one
// the policy refuses. The attributes are set when each span ends (one
// call per span), so this pins what an exporter sees. By default a
// request has a server span and a client span per upstream attempt, and
// the policy's decision is an attribute of the server span; with
// tracing.policySpans the policy also has its own span.
func TestRequestSpans(t *testing.T) {
	for _, policySpans := range []bool{false, true} {
		t.Run(fmt.Sprintf("policySpans=%v", policySpans), func(t *testing.T) { testRequestSpans(t, policySpans) })
	}
}

func testRequestSpans(t *testing.T, policySpans bool) {
	var mu sync.Mutex
	var traceparents []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer be.Close()
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(`
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            policies:
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: echo
                      rateLimit: {requestsPerMinute: 1}
              - type: timeout
                timeout: {request: 30s}
              - type: retry
                retry: {attempts: 2, retryOn: [connect-failure]}
            backends:
              - name: b
                type: mcp-http
                address: %s
admin:
  address: 127.0.0.1
  port: %d
`, port, be.URL, admin)
	cfg, err := config.Parse("spans.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	exp := &otlptest.Collector{}
	tr, err := telemetry.NewTracingWithClient(context.Background(), telemetry.TracingOptions{Enabled: true, SamplingRate: 1}, exp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	g := New(Options{Logger: log, Observer: &telemetry.Observer{Tracing: tr, PolicySpans: policySpans}})
	if err := g.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Shutdown(time.Second) }()

	call := func() int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/mcp", port),
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		// A session id is a bearer secret: spans carry its digest only.
		req.Header.Set("Mcp-Session-Id", "secret-session-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := call(); st != 200 {
		t.Fatalf("first call: %d", st)
	}
	if st := call(); st != 429 {
		t.Fatalf("second call: %d, want 429", st)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byTrace := map[trace.TraceID][]tracetest.SpanStub{}
	for _, s := range spans {
		byTrace[s.SpanContext.TraceID()] = append(byTrace[s.SpanContext.TraceID()], s)
	}
	if len(byTrace) != 2 {
		t.Fatalf("%d traces, want 2: %v", len(byTrace), names(spans))
	}
	attrs := func(s tracetest.SpanStub) map[string]string {
		m := map[string]string{}
		for _, a := range s.Attributes {
			m[string(a.Key)] = a.Value.String()
		}
		return m
	}
	want := func(s tracetest.SpanStub, kv map[string]string) {
		t.Helper()
		got := attrs(s)
		for k, v := range kv {
			if got[k] != v {
				t.Errorf("span %q: %s = %q, want %q (all: %v)", s.Name, k, got[k], v, got)
			}
		}
		if len(got) != len(kv) {
			t.Errorf("span %q: attributes %v, want exactly %v", s.Name, got, kv)
		}
	}
	// sha256("secret-session-1"), first 8 bytes.
	const sidDigest = "sha256:95eca5ccd7ce1058"
	for _, ss := range byTrace {
		find := func(name string) *tracetest.SpanStub {
			for i := range ss {
				if ss[i].Name == name {
					return &ss[i]
				}
			}
			return nil
		}
		server, rl, up := find("POST /mcp"), find("rate-limit"), find("upstream b")
		if server == nil || server.SpanKind != trace.SpanKindServer {
			t.Fatalf("spans %v", names(ss))
		}
		if policySpans != (rl != nil) {
			t.Fatalf("policySpans %v: spans %v", policySpans, names(ss))
		}
		if rl != nil && rl.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("rate-limit parent %v", rl.Parent.SpanID())
		}
		if up == nil {
			// The refused call: the server span carries the refusal, and
			// so does the policy's span when there is one.
			if wantN := map[bool]int{false: 1, true: 2}[policySpans]; len(ss) != wantN {
				t.Errorf("refused call spans %v", names(ss))
			}
			want(*server, map[string]string{"http.request.method": "POST", "url.path": "/mcp", "http.response.status_code": "429",
				"http.route": "/mcp", "agentgateway.route": "tools", "mcp.method.name": "tools/call",
				"gen_ai.tool.name": "echo", "gen_ai.operation.name": "execute_tool", "mcp.session.id": sidDigest,
				// Set by the rate-limit policy that refused the call.
				"agentgateway.decision": "rate_limited", "agentgateway.policy.rate-limit": "rate_limited"})
			if rl != nil {
				want(*rl, map[string]string{"agentgateway.policy": "rate-limit", "agentgateway.route": "tools", "http.response.status_code": "429"})
				if rl.Status.Code != codes.Error {
					t.Errorf("refusing policy span status %v", rl.Status)
				}
			}
			continue
		}
		if wantN := map[bool]int{false: 2, true: 3}[policySpans]; len(ss) != wantN {
			t.Errorf("allowed call spans %v", names(ss))
		}
		want(*server, map[string]string{"http.request.method": "POST", "url.path": "/mcp", "http.response.status_code": "200",
			"http.route": "/mcp", "agentgateway.route": "tools", "agentgateway.backend": "b", "mcp.method.name": "tools/call",
			"gen_ai.tool.name": "echo", "gen_ai.operation.name": "execute_tool", "mcp.session.id": sidDigest,
			// The rate-limit policy let the call through.
			"agentgateway.policy.rate-limit": "passed"})
		want(*up, map[string]string{"agentgateway.backend": "b", "agentgateway.attempt": "1",
			"server.address": strings.TrimPrefix(be.URL, "http://"), "http.response.status_code": "200"})
		if up.SpanKind != trace.SpanKindClient || up.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("upstream span kind %v, parent %v (server %v)", up.SpanKind, up.Parent.SpanID(), server.SpanContext.SpanID())
		}
		if rl != nil {
			want(*rl, map[string]string{"agentgateway.policy": "rate-limit", "agentgateway.route": "tools"})
			// The policy's span ends when it hands over, before the
			// upstream attempt starts.
			if rl.EndTime.After(up.StartTime) {
				t.Errorf("rate-limit span ends %v after the upstream span starts", rl.EndTime.Sub(up.StartTime))
			}
		}
		mu.Lock()
		tp := traceparents
		mu.Unlock()
		if len(tp) != 1 || !strings.Contains(tp[0], up.SpanContext.SpanID().String()) || !strings.Contains(tp[0], up.SpanContext.TraceID().String()) {
			t.Errorf("backend traceparent %q, want the upstream span %s", tp, up.SpanContext.SpanID())
		}
	}
}

func names(ss []tracetest.SpanStub) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// A retried call: one client span per attempt, each sent to the backend
// in its own traceparent, and each attempt's status on its span. The
// attempts share the proxy's outgoing request (no copy per attempt for
// the span), so -race also checks that a retry's headers are its own.
func TestRetrySpans(t *testing.T) {
	var mu sync.Mutex
	var traceparents []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		first := len(traceparents) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)
	}))
	defer be.Close()
	port := gatewaytest.FreePort(t)
	cfg, err := config.Parse("retry-spans.yaml", []byte(fmt.Sprintf(`
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            policies:
              - type: retry
                retry: {attempts: 2, retryOn: [5xx]}
            backends:
              - name: b
                type: mcp-http
                address: %s
`, port, be.URL)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	exp := &otlptest.Collector{}
	tr, err := telemetry.NewTracingWithClient(context.Background(), telemetry.TracingOptions{Enabled: true, SamplingRate: 1}, exp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	g := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Observer: &telemetry.Observer{Tracing: tr}})
	if err := g.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Shutdown(time.Second) }()
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/mcp", port), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	attempts := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.Name != "upstream b" {
			continue
		}
		for _, a := range s.Attributes {
			if a.Key == "agentgateway.attempt" {
				attempts[a.Value.String()] = s
			}
		}
	}
	mu.Lock()
	tp := traceparents
	mu.Unlock()
	if len(attempts) != 2 || len(tp) != 2 {
		t.Fatalf("attempt spans %v, backend saw %q", names(exp.GetSpans()), tp)
	}
	for i, n := range []string{"1", "2"} {
		s := attempts[n]
		if !strings.Contains(tp[i], s.SpanContext.SpanID().String()) {
			t.Errorf("attempt %s: backend traceparent %q, want span %s", n, tp[i], s.SpanContext.SpanID())
		}
	}
	if st := attempts["1"].Status.Code; st != codes.Error {
		t.Errorf("first attempt (503) status %v", st)
	}
	if st := attempts["2"].Status.Code; st == codes.Error {
		t.Errorf("second attempt (200) status %v", st)
	}
}
