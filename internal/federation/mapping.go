package federation

import (
	"encoding/json"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// mapBack maps one message backend i sent while answering method (or on
// its GET stream, method "") into the client's names:
//   - a request (sampling/createMessage, elicitation/create, roots/list)
//     gets a gateway id that names the backend (encodeServerID);
//   - notifications/cancelled names such a request and gets the same id;
//     notifications/resources/updated gets the client's URI;
//   - a response carries the client's own id; resource URIs in its
//     result are mapped.
//
// Progress tokens are the client's own and pass unchanged. A message that
// does not parse is dropped: it could carry a name the client must not
// see unmapped.
func (h *Handler) mapBack(i int, method string, data []byte) ([]byte, bool) {
	body, err := mcp.ParseBody(data)
	if err != nil || body.Batch || len(body.Messages) != 1 {
		h.log.Info("federated back-flow message dropped: not one JSON-RPC message", "route", h.cfg.Route, "backend", h.cfg.Backends[i].Name)
		return nil, false
	}
	m := body.Messages[0]
	switch m.Kind {
	case mcp.KindRequest:
		return rebuild(m, nil, encodeServerID(i, m.ID)), true
	case mcp.KindNotification:
		var p map[string]json.RawMessage
		switch m.Method {
		case "notifications/resources/updated":
			if json.Unmarshal(m.Params, &p) == nil {
				p["uri"] = h.mapString(i, p["uri"])
				return rebuild(m, p, nil), true
			}
		case "notifications/cancelled":
			if json.Unmarshal(m.Params, &p) == nil && len(p["requestId"]) > 0 {
				p["requestId"] = encodeServerID(i, p["requestId"])
				return rebuild(m, p, nil), true
			}
		}
		return m.Raw, true
	}
	// A response.
	var full map[string]json.RawMessage
	if json.Unmarshal(m.Raw, &full) != nil {
		return m.Raw, true
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(full["result"], &res) != nil || res == nil {
		return m.Raw, true
	}
	switch method {
	case "tools/call":
		res["content"] = h.mapContents(i, res["content"])
	case "prompts/get":
		var msgs []map[string]json.RawMessage
		if json.Unmarshal(res["messages"], &msgs) == nil {
			for _, pm := range msgs {
				pm["content"] = h.mapContent(i, pm["content"])
			}
			res["messages"], _ = json.Marshal(msgs)
		}
	case "resources/read":
		var cs []map[string]json.RawMessage
		if json.Unmarshal(res["contents"], &cs) == nil {
			for _, c := range cs {
				if _, ok := c["uri"]; ok {
					c["uri"] = h.mapString(i, c["uri"])
				}
			}
			res["contents"], _ = json.Marshal(cs)
		}
	default:
		return m.Raw, true
	}
	full["result"], _ = json.Marshal(res)
	b, _ := json.Marshal(full)
	return b, true
}

// mapString maps a JSON string holding a backend name; anything else is
// returned unchanged.
func (h *Handler) mapString(i int, raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	b, _ := json.Marshal(h.names.Map(i, s))
	return b
}

// mapContents maps the resource URIs of a content array.
func (h *Handler) mapContents(i int, raw json.RawMessage) json.RawMessage {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return raw
	}
	for k := range items {
		items[k] = h.mapContent(i, items[k])
	}
	b, _ := json.Marshal(items)
	return b
}

// mapContent maps the URI of a resource_link or embedded resource
// content block.
func (h *Handler) mapContent(i int, raw json.RawMessage) json.RawMessage {
	var c map[string]json.RawMessage
	if json.Unmarshal(raw, &c) != nil || c == nil {
		return raw
	}
	var typ string
	_ = json.Unmarshal(c["type"], &typ)
	switch typ {
	case "resource_link":
		c["uri"] = h.mapString(i, c["uri"])
	case "resource":
		var r map[string]json.RawMessage
		if json.Unmarshal(c["resource"], &r) == nil && r != nil {
			r["uri"] = h.mapString(i, r["uri"])
			c["resource"], _ = json.Marshal(r)
		}
	default:
		return raw
	}
	b, _ := json.Marshal(c)
	return b
}
