package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// portHandler is the edge of one bind: it pins the current runtime, checks
// the path, matches a route, prepares the exchange (bounded body, JSON-RPC
// parse, MCP transport checks), runs the route's chain and renders any
// error the chain returns. It is the only place that writes error
// responses.
type portHandler struct {
	g    *Gateway
	port int
}

func (h *portHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Trailer == nil && r.ContentLength < 0 {
		// net/http stores trailers the client did not announce into this
		// request's Trailer field when the body ends. The body is read
		// later, through a copy of the request (bodyStage): a shared map
		// makes them visible there, so they are cleaned and forwarded.
		r.Trailer = http.Header{}
	}
	obs := h.g.deps.observer
	ex := &policy.Exchange{Start: start, Method: r.Method}
	// ctx carries the server span. The request keeps its own context
	// until serve gives it the exchange's, in the one copy of the request
	// the edge makes.
	ctx := obs.Begin(r, ex)
	rt := h.g.acquire()
	if rt == nil {
		err := policy.Errorf(http.StatusServiceUnavailable, "gateway is not ready")
		renderError(w, nil, policy.KindHTTP, err)
		obs.End(ctx, r, ex, telemetry.Result{Status: err.Status, Duration: time.Since(start), Err: err})
		return
	}
	srv := rt.cfg.Server
	lim := h.g.deps.lim
	n := lim.inflight.Add(1)
	overloaded := srv.MaxRequests > 0 && n > int64(srv.MaxRequests)

	// An HTTP/1.1 GET may become a parked stream (parked.go), which
	// outlives this handler: its context must not end with the
	// request's, and what follows runs when the stream ends.
	var pk *parking
	if parkable(r) {
		pk = &parking{g: h.g}
		ctx = pk.detach(ctx)
	}
	rw := &responseWriter{ResponseWriter: w, writeTimeout: srv.WriteTimeout.D()}
	defer func() {
		if ex.Parked() {
			return
		}
		rw.boundFinalFlush()
		lim.inflight.Add(-1)
		rt.release()
		if pk != nil {
			pk.release()
		}
	}()
	defer func() {
		// The proxy aborts the client connection with http.ErrAbortHandler
		// when copying a stream fails, whichever side failed; record it
		// before net/http handles the panic. A client that went away (its
		// context is done, or a write to it failed) is not the backend's
		// fault and is recorded as nginx's 499.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				gone := rw.writeErr != nil || r.Context().Err() != nil
				if pk != nil && pk.clientGone.Load() {
					// A stream served in place on its hijacked connection
					// (parking.park): the watch saw the client close.
					gone = true
				}
				h.streamBroken(ctx, r, ex, rw, start, gone)
			}
			panic(p)
		}
	}()
	err := h.serve(ctx, rw, r, rt, ex, overloaded, pk)
	if ex.Parked() {
		pk.start(ex, func(serr error) {
			if serr != nil {
				h.streamBroken(ctx, r, ex, rw, start, rw.writeErr != nil || pk.clientGone.Load())
			} else {
				h.finish(ctx, r, ex, rw, start, err)
			}
			ex.End()
			lim.inflight.Add(-1)
			rt.release()
		})
		return
	}
	h.finish(ctx, r, ex, rw, start, err)
}

// streamBroken records a stream whose copy failed after its head went
// out: the client went away (499), or the backend broke the response.
func (h *portHandler) streamBroken(ctx context.Context, r *http.Request, ex *policy.Exchange, rw *responseWriter, start time.Time, clientGone bool) {
	obs := h.g.deps.observer
	if clientGone {
		h.g.log.Info("stream ended: client went away", "route", ex.Route, "method", r.Method, "path", policy.RequestPath(r))
		obs.End(ctx, r, ex, telemetry.Result{Status: statusClientClosed, Bytes: rw.bytes, Duration: time.Since(start),
			Err: &policy.Error{Status: statusClientClosed, Message: "client closed request"}})
		return
	}
	h.g.log.Warn("stream aborted: backend broke the response", "route", ex.Route, "method", r.Method, "path", policy.RequestPath(r))
	obs.End(ctx, r, ex, telemetry.Result{Status: statusAborted, Bytes: rw.bytes, Duration: time.Since(start), Err: errAborted})
}

