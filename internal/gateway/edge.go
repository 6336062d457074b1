package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
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
	obs := h.g.deps.observer
	ctx := obs.Begin(r)
	if ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	rt := h.g.acquire()
	if rt == nil {
		err := policy.Errorf(http.StatusServiceUnavailable, "gateway is not ready")
		renderError(w, nil, policy.KindHTTP, err)
		obs.End(ctx, r, &policy.Exchange{Start: start, Method: r.Method}, Result{Status: err.Status, Duration: time.Since(start), Err: err})
		return
	}
	defer rt.release()
	srv := rt.cfg.Server
	lim := h.g.deps.lim
	n := lim.inflight.Add(1)
	defer lim.inflight.Add(-1)
	overloaded := srv.MaxRequests > 0 && n > int64(srv.MaxRequests)

	rw := &responseWriter{ResponseWriter: w, writeTimeout: srv.WriteTimeout.D()}
	defer rw.boundFinalFlush()
	ex := &policy.Exchange{Start: start, Method: r.Method}
	defer func() {
		// The proxy aborts the client connection with http.ErrAbortHandler
		// when copying a stream fails, whichever side failed; record it
		// before net/http handles the panic. A client that went away (its
		// context is done, or a write to it failed) is not the backend's
		// fault and is recorded as nginx's 499.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				if rw.writeErr != nil || r.Context().Err() != nil {
					h.g.log.Info("stream ended: client went away", "route", ex.Route, "method", r.Method, "path", requestPath(r))
					obs.End(ctx, r, ex, Result{Status: statusClientClosed, Bytes: rw.bytes, Duration: time.Since(start),
						Err: &policy.Error{Status: statusClientClosed, Message: "client closed request"}})
				} else {
					h.g.log.Warn("stream aborted: backend broke the response", "route", ex.Route, "method", r.Method, "path", requestPath(r))
					obs.End(ctx, r, ex, Result{Status: statusAborted, Bytes: rw.bytes, Duration: time.Since(start), Err: errAborted})
				}
			}
			panic(p)
		}
	}()
	err := h.serve(rw, r, rt, ex, overloaded)
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
		attrs := []any{"route", ex.Route, "method", r.Method, "path", requestPath(r), "status", pe.Status, "msg_client", pe.Message}
		if pe.Cause != nil {
			attrs = append(attrs, "err", pe.Cause.Error())
		}
		if ex.RPC != nil && len(ex.RPC.Messages) == 1 {
			attrs = append(attrs, "rpc_method", ex.RPC.Messages[0].Method)
		}
		h.g.log.Log(r.Context(), lvl, "request failed", attrs...)
	}
	status := rw.status
	if err != nil && !rw.wrote {
		status = policy.AsError(err).Status
	}
	if ex.StreamEnd != nil {
		h.g.log.Info("stream ended by gateway", "route", ex.Route, "method", r.Method, "path", requestPath(r), "reason", ex.StreamEnd.Error())
	}
	obs.End(ctx, r, ex, Result{Status: status, Bytes: rw.bytes, Duration: time.Since(start), Err: err})
}

var errAborted = errors.New("stream aborted by backend")

// statusAborted is recorded for responses cut because the backend broke
// them after headers were sent.
const statusAborted = 0

func (h *portHandler) serve(w *responseWriter, r *http.Request, rt *runtime, ex *policy.Exchange, overloaded bool) error {
	pr := rt.ports[h.port]
	if pr == nil {
		return policy.Errorf(http.StatusNotFound, "no route")
	}
	path := requestPath(r)
	if msg := checkPath(path); msg != "" {
		return policy.Errorf(http.StatusBadRequest, "%s", msg)
	}
	if wk, ok := pr.wellKnown[path]; ok {
		// A document a route's policy publishes (RFC 9728 metadata): public,
		// served without the route's chain.
		ex.Route = wk.route
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
		ex.Target, ex.PathRest = splitTarget(rest)
	}
	// net/http bounds the header bytes (maxHeaderBytes) but not the count
	// of field lines; refuse before the body is read.
	if n, limit := headerCount(r.Header), rt.cfg.Server.MaxHeaderCount; limit > 0 && n > limit {
		return policy.Errorf(http.StatusRequestHeaderFieldsTooLarge, "more than %d request header fields", limit)
	}
	stripClientHeaders(r.Header, rte.stripHeaders)
	stripMethodOverride(r.Header)

	if err := readBody(w, r, rte, ex, rt.cfg.Server.BodyReadTimeout.D()); err != nil {
		return err
	}
	if rte.kind == policy.KindMCP && (r.Method == http.MethodGet || r.Method == http.MethodDelete) && len(ex.Body) > 0 {
		// MCP GET and DELETE carry no body, so no policy reads one; a
		// backend that did would act on a message nobody authorized.
		return policy.Errorf(http.StatusBadRequest, "a request body is not allowed on an MCP %s", r.Method)
	}
	// Parse before the transport checks so that their errors can echo the
	// request id; report a parse error only after them.
	var parseErr error
	if ex.Body != nil && rte.kind == policy.KindA2A && r.Method == http.MethodPost {
		// A2A bodies that are not JSON-RPC (the HTTP+JSON binding, or the
		// seed's {"task": ...}) pass through unchanged; only the method
		// label depends on the parse.
		if body, err := mcp.ParseBody(ex.Body); err == nil {
			ex.RPC = body
		}
	}
	if rte.kind == policy.KindA2A {
		ex.ProtoMethod = a2a.Method(r.Method, ex.PathRest, ex.RPC)
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
				parseErr = &policy.Error{Status: http.StatusBadRequest, Code: policy.CodeParseError, Message: "parse error"}
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
		defer lim.releaseStream()
	}
	h.g.deps.observer.Prepare(ex)
	ctx := policy.WithExchange(r.Context(), ex)
	return rte.handler.ServeHTTP(w, r.WithContext(ctx))
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
// policy runs, so a policy that injects them is the only source. Headers
// named in Connection are hop-by-hop and would be dropped by the proxy
// after injection; they are removed here instead, so a client cannot use
// "Connection: x-agent-identity" to strip the gateway's own value.
func stripClientHeaders(h http.Header, owned []string) {
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
	for _, o := range [...]string{"x-http-method-override", "x-http-method", "x-method-override"} {
		if len(name) != len(o) {
			continue
		}
		match := true
		for i := 0; i < len(o); i++ {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == '_' {
				c = '-'
			}
			if c != o[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// readBody buffers the request body up to the route's limit. Bodies are
// buffered (never streamed upstream) because MCP and A2A bodies are small
// JSON-RPC messages that policies must read and retries must replay.
func readBody(w http.ResponseWriter, r *http.Request, rte *route, ex *policy.Exchange, timeout time.Duration) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if timeout <= 0 {
		return readBodyBounded(w, r, rte, ex)
	}
	// A client trickling its body (one byte a second) would otherwise hold
	// a request slot for as long as it likes. The deadline is lifted only
	// after a complete read: after a failure it stays, so net/http gives up
	// on the rest of the body and closes the connection.
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return readBodyBounded(w, r, rte, ex)
	}
	err := readBodyBounded(w, r, rte, ex)
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return err
}

func readBodyBounded(w http.ResponseWriter, r *http.Request, rte *route, ex *policy.Exchange) error {
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
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, rte.maxBody))
	b := buf.Bytes()
	if err != nil {
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
	if kind == policy.KindMCP || (kind == policy.KindA2A && ex != nil && ex.RPC != nil) {
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
