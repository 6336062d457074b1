package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/upstream"
)

// maxSSEEventBytes bounds one SSE event the gateway itself rewrites or
// reads (mcp.MaxEventBytes).
const maxSSEEventBytes = mcp.MaxEventBytes

// backend is the last handler of every chain: it proxies the exchange.
type backend struct {
	name   string
	target *url.URL
	// base is the backend path the route prefix maps to. For MCP
	// Streamable HTTP it is the MCP endpoint; for legacy SSE and plain
	// HTTP it is the address path, and the bare prefix maps to endpoint.
	base      string
	endpoint  string
	legacySSE bool
	timeout   time.Duration
	route     *route
	proxy     *httputil.ReverseProxy
	// lean is the retry transport over the gateway's own HTTP/1.1 client
	// (forward.go), for a plain-HTTP backend on the shared transport;
	// nil: every exchange takes proxy.
	lean  *retryTransport
	drain *drainer
	// transport is the shared upstream transport, or the backend's own
	// for a backend with a tls block (tls.go).
	transport http.RoundTripper
	obs       Observer
	brk       *breaker
	// errs are the latest failed attempts, for the status page.
	errs *backendErrors
}

// closeHook calls fn once when the body is closed.
type closeHook struct {
	io.ReadCloser
	fn   func()
	once sync.Once
}

// WaitData passes the wait on (dataWaiter).
func (c *closeHook) WaitData() { waitData(c.ReadCloser) }

func (c *closeHook) Close() error {
	c.once.Do(c.fn)
	return c.ReadCloser.Close()
}

// upstreamState is the backend's part of an exchange. It is also the
// context of the outgoing request: the exchange's, answering upstreamKey
// itself, so that finding it costs no context of its own.
type upstreamState struct {
	context.Context // the exchange's (policy.Exchange.Bind)
	ex              *policy.Exchange
	err             error
	rest            string
	stream          bool // a GET listening stream, ended first on drain
	// brkFailed is set once the circuit breaker has counted this
	// request's failure.
	brkFailed bool
	// attempts counts the retry transport's attempts, observed ones
	// in observed (kept here: counters a closure captures escape).
	attempts, observed int
	// fwd is how the lean path writes the outgoing head from the
	// inbound header map (forward.go); fwdSet backs fwd.Set.
	fwd    upstream.Forwarding
	fwdSet [3]upstream.Field
	// info receives the backend's 1xx responses on the lean path
	// (informational.go); fwd.Inform points at it.
	info informer
	// body is the first attempt's reader of the buffered request body.
	body replayReader
	// waitPrev and waitNext link the exchange into drainer.waiting while
	// waiting says it is there.
	waitPrev, waitNext *upstreamState
	waiting            bool
	// edge is the exchange's edge state, whose backend state st is while
	// it serves, and prevUp the one before (a session's DELETE runs a
	// backend inside another): end puts it back.
	edge   *edgeState
	prevUp *upstreamState
	// joined is set while st is in the drainer's waiting list.
	joined *drainer
}

// end undoes what ServeHTTP set up for the exchange: when ServeHTTP
// returns, or, for a parked stream (parked.go), when the stream ends
// (Exchange.Finally).
func (st *upstreamState) end() {
	if st.joined != nil {
		st.joined.waiting.leave(st)
	}
	if st.edge != nil {
		st.edge.up.Store(st.prevUp)
	}
}

// replayReader reads a buffered request body.
type replayReader struct{ bytes.Reader }

func (*replayReader) Close() error { return nil }

// Value answers upstreamKey with st.
func (st *upstreamState) Value(key any) any {
	if _, ok := key.(upstreamKey); ok {
		return st
	}
	return st.Context.Value(key)
}

// EdgeValue answers upstreamKey with st through the exchange's context,
// when st is the exchange's Edge (a chain run without the edge).
func (st *upstreamState) EdgeValue(key any) (any, bool) {
	if _, ok := key.(upstreamKey); ok {
		return st, true
	}
	return nil, false
}

type upstreamKey struct{}

