// Package federation serves a federated MCP route: the gateway terminates
// the client's MCP session and speaks MCP (Streamable HTTP) to several
// backends, merging what they list under prefixed names and routing each
// call to the backend its name belongs to (docs/federation.md).
//
// It speaks the wire protocol itself, reusing internal/mcp's parsing,
// rather than go-sdk client sessions: those live in one process's memory,
// while a federated session lives in its sealed id (Keys) and is served
// by any replica that holds the key.
package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Backend is one backend of a federated route.
type Backend struct {
	Name   string
	Prefix string
	// URL is the backend's MCP endpoint.
	URL string
	// Transport carries every request to the backend: the gateway's
	// per-backend transport with its circuit breaker, retries and
	// observation (internal/gateway).
	Transport http.RoundTripper
	// Timeout bounds one exchange with the backend (mcp.timeout); 0: none
	// beyond the route's.
	Timeout time.Duration
}

// Config is a provisioned federated route.
type Config struct {
	Route     string
	Backends  []Backend
	Separator string
	// FailOpen lists, initializes and fans out without a backend that
	// fails; otherwise the client gets an error naming it.
	FailOpen      bool
	SessionTTL    time.Duration
	FanOutTimeout time.Duration
	Keys          *Keys
	// ForwardAuthorization forwards the caller's Authorization header to
	// the backends (routes[].forwardAuthorization).
	ForwardAuthorization bool
	Log                  *slog.Logger
	// OnFailure reports a backend that failed its part of a fan-out
	// (metrics); nil reports nothing.
	OnFailure func(route, backend string)
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Handler is the last handler of a federated route's chain, in place of
// the passthrough proxy.
type Handler struct {
	cfg   Config
	names *Names
	log   *slog.Logger
	now   func() time.Time
}

// New returns the handler for cfg.
func New(cfg Config) *Handler {
	ps := make([]string, len(cfg.Backends))
	for i, b := range cfg.Backends {
		ps[i] = b.Prefix
	}
	h := &Handler{cfg: cfg, names: NewNames(cfg.Separator, ps), log: cfg.Log, now: cfg.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.cfg.Keys == nil {
		h.cfg.Keys = RandomKeys()
	}
	if h.cfg.SessionTTL <= 0 {
		h.cfg.SessionTTL = 24 * time.Hour
	}
	if h.cfg.FanOutTimeout <= 0 {
		h.cfg.FanOutTimeout = 10 * time.Second
	}
	return h
}

// maxMessageBytes bounds one JSON response or SSE event read from a
// backend.
const maxMessageBytes = 8 << 20

// JSON-RPC error codes the handler answers with.
const (
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
)

func rpcErr(status, code int, format string, args ...any) *policy.Error {
	return &policy.Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ResolveBackend names the backend a request's target (tool, prompt or
// resource) belongs to, for the exchange's backend label before the
// policies run; "" when it names none.
func (h *Handler) ResolveBackend(ex *policy.Exchange) string {
	if ex.RPC == nil || len(ex.RPC.Messages) != 1 {
		return ""
	}
	m := ex.RPC.Messages[0]
	name := m.Name
	if m.Method == "completion/complete" {
		name = completionTarget(m.Params)
	}
	if name == "" {
		return ""
	}
	if i, _, ok := h.names.Resolve(name); ok {
		return h.cfg.Backends[i].Name
	}
	return ""
}

// ServeHTTP serves one client request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if ex == nil {
		ex = &policy.Exchange{Method: r.Method}
	}
	switch r.Method {
	case http.MethodPost:
		return h.post(w, r, ex)
	case http.MethodGet:
		return h.get(w, r)
	case http.MethodDelete:
		return h.delete(w, r)
	}
	return &policy.Error{Status: http.StatusMethodNotAllowed, Message: "method not allowed", Header: http.Header{"Allow": {"GET, POST, DELETE"}}}
}

// principal is the hash of the caller a session binds.
func principal(ctx context.Context) [32]byte {
	if p, ok := identity.From(ctx); ok && p != nil {
		return PrincipalHash(p.Issuer, p.Subject)
	}
	return PrincipalHash("", "")
}

// session opens the request's session: 400 without one, 404 for one that
// does not open, has expired, or belongs to another identity (the same
// answer, so a replayed id tells its holder nothing).
func (h *Handler) session(r *http.Request) (*Session, error) {
	id := r.Header.Get(mcp.HeaderSessionID)
	if id == "" {
		return nil, rpcErr(http.StatusBadRequest, codeInvalidRequest, "Mcp-Session-Id header is required")
	}
	s, err := h.cfg.Keys.Open(h.cfg.Route, id, h.now())
	if err == nil && len(s.Backends) != len(h.cfg.Backends) {
		// Sealed before the route's backends changed: the client must
		// initialize again.
		err = ErrSession
	}
	if err == nil {
		p := principal(r.Context())
		if p != s.Principal {
			err = ErrSession
		}
	}
	if err != nil {
		return nil, rpcErr(http.StatusNotFound, codeInvalidRequest, "session not found")
	}
	return s, nil
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request, ex *policy.Exchange) error {
	if ex.RPC == nil || len(ex.RPC.Messages) == 0 {
		return rpcErr(http.StatusBadRequest, codeInvalidRequest, "a JSON-RPC message is required")
	}
	if ex.RPC.Batch || len(ex.RPC.Messages) != 1 {
		return rpcErr(http.StatusBadRequest, codeInvalidRequest, "batches are not supported on a federated route")
	}
	m := ex.RPC.Messages[0]
	if m.Kind == mcp.KindRequest && m.Method == "initialize" {
		return h.initialize(w, r, ex, m)
	}
	if r.Header.Get(mcp.HeaderSessionID) == "" {
		switch {
		case m.Kind == mcp.KindRequest && sessionless(m):
			return h.stateless(w, r, ex, m)
		case m.Kind == mcp.KindNotification && r.Header.Get(mcp.HeaderProtocolVersion) >= modernVersion:
			// notifications/cancelled of a sessionless request: its
			// bridge sessions end with the request itself.
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	}
	s, err := h.session(r)
	if err != nil {
		return err
	}
	switch m.Kind {
	case mcp.KindNotification:
		return h.notify(w, r, s, m)
	case mcp.KindResponse:
		return h.answer(w, r, s, m)
	}
	switch m.Method {
	case "ping":
		return h.writeResult(w, r, ex, m.ID, json.RawMessage(`{}`))
	case "logging/setLevel":
		if err := h.fanOutSimple(r, s, m); err != nil {
			return err
		}
		return h.writeResult(w, r, ex, m.ID, json.RawMessage(`{}`))
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return h.list(w, r, ex, s, m)
	case "tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete":
		return h.route(w, r, ex, s, m)
	}
	return rpcErr(http.StatusOK, codeMethodNotFound, "method %q is not served by a federated route", m.Method)
}

// writeResult answers a request with result, through the exchange's
// response hooks (mcp-authz's list filter among them).
func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, id, result json.RawMessage) error {
	if isModern(r) {
		result = withResultType(result)
	}
	return h.writeJSON(w, r, ex, http.Header{}, responseBytes(id, result))
}

func responseBytes(id, result json.RawMessage) []byte {
	b := make([]byte, 0, len(id)+len(result)+40)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

// writeJSON answers with one JSON-RPC message: as one SSE event when the
// client accepts a stream, as go-sdk servers answer by default (the
// conformance suite checks for it), otherwise as JSON.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, hdr http.Header, body []byte) error {
	if strings.Contains(strings.ToLower(r.Header.Get("Accept")), "text/event-stream") {
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		var buf bytes.Buffer
		if err := mcp.WriteEvent(&buf, &mcp.Event{Event: "message", Data: string(body), HasData: true}); err != nil {
			return err
		}
		return h.respond(w, ex, &http.Response{StatusCode: http.StatusOK, Header: hdr, Body: io.NopCloser(&buf), ContentLength: -1})
	}
	hdr.Set("Content-Type", "application/json")
	res := &http.Response{StatusCode: http.StatusOK, Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
	return h.respond(w, ex, res)
}

// respond runs the exchange's response hooks on res and streams it to the
// client, flushing after every read so SSE events go out one by one.
func (h *Handler) respond(w http.ResponseWriter, ex *policy.Exchange, res *http.Response) error {
	defer res.Body.Close()
	for _, hook := range ex.ResponseHooks {
		if err := hook(res); err != nil {
			return err
		}
	}
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	if res.ContentLength >= 0 && !isEventStream(res.Header.Get("Content-Type")) {
		w.Header().Del("Content-Length")
	}
	w.WriteHeader(res.StatusCode)
	fl := http.NewResponseController(w)
	buf := make([]byte, 8<<10)
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			_ = fl.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				h.log.Info("federated response ended early", "route", h.cfg.Route, "err", err)
			}
			return nil
		}
	}
}