// finish ends the exchange: the error response if none went out, the
// failure's log line, the access record, metrics and the server span.
func (h *portHandler) finish(ctx context.Context, r *http.Request, ex *policy.Exchange, rw *responseWriter, start time.Time, err error) {
	obs := h.g.deps.observer
	if err != nil && !errors.Is(err, errAborted) {
		pe := policy.AsError(err)
		if pe.Status != statusClientClosed && !rw.wrote {
			renderError(rw, ex, ex.Kind, pe)
		}
		lvl := slog.LevelInfo
		switch {
		case pe.Status >= 500:
			lvl = slog.LevelWarn
		case pe.Status == statusClientClosed:
			// The client gave up: not a failure of anything here, and the
			// access line records it. At info, an HTTP/2 rapid-reset flood
			// would cost two log lines per reset stream.
			lvl = slog.LevelDebug
		}
		attrs := []any{"route", ex.Route, "method", r.Method, "path", policy.RequestPath(r), "status", pe.Status, "msg_client", pe.Message}
		if pe.Cause != nil {
			attrs = append(attrs, "err", pe.Cause.Error())
		}
		if ex.RPC != nil && len(ex.RPC.Messages) == 1 {
			attrs = append(attrs, "rpc_method", ex.RPC.Messages[0].Method)
		}
		h.g.log.Log(ctx, lvl, "request failed", attrs...)
	}
	status := rw.status
	if err != nil && !rw.wrote {
		status = policy.AsError(err).Status
	}
	if ex.StreamEnd != nil {
		h.g.log.Info("stream ended by gateway", "route", ex.Route, "method", r.Method, "path", policy.RequestPath(r), "reason", ex.StreamEnd.Error())
	}
	obs.End(ctx, r, ex, telemetry.Result{Status: status, Bytes: rw.bytes, Duration: time.Since(start), Err: err})
}

var errAborted = errors.New("stream aborted by backend")

// statusAborted is recorded for responses cut because the backend broke
// them after headers were sent.
const statusAborted = 0

// serve runs the request in ctx, the request's context with the server
// span.
func (h *portHandler) serve(ctx context.Context, w *responseWriter, r *http.Request, rt *runtime, ex *policy.Exchange, overloaded bool, pk *parking) error {
	pr := rt.ports[h.port]
	if pr == nil {
		return policy.Errorf(http.StatusNotFound, "no route")
	}
	path := policy.RequestPath(r)
	if msg := checkPath(path); msg != "" {
		return policy.Errorf(http.StatusBadRequest, "%s", msg)
	}
	// The Host is checked before anything is served, the well-known
	// documents included (DNS rebinding; see hostPolicy). 403, as the
	// go-sdk and TypeScript MCP servers answer.
	served, reflect := pr.hosts.check(r)
	ex.ReflectHost, ex.TLS = reflect, r.TLS != nil
	if !served {
		if rte, _ := pr.match(path); rte != nil {
			ex.Route, ex.Kind = rte.name, rte.kind
		}
		// The Host is not echoed: it is the attacker's text.
		return policy.Errorf(http.StatusForbidden, "this Host is not allowed on this port (binds[].allowedHosts)")
	}
	if wk, ok := pr.wellKnown[path]; ok {
		// A document a route's policy publishes (RFC 9728 metadata): public,
		// served without the route's chain.
		ex.Route = wk.route
		if reflect != "" {
			r = r.WithContext(policy.WithExchange(ctx, ex))
		}
		wk.h.ServeHTTP(w, r)
		return nil
	}
	rte, rest := pr.match(path)
	if rte == nil {
		return policy.Errorf(http.StatusNotFound, "no route for path")
	}
	ex.Route = rte.name
	ex.RoutePrefix = rte.prefix
	ex.Kind = rte.kind
	ex.PathRest = rest
	if rte.kind == policy.KindA2A {
		rte.agents.resolveTarget(ex, rest)
	}
	// net/http bounds the header bytes (maxHeaderBytes) but not the count
	// of field lines; refuse before the body is read.
	if n, limit := headerCount(r.Header), rt.cfg.Server.MaxHeaderCount; limit > 0 && n > limit {
		return policy.Errorf(http.StatusRequestHeaderFieldsTooLarge, "more than %d request header fields", limit)
	}
	if err := stripClientHeaders(r.Header, rte.stripHeaders, rte.underscores); err != nil {
		return err
	}
	stripMethodOverride(r.Header)

	// The body is read inside the chain, right after authentication
	// (bodyStage), so that a request without valid credentials is refused
	// before any of its body is buffered.
	// The exchange's one context (policy.Exchange.Bind): the policies
	// and the backend set its deadlines and cancel it through ex, and
	// identity.From finds the principal there, so this is the request's
	// one copy until the backend's outgoing one. A parked stream
	// (parked.go) ends the exchange when the stream ends, not here.
	ex.Edge = &edgeState{h: h, w: w, rt: rt, rte: rte, ex: ex, overloaded: overloaded, park: pk}
	defer func() {
		if !ex.Parked() {
			ex.End()
		}
	}()
	bctx := ex.Bind(ctx)
	if pk != nil {
		pk.bind(r, ex)
	}
	return rte.handler.ServeHTTP(w, r.WithContext(bctx))
}