func newBackend(bc *config.Backend, r *route, d *deps) (*backend, error) {
	u, err := url.Parse(bc.Address)
	if err != nil {
		return nil, err
	}
	tr, err := upstreamTransport(bc, u, d)
	if err != nil {
		return nil, err
	}
	var onState func(string, string, int)
	if bo, ok := d.observer.(interface{ BreakerState(string, string, int) }); ok {
		onState = bo.BreakerState
	}
	b := &backend{name: bc.Name, target: u, route: r, drain: d.drain, transport: tr, obs: d.observer,
		brk: newBreaker(r.name, bc, d.log, onState), errs: &backendErrors{}}
	addrPath := strings.TrimSuffix(u.EscapedPath(), "/")
	b.base = addrPath
	if bc.MCP != nil {
		b.timeout = bc.MCP.Timeout.D()
		b.legacySSE = bc.MCP.Protocol == "sse"
		if b.legacySSE {
			// Legacy servers use two paths (the SSE stream and the message
			// endpoint it announces), so only the bare prefix maps to the
			// stream and everything else stays relative to the address.
			b.endpoint = addrPath + bc.MCP.Endpoint
		} else {
			b.base = addrPath + bc.MCP.Endpoint
		}
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		Transport:      &retryTransport{base: tr, obs: d.observer, brk: b.brk, errs: b.errs},
		ModifyResponse: b.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if st, ok := req.Context().Value(upstreamKey{}).(*upstreamState); ok {
				st.err = err
			}
		},
		ErrorLog:   slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
		BufferPool: copyBuffers,
	}
	// The lean client speaks HTTP/1.1 in cleartext only; HTTP/2
	// backends take the transport (httpversion.go).
	if d.upstream != nil && bc.TLS == nil && u.Scheme == "http" && backendVersion(bc, u.Scheme) == config.HTTPVersion1 {
		b.lean = &retryTransport{base: leanTransport{d.upstream}, obs: d.observer, brk: b.brk, errs: b.errs}
	}
	return b, nil
}

// ServeHTTP proxies the exchange. It is the innermost policy.Handler.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if ex.Backend == "" {
		ex.Backend = b.name
	}
	if b.brk != nil {
		if err := b.brk.acquire(); err != nil {
			return err
		}
		defer func() {
			if ex.Parked() {
				ex.Finally(b.brk.release)
				return
			}
			b.brk.release()
		}()
	}
	if ex.IdleTimeout == 0 {
		// The route's timeout policy sets no idle limit: the server-wide
		// one applies, so a silent backend cannot hold a stream forever.
		ex.IdleTimeout = b.route.streamIdle
	}
	ctx := r.Context()
	if !ex.Bound() {
		// A chain run without the edge (tests, benchmarks).
		ctx = ex.Bind(ctx)
		defer ex.End()
	}
	// The backend's timeout shortens the exchange's request deadline,
	// and the idle limit also covers the wait for response headers (SSE
	// servers often send none until their first event): the exchange's
	// one timer serves both.
	if b.timeout > 0 {
		ex.SetTimeout(b.timeout)
	}
	ex.StartIdle()
	st := &upstreamState{Context: ctx, ex: ex, rest: ex.PathRest, stream: r.Method == http.MethodGet}
	// What is set up below for the exchange lives as long as its stream:
	// a parked stream undoes it when it ends (Exchange.Finally).
	defer func() {
		if ex.Parked() {
			ex.Finally(st.end)
			return
		}
		st.end()
	}()
	// The exchange's context finds st through the exchange's Edge, so
	// the lean path can send r itself (serveLean) without a copy to
	// carry a context of its own.
	switch e := ex.Edge.(type) {
	case *edgeState:
		st.edge, st.prevUp = e, e.up.Swap(st)
	case nil, *upstreamState:
		// No edge (a chain run without it, a session's DELETE): st
		// stays the exchange's Edge, set before any transport sees the
		// exchange's context.
		ex.Edge = st
	}
	ctx = st
	// At the end of the shutdown grace period, a call still waiting for
	// the backend gets a 503 instead of a dropped connection.
	if b.drain != nil {
		if b.drain.waiting.join(st) {
			st.joined = b.drain
		} else {
			ex.Cancel(policy.ErrDraining)
		}
	}
	if ex.Body != nil {
		// The first attempt reads the buffered body from st; GetBody
		// (for a transport's own replay) and later attempts get fresh
		// readers. The outgoing request copies this one, GetBody too.
		st.body.Reset(ex.Body)
		r.Body = &st.body
		r.ContentLength = int64(len(ex.Body))
		body := ex.Body
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if b.lean != nil && leanEligible(r, ex.Body != nil) {
		b.serveLean(w, r, ctx, st)
	} else if r.Context().Value(upstreamKey{}) == st {
		// ReverseProxy makes its own outgoing copy; r's context (the
		// exchange's) already finds st.
		b.proxy.ServeHTTP(informWriter{w, b.route}, r)
	} else {
		b.proxy.ServeHTTP(informWriter{w, b.route}, r.WithContext(ctx))
	}
	if st.err != nil {
		return upstreamError(ctx, st.err)
	}
	return nil
}