func isEventStream(ct string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream")
}

// initialize opens a session with every backend at once (eager), so the
// merged capabilities are known and a backend that is down is found now
// rather than on some later call.
func (h *Handler) initialize(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, m *mcp.Message) error {
	if r.Header.Get(mcp.HeaderSessionID) != "" {
		return rpcErr(http.StatusBadRequest, codeInvalidRequest, "initialize must not carry an Mcp-Session-Id")
	}
	sess, results, err := h.openBackends(r, m.Raw, m.ID, nil)
	if err != nil {
		return err
	}
	sess.Principal, sess.Expiry = principal(r.Context()), h.now().Add(h.cfg.SessionTTL)
	caps, instr := h.mergeInit(results, sess)
	id, err := h.cfg.Keys.Seal(h.cfg.Route, sess)
	if err != nil {
		return &policy.Error{Status: http.StatusInternalServerError, Code: codeInternal, Message: "could not seal session", Cause: err}
	}
	result, _ := json.Marshal(map[string]any{
		"protocolVersion": sess.Version,
		"capabilities":    caps,
		"serverInfo":      h.serverInfo(),
		"instructions":    instr,
	})
	return h.writeJSON(w, r, ex, http.Header{mcp.HeaderSessionID: {id}}, responseBytes(m.ID, result))
}

