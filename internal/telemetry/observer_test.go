package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry/otlptest"
)

// BenchmarkObserverSpans is the tracing work of one gateway-seed request
// without the rest of the chain: the server span, three traced policies
// (jwt-authn, mcp-authz, rate-limit), one upstream attempt and End, with
// spans to an exporter that discards. "policy-spans" is
// tracing.policySpans; "rate0" samples nothing, so only propagation
// remains.
func BenchmarkObserverSpans(b *testing.B) {
	for _, bc := range []struct {
		name        string
		rate        float64
		policySpans bool
	}{
		{"default", 1, false},
		{"policy-spans", 1, true},
		{"rate0", 0, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: bc.rate, TrustIncomingTraceparent: true}, &discardClient{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			o := &Observer{Tracing: tr, PolicySpans: bc.policySpans}
			h := observedChain(o)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			if bc.rate > 0 {
				// A sampled caller's trace; rate0's request starts its own.
				r.Header.Set("Traceparent", incomingParent)
			}
			b.ReportAllocs()
			for b.Loop() {
				ex := &policy.Exchange{Method: r.Method, Route: "tools", RoutePrefix: "/mcp", Backend: "b", Kind: policy.KindMCP, ProtoMethod: "tools/call"}
				ctx := o.Begin(r, ex)
				err := h.ServeHTTP(w, r.WithContext(policy.WithExchange(ctx, ex)))
				o.End(ctx, r, ex, Result{Status: 200, Duration: time.Millisecond, Err: err})
			}
		})
	}
}

// observedChain is jwt-authn, mcp-authz and rate-limit wrapped by o, in
// front of one upstream attempt. mcp-authz records its decision as the
// policy does.
func observedChain(o *Observer) policy.Handler {
	var h policy.Handler = policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		// The proxy's outgoing request: a shallow copy with its own headers.
		out := r.WithContext(r.Context())
		out.Header = make(http.Header, 4)
		done := o.Attempt(r.Context(), ex, out, 1)
		done(&http.Response{StatusCode: 200}, nil)
		return nil
	})
	pass := func(decision string) func(policy.Handler) policy.Handler {
		return func(next policy.Handler) policy.Handler {
			return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if decision != "" {
					policy.ExchangeFrom(r.Context()).Decision = decision
				}
				return next.ServeHTTP(w, r)
			})
		}
	}
	h = o.WrapPolicy("tools", "rate-limit", pass(""), h)
	h = o.WrapPolicy("tools", "mcp-authz", pass(policy.DecisionAllowed), h)
	return o.WrapPolicy("tools", config.PolicyJWTAuthn, pass(""), h)
}

// Each policy's decision is an attribute of the server span, whichever
// span layout; with policySpans each policy also has its own span.
func TestObserverPolicyDecisions(t *testing.T) {
	for _, policySpans := range []bool{false, true} {
		exp := &otlptest.Collector{}
		tr, err := newTracing(context.Background(), TracingOptions{Enabled: true, SamplingRate: 1}, exp)
		if err != nil {
			t.Fatal(err)
		}
		o := &Observer{Tracing: tr, PolicySpans: policySpans}
		h := observedChain(o)
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		ex := &policy.Exchange{Method: r.Method, Route: "tools", RoutePrefix: "/mcp", Backend: "b", Kind: policy.KindMCP}
		ctx := o.Begin(r, ex)
		if err := h.ServeHTTP(httptest.NewRecorder(), r.WithContext(policy.WithExchange(ctx, ex))); err != nil {
			t.Fatal(err)
		}
		o.End(ctx, r, ex, Result{Status: 200})
		if err := tr.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tr.Shutdown(context.Background()) }()
		var names []string
		got := map[string]string{}
		for _, s := range exp.GetSpans() {
			names = append(names, s.Name)
			if s.Name == "POST /mcp" {
				for _, a := range s.Attributes {
					if strings.HasPrefix(string(a.Key), "agentgateway.policy.") {
						got[string(a.Key)] = a.Value.String()
					}
				}
			}
		}
		want := map[string]string{"agentgateway.policy.jwt-authn": "passed", "agentgateway.policy.mcp-authz": "allowed", "agentgateway.policy.rate-limit": "passed"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("policySpans %v: %s = %q, want %q (spans %v)", policySpans, k, got[k], v, names)
			}
		}
		wantSpans := "upstream b,POST /mcp"
		if policySpans {
			wantSpans = "jwt-authn,mcp-authz,rate-limit,upstream b,POST /mcp"
		}
		if strings.Join(names, ",") != wantSpans {
			t.Errorf("policySpans %v: spans %v, want %s", policySpans, names, wantSpans)
		}
	}
}

// tracing.policySpans reaches the observer; it is off by default.
func TestNewObserverPolicySpans(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := &config.Config{Logging: &config.Logging{}, Observability: &config.Observability{OpenTelemetry: &config.OpenTelemetry{
			Enabled: true, Endpoint: "http://127.0.0.1:4317", Protocol: "grpc",
			Tracing: &config.Tracing{Enabled: true, PolicySpans: on},
		}}}
		o, err := NewObserver(context.Background(), cfg, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Tracing.Shutdown(context.Background())
		if o.PolicySpans != on {
			t.Errorf("policySpans %v: observer has %v", on, o.PolicySpans)
		}
	}
}
