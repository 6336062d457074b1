package federation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Names maps a backend's names (tools, prompts, resource URIs and URI
// templates) to the names a client sees and back
// (docs/federation.md#naming): prefix + separator + name, or the name
// unchanged for the backend whose prefix is "". config.Validate refuses
// prefixes where one, with the separator, starts another, and more than
// one empty prefix, so Resolve finds at most one backend for a name.
type Names struct {
	sep      string
	prefixes []string // config order; "" for the pass-through backend
	empty    int      // index of the "" prefix, or -1
}

// NewNames builds the mapping for prefixes in config order.
func NewNames(sep string, prefixes []string) *Names {
	n := &Names{sep: sep, prefixes: prefixes, empty: -1}
	for i, p := range prefixes {
		if p == "" && n.empty < 0 {
			n.empty = i
		}
	}
	return n
}

// Map returns the client's name for backend i's name.
func (n *Names) Map(i int, name string) string {
	p := n.prefixes[i]
	if p == "" {
		return name
	}
	return p + n.sep + name
}

// Resolve returns the backend a client's name belongs to and the
// backend's own name for it. A name no prefix claims belongs to the
// backend with the empty prefix, if there is one.
func (n *Names) Resolve(name string) (int, string, bool) {
	for i, p := range n.prefixes {
		if p == "" {
			continue
		}
		if len(name) > len(p) && strings.HasPrefix(name, p) && strings.HasPrefix(name[len(p):], n.sep) {
			return i, name[len(p)+len(n.sep):], true
		}
	}
	if n.empty >= 0 {
		return n.empty, name, true
	}
	return -1, "", false
}

// Owns reports whether backend i's name, once mapped, routes back to i. It
// is false only for a name of the empty-prefix backend that another
// prefix claims ("weather_x" listed by the pass-through backend while a
// backend has prefix "weather"): such a name is dropped from lists, never
// served at random.
func (n *Names) Owns(i int, name string) bool {
	j, _, ok := n.Resolve(n.Map(i, name))
	return ok && j == i
}

// A gateway cursor holds the cursors of the backends that have more
// pages: base64url of a JSON array of [index, cursor] pairs. A backend
// absent from it is done.
type cursorEntry struct {
	I int
	C string
}

func (c cursorEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]any{c.I, c.C})
}

func (c *cursorEntry) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &c.I); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &c.C)
}

const maxCursorLen = 64 << 10

var errCursor = errors.New("invalid cursor")

func encodeCursor(es []cursorEntry) string {
	if len(es) == 0 {
		return ""
	}
	b, _ := json.Marshal(es)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a gateway cursor for a route of n backends: each
// index within range, at most once.
func decodeCursor(s string, n int) ([]cursorEntry, error) {
	if s == "" || len(s) > maxCursorLen {
		return nil, errCursor
	}
	b, err := decodeCanonical(s)
	if err != nil {
		return nil, errCursor
	}
	var es []cursorEntry
	if err := json.Unmarshal(b, &es); err != nil || len(es) == 0 {
		return nil, errCursor
	}
	seen := make([]bool, n)
	for _, e := range es {
		if e.I < 0 || e.I >= n || seen[e.I] {
			return nil, errCursor
		}
		seen[e.I] = true
	}
	return es, nil
}

// Server-to-client requests (sampling, elicitation, roots) carry ids the
// backend chose, which may clash between backends. The client sees
// "fed.<backend index>.<base64url of the backend's raw id>", so its answer
// goes back to the backend that asked, on any replica, with the id the
// backend sent.
const serverIDPrefix = "fed."

func encodeServerID(i int, raw json.RawMessage) json.RawMessage {
	s := serverIDPrefix + strconv.Itoa(i) + "." + base64.RawURLEncoding.EncodeToString(raw)
	b, _ := json.Marshal(s)
	return b
}

// decodeServerID reverses encodeServerID; ok is false for an id the
// gateway did not issue.
func decodeServerID(id json.RawMessage, n int) (int, json.RawMessage, bool) {
	var s string
	if len(id) == 0 || id[0] != '"' || json.Unmarshal(id, &s) != nil || !strings.HasPrefix(s, serverIDPrefix) {
		return 0, nil, false
	}
	rest := s[len(serverIDPrefix):]
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 || dot > 3 {
		return 0, nil, false
	}
	i, err := strconv.Atoi(rest[:dot])
	if err != nil || i < 0 || i >= n || strconv.Itoa(i) != rest[:dot] {
		return 0, nil, false
	}
	raw, err := decodeCanonical(rest[dot+1:])
	if err != nil || !validRawID(raw) {
		return 0, nil, false
	}
	return i, raw, true
}

// validRawID accepts a JSON string or number, as JSON-RPC ids are.
func validRawID(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	switch v.(type) {
	case string, float64:
		return true
	}
	return false
}

// decodeCanonical decodes unpadded base64url that is spelled the one way
// the gateway writes it: the decoder would skip CR and LF and accept
// non-zero trailing bits, giving one value several spellings.
func decodeCanonical(s string) ([]byte, error) {
	b, err := sessionEncoding.DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodedLen(len(b)) != len(s) {
		return nil, errCursor
	}
	return b, nil
}