func (h *Handler) serverInfo() map[string]string {
	return map[string]string{"name": "agentgateway/" + h.cfg.Route, "version": "1"}
}

type initResult struct {
	ProtocolVersion string                     `json:"protocolVersion"`
	Capabilities    map[string]json.RawMessage `json:"capabilities"`
	ServerInfo      json.RawMessage            `json:"serverInfo"`
	Instructions    string                     `json:"instructions"`
}

// openBackends sends the initialize request raw (id id) to the backends
// (only those in only, when set) and returns the session they opened, each
// backend's result, and the failure-mode error. Backends outside only are
// marked down.
func (h *Handler) openBackends(r *http.Request, raw []byte, id json.RawMessage, only []bool) (*Session, []initResult, error) {
	n := len(h.cfg.Backends)
	results := make([]initResult, n)
	sess := &Session{Backends: make([]BackendSession, n)}
	for i := range sess.Backends {
		if only != nil && !only[i] {
			sess.Backends[i].Down = true
		}
	}
	errs := h.fanOut(r.Context(), sess, false, func(ctx context.Context, i int, _ *BackendSession) error {
		res, err := h.send(ctx, r, i, http.MethodPost, nil, raw)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, err := h.readResponse(res, id)
		if err != nil {
			return err
		}
		var out struct {
			Result *initResult      `json:"result"`
			Error  *json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(msg, &out); err != nil || out.Result == nil {
			if out.Error != nil {
				return fmt.Errorf("initialize refused: %s", *out.Error)
			}
			return errors.New("invalid initialize result")
		}
		results[i] = *out.Result
		sess.Backends[i] = BackendSession{ID: res.Header.Get(mcp.HeaderSessionID), Version: out.Result.ProtocolVersion}
		return nil
	})
	if err := h.fanOutError(errs, sess); err != nil {
		h.closeBackends(r, sess)
		return nil, nil, err
	}
	return sess, results, nil
}

// mergeInit merges the backends' capabilities and instructions and sets
// the session's version: the oldest a backend negotiated, so every
// message relayed fits what the client agreed to.
func (h *Handler) mergeInit(results []initResult, sess *Session) (map[string]map[string]json.RawMessage, string) {
	caps := map[string]map[string]json.RawMessage{}
	var instr []string
	for i := range results {
		if sess.Backends[i].Down {
			continue
		}
		v := results[i].ProtocolVersion
		if sess.Version == "" || v < sess.Version {
			sess.Version = v
		}
		for k, c := range results[i].Capabilities {
			switch k {
			case "tools", "prompts", "resources", "logging", "completions":
			default:
				// experimental and unknown capabilities cannot be merged.
				continue
			}
			merged := caps[k]
			if merged == nil {
				merged = map[string]json.RawMessage{}
				caps[k] = merged
			}
			var sub map[string]json.RawMessage
			_ = json.Unmarshal(c, &sub)
			for sk, sv := range sub {
				if string(sv) == "true" || merged[sk] == nil {
					merged[sk] = sv
				}
			}
		}
		if s := strings.TrimSpace(results[i].Instructions); s != "" {
			label := h.cfg.Backends[i].Prefix
			if label == "" {
				label = h.cfg.Backends[i].Name
			}
			instr = append(instr, "["+label+"] "+s)
		}
	}
	return caps, strings.Join(instr, "\n\n")
}

// fanOut runs fn for every backend of the session that is not down, in
// parallel, each bounded by the fan-out timeout, and returns one error
// slot per backend.
func (h *Handler) fanOut(ctx context.Context, s *Session, all bool, fn func(ctx context.Context, i int, bs *BackendSession) error) []error {
	errs := make([]error, len(h.cfg.Backends))
	var wg sync.WaitGroup
	for i := range h.cfg.Backends {
		if !all && s.Backends[i].Down {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := h.cfg.FanOutTimeout
			if t := h.cfg.Backends[i].Timeout; t > 0 && t < d {
				d = t
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			errs[i] = fn(ctx, i, &s.Backends[i])
		}()
	}
	wg.Wait()
	return errs
}

// fanOutError applies the failure mode to a fan-out's errors: failClosed
// returns the first failure; failOpen marks failed backends down (when
// s is being built) and fails only when every backend failed. Every
// failure is logged and counted.
func (h *Handler) fanOutError(errs []error, s *Session) error {
	var first error
	failed, live := 0, 0
	for i, err := range errs {
		if s != nil && s.Backends[i].Down {
			continue
		}
		live++
		if err == nil {
			continue
		}
		failed++
		name := h.cfg.Backends[i].Name
		h.log.Warn("federation backend unavailable", "route", h.cfg.Route, "backend", name, "err", err)
		if h.cfg.OnFailure != nil {
			h.cfg.OnFailure(h.cfg.Route, name)
		}
		if first == nil {
			first = backendError(name, err)
		}
		if h.cfg.FailOpen && s != nil {
			s.Backends[i] = BackendSession{Down: true}
		}
	}
	if first == nil || (h.cfg.FailOpen && failed < live) {
		return nil
	}
	return first
}

func backendError(name string, err error) *policy.Error {
	var pe *policy.Error
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return rpcErr(http.StatusNotFound, codeInvalidRequest, "session not found (backend %q ended it)", name)
	}
	// The gateway is the client's MCP server: a backend's failure is a
	// JSON-RPC error in an HTTP 200, which SDK clients show with its
	// message (an HTTP 502 reaches their callers as "Bad Gateway" alone).
	msg := fmt.Sprintf("backend %q unavailable", name)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, policy.ErrRequestTimeout) {
		msg += " (timed out)"
	}
	return &policy.Error{Status: http.StatusOK, Code: codeInternal, Message: msg, Cause: err}
}