// edgeState is what the edge hands to the body stage of the route's chain.
type edgeState struct {
	h          *portHandler
	w          *responseWriter
	rt         *runtime
	rte        *route
	ex         *policy.Exchange
	overloaded bool
	// releaseStream returns the stream slot check took, if any.
	releaseStream func()
	// park, when set, lets the proxy park the response stream.
	park *parking
	// up is the backend's state while it serves the exchange. Atomic: a
	// transport's goroutine may look a key up in the exchange's context
	// (httptrace) while the backend puts the previous value back.
	up atomic.Pointer[upstreamState]
}

// EdgeValue answers upstreamKey through the exchange's context
// (policy.EdgeValues).
func (st *edgeState) EdgeValue(key any) (any, bool) {
	if _, ok := key.(upstreamKey); ok {
		if up := st.up.Load(); up != nil {
			return up, true
		}
	}
	return nil, false
}

// bodyStage reads, bounds and parses the request body and applies the
// checks that need it, then runs the rest of the chain. The chain builder
// puts it right after authentication (policy.OrderAuthn), so header-only
// authentication (jwt-authn, client certificates) refuses a request
// before its body is buffered; everything from authorization on sees the
// parsed body. The 401 of a request refused this early has no request id
// to echo: its JSON-RPC error has id null, as the spec allows for an id
// that could not be read.
type bodyStage struct{ next policy.Handler }

func (s bodyStage) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	var st *edgeState
	if ex := policy.ExchangeFrom(r.Context()); ex != nil {
		st, _ = ex.Edge.(*edgeState)
	}
	if st == nil {
		// A chain run without the edge (benchmarks): the caller prepared
		// the exchange.
		return s.next.ServeHTTP(w, r)
	}
	release, err := st.prepare(r)
	if release != nil {
		// The stream slot is held until a parked stream ends.
		defer st.ex.Finally(release)
	}
	if err != nil {
		return err
	}
	return s.next.ServeHTTP(w, r)
}

