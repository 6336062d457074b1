// Package timeout implements the timeout policy: a deadline for the whole
// exchange (streams included) and an idle limit on response streams.
//
// On expiry before response headers the backend request is cancelled and
// the edge renders 504 (a JSON-RPC error on MCP/A2A routes). After headers
// the stream is ended cleanly and the backend request is cancelled.
package timeout

import (
	"context"
	"net/http"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderTimeout,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: New,
	})
}

// Policy is a provisioned timeout policy.
type Policy struct {
	Request time.Duration
	Idle    time.Duration
}

// New provisions a timeout policy.
func New(_ context.Context, p *config.Policy, _ policy.Env) (policy.Policy, error) {
	c := p.Spec.(*Config)
	return &Policy{Request: c.Request.D(), Idle: c.Idle.D()}, nil
}

// Wrap applies the deadlines.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ex := policy.ExchangeFrom(r.Context())
		if ex != nil {
			ex.ShortenIdle(p.Idle)
		}
		if p.Request <= 0 {
			return next.ServeHTTP(w, r)
		}
		// The edge's exchange carries the deadline: no context, timer
		// or request copy of the policy's own.
		if ex != nil && ex.SetTimeout(p.Request) {
			return next.ServeHTTP(w, r)
		}
		ctx, cancel := context.WithTimeoutCause(r.Context(), p.Request, policy.ErrRequestTimeout)
		// A parked stream keeps its deadline until it ends.
		defer ex.Finally(cancel)
		return next.ServeHTTP(w, r.WithContext(ctx))
	})
}
