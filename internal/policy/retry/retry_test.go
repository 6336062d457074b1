package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func newPolicy(t *testing.T, c Config) *Policy {
	t.Helper()
	if c.Backoff == nil {
		c.Backoff = &Backoff{BaseInterval: config.Duration(time.Millisecond), MaxInterval: config.Duration(2 * time.Millisecond)}
	}
	p, err := New(context.Background(), &config.Policy{Type: Type, Spec: &c}, policy.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Policy)
}

var (
	dialErr  = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	resetErr = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
)

func exchange(t *testing.T, method, body string) *policy.Exchange {
	ex := &policy.Exchange{Method: method}
	if body != "" {
		b, err := mcp.ParseBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		ex.RPC = b
	}
	return ex
}

const (
	toolsCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`
	toolsList = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
)

func TestRetryDecisions(t *testing.T) {
	all := []string{"5xx", "reset", "connect-failure"}
	tests := []struct {
		name      string
		on        []string
		optIn     bool
		body      string
		method    string
		results   []error // nil entry = 503 response
		wantCalls int
	}{
		{"connect failure retried for tools/call", all, false, toolsCall, "POST", []error{dialErr, dialErr, dialErr}, 3},
		{"reset not retried for tools/call", all, false, toolsCall, "POST", []error{resetErr, resetErr}, 1},
		{"5xx not retried for tools/call", all, false, toolsCall, "POST", []error{nil, nil}, 1},
		{"reset retried for tools/list", all, false, toolsList, "POST", []error{resetErr, resetErr, resetErr}, 3},
		{"5xx retried for tools/list", all, false, toolsList, "POST", []error{nil, nil, nil}, 3},
		{"opt-in retries tools/call on reset", all, true, toolsCall, "POST", []error{resetErr, resetErr, resetErr}, 3},
		{"retryOn limits conditions", []string{"connect-failure"}, false, toolsList, "POST", []error{resetErr}, 1},
		{"plain POST is not idempotent", all, false, "", "POST", []error{resetErr}, 1},
		{"GET is idempotent", all, false, "", "GET", []error{resetErr, resetErr, resetErr}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPolicy(t, Config{Attempts: 3, RetryOn: tt.on, RetryNonIdempotent: tt.optIn})
			ex := exchange(t, tt.method, tt.body)
			calls := 0
			_, _ = p.Do(context.Background(), ex, func(ctx context.Context) (*http.Response, error) {
				err := tt.results[min(calls, len(tt.results)-1)]
				calls++
				if err != nil {
					return nil, err
				}
				return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader("x"))}, nil
			})
			if calls != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestPerTryTimeoutOnlyBoundsHeaders(t *testing.T) {
	p := newPolicy(t, Config{Attempts: 2, RetryOn: []string{"5xx"}, PerTryTimeout: config.Duration(20 * time.Millisecond)})
	ex := exchange(t, "POST", toolsList)
	calls := 0
	_, err := p.Do(context.Background(), ex, func(ctx context.Context) (*http.Response, error) {
		calls++
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	if !errors.Is(err, policy.ErrPerTryTimeout) || calls != 2 {
		t.Fatalf("err=%v calls=%d", err, calls)
	}

	// A tools/call cannot be retried, so no per-try deadline applies.
	ex = exchange(t, "POST", toolsCall)
	resp, err := p.Do(context.Background(), ex, func(ctx context.Context) (*http.Response, error) {
		select {
		case <-time.After(60 * time.Millisecond):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok"))}, nil
	})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("slow tools/call failed: %v", err)
	}
}

func TestBudget(t *testing.T) {
	p := newPolicy(t, Config{Attempts: 5, RetryOn: []string{"connect-failure"}, Budget: &Budget{Percent: 20, MinConcurrent: 0}})
	// No active requests and a minimum of 0: the budget allows no retry.
	calls := 0
	_, err := p.Do(context.Background(), exchange(t, "GET", ""), func(ctx context.Context) (*http.Response, error) {
		calls++
		return nil, dialErr
	})
	if calls != 1 || !errors.Is(err, ErrBudget) {
		t.Fatalf("calls=%d err=%v", calls, err)
	}
}

func TestBackoffBounded(t *testing.T) {
	p := newPolicy(t, Config{Attempts: 3, RetryOn: []string{"5xx"}, Backoff: &Backoff{BaseInterval: config.Duration(time.Second), MaxInterval: config.Duration(10 * time.Second)}})
	for try := 1; try < 70; try++ {
		if d := p.backoff(try); d < 0 || d > 10*time.Second {
			t.Fatalf("backoff(%d) = %s", try, d)
		}
	}
}