// prepare buffers the body (within the gateway-wide budget), parses it and
// runs the transport and overload checks. It returns what to release when
// the request ends: the body's share of the budget (the buffered body is
// kept for retries until then) and the stream slot.
func (st *edgeState) prepare(r *http.Request) (release func(), err error) {
	bb := &bodyBudget{lim: st.h.g.deps.lim, max: int64(*st.rt.cfg.Server.MaxBufferedBodyBytes)}
	release = func() {
		bb.release()
		if st.releaseStream != nil {
			st.releaseStream()
		}
	}
	if err := readBody(st.w, r, st.rte, st.ex, st.rt.cfg.Server.BodyReadTimeout.D(), bb); err != nil {
		return release, err
	}
	if st.rte.kind == policy.KindMCP && (r.Method == http.MethodGet || r.Method == http.MethodDelete) && len(st.ex.Body) > 0 {
		// MCP GET and DELETE carry no body, so no policy reads one; a
		// backend that did would act on a message nobody authorized.
		return release, policy.Errorf(http.StatusBadRequest, "a request body is not allowed on an MCP %s", r.Method)
	}
	// Trailers arrive with the end of the body, after the headers were
	// cleaned; the proxy forwards them, so they get the same treatment.
	if err := stripClientTrailers(r, st.rte.stripHeaders, st.rte.underscores); err != nil {
		return release, err
	}
	return release, st.check(r)
}

// check is the part of the edge's work that needs the parsed body.
func (st *edgeState) check(r *http.Request) error {
	h, rt, rte, ex, overloaded := st.h, st.rt, st.rte, st.ex, st.overloaded
	// Parse before the transport checks so that their errors can echo the
	// request id; report a parse error only after them.
	var parseErr error
	if rte.kind == policy.KindA2A {
		// One canonical method for every spelling; a body that cannot be
		// made canonical is a 400 (a2a.Classify).
		if err := classifyA2A(r, ex); err != nil {
			return err
		}
	}
	if rte.kind == policy.KindMCP && r.Method == http.MethodPost {
		// An empty POST is parsed too (a parse error): it is not a
		// JSON-RPC message, and the backend and the policies must not get
		// a request with no method to check.
		body, err := mcp.ParseBody(ex.Body)
		if err != nil {
			var pe *mcp.ParseError
			if errors.As(err, &pe) {
				ex.RPC = &mcp.Body{Messages: []*mcp.Message{{ID: pe.ID}}}
				parseErr = &policy.Error{Status: http.StatusBadRequest, Code: pe.Code, Message: pe.Message}
			} else {
				parseErr = &policy.Error{Status: http.StatusBadRequest, Code: mcp.CodeParseError, Message: "parse error"}
			}
		} else {
			ex.RPC = body
		}
	}
	if rte.kind == policy.KindMCP {
		if err := checkMCPTransport(r, rte); err != nil {
			return err
		}
	}
	if parseErr != nil {
		return parseErr
	}
	if ex.RPC != nil && rte.kind == policy.KindMCP {
		if err := checkMCPHeaders(r, ex.RPC); err != nil {
			return err
		}
		ex.ProtoMethod = mcpMethod(ex.RPC)
		if rte.federation != nil {
			// Rate-limit descriptors, metrics, spans and audit records
			// name the backend a federated call goes to.
			ex.Backend = rte.federation.ResolveBackend(ex)
		}
	}
	// Past a cap the answer is fast and cheap, but comes after the parse
	// so that a JSON-RPC error can echo the request id.
	if overloaded {
		return errOverloaded("requests in flight", shedRequests)
	}
	if ex.Stream = isStream(r, ex); ex.Stream {
		lim := h.g.deps.lim
		if !lim.acquireStream(rt.cfg.Server.MaxStreams) {
			return errOverloaded("open streams", shedStreams)
		}
		st.releaseStream = lim.releaseStream
	}
	h.g.deps.observer.Prepare(ex)
	return nil
}

