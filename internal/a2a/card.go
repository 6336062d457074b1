package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
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
// Member names are matched the way the card's consumers decode them
// (docs/a2a.md#card-integrity): encoding/json matches names with Unicode
// case folding ("additionalInterfaceſ" with a long s, "URL" and "url"
// are one field to it), and protobuf JSON and pydantic clients also accept
// the snake_case field name (supported_interfaces). Every spelling of a
// URL-bearing member is rewritten, and a card in which two member names of
// one object fold to the same name is refused (CheckCardKeys): which of
// the two a client keeps depends on its decoder.
//
// Members other than those URLs are kept as they are. A signed card's
// signatures no longer verify after the rewrite (docs/a2a.md#agent-cards).
func RewriteCard(b []byte, gw func(string) (string, bool)) ([]byte, error) {
	if err := CheckCardKeys(b); err != nil {
		return nil, err
	}
	return rewriteCard(b, gw)
}

// rewriteCard is RewriteCard on a body that passed CheckCardKeys.
func rewriteCard(b []byte, gw func(string) (string, bool)) ([]byte, error) {
	var card map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&card); err != nil {
		return nil, err
	}
	if card == nil {
		return nil, errors.New("agent card is not a JSON object")
	}
	for k, raw := range card {
		switch cardKey(k) {
		case keyURL:
			var u string
			if err := json.Unmarshal(raw, &u); err != nil {
				return nil, errors.New("agent card url is not a string")
			}
			nu, ok := gw(u)
			if !ok {
				return nil, errors.New("agent card url cannot be served through the gateway")
			}
			card[k], _ = json.Marshal(nu)
		case keyAdditional, keySupported:
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
	return encodeObject(card)
}

func encodeObject(m map[string]json.RawMessage) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// RewriteCardResult rewrites the agent card in a JSON-RPC response to an
// extended-card request (agent/getAuthenticatedExtendedCard,
// GetExtendedAgentCard): the card is the response's result member, matched
// in any spelling a client's decoder accepts, as the card's own members
// are. A response without a result (an error) is returned unchanged, after
// the same key check: an error response must not smuggle a second, folded
// result past the gateway either.
func RewriteCardResult(b []byte, gw func(string) (string, bool)) ([]byte, error) {
	if err := CheckCardKeys(b); err != nil {
		return nil, err
	}
	var res map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&res); err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("JSON-RPC response is not a JSON object")
	}
	changed := false
	for k, raw := range res {
		if cardKey(k) != keyResult || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		card, err := rewriteCard(raw, gw)
		if err != nil {
			return nil, err
		}
		res[k] = bytes.TrimSuffix(card, []byte("\n"))
		changed = true
	}
	if !changed {
		return b, nil
	}
	return encodeObject(res)
}

// Normalized names of the members RewriteCard and RewriteCardResult act
// on (foldKey of the name without underscores).
var (
	keyURL        = foldKey("url")
	keyAdditional = foldKey("additionalinterfaces")
	keySupported  = foldKey("supportedinterfaces")
	keyResult     = foldKey("result")
)

// cardKey normalizes a member name for matching against the URL-bearing
// card members: Unicode simple case folding (as encoding/json and
// strings.EqualFold compare) with underscores removed (protobuf JSON and
// pydantic accept supported_interfaces for supportedInterfaces). Removing
// every underscore matches more names than any decoder does; for names
// that are rewritten, more is safe.
func cardKey(k string) string {
	return foldKey(strings.ReplaceAll(k, "_", ""))
}

// foldKey maps s to one representative of its Unicode simple case folding
// class: two strings have the same foldKey exactly when strings.EqualFold
// reports them equal (each rune is replaced by the smallest rune of its
// folding orbit, so K, k and the Kelvin sign, or s, S and the long s, map
// to one rune).
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// maxCardDepth bounds the nesting of a card, as the gateway bounds
// request bodies (mcp.CheckJSON).
const maxCardDepth = 64

// CheckCardKeys refuses a card (or a JSON-RPC response carrying one) that
// is not one JSON value, nests deeper than 64, or has an object with two
// member names that are equal under Unicode case folding ("url" and "URL",
// "supportedInterfaces" and "supportedInterfaceſ"), exact duplicates
// included. Decoders differ on which of two such members they keep
// (encoding/json keeps the last one it reads, folding names; a
// case-sensitive decoder keeps the exact name), so such a card could be
// read one way by the gateway and another way by the client.
func CheckCardKeys(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]struct{}
	}
	var stack []frame
	values := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if len(stack) != 0 || values == 0 {
				return io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if top < 0 {
			// One value only: encoding/json decodes the first of several,
			// other parsers refuse them.
			if values++; values > 1 {
				return errors.New("agent card has data after its JSON value")
			}
		}
		if top >= 0 && stack[top].obj && stack[top].wantKey {
			if delim, ok := tok.(json.Delim); ok && delim == '}' {
				stack = stack[:top]
				continue
			}
			k, _ := tok.(string)
			fk := foldKey(k)
			if _, dup := stack[top].keys[fk]; dup {
				return fmt.Errorf("agent card has two members named %q in different letter case (or twice); clients would disagree on which one applies", k)
			}
			stack[top].keys[fk] = struct{}{}
			stack[top].wantKey = false
			continue
		}
		// A value: it completes a member of the enclosing object.
		if top >= 0 && stack[top].obj {
			stack[top].wantKey = true
		}
		if delim, ok := tok.(json.Delim); ok {
			switch delim {
			case '{':
				stack = append(stack, frame{obj: true, wantKey: true, keys: map[string]struct{}{}})
			case '[':
				stack = append(stack, frame{})
			case ']':
				stack = stack[:top]
				// The array was the value of its parent's member, whose
				// wantKey was set when it opened.
			}
			if len(stack) > maxCardDepth {
				return errors.New("agent card nests too deep")
			}
		}
	}
	return nil
}

// rewriteInterface rewrites every url member of an interface (in any
// spelling, cardKey) and reports whether the interface can be kept: it has
// a url and all of them map.
func rewriteInterface(iface map[string]json.RawMessage, gw func(string) (string, bool)) bool {
	found := false
	for k, raw := range iface {
		if cardKey(k) != keyURL {
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