func (b *backend) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(upstreamKey{}).(*upstreamState)
	out := pr.Out
	out.URL.Scheme = b.target.Scheme
	out.URL.Host = b.target.Host
	var p string
	if st.rest == "" && b.endpoint != "" {
		p = b.endpoint
	} else {
		p = joinPath(b.base, st.rest)
	}
	out.URL.RawPath = p
	if u, err := url.PathUnescape(p); err == nil {
		out.URL.Path = u
	}
	if out.URL.Path == out.URL.RawPath {
		out.URL.RawPath = ""
	}
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = b.target.Host

	// Envoy-style forwarding headers: append the peer to X-Forwarded-For,
	// set X-Forwarded-Proto/Host from what this hop saw.
	if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		out.Header["X-Forwarded-For"] = append([]string(nil), xff...)
	}
	pr.SetXForwarded()

	if !b.route.forwardAuth {
		out.Header.Del("Authorization")
	}
	// Cookies never carry credentials the gateway checked; do not leak
	// the caller's cookies to tools either.
	out.Header.Del("Cookie")
}

func (b *backend) modifyResponse(res *http.Response) error {
	st := res.Request.Context().Value(upstreamKey{}).(*upstreamState)
	// Headers are activity: the idle deadline starts over for the body.
	st.ex.Touch()
	sse := mcp.IsEventStream(res.Header.Get("Content-Type"))
	if sse {
		// Tell nginx-style intermediaries not to buffer the stream.
		res.Header.Set("X-Accel-Buffering", "no")
		res.Header.Del("Content-Length")
	}
	// The legacy endpoint rewrite comes before the response hooks, so
	// that they see the stream as the client will: mcp-authz binds the
	// session's message endpoint in the gateway's URL space, the one the
	// client posts to.
	if sse && b.legacySSE && res.Request.Method == http.MethodGet {
		backendBase := b.base
		if backendBase == "" {
			backendBase = "/"
		}
		gwBase := b.route.prefix
		sseReqPath := res.Request.URL.EscapedPath()
		res.Body = mcp.RewriteEvents(res.Body, maxSSEEventBytes, func(ev *mcp.Event) bool {
			if ev.Event != "endpoint" {
				return false
			}
			nd, ok := mcp.EndpointRewrite(ev.Data, sseReqPath, backendBase, gwBase)
			if !ok {
				// An endpoint the client cannot reach through the gateway
				// makes the stream useless; fail it rather than leak the
				// backend's address.
				st.ex.Cancel(errLegacyEndpoint)
				ev.Drop = true
				return true
			}
			ev.Data = nd
			return true
		})
	}
	for _, hook := range st.ex.ResponseHooks {
		if err := hook(res); err != nil {
			return err
		}
	}
	var body io.ReadCloser = res.Body
	if sse && b.obs != nil {
		body = &closeHook{ReadCloser: body, fn: b.obs.Stream(st.ex)}
	}
	guarded := newGuardedBody(body, res.Request.Context(), st, b.drain)
	if w, ok := body.(io.Writer); ok && res.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy tunnels a 101 through a writable body; the guard
		// alone would hide Write and turn every upgrade into a 502.
		res.Body = struct {
			io.ReadCloser
			io.Writer
		}{guarded, w}
		return nil
	}
	res.Body = guarded
	return nil
}

// upstreamError maps a transport failure to the error the edge renders.
func upstreamError(ctx context.Context, err error) error {
	// A *url.Error names the whole upstream URL, query string included, and
	// a query string can carry a credential; logs get the operation and
	// the underlying error only.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s upstream: %w", ue.Op, ue.Err)
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, policy.ErrRequestTimeout), errors.Is(err, policy.ErrRequestTimeout):
		return &policy.Error{Status: http.StatusGatewayTimeout, Message: "upstream request timeout", Cause: err}
	case errors.Is(cause, policy.ErrIdleTimeout):
		return &policy.Error{Status: http.StatusGatewayTimeout, Message: "upstream idle timeout", Cause: err}
	case errors.Is(err, policy.ErrPerTryTimeout):
		return &policy.Error{Status: http.StatusGatewayTimeout, Message: "upstream per-try timeout", Cause: err}
	case errors.Is(err, policy.ErrRetryBudget):
		return &policy.Error{Status: http.StatusServiceUnavailable, Message: "retry budget exhausted", Cause: err}
	case errors.Is(cause, policy.ErrDraining):
		return &policy.Error{Status: http.StatusServiceUnavailable, Message: "gateway is shutting down", Cause: err}
	case errors.Is(err, context.Canceled):
		return &policy.Error{Status: statusClientClosed, Message: "client closed request", Cause: err}
	}
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe
	}
	if policy.IsConnectFailure(err) {
		return &policy.Error{Status: http.StatusBadGateway, Message: "backend unreachable", Cause: err}
	}
	return &policy.Error{Status: http.StatusBadGateway, Message: "backend error", Cause: err}
}

// statusClientClosed is logged (nginx's 499) when the client went away; no
// response is written because nobody is listening.
const statusClientClosed = 499

var (
	errLegacyEndpoint = errors.New("legacy SSE endpoint event points outside the backend base")
)