// closeBackends ends the backend sessions of a session that will not be
// handed out, bounded by the fan-out timeout even if the client left.
func (h *Handler) closeBackends(r *http.Request, s *Session) {
	ctx := context.WithoutCancel(r.Context())
	h.fanOut(ctx, s, false, func(ctx context.Context, i int, bs *BackendSession) error {
		if bs.ID == "" {
			return nil
		}
		res, err := h.send(ctx, r, i, http.MethodDelete, bs, nil)
		if err == nil {
			res.Body.Close()
		}
		return nil
	})
}

// send makes one request to backend i within bs (nil before initialize).
func (h *Handler) send(ctx context.Context, r *http.Request, i int, method string, bs *BackendSession, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.cfg.Backends[i].URL, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	h.copyHeaders(req.Header, r.Header)
	setForwarded(req.Header, r)
	switch method {
	case http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	case http.MethodGet:
		req.Header.Set("Accept", "text/event-stream")
	}
	if bs != nil {
		if bs.ID != "" {
			req.Header.Set(mcp.HeaderSessionID, bs.ID)
		}
		if bs.Version != "" {
			req.Header.Set(mcp.HeaderProtocolVersion, bs.Version)
		}
	}
	res, err := h.cfg.Backends[i].Transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if bs != nil && bs.ID != "" && res.StatusCode == http.StatusNotFound {
		res.Body.Close()
		return nil, rpcErr(http.StatusNotFound, codeInvalidRequest, "session not found")
	}
	if res.StatusCode/100 != 2 {
		res.Body.Close()
		return nil, &httpStatusError{res.StatusCode}
	}
	return res, nil
}

