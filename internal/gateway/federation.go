package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/federation"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// newFederation provisions the last handler of a federated MCP route
// (docs/federation.md): each backend keeps its transport, circuit breaker
// and timeout; the route's retry policy and the observer's upstream spans
// and metrics apply per backend request.
func newFederation(cfg *config.Config, rc *config.Route, backends []*backend, d *deps) (*federation.Handler, error) {
	keys := d.fedKeys
	if sk := cfg.Server.SessionKeys; sk != nil {
		// Read on every provision, so a reload picks up a rotated file.
		k, err := federation.LoadKeys(sk.File)
		if err != nil {
			return nil, err
		}
		keys = k
	}
	m := rc.MCP
	fc := federation.Config{
		Route: rc.Name, Separator: *m.Separator, FailOpen: m.FailureMode == config.FailOpen,
		SessionTTL: m.SessionTTL.D(), FanOutTimeout: m.FanOutTimeout.D(), Keys: keys,
		ForwardAuthorization: rc.ForwardAuthorization, Log: d.log,
	}
	if fo, ok := d.observer.(interface{ FederationFailure(string, string) }); ok {
		fc.OnFailure = fo.FederationFailure
	}
	for i, b := range backends {
		u := *b.target
		u.Path, u.RawPath = b.base, ""
		fc.Backends = append(fc.Backends, federation.Backend{
			Name: b.name, Prefix: rc.Backends[i].FederationPrefix(), URL: u.String(),
			Transport: fedTransport{b}, Timeout: b.timeout,
		})
	}
	return federation.New(fc), nil
}

// fedTransport carries a federated route's requests to one backend through
// the backend's retrying, breaker-guarded transport. Each request gets an
// exchange of its own naming the backend, so a fan-out's parallel
// requests are observed (spans, upstream metrics) and retried per backend.
type fedTransport struct{ b *backend }

func (t fedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := t.b
	sub := &policy.Exchange{Method: req.Method, Backend: b.name, Kind: policy.KindMCP, IdleTimeout: b.route.streamIdle}
	if ex := policy.ExchangeFrom(req.Context()); ex != nil {
		sub.Route, sub.RoutePrefix, sub.Start, sub.ProtoMethod = ex.Route, ex.RoutePrefix, ex.Start, ex.ProtoMethod
		sub.Principal, sub.Retrier = ex.Principal, ex.Retrier
		if ex.IdleTimeout > 0 {
			sub.IdleTimeout = ex.IdleTimeout
		}
		if req.Method == http.MethodPost {
			sub.RPC = ex.RPC
		}
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		sub.Body, _ = io.ReadAll(rc)
		req.Body = io.NopCloser(bytes.NewReader(sub.Body))
	}
	if b.brk != nil {
		if err := b.brk.acquire(); err != nil {
			return nil, err
		}
	}
	release := func() {
		if b.brk != nil {
			b.brk.release()
		}
	}
	// As on a passthrough route: the idle limit covers the wait for
	// headers and then the body, and draining ends GET streams first and
	// everything at the end of the grace period, each as a clean end.
	// The sub-exchange's context is a child of the request's: the
	// request deadline and the client's going away end it too, its own
	// timer keeps only its idle limit, and ending it (idle, drain) ends
	// no other fan-out.
	st := &upstreamState{Context: sub.Bind(req.Context()), ex: sub, stream: req.Method == http.MethodGet}
	ctx := context.Context(st)
	sub.StartIdle()
	stopDrain := func() bool { return false }
	if b.drain != nil {
		stopDrain = context.AfterFunc(b.drain.all, func() { sub.Cancel(policy.ErrDraining) })
	}
	res, err := b.proxy.Transport.RoundTrip(req.WithContext(ctx))
	stopDrain()
	if err != nil {
		err = upstreamError(ctx, err)
		sub.End()
		release()
		return nil, err
	}
	sub.Touch()
	res.Body = &closeHook{ReadCloser: newGuardedBody(res.Body, ctx, st, b.drain), fn: func() {
		sub.End()
		release()
	}}
	return res, nil
}

// shedIdentitySessionOpens is the shed reason of a federated session open
// over its identity's budget.
var shedIdentitySessionOpens = &shedError{"identity_session_opens"}

// federatedOpens bounds how fast one identity may open federated
// sessions. A federated session lives in its sealed id, not in a table,
// so server.maxSessionsPerIdentity cannot count the live ones as it does
// on a passthrough route; yet every initialize opens a session on each
// backend, which lives there until the backend's own idle expiry. Without
// a bound one caller could pile up sessions on every backend. The budget
// is the passthrough cap spread over the idle timeout: an identity may
// open maxSessionsPerIdentity sessions at once, then one more every
// sessionIdleTimeout/maxSessionsPerIdentity (GCRA, per replica, kept
// across reloads).
type federatedOpens struct {
	next  policy.Handler
	lim   *gcra.Local
	route string
	limit gcra.Limit
}

// openLimit is the federated session-open budget for the server's caps.
func openLimit(perIdentity int, idle time.Duration) gcra.Limit {
	if perIdentity <= 0 || idle <= 0 {
		return gcra.Limit{}
	}
	perMinute := int((time.Duration(perIdentity)*time.Minute + idle - 1) / idle)
	return gcra.Limit{PerMinute: max(perMinute, 1), Burst: perIdentity}
}

func (f federatedOpens) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if f.limit.PerMinute <= 0 || ex == nil || ex.Principal == nil || r.Method != http.MethodPost ||
		ex.ProtoMethod != "initialize" || r.Header.Get(mcp.HeaderSessionID) != "" {
		return f.next.ServeHTTP(w, r)
	}
	res, err := f.lim.Allow(r.Context(), gcra.Key(f.route, ex.Principal.Issuer, ex.Principal.Subject), f.limit)
	if err == nil && !res.Allowed {
		pe := errIdentityCap("too many federated MCP sessions opened by this identity; reuse a session or retry later", shedIdentitySessionOpens)
		pe.Header.Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Round(time.Second)/time.Second)+1))
		return pe
	}
	return f.next.ServeHTTP(w, r)
}
