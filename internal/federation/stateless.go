package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// The 2026-07-28 revision (SEP-2575) has no sessions: every request
// carries its protocol version, client info and capabilities in _meta,
// server/discover replaces initialize, and subscriptions/listen replaces
// the GET stream. Backends that keep sessions (go-sdk's default) refuse
// it, so the gateway bridges: each sessionless request opens a short
// legacy session with the backends it needs, is relayed within it without
// the revision's _meta keys, and the sessions are ended when the answer
// is complete (docs/federation.md#sessionless-clients).
const (
	modernVersion       = "2026-07-28"
	bridgeVersion       = "2025-11-25"
	metaPrefix          = "io.modelcontextprotocol/"
	metaProtocolVersion = metaPrefix + "protocolVersion"
	metaServerInfo      = metaPrefix + "serverInfo"
	metaClientInfo      = metaPrefix + "clientInfo"
	metaSubscriptionID  = metaPrefix + "subscriptionId"
)

// modernKey marks a request served sessionless: its results carry
// resultType "complete".
type modernKey struct{}

func isModern(r *http.Request) bool { return r.Context().Value(modernKey{}) != nil }

// sessionless reports whether m is a request of the sessionless revision:
// server/discover, or a request whose _meta names 2026-07-28 or later.
func sessionless(m *mcp.Message) bool {
	if m.Method == "server/discover" {
		return true
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if len(m.Params) == 0 || json.Unmarshal(m.Params, &p) != nil {
		return false
	}
	var v string
	_ = json.Unmarshal(p.Meta[metaProtocolVersion], &v)
	return v >= modernVersion
}

// stripMeta returns m without the revision's _meta keys, which a
// backend holding a legacy session refuses, and the client info they
// carried.
func stripMeta(m *mcp.Message) (*mcp.Message, json.RawMessage, error) {
	var params map[string]json.RawMessage
	if len(m.Params) > 0 {
		if err := json.Unmarshal(m.Params, &params); err != nil {
			return nil, nil, err
		}
	}
	var clientInfo json.RawMessage
	if meta, ok := params["_meta"]; ok {
		var mm map[string]json.RawMessage
		if json.Unmarshal(meta, &mm) == nil {
			clientInfo = mm[metaClientInfo]
			for k := range mm {
				if strings.HasPrefix(k, metaPrefix) {
					delete(mm, k)
				}
			}
			if len(mm) == 0 {
				delete(params, "_meta")
			} else {
				params["_meta"], _ = json.Marshal(mm)
			}
		}
	}
	raw := rebuild(m, params, nil)
	if params == nil {
		raw = rebuild(m, map[string]json.RawMessage{}, nil)
	}
	b, err := mcp.ParseBody(raw)
	if err != nil {
		return nil, nil, err
	}
	return b.Messages[0], clientInfo, nil
}

// codeUnsupportedVersion is the revision's unsupported-protocol-version
// error.
const codeUnsupportedVersion = -32022

// wantsServerRequests reports whether a server/discover's client
// capabilities include sampling or elicitation.
func wantsServerRequests(params json.RawMessage) bool {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	var caps map[string]json.RawMessage
	if json.Unmarshal(p.Meta[metaPrefix+"clientCapabilities"], &caps) != nil {
		return false
	}
	_, sampling := caps["sampling"]
	_, elicitation := caps["elicitation"]
	return sampling || elicitation
}

// withResultType adds resultType "complete" to a result object.
func withResultType(result json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(result)
	if len(t) < 2 || t[0] != '{' {
		return result
	}
	inner := bytes.TrimSpace(t[1 : len(t)-1])
	out := []byte(`{"resultType":"complete"`)
	if len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}')
}

// withResultTypeMsg adds resultType to a response message's result.
func withResultTypeMsg(msg []byte) []byte {
	var full map[string]json.RawMessage
	if json.Unmarshal(msg, &full) != nil || full["result"] == nil {
		return msg
	}
	full["result"] = withResultType(full["result"])
	b, _ := json.Marshal(full)
	return b
}