// headerCount counts the request's header field lines, as Envoy's
// max_headers_count does: every value of every name (HTTP/1.1 and HTTP/2
// alike; Host and pseudo-headers are not in r.Header).
func headerCount(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// stripClientHeaders removes every client-supplied copy of the headers the
// gateway owns (identity headers, claimToHeaders targets), before any
// policy runs, so a policy that injects them is the only source. A name
// that equals an owned one once lower-cased with "_" read as "-" is a copy
// too: WSGI, CGI and PHP backends fold X_Agent_Identity into the same
// variable as X-Agent-Identity. Other names with "_" follow
// server.headersWithUnderscores. Headers named in Connection are
// hop-by-hop and would be dropped by the proxy after injection; they are
// removed here instead, so a client cannot use
// "Connection: x-agent-identity" to strip the gateway's own value.
func stripClientHeaders(h http.Header, owned []string, underscores string) error {
	var keep []string
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			switch strings.ToLower(tok) {
			case "":
			case "close", "keep-alive", "upgrade":
				keep = append(keep, tok)
			default:
				h.Del(tok)
			}
		}
	}
	h.Del("Connection")
	if len(keep) > 0 {
		h.Set("Connection", strings.Join(keep, ", "))
	}
	for _, k := range owned {
		h.Del(k)
	}
	return dropUnderscoreNames(h, owned, underscores, "header")
}

// stripClientTrailers applies the header rules to the request's trailers
// (read with the body): owned names and their "_" variants never pass as
// trailers.
func stripClientTrailers(r *http.Request, owned []string, underscores string) error {
	if len(r.Trailer) == 0 {
		return nil
	}
	for k := range r.Trailer {
		if isOwned(k, owned) {
			delete(r.Trailer, k)
		}
	}
	return dropUnderscoreNames(r.Trailer, owned, underscores, "trailer")
}

// dropUnderscoreNames removes from h the names that contain "_": always
// those that fold into an owned name, and the others unless underscores is
// "allow"; with "reject" any such name is a 400 instead.
func dropUnderscoreNames(h http.Header, owned []string, underscores, what string) error {
	for k := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		if underscores == config.HeadersWithUnderscoresReject {
			return policy.Errorf(http.StatusBadRequest, "request %s name %q contains an underscore (server.headersWithUnderscores: reject)", what, k)
		}
		if underscores != config.HeadersWithUnderscoresAllow || isOwned(k, owned) {
			delete(h, k)
		}
	}
	return nil
}

// isOwned reports whether name equals one of owned ignoring case, with "_"
// in name read as "-".
func isOwned(name string, owned []string) bool {
	for _, o := range owned {
		if foldHeaderName(name, o) {
			return true
		}
	}
	return false
}

func foldHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stripMethodOverride removes the headers with which frameworks (Rails'
// Rack::MethodOverride, Express method-override, ASP.NET, Spring's
// HiddenHttpMethodFilter family) let a client replace the HTTP method:
// policies decide on the method the gateway saw, so the backend must act
// on that one. Names are compared as a WSGI/CGI server reads them: any
// letter case, "_" for "-".
func stripMethodOverride(h http.Header) {
	for k := range h {
		// Only names of the right length are compared, so the common
		// request pays one length check per header.
		if n := len(k); n != len("X-HTTP-Method-Override") && n != len("X-HTTP-Method") && n != len("X-Method-Override") {
			continue
		}
		if isMethodOverride(k) {
			delete(h, k)
		}
	}
}

func isMethodOverride(name string) bool {
	return foldHeaderName(name, "X-HTTP-Method-Override") || foldHeaderName(name, "X-HTTP-Method") || foldHeaderName(name, "X-Method-Override")
}

// readBody buffers the request body up to the route's limit. Bodies are
// buffered (never streamed upstream) because MCP and A2A bodies are small
// JSON-RPC messages that policies must read and retries must replay.
//
// The bytes count against bb, the gateway-wide budget for buffered bodies
// (nil: none), until the request ends.
func readBody(w http.ResponseWriter, r *http.Request, rte *route, ex *policy.Exchange, timeout time.Duration, bb *bodyBudget) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > 0 && r.ContentLength <= rte.maxBody && bb != nil {
		// Refused before a byte is read, so a full budget costs nothing
		// more.
		if bb.reserve(r.ContentLength) != nil {
			return errOverloaded("buffered request bodies", shedBodyBudget)
		}
	}
	if timeout <= 0 {
		return readBodyBounded(w, r, rte, ex, bb)
	}
	// A client trickling its body (one byte a second) would otherwise hold
	// a request slot for as long as it likes. The deadline is lifted only
	// after a complete read: after a failure it stays, so net/http gives up
	// on the rest of the body and closes the connection.
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return readBodyBounded(w, r, rte, ex, bb)
	}
	err := readBodyBounded(w, r, rte, ex, bb)
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return err
}