type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("backend answered HTTP %d", e.status) }

// dropHeaders are the request headers a backend never gets from the
// client: the client's session and version name the federated session,
// the method headers would disagree with rewritten bodies, and the rest
// are hop-by-hop or set per backend.
var dropHeaders = map[string]bool{
	"Mcp-Session-Id": true, "Mcp-Protocol-Version": true, "Mcp-Method": true, "Mcp-Name": true,
	"Last-Event-Id": true, "Content-Length": true, "Content-Type": true, "Accept": true, "Accept-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Cookie": true, "Host": true,
}

// setForwarded sets the forwarding headers as the passthrough proxy does
// (httputil.ProxyRequest.SetXForwarded): the client's address appended to
// X-Forwarded-For, the Host and scheme this hop saw.
func setForwarded(h http.Header, r *http.Request) {
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	} else {
		h.Del("X-Forwarded-For")
	}
	h.Set("X-Forwarded-Host", r.Host)
	if r.TLS != nil {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
}

func (h *Handler) copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		// Mcp-Param-* (2026-07-28) mirror body values the gateway may
		// rewrite; a backend would refuse a mismatch.
		if dropHeaders[k] || strings.HasPrefix(k, "Mcp-Param-") || (k == "Authorization" && !h.cfg.ForwardAuthorization) {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// readResponse reads the response to request id from a backend's answer,
// JSON or SSE; other messages on an SSE answer are dropped (fan-outs
// relay no back-flow).
func (h *Handler) readResponse(res *http.Response, id json.RawMessage) (json.RawMessage, error) {
	if !isEventStream(res.Header.Get("Content-Type")) {
		b, err := io.ReadAll(io.LimitReader(res.Body, maxMessageBytes+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxMessageBytes {
			return nil, errors.New("response too large")
		}
		return b, nil
	}
	for ev, err := range mcp.ParseEvents(res.Body, maxMessageBytes) {
		if err != nil {
			return nil, err
		}
		if !ev.HasData || (ev.Event != "" && ev.Event != "message") {
			continue
		}
		body, err := mcp.ParseBody([]byte(ev.Data))
		if err != nil || len(body.Messages) != 1 {
			continue
		}
		if msg := body.Messages[0]; msg.Kind == mcp.KindResponse && bytes.Equal(msg.ID, id) {
			return msg.Raw, nil
		}
	}
	return nil, errors.New("stream ended without a response")
}

// fanOutSimple sends m to every live backend and waits for its response.
func (h *Handler) fanOutSimple(r *http.Request, s *Session, m *mcp.Message) error {
	errs := h.fanOut(r.Context(), s, false, func(ctx context.Context, i int, bs *BackendSession) error {
		res, err := h.send(ctx, r, i, http.MethodPost, bs, m.Raw)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, err := h.readResponse(res, m.ID)
		if err != nil {
			return err
		}
		if e := rpcError(msg); e != "" {
			return errors.New(e)
		}
		return nil
	})
	return h.fanOutError(errs, s)
}

// rpcError returns the error member of a response, "" when it has none.
func rpcError(msg []byte) string {
	var out struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(msg, &out) != nil {
		return "invalid response"
	}
	if len(out.Error) == 0 || string(out.Error) == "null" {
		return ""
	}
	return string(out.Error)
}

// notify relays a client notification. notifications/cancelled for a
// request the gateway relayed from a backend goes to that backend;
// everything else (initialized, cancelled for the client's own requests,
// roots/list_changed) goes to every live backend.
func (h *Handler) notify(w http.ResponseWriter, r *http.Request, s *Session, m *mcp.Message) error {
	target := -1
	raw := []byte(m.Raw)
	if m.Method == "notifications/cancelled" {
		var p map[string]json.RawMessage
		if json.Unmarshal(m.Params, &p) == nil {
			if i, orig, ok := decodeServerID(p["requestId"], len(h.cfg.Backends)); ok {
				p["requestId"] = orig
				target = i
				raw = rebuild(m, p, nil)
			}
		}
	}
	errs := h.fanOut(r.Context(), s, false, func(ctx context.Context, i int, bs *BackendSession) error {
		if target >= 0 && i != target {
			return nil
		}
		res, err := h.send(ctx, r, i, http.MethodPost, bs, raw)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return res.Body.Close()
	})
	for i, err := range errs {
		if err != nil {
			h.log.Info("federated notification not delivered", "route", h.cfg.Route, "backend", h.cfg.Backends[i].Name, "method", m.Method, "err", err)
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// answer relays the client's response to a server-to-client request to
// the backend that asked, with the id it used.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, s *Session, m *mcp.Message) error {
	i, orig, ok := decodeServerID(m.ID, len(h.cfg.Backends))
	if !ok {
		return rpcErr(http.StatusBadRequest, codeInvalidRequest, "response to a request this gateway did not relay")
	}
	if s.Backends[i].Down {
		return backendError(h.cfg.Backends[i].Name, errors.New("backend is down in this session"))
	}
	var full map[string]json.RawMessage
	if err := json.Unmarshal(m.Raw, &full); err != nil {
		return rpcErr(http.StatusBadRequest, codeInvalidRequest, "invalid response")
	}
	full["id"] = orig
	raw, _ := json.Marshal(full)
	ctx, cancel := h.callContext(r.Context(), i)
	defer cancel()
	res, err := h.send(ctx, r, i, http.MethodPost, &s.Backends[i], raw)
	if err != nil {
		return backendError(h.cfg.Backends[i].Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) callContext(ctx context.Context, i int) (context.Context, context.CancelFunc) {
	if t := h.cfg.Backends[i].Timeout; t > 0 {
		return context.WithTimeoutCause(ctx, t, policy.ErrRequestTimeout)
	}
	return context.WithCancel(ctx)
}

// rebuild returns m with params replaced (and id, when id is set).
func rebuild(m *mcp.Message, params map[string]json.RawMessage, id json.RawMessage) []byte {
	var full map[string]json.RawMessage
	_ = json.Unmarshal(m.Raw, &full)
	if params != nil {
		full["params"], _ = json.Marshal(params)
	}
	if id != nil {
		full["id"] = id
	}
	b, _ := json.Marshal(full)
	return b
}

// completionTarget is the prompt name or resource URI a completion/complete
// request completes for.
func completionTarget(params json.RawMessage) string {
	var p struct {
		Ref struct {
			Type string `json:"type"`
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"ref"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	if p.Ref.Type == "ref/resource" {
		return p.Ref.URI
	}
	return p.Ref.Name
}

// route sends a request naming one tool, prompt or resource to the backend
// its name belongs to, with the backend's own name, and relays the answer
// and everything the backend sends with it.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, s *Session, m *mcp.Message) error {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(m.Params, &params); err != nil || params == nil {
		return rpcErr(http.StatusOK, codeInvalidParams, "params must be an object")
	}
	var name string
	key := "name"
	switch m.Method {
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		key = "uri"
	case "completion/complete":
		key = ""
		name = completionTarget(m.Params)
	}
	if key != "" {
		_ = json.Unmarshal(params[key], &name)
	}
	i, inner, ok := h.names.Resolve(name)
	if name == "" || !ok {
		return rpcErr(http.StatusOK, codeInvalidParams, "unknown name %q: no backend of this route has its prefix", name)
	}
	be := h.cfg.Backends[i]
	ex.Backend = be.Name
	if s.Backends[i].Down {
		return backendError(be.Name, errors.New("backend failed at initialize; initialize again"))
	}
	innerJSON, _ := json.Marshal(inner)
	if key != "" {
		params[key] = innerJSON
	} else {
		var ref map[string]json.RawMessage
		_ = json.Unmarshal(params["ref"], &ref)
		if _, isURI := ref["uri"]; isURI && completionRefType(ref) == "ref/resource" {
			ref["uri"] = innerJSON
		} else {
			ref["name"] = innerJSON
		}
		params["ref"], _ = json.Marshal(ref)
	}
	raw := rebuild(m, params, nil)
	ctx, cancel := h.callContext(r.Context(), i)
	defer cancel()
	res, err := h.send(ctx, r, i, http.MethodPost, &s.Backends[i], raw)
	if err != nil {
		return backendError(be.Name, err)
	}
	return h.relay(w, r, ex, i, m.Method, res)
}

func completionRefType(ref map[string]json.RawMessage) string {
	var t string
	_ = json.Unmarshal(ref["type"], &t)
	return t
}

// relay streams backend i's answer to the client with every message
// mapped (mapBack).
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, i int, method string, res *http.Response) error {
	hdr := http.Header{}
	modern := isModern(r)
	if isEventStream(res.Header.Get("Content-Type")) {
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		body := mcp.RewriteEvents(res.Body, maxMessageBytes, func(ev *mcp.Event) bool {
			// Event ids are the backend's; a merged stream cannot resume
			// by them.
			ev.ID, ev.HasID = "", false
			if ev.HasData {
				b, ok := h.mapBack(i, method, []byte(ev.Data))
				if ok && modern {
					b = withResultTypeMsg(b)
				}
				ev.Data, ev.Drop = string(b), !ok
			}
			return true
		})
		return h.respond(w, ex, &http.Response{StatusCode: http.StatusOK, Header: hdr, Body: body, ContentLength: -1})
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxMessageBytes+1))
	res.Body.Close()
	if err != nil || len(b) > maxMessageBytes {
		return backendError(h.cfg.Backends[i].Name, errors.New("unreadable response"))
	}
	if res.StatusCode == http.StatusAccepted || len(bytes.TrimSpace(b)) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	mapped, ok := h.mapBack(i, method, b)
	if !ok {
		return backendError(h.cfg.Backends[i].Name, errors.New("unreadable response"))
	}
	if modern {
		mapped = withResultTypeMsg(mapped)
	}
	return h.writeJSON(w, r, ex, hdr, mapped)
}

// list fans a list request out, merges the pages under prefixed names and
// answers one page with a gateway cursor holding the backends' cursors.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, s *Session, m *mcp.Message) error {
	var params map[string]json.RawMessage
	if len(m.Params) > 0 {
		if err := json.Unmarshal(m.Params, &params); err != nil {
			return rpcErr(http.StatusOK, codeInvalidParams, "params must be an object")
		}
	}
	n := len(h.cfg.Backends)
	cursors := make([]*string, n) // nil: not asked this page
	if c, ok := params["cursor"]; ok && string(c) != "null" {
		var cs string
		if json.Unmarshal(c, &cs) != nil {
			return rpcErr(http.StatusOK, codeInvalidParams, "invalid cursor")
		}
		es, err := decodeCursor(cs, n)
		if err != nil {
			return rpcErr(http.StatusOK, codeInvalidParams, "invalid cursor")
		}
		for _, e := range es {
			cursors[e.I] = &e.C
		}
	} else {
		for i := range cursors {
			empty := ""
			cursors[i] = &empty
		}
	}
	key, field := listKeys(m.Method)
	type page struct {
		items []json.RawMessage
		next  string
	}
	pages := make([]page, n)
	asked := &Session{Backends: make([]BackendSession, n)}
	for i := range asked.Backends {
		asked.Backends[i] = s.Backends[i]
		if cursors[i] == nil {
			asked.Backends[i].Down = true
		}
	}
	errs := h.fanOut(r.Context(), asked, false, func(ctx context.Context, i int, bs *BackendSession) error {
		p := map[string]json.RawMessage{}
		for k, v := range params {
			p[k] = v
		}
		delete(p, "cursor")
		if *cursors[i] != "" {
			p["cursor"], _ = json.Marshal(*cursors[i])
		}
		res, err := h.send(ctx, r, i, http.MethodPost, bs, rebuild(m, p, nil))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, err := h.readResponse(res, m.ID)
		if err != nil {
			return err
		}
		var out struct {
			Result map[string]json.RawMessage `json:"result"`
			Error  json.RawMessage            `json:"error"`
		}
		if err := json.Unmarshal(msg, &out); err != nil || out.Result == nil {
			if len(out.Error) > 0 {
				return fmt.Errorf("list refused: %s", out.Error)
			}
			return errors.New("invalid list result")
		}
		if err := json.Unmarshal(out.Result[key], &pages[i].items); err != nil {
			return errors.New("invalid list result")
		}
		if nc, ok := out.Result["nextCursor"]; ok {
			_ = json.Unmarshal(nc, &pages[i].next)
		}
		return nil
	})
	if err := h.fanOutError(errs, asked); err != nil {
		return err
	}
	merged := make([]json.RawMessage, 0, 16)
	var next []cursorEntry
	for i := range pages {
		if errs[i] != nil {
			continue
		}
		for _, it := range pages[i].items {
			mapped, name, ok := h.mapItem(i, it, field)
			if !ok {
				h.log.Warn("federated name dropped: another backend's prefix claims it", "route", h.cfg.Route, "backend", h.cfg.Backends[i].Name, "name", name)
				continue
			}
			merged = append(merged, mapped)
		}
		if pages[i].next != "" {
			next = append(next, cursorEntry{i, pages[i].next})
		}
	}
	result := map[string]any{key: merged}
	if c := encodeCursor(next); c != "" {
		result["nextCursor"] = c
	}
	b, _ := json.Marshal(result)
	return h.writeResult(w, r, ex, m.ID, b)
}

// listKeys returns a list method's result array and the member of each
// item that carries its name.
func listKeys(method string) (key, field string) {
	switch method {
	case "tools/list":
		return "tools", "name"
	case "prompts/list":
		return "prompts", "name"
	case "resources/list":
		return "resources", "uri"
	}
	return "resourceTemplates", "uriTemplate"
}

// mapItem prefixes an item's name field; ok is false when the mapped name
// would route to another backend (a run-time collision).
func (h *Handler) mapItem(i int, item json.RawMessage, field string) (json.RawMessage, string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(item, &obj) != nil {
		return nil, "", false
	}
	var name string
	_ = json.Unmarshal(obj[field], &name)
	if !h.names.Owns(i, name) {
		return nil, name, false
	}
	obj[field], _ = json.Marshal(h.names.Map(i, name))
	b, _ := json.Marshal(obj)
	return b, name, true
}