// stateless serves one request of the sessionless revision.
func (h *Handler) stateless(w http.ResponseWriter, r *http.Request, ex *policy.Exchange, m *mcp.Message) error {
	r = r.WithContext(context.WithValue(r.Context(), modernKey{}, true))
	m2, clientInfo, err := stripMeta(m)
	if err != nil {
		return rpcErr(http.StatusOK, codeInvalidParams, "params must be an object")
	}
	if m.Method == "ping" {
		return h.writeResult(w, r, ex, m.ID, json.RawMessage(`{}`))
	}
	if m.Method == "server/discover" && wantsServerRequests(m.Params) {
		// The bridge cannot relay a backend's sampling or elicitation
		// request to a sessionless client; such a client is steered to
		// initialize and a sealed session, where they are relayed (the
		// revision tells clients to fall back on any discover error).
		return rpcErr(http.StatusOK, codeUnsupportedVersion, "this federated route serves clients that accept sampling or elicitation on sessions only: use initialize")
	}
	// Which backends the request needs: one for a routed call, all for
	// the rest.
	var only []bool
	switch m.Method {
	case "tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete":
		name := m.Name
		if m.Method == "completion/complete" {
			name = completionTarget(m.Params)
		}
		i, _, ok := h.names.Resolve(name)
		if name == "" || !ok {
			return rpcErr(http.StatusOK, codeInvalidParams, "unknown name %q: no backend of this route has its prefix", name)
		}
		only = make([]bool, len(h.cfg.Backends))
		only[i] = true
	case "server/discover", "subscriptions/listen", "logging/setLevel",
		"tools/list", "prompts/list", "resources/list", "resources/templates/list":
	default:
		return rpcErr(http.StatusOK, codeMethodNotFound, "method %q is not served by a federated route", m.Method)
	}
	if len(clientInfo) == 0 {
		clientInfo = json.RawMessage(`{"name":"agentgateway","version":"1"}`)
	}
	initID := json.RawMessage(`"agentgateway-bridge"`)
	initRaw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": initID, "method": "initialize",
		"params": map[string]any{"protocolVersion": bridgeVersion, "capabilities": map[string]any{}, "clientInfo": clientInfo}})
	sess, results, err := h.openBackends(r, initRaw, initID, only)
	if err != nil {
		return err
	}
	// The bridge sessions end with the answer, even if the client left.
	defer h.closeBackends(r, sess)
	h.fanOut(r.Context(), sess, false, func(ctx context.Context, i int, bs *BackendSession) error {
		res, err := h.send(ctx, r, i, http.MethodPost, bs, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		if err == nil {
			res.Body.Close()
		}
		return err
	})
	switch m.Method {
	case "server/discover":
		caps, instr := h.mergeInit(results, sess)
		result, _ := json.Marshal(map[string]any{
			"supportedVersions": []string{modernVersion},
			"capabilities":      caps,
			"instructions":      instr,
			"_meta":             map[string]any{metaServerInfo: h.serverInfo()},
		})
		return h.writeResult(w, r, ex, m.ID, result)
	case "subscriptions/listen":
		return h.listen(w, r, sess, m)
	case "logging/setLevel":
		if err := h.fanOutSimple(r, sess, m2); err != nil {
			return err
		}
		return h.writeResult(w, r, ex, m.ID, json.RawMessage(`{}`))
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return h.list(w, r, ex, sess, m2)
	}
	return h.route(w, r, ex, sess, m2)
}