// retryTransport replays the buffered body on every attempt and hands
// attempts to the route's Retrier, if any.
type retryTransport struct {
	base http.RoundTripper
	obs  Observer
	brk  *breaker
	errs *backendErrors // nil: not kept
}

// roundTrip is one attempt, admitted and judged by the circuit breaker.
// The breaker counts consecutive failed requests, not attempts: a
// request's retries add at most one failure, so a retry loop riding out a
// backend restart cannot eject it by itself.
func (t *retryTransport) roundTrip(r *http.Request, st *upstreamState) (*http.Response, error) {
	if st != nil {
		st.ex.SentUpstream.Store(true)
	}
	if t.brk == nil {
		res, err := t.base.RoundTrip(r)
		t.noteError(res, err)
		return res, err
	}
	if err := t.brk.allow(); err != nil {
		return nil, err
	}
	res, err := t.base.RoundTrip(r)
	t.noteError(res, err)
	if st != nil && st.brkFailed && (err != nil || res.StatusCode >= 500) {
		t.brk.settle()
		return res, err
	}
	if t.brk.record(res, attemptError(r, err)) && st != nil {
		st.brkFailed = true
	}
	return res, err
}

// noteError keeps a failed attempt for the status page: an error or a
// 5xx answer.
func (t *retryTransport) noteError(res *http.Response, err error) {
	switch {
	case t.errs == nil:
	case err != nil && errors.Is(err, context.Canceled):
		// The client went away: not the backend's failure.
	case err != nil:
		t.errs.add(err.Error())
	case res.StatusCode >= 500:
		t.errs.add(res.Status)
	}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(upstreamKey{}).(*upstreamState)
	if st != nil && st.ex.Retrier == nil {
		if _, nop := t.obs.(nopObserver); nop || t.obs == nil {
			// One attempt, nobody observing: the proxy's outgoing request
			// already carries the buffered body. GetBody lets the
			// transport replay it by itself where that is safe: on a
			// pooled connection found dead, and over HTTP/2 on a
			// stream the backend refused (REFUSED_STREAM) or a
			// connection it is closing (GOAWAY) before it read the
			// request.
			if body := st.ex.Body; body != nil && req.GetBody == nil {
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			}
			return t.roundTrip(req, st)
		}
	}
	attempt := func(ctx context.Context) (*http.Response, error) {
		r := req
		if ctx != req.Context() {
			r = req.WithContext(ctx)
		}
		if st != nil {
			st.attempts++
		}
		if st != nil && st.ex.Body != nil && (st.attempts > 1 || r.GetBody == nil) {
			// A retry: the last attempt's reader may still be read by
			// the transport that gave up on it. (The first attempt has
			// backend.ServeHTTP's fresh one, GetBody with it.)
			r.Body = io.NopCloser(bytes.NewReader(st.ex.Body))
			r.ContentLength = int64(len(st.ex.Body))
			if r.GetBody == nil {
				body := st.ex.Body
				r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			}
		}
		if st == nil || t.obs == nil {
			return t.roundTrip(r, st)
		}
		st.observed++
		// The attempt's span reaches the backend in r's headers; nothing
		// on the way reads it from the context, so r is not copied for it.
		done := t.obs.Attempt(ctx, st.ex, r, st.observed)
		res, err := t.roundTrip(r, st)
		done(res, err)
		return res, err
	}
	if st != nil && st.ex.Retrier != nil {
		return st.ex.Retrier.Do(req.Context(), st.ex, attempt)
	}
	return attempt(req.Context())
}

// copyBuffers recycles the proxy's copy buffers, which otherwise dominate
// per-request allocation. They are 8 KiB, not ReverseProxy's 32 KiB: an
// open stream holds its buffer for its whole life, and MCP and A2A
// messages and SSE events are small, so the smaller buffer cuts the
// memory of 10k idle streams by about 240 MiB at the cost of an extra
// read for bodies over 8 KiB.
var copyBuffers = &bufferPool{}

const copyBufferSize = 8 << 10

// bufferPool pools array pointers: putting a slice back would allocate
// a pointer to it each time.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}

// newTransport returns the shared upstream transport. Compression is left
// to the endpoints so bytes pass through untouched.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// newUpstreamClient returns the lean client for plain-HTTP backends, with
// the shared transport's limits: 5 s dial timeout, 256 idle connections
// per host, 1 MiB of response head. Its idle timeout is shorter than the
// transport's 90 s (upstream.DefaultIdleTimeout says why); a response
// header wait is bounded by the exchange's idle timeout (ServeHTTP).
func newUpstreamClient() *upstream.Client {
	return &upstream.Client{
		DialTimeout:            5 * time.Second,
		MaxIdlePerHost:         256,
		MaxResponseHeaderBytes: 1 << 20,
	}
}