func readBodyBounded(w http.ResponseWriter, r *http.Request, rte *route, ex *policy.Exchange, bb *bodyBudget) error {
	if r.ContentLength > rte.maxBody {
		return policy.Errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", rte.maxBody)
	}
	// Size the buffer from Content-Length when the client sent one, so a
	// typical JSON-RPC body is read without regrowing.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// bytes.Buffer.ReadFrom keeps MinRead bytes free before each read;
		// growing by that much up front avoids a second allocation.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, rte.maxBody)
	if r.ContentLength < 0 && bb != nil {
		// Unknown length: reserve as the bytes arrive.
		src = bb.reader(src)
	}
	_, err := buf.ReadFrom(src)
	b := buf.Bytes()
	if err != nil {
		if errors.Is(err, errBodyBudget) {
			return errOverloaded("buffered request bodies", shedBodyBudget)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return policy.Errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", rte.maxBody)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return &policy.Error{Status: http.StatusRequestTimeout, Message: "request body not received in time", Cause: err}
		}
		return &policy.Error{Status: http.StatusBadRequest, Message: "could not read request body", Cause: err}
	}
	if len(b) == 0 && r.ContentLength <= 0 {
		return nil
	}
	ex.Body = b
	return nil
}

// checkMCPTransport applies the Streamable HTTP transport rules the spec
// puts on servers, so that every backend gets them even if it forgets:
// Origin validation against DNS rebinding, and a well-formed protocol
// version header.
func checkMCPTransport(r *http.Request, rte *route) error {
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, r.Host, rte.allowedOrigins) {
		return policy.Errorf(http.StatusForbidden, "origin %q is not allowed", origin)
	}
	if ids := r.Header.Values(mcp.HeaderSessionID); len(ids) > 1 {
		return policy.Errorf(http.StatusBadRequest, "more than one Mcp-Session-Id header")
	} else if len(ids) == 1 && !mcp.ValidSessionID(ids[0]) {
		return policy.Errorf(http.StatusBadRequest, "malformed Mcp-Session-Id")
	}
	if vs := r.Header.Values(mcp.HeaderProtocolVersion); len(vs) > 1 {
		return policy.Errorf(http.StatusBadRequest, "more than one MCP-Protocol-Version header")
	} else if len(vs) == 1 && !mcp.ValidProtocolVersion(vs[0]) {
		return policy.Errorf(http.StatusBadRequest, "unsupported MCP-Protocol-Version %q", vs[0])
	}
	// curl and many HTTP clients send no Accept or "*/*"; the spec
	// requires clients to accept both JSON and SSE, and backends reject
	// requests that do not say so. Spelling out what "*/*" already means
	// keeps the seed's plain curl commands working.
	if a := r.Header.Get("Accept"); a == "" || strings.TrimSpace(a) == "*/*" {
		switch r.Method {
		case http.MethodPost:
			r.Header.Set("Accept", "application/json, text/event-stream")
		case http.MethodGet:
			r.Header.Set("Accept", "text/event-stream")
		}
	}
	return nil
}

// checkMCPHeaders rejects requests whose Mcp-Method / Mcp-Name headers
// (protocol 2026-07-28) disagree with the body: intermediaries route on the
// headers and the server acts on the body, so a mismatch could bypass
// policy.
func checkMCPHeaders(r *http.Request, body *mcp.Body) error {
	hm, hasM := r.Header[http.CanonicalHeaderKey(mcp.HeaderMethod)]
	hn, hasN := r.Header[http.CanonicalHeaderKey(mcp.HeaderName)]
	if !hasM && !hasN {
		return nil
	}
	if body.Batch || len(body.Messages) != 1 {
		return policy.Errorf(http.StatusBadRequest, "Mcp-Method/Mcp-Name headers are not allowed on batches")
	}
	m := body.Messages[0]
	if hasM && (len(hm) != 1 || hm[0] != m.Method) {
		return policy.Errorf(http.StatusBadRequest, "Mcp-Method header does not match the request body")
	}
	if hasN && (len(hn) != 1 || hn[0] != m.Name) {
		return policy.Errorf(http.StatusBadRequest, "Mcp-Name header does not match the request body")
	}
	return nil
}