// listen serves subscriptions/listen: the backends' streams, merged, carry
// the list_changed notifications the client opted into, each with the
// subscription id (the listen request's id) in _meta, after an
// acknowledgement. It ends when the client cancels or goes away.
func (h *Handler) listen(w http.ResponseWriter, r *http.Request, s *Session, m *mcp.Message) error {
	var p struct {
		Notifications map[string]json.RawMessage `json:"notifications"`
	}
	_ = json.Unmarshal(m.Params, &p)
	want := map[string]bool{}
	for k, v := range p.Notifications {
		if string(v) == "true" {
			switch k {
			case "toolsListChanged":
				want["notifications/tools/list_changed"] = true
			case "promptsListChanged":
				want["notifications/prompts/list_changed"] = true
			case "resourcesListChanged":
				want["notifications/resources/list_changed"] = true
			}
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	bodies := h.openStreams(ctx, r, s)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	emit := func(method string, params map[string]json.RawMessage) error {
		meta := map[string]json.RawMessage{}
		if raw, ok := params["_meta"]; ok {
			_ = json.Unmarshal(raw, &meta)
		}
		meta[metaSubscriptionID] = m.ID
		params["_meta"], _ = json.Marshal(meta)
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
		mu.Lock()
		defer mu.Unlock()
		if err := mcp.WriteEvent(w, &mcp.Event{Event: "message", Data: string(b), HasData: true}); err != nil {
			return err
		}
		return rc.Flush()
	}
	ack := map[string]json.RawMessage{"notifications": json.RawMessage(`{}`)}
	if p.Notifications != nil {
		ack["notifications"], _ = json.Marshal(p.Notifications)
	}
	if emit("notifications/subscriptions/acknowledged", ack) != nil {
		return nil
	}
	h.pump(ctx, cancel, bodies, func(i int, data []byte) error {
		body, err := mcp.ParseBody(data)
		if err != nil || len(body.Messages) != 1 || !want[body.Messages[0].Method] {
			return nil
		}
		var params map[string]json.RawMessage
		_ = json.Unmarshal(body.Messages[0].Params, &params)
		if params == nil {
			params = map[string]json.RawMessage{}
		}
		return emit(body.Messages[0].Method, params)
	})
	return nil
}

// openStreams opens the GET stream of every live backend of s, each
// bounded by the fan-out timeout until its headers; nil for a backend
// without one.
func (h *Handler) openStreams(ctx context.Context, r *http.Request, s *Session) []io.ReadCloser {
	bodies := make([]io.ReadCloser, len(h.cfg.Backends))
	var wg sync.WaitGroup
	for i := range h.cfg.Backends {
		if s.Backends[i].Down {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, hcancel := context.WithCancel(ctx)
			t := time.AfterFunc(h.cfg.FanOutTimeout, hcancel)
			res, err := h.send(hctx, r, i, http.MethodGet, &s.Backends[i], nil)
			stopped := t.Stop()
			if err != nil || !stopped {
				hcancel()
				if err == nil {
					res.Body.Close()
					err = context.DeadlineExceeded
				}
				var se *httpStatusError
				if !errors.As(err, &se) || se.status != http.StatusMethodNotAllowed {
					h.log.Info("federated GET stream not opened", "route", h.cfg.Route, "backend", h.cfg.Backends[i].Name, "err", err)
				}
				return
			}
			if !isEventStream(res.Header.Get("Content-Type")) {
				res.Body.Close()
				hcancel()
				return
			}
			bodies[i] = &cancelBody{res.Body, hcancel}
		}()
	}
	wg.Wait()
	return bodies
}

// pump reads every backend stream and hands each event's data to fn until
// the streams end or ctx is done; an error from fn (the client went away)
// ends them all.
func (h *Handler) pump(ctx context.Context, cancel context.CancelFunc, bodies []io.ReadCloser, fn func(i int, data []byte) error) {
	var pumps sync.WaitGroup
	for i, b := range bodies {
		if b == nil {
			continue
		}
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			defer b.Close()
			for ev, err := range mcp.ParseEvents(b, maxMessageBytes) {
				if err != nil {
					return
				}
				if !ev.HasData {
					continue
				}
				if fn(i, []byte(ev.Data)) != nil {
					cancel()
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { pumps.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, b := range bodies {
			if b != nil {
				b.Close()
			}
		}
		<-done
	}
}
