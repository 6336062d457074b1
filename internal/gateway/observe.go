package gateway

import (
	"context"
	"net/http"

	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// Observer is how telemetry sees requests without policies knowing about
// it. The edge calls Begin and End around every request; the chain
// builder wraps every policy with WrapPolicy; the backend reports each
// upstream attempt and each response stream.
type Observer interface {
	// Begin starts observing a request and returns the context it runs
	// in (carrying the server span). It may keep state in ex.Observation.
	Begin(r *http.Request, ex *policy.Exchange) context.Context
	// WrapPolicy wraps one policy of a route's chain: wrap is the
	// policy's Wrap, next the rest of the chain.
	WrapPolicy(route, policyType string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler
	// Attempt starts one upstream attempt (n counts from 1) on req, whose
	// headers it may change (trace propagation: the attempt's span goes to
	// the backend in them, so req keeps its context); done reports its
	// result.
	Attempt(ctx context.Context, ex *policy.Exchange, req *http.Request, n int) (done func(*http.Response, error))
	// Prepare is called once the edge has parsed the request, before the
	// chain runs (it may add response hooks).
	Prepare(ex *policy.Exchange)
	// Stream reports a response stream that opened; the returned func is
	// called when it closes.
	Stream(ex *policy.Exchange) func()
	// End is called once when the request finishes.
	End(ctx context.Context, r *http.Request, ex *policy.Exchange, res telemetry.Result)
}

type nopObserver struct{}

func (nopObserver) Begin(r *http.Request, _ *policy.Exchange) context.Context { return r.Context() }
func (nopObserver) WrapPolicy(_, _ string, wrap func(policy.Handler) policy.Handler, next policy.Handler) policy.Handler {
	return wrap(next)
}
func (nopObserver) Attempt(context.Context, *policy.Exchange, *http.Request, int) func(*http.Response, error) {
	return func(*http.Response, error) {}
}
func (nopObserver) Prepare(*policy.Exchange)                                               {}
func (nopObserver) Stream(*policy.Exchange) func()                                         { return func() {} }
func (nopObserver) End(context.Context, *http.Request, *policy.Exchange, telemetry.Result) {}

var _ Observer = (*telemetry.Observer)(nil)

// recorderOf returns what policies report their decisions to: obs when
// it records them, else a recorder that only gives audit records the
// trace id of the request's span.
func recorderOf(obs Observer) policy.Recorder {
	if rec, ok := obs.(policy.Recorder); ok {
		return rec
	}
	return spanTraceIDs{}
}

// spanTraceIDs records no decision; audit records get the trace id of
// the request's span.
type spanTraceIDs struct{ policy.NopRecorder }

func (spanTraceIDs) TraceID(ctx context.Context) string { return telemetry.TraceID(ctx) }