// originAllowed accepts same-origin requests (Origin host equals the Host
// the client addressed), and origins listed on the route ("*" for any).
func originAllowed(origin, host string, allowed []string) bool {
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// mcpMethod labels an MCP POST: its method, "response" for a client's
// answer to a server request, "batch" for several messages.
func mcpMethod(b *mcp.Body) string {
	if b.Batch || len(b.Messages) != 1 {
		return "batch"
	}
	if m := b.Messages[0].Method; m != "" {
		return m
	}
	return "response"
}

// renderError writes err as a JSON-RPC error (MCP routes, and A2A requests
// whose body is JSON-RPC, echoing the request id) or as a small JSON body.
func renderError(w http.ResponseWriter, ex *policy.Exchange, kind policy.Kind, err *policy.Error) {
	h := w.Header()
	for k, vs := range err.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	var buf bytes.Buffer
	if kind == policy.KindMCP || (kind == policy.KindA2A && ex != nil && (ex.RPC != nil || a2aRPCUnread(ex))) {
		id := json.RawMessage("null")
		if ex != nil && ex.RPC != nil && !ex.RPC.Batch && len(ex.RPC.Messages) == 1 && len(ex.RPC.Messages[0].ID) > 0 {
			id = ex.RPC.Messages[0].ID
		}
		_ = json.NewEncoder(&buf).Encode(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   rpcError        `json:"error"`
		}{"2.0", id, rpcError{Code: err.RPCCode(), Message: err.Message, Data: rpcErrorData{Status: err.Status}}})
	} else {
		_ = json.NewEncoder(&buf).Encode(struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}{err.Message, err.Status})
	}
	w.WriteHeader(err.Status)
	_, _ = w.Write(buf.Bytes())
}

// a2aRPCUnread reports an A2A request refused before its body was read
// (by authentication; ProtoMethod is set once it is) that was sent where
// the JSON-RPC binding is served: a POST to an agent's base URL. Its error
// is a JSON-RPC error with id null, as for a body that could not be read.
func a2aRPCUnread(ex *policy.Exchange) bool {
	return ex.ProtoMethod == "" && ex.Method == http.MethodPost && ex.Target != "" && (ex.PathRest == "" || ex.PathRest == "/")
}

type rpcError struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Data    rpcErrorData `json:"data"`
}

type rpcErrorData struct {
	Status int `json:"httpStatus"`
}

// responseWriter records whether a response has started, so errors that
// come back after bytes went out are logged, not rendered.
type responseWriter struct {
	http.ResponseWriter
	wrote  bool
	status int
	bytes  int64
	// writeTimeout bounds each write to the client: a reader that stops
	// reading is cut after it, a stream that keeps moving never is.
	writeTimeout time.Duration
	rc           *http.ResponseController
	// writeErr is the first failed write to the client: a stream that
	// ends on it was ended by the client, not the backend.
	writeErr error
}

// extendWrite moves the write deadline writeTimeout ahead of now.
func (w *responseWriter) extendWrite() {
	if w.writeTimeout <= 0 {
		return
	}
	if w.rc == nil {
		w.rc = http.NewResponseController(w.ResponseWriter)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
}

// boundFinalFlush runs when the handler returns: net/http still flushes
// the buffered end of the response after that, which must be bounded too.
// The next request on the connection sets its own deadlines.
func (w *responseWriter) boundFinalFlush() { w.extendWrite() }

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		if code >= 200 || code == http.StatusSwitchingProtocols {
			w.wrote = true
		}
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
	}
	w.extendWrite()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

func (w *responseWriter) Flush() {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
	}
	w.extendWrite()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
