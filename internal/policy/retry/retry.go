// Package retry implements the retry policy.
//
// Safety rule: an attempt is retried only when the request provably never
// left the gateway (connect failure), or when the exchange is idempotent
// (no tools/call, A2A message/send or similar in it), or when the route
// opted in with retryNonIdempotent. A retry never happens once response
// bytes have reached the client, because retries run inside the transport
// before the response is handed to the proxy.
//
// A budget (Envoy's defaults: 20% of active requests, at least 3) stops a
// failing backend from turning into a retry storm.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func init() {
	policy.Define(policy.Definition{
		Type: Type, Block: Block, Order: policy.OrderRetry,
		Config: func() config.PolicySpec { return new(Config) }, Source: configSource,
		New: New,
	})
}

// Policy is a provisioned retry policy; it is also the exchange's Retrier.
type Policy struct {
	attempts      int
	perTry        time.Duration
	on5xx         bool
	onReset       bool
	onConnect     bool
	base, max     time.Duration
	nonIdempotent bool
	budgetPct     float64
	budgetMin     int64

	active  atomic.Int64 // requests in flight on the route
	retries atomic.Int64 // retries in flight
	// leave ends a request's share of active: made once, so that a
	// parked stream's deferral (Exchange.Finally) costs no allocation.
	leave func()
}

// ErrBudget is returned when the retry budget denies a retry and the last
// attempt failed without a response.
var ErrBudget = policy.ErrRetryBudget

// New provisions a retry policy from a validated config.
func New(_ context.Context, cp *config.Policy, _ policy.Env) (policy.Policy, error) {
	c := cp.Spec.(*Config)
	p := &Policy{
		attempts:      c.Attempts,
		perTry:        c.PerTryTimeout.D(),
		nonIdempotent: c.RetryNonIdempotent,
		base:          DefaultBaseInterval.D(),
		max:           DefaultMaxInterval.D(),
		budgetPct:     DefaultBudgetPercent,
		budgetMin:     DefaultBudgetMinConcurrent,
	}
	p.leave = func() { p.active.Add(-1) }
	for _, on := range c.RetryOn {
		switch on {
		case On5xx:
			p.on5xx = true
		case OnReset:
			p.onReset = true
		case OnConnectFailure:
			p.onConnect = true
		}
	}
	if c.Backoff != nil {
		p.base, p.max = c.Backoff.BaseInterval.D(), c.Backoff.MaxInterval.D()
	}
	if c.Budget != nil {
		p.budgetPct, p.budgetMin = c.Budget.Percent, int64(c.Budget.MinConcurrent)
	}
	return p, nil
}

// Wrap installs the policy as the exchange's Retrier.
func (p *Policy) Wrap(next policy.Handler) policy.Handler {
	return policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p.active.Add(1)
		ex := policy.ExchangeFrom(r.Context())
		// A parked stream is in flight until it ends.
		defer ex.Finally(p.leave)
		if ex != nil {
			ex.Retrier = p
		}
		return next.ServeHTTP(w, r)
	})
}

// Do runs attempts as the policy allows.
func (p *Policy) Do(ctx context.Context, ex *policy.Exchange, attempt func(context.Context) (*http.Response, error)) (*http.Response, error) {
	idempotent := p.nonIdempotent || ex.Idempotent()
	for try := 1; ; try++ {
		last := try >= p.attempts
		resp, err := p.once(ctx, attempt, idempotent)
		if ctx.Err() != nil {
			return resp, err
		}
		if last || !p.retryable(resp, err, idempotent) {
			return resp, err
		}
		if !p.takeBudget() {
			if err == nil {
				return resp, nil
			}
			return nil, errors.Join(ErrBudget, err)
		}
		if resp != nil {
			// Drain a little so the connection can be reused, then drop it.
			_, _ = io.CopyN(io.Discard, resp.Body, 4096)
			_ = resp.Body.Close()
		}
		wait := p.backoff(try)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			p.retries.Add(-1)
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		p.retries.Add(-1)
	}
}

// once runs one attempt. The per-try timeout bounds the wait for response
// headers, and only for idempotent exchanges: a tools/call that timed out
// after reaching the backend cannot be retried, so a per-try deadline would
// only turn a slow success into a failure. Such calls are bounded by the
// timeout policy instead.
func (p *Policy) once(ctx context.Context, attempt func(context.Context) (*http.Response, error), mayRetry bool) (*http.Response, error) {
	if p.perTry <= 0 || !mayRetry {
		return attempt(ctx)
	}
	actx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(p.perTry, func() { cancel(policy.ErrPerTryTimeout) })
	resp, err := attempt(actx)
	if !timer.Stop() {
		// The per-try timer fired: whatever arrived is too late.
		if resp != nil {
			_ = resp.Body.Close()
		}
		cancel(nil)
		if err == nil || errors.Is(context.Cause(actx), policy.ErrPerTryTimeout) {
			err = policy.ErrPerTryTimeout
		}
		return nil, err
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (p *Policy) retryable(resp *http.Response, err error, idempotent bool) bool {
	if err != nil {
		switch {
		case policy.IsConnectFailure(err):
			// The request never left the gateway: always safe.
			return p.onConnect
		case errors.Is(err, policy.ErrPerTryTimeout):
			return idempotent
		case policy.IsReset(err):
			return p.onReset && idempotent
		}
		return false
	}
	return p.on5xx && idempotent && resp.StatusCode >= 500 && resp.StatusCode <= 599
}

func (p *Policy) takeBudget() bool {
	limit := int64(float64(p.active.Load()) * p.budgetPct / 100)
	if limit < p.budgetMin {
		limit = p.budgetMin
	}
	for {
		n := p.retries.Load()
		if n >= limit {
			return false
		}
		if p.retries.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// backoff is exponential with full jitter, capped at max.
func (p *Policy) backoff(try int) time.Duration {
	d := p.base << (try - 1)
	if d <= 0 || d > p.max {
		d = p.max
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

// WaitData passes on the proxy's wait for a stream's next data, so that an
// idle stream holds no read buffer (the gateway's copy loop and upstream
// body).
func (c *cancelOnClose) WaitData() {
	if dw, ok := c.ReadCloser.(interface{ WaitData() }); ok {
		dw.WaitData()
	}
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}
