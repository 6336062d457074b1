package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

// Card is the part of an agent card the gateway reads for discovery.
type Card struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
}

// ParseCard reads the name, description and version of a card.
func ParseCard(b []byte) (*Card, error) {
	var c Card
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// RewriteCard points every interface URL of an agent card (0.3: top-level
// url and additionalInterfaces[].url; 1.0: supportedInterfaces[].url) at
// the gateway. gw maps one backend URL to its gateway URL and reports false
// when it cannot (not http or https, such as a gRPC host:port); those
// interfaces are removed, and a top-level url it cannot map fails the
// rewrite, so a client following the card never bypasses the gateway.
//
// Members other than those URLs are kept as they are. A signed card's
// signatures no longer verify after the rewrite (docs/a2a.md#agent-cards).
func RewriteCard(b []byte, gw func(string) (string, bool)) ([]byte, error) {
	var card map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&card); err != nil {
		return nil, err
	}
	if card == nil {
		return nil, errors.New("agent card is not a JSON object")
	}
	// Keys are matched case-insensitively, as encoding/json (and so many
	// clients) decodes them: a card with "URL" must not keep a backend
	// address a client would still follow.
	for k, raw := range card {
		switch strings.ToLower(k) {
		case "url":
			var u string
			if err := json.Unmarshal(raw, &u); err != nil {
				return nil, errors.New("agent card url is not a string")
			}
			nu, ok := gw(u)
			if !ok {
				return nil, errors.New("agent card url cannot be served through the gateway")
			}
			card[k], _ = json.Marshal(nu)
		case "additionalinterfaces", "supportedinterfaces":
			var ifaces []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &ifaces); err != nil {
				return nil, errors.New("agent card " + k + " is not an array of objects")
			}
			kept := ifaces[:0]
			for _, iface := range ifaces {
				if rewriteInterface(iface, gw) {
					kept = append(kept, iface)
				}
			}
			card[k], _ = json.Marshal(kept)
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(card); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// rewriteInterface rewrites every url member of an interface and reports
// whether the interface can be kept: it has a url and all of them map.
func rewriteInterface(iface map[string]json.RawMessage, gw func(string) (string, bool)) bool {
	found := false
	for k, raw := range iface {
		if !strings.EqualFold(k, "url") {
			continue
		}
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return false
		}
		nu, ok := gw(u)
		if !ok {
			return false
		}
		iface[k], _ = json.Marshal(nu)
		found = true
	}
	return found
}

// GatewayURL maps a URL an agent advertises to the gateway: the agent's
// path below its backend base path (backendBase, the backend address path)
// is appended to external, the gateway URL of the agent
// (<externalUrl>/<prefix>/<target>). Only http and https URLs map.
func GatewayURL(advertised, backendBase, external string) (string, bool) {
	u, err := url.Parse(advertised)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	p := u.EscapedPath()
	base := strings.TrimSuffix(backendBase, "/")
	if base != "" {
		if rest, ok := strings.CutPrefix(p, base); ok && (rest == "" || rest[0] == '/') {
			p = rest
		}
	}
	out := strings.TrimSuffix(external, "/") + p
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, true
}
