package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestBreakerStateMachine(t *testing.T) {
	now := time.Unix(1000, 0)
	var states []int
	b := newBreaker("r", &config.Backend{Name: "b", CircuitBreaker: &config.CircuitBreaker{
		ConsecutiveFailures: 3, BaseEjectionTime: config.Duration(5 * time.Second), MaxEjectionTime: config.Duration(12 * time.Second),
	}}, slog.New(slog.DiscardHandler), func(_, _ string, s int) { states = append(states, s) })
	b.now = func() time.Time { return now }
	fail := &http.Response{StatusCode: 503}
	ok := &http.Response{StatusCode: 200}
	connErr := &net.OpError{Op: "dial", Err: errors.New("refused")}

	// Failures must be consecutive: a success resets the count.
	b.record(fail, nil)
	b.record(fail, nil)
	b.record(ok, nil)
	b.record(fail, nil)
	b.record(nil, connErr)
	if b.allow() != nil {
		t.Fatal("open after 2 consecutive failures")
	}
	b.record(fail, nil) // third in a row
	err := b.allow()
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Status != 503 || pe.Header.Get("Retry-After") != "5" || !errors.Is(err, errCircuitOpen) {
		t.Fatalf("ejected: %v", err)
	}
	// After the interval: one probe only.
	now = now.Add(5 * time.Second)
	if b.allow() != nil {
		t.Fatal("no probe after the ejection")
	}
	if b.allow() == nil {
		t.Fatal("a second request during the probe")
	}
	// The probe fails: ejected again for twice as long.
	b.record(fail, nil)
	now = now.Add(9 * time.Second)
	if b.allow() == nil {
		t.Fatal("second ejection not doubled")
	}
	now = now.Add(1 * time.Second)
	if b.allow() != nil {
		t.Fatal("no probe after the second ejection")
	}
	b.record(nil, connErr)
	// Third ejection: 20s, capped at 12s.
	now = now.Add(12 * time.Second)
	if b.allow() != nil {
		t.Fatal("ejection not capped at maxEjectionTime")
	}
	b.record(ok, nil)
	for i := 0; i < 5; i++ {
		if b.allow() != nil {
			t.Fatal("not closed after a good probe")
		}
	}
	want := []int{breakerOpen, breakerHalfOpen, breakerOpen, breakerHalfOpen, breakerOpen, breakerHalfOpen, breakerClosed}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

func TestBreakerEjectsFailingBackend(t *testing.T) {
	var hits atomic.Int64
	var healthy atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if !healthy.Load() {
			http.Error(w, "down", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(be.Close)
	cfgYAML := strings.Replace(mcpConfig, "                mcp:\n", "                circuitBreaker: {consecutiveFailures: 3, baseEjectionTime: 300ms}\n                mcp:\n", 1)
	_, base := startGateway(t, cfgYAML, be.URL)
	post := func() *http.Response {
		resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"ping"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 3; i++ {
		if st := post().StatusCode; st != 500 {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	// Ejected: answered by the gateway, the backend is not called.
	before := hits.Load()
	r := post()
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || hits.Load() != before {
		t.Fatalf("while ejected: %d %q, backend hits +%d", r.StatusCode, r.Header.Get("Retry-After"), hits.Load()-before)
	}
	healthy.Store(true)
	time.Sleep(350 * time.Millisecond)
	if st := post().StatusCode; st != 200 {
		t.Fatalf("probe: %d", st)
	}
	if st := post().StatusCode; st != 200 {
		t.Fatalf("after recovery: %d", st)
	}
}

func TestBreakerConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan string, 4)
	be := holdBackend(t, release, arrived)
	cfgYAML := strings.Replace(mcpConfig, "                mcp:\n", "                circuitBreaker: {maxRequests: 1}\n                mcp:\n", 1)
	_, base := startGateway(t, cfgYAML, be.URL)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"id":2`) {
		t.Fatalf("past the backend's cap: %d %s", resp.StatusCode, b)
	}
	close(release)
	<-done
}

// A backend that hangs is ejected after consecutiveFailures timeouts, as
// Envoy's consecutive gateway failures: later callers get a fast 503
// instead of each waiting out the timeout. A client that gives up is not
// the backend's fault and does not count.
func TestBreakerCountsGatewayTimeouts(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); be.Close() })
	cfgYAML := strings.Replace(mcpConfig, "                mcp:\n", "                circuitBreaker: {consecutiveFailures: 2, baseEjectionTime: 10s}\n                mcp:\n", 1)
	cfgYAML = strings.Replace(cfgYAML, "            backends:\n", "            policies:\n              - type: timeout\n                timeout: {request: 200ms}\n            backends:\n", 1)
	_, base := startGateway(t, cfgYAML, be.URL)
	post := func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// Clients giving up first: never counted.
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, _ = post(ctx)
		cancel()
	}
	for i := range 2 {
		if st, err := post(context.Background()); err != nil || st != http.StatusGatewayTimeout {
			t.Fatalf("timeout %d: %d %v", i, st, err)
		}
	}
	before := hits.Load()
	st, err := post(context.Background())
	if err != nil || st != http.StatusServiceUnavailable || hits.Load() != before {
		t.Fatalf("after two timeouts: %d %v, backend hits +%d; want 503 without calling the backend", st, err, hits.Load()-before)
	}
}
