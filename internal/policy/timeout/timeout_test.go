package timeout

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestTimeoutPolicy(t *testing.T) {
	tests := []struct {
		name                 string
		request, idle, prior time.Duration
		wantIdle             time.Duration
		wantDeadline         bool
	}{
		{"request only", time.Second, 0, 0, 0, true},
		{"idle only", 0, time.Second, 0, time.Second, false},
		{"longer idle does not lengthen", time.Second, 2 * time.Second, time.Second, time.Second, true},
		{"shorter idle wins", time.Second, time.Second, 5 * time.Second, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), &config.Policy{Type: Type, Spec: &Config{
				Request: config.Duration(tt.request), Idle: config.Duration(tt.idle),
			}}, policy.Env{})
			if err != nil {
				t.Fatal(err)
			}
			ex := &policy.Exchange{IdleTimeout: tt.prior}
			var hadDeadline bool
			h := p.Wrap(policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				_, hadDeadline = r.Context().Deadline()
				return nil
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r = r.WithContext(policy.WithExchange(r.Context(), ex))
			if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
				t.Fatal(err)
			}
			if ex.IdleTimeout != tt.wantIdle {
				t.Errorf("idle = %s, want %s", ex.IdleTimeout, tt.wantIdle)
			}
			if hadDeadline != tt.wantDeadline {
				t.Errorf("deadline = %v, want %v", hadDeadline, tt.wantDeadline)
			}
		})
	}
}

func TestRequestTimeoutCause(t *testing.T) {
	// bound: the edge's exchange context carries the deadline, and the
	// policy neither derives a context nor copies the request.
	for _, bound := range []bool{false, true} {
		t.Run(map[bool]string{false: "own context", true: "exchange context"}[bound], func(t *testing.T) {
			p, _ := New(context.Background(), &config.Policy{Spec: &Config{Request: config.Duration(10 * time.Millisecond)}}, policy.Env{})
			var cause error
			var seen *http.Request
			h := p.Wrap(policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
					t.Error("no timeout")
				}
				cause = context.Cause(r.Context())
				return nil
			}))
			r := httptest.NewRequest("GET", "/", nil)
			if bound {
				ex := &policy.Exchange{}
				r = r.WithContext(ex.Bind(r.Context()))
				defer ex.End()
			}
			_ = h.ServeHTTP(httptest.NewRecorder(), r)
			if !errors.Is(cause, policy.ErrRequestTimeout) {
				t.Fatalf("cause = %v", cause)
			}
			if copied := seen != r; copied == bound {
				t.Errorf("request copied = %v with the exchange bound = %v", copied, bound)
			}
		})
	}
}
