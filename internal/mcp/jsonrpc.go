package mcp

import "encoding/json"

// JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// MessageKind classifies a JSON-RPC message.
type MessageKind int

// Message kinds.
const (
	KindRequest MessageKind = iota + 1
	KindNotification
	KindResponse
)

func (k MessageKind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	}
	return "unknown"
}

// Message is one JSON-RPC message as ParseBody read it. The raw fields
// alias the body passed to ParseBody, which the gateway forwards unchanged:
// the backend receives the very bytes that were checked, never a
// re-encoding of them.
//
// Policies authorize what the backend will act on, and the backend reads
// the body with its own parser. ParseBody therefore accepts only bodies
// that every mainstream JSON parser reads the same way, and policies rely
// on these guarantees instead of checking again:
//
//   - No object, at any depth, has a member twice. Parsers disagree on
//     which duplicate wins (encoding/json takes the last, others the
//     first), so {"name":"allowed","name":"denied"} could be authorized
//     as one tool and run as the other.
//   - The message's members (jsonrpc, id, method, params, result, error)
//     and the params members policies read (name, uri) appear only in
//     that exact spelling: no other member equals one of them under
//     Unicode case folding ("Method", "NAME", "paramſ"). Go's
//     encoding/json, and so the MCP Go SDK, matches member names to fields
//     case-insensitively, so {"name":"a","nAme":"b"} would be authorized
//     as tool "a" and run as tool "b". Members deeper in params have no
//     such guarantee: read them with Lookup, which refuses case variants
//     of the members it is asked for.
//   - Every string and key is valid UTF-8. Parsers replace invalid bytes
//     with U+FFFD, pass them through or refuse them, so one name could be
//     three different names downstream.
//   - Keys, Method and Name contain no unpaired surrogate escape
//     ("\ud800"). Most parsers decode every one to U+FFFD, which would
//     make distinct keys collide and distinct names match the same tool.
//   - Containers nest at most 64 deep. MCP payloads are shallow; deep
//     nesting only serves to exhaust the stacks of recursive parsers, the
//     backend's and this package's own.
//   - The body is exactly one JSON value (a message or a non-empty batch
//     of them) with nothing after it: a streaming decoder would otherwise
//     act on a second value the gateway never authorized.
//   - Numbers follow the JSON grammar (no leading zeros, NaN, Infinity,
//     hex or '+'). ParseBody never converts them: no decision rests on a
//     number's value, and ID keeps the exact bytes so error responses echo
//     the id the client sent, whatever its precision.
//
// Method and Name are the unescaped strings, decoded as encoding/json
// decodes them; decisions are made on these values, not on the raw bytes.
type Message struct {
	// Raw is the exact bytes of the message, without surrounding whitespace.
	Raw  json.RawMessage
	Kind MessageKind
	// ID is the exact bytes of the id member: a string literal (quotes and
	// escapes included), a number, or `null`. Nil when absent.
	ID json.RawMessage
	// Method is the unescaped method; empty for responses.
	Method string
	// Params is the exact bytes of params (an object or array); nil when
	// absent.
	Params json.RawMessage
	// Name is the target the method acts on, for policies that authorize
	// per tool, prompt or resource: params.name for tools/call and
	// prompts/get, params.uri for resources/read, resources/subscribe and
	// resources/unsubscribe. Empty for other methods.
	Name string
}

// Body is a parsed POST body.
type Body struct {
	Messages []*Message
	Batch    bool
}

// ParseError is a JSON-RPC parse/validation failure, ready to be rendered
// as a JSON-RPC error response.
type ParseError struct {
	Code    int
	Message string
	// ID is the raw id of the offending message when it could be read
	// unambiguously, so the error response can be correlated; nil for
	// batches, whose failure the spec answers with a single null-id error.
	ID json.RawMessage
}

func (e *ParseError) Error() string { return e.Message }

func errSyntax() *ParseError {
	return &ParseError{Code: CodeParseError, Message: "Parse error"}
}

func invalid(reason string) *ParseError {
	return &ParseError{Code: CodeInvalidRequest, Message: "Invalid Request: " + reason}
}

func invalidParams(reason string) *ParseError {
	return &ParseError{Code: CodeInvalidParams, Message: "Invalid params: " + reason}
}

// Member indexes into msgKeys and paramKeys.
const (
	mJSONRPC = iota
	mID
	mMethod
	mParams
	mResult
	mError
)

const (
	pName = iota
	pURI
)

var (
	msgKeys   = []string{"jsonrpc", "id", "method", "params", "result", "error"}
	paramKeys = []string{"name", "uri"}
	idKeys    = []string{"id"}
)

// nameParam maps the methods whose target policies authorize on to the
// params member that names it.
func nameParam(method string) int {
	switch method {
	case "tools/call", "prompts/get":
		return pName
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return pURI
	}
	return -1
}

// ParseBody parses one JSON-RPC 2.0 POST body: a single message or a batch.
// The caller bounds len(b). The returned messages alias b, which must not be
// modified afterwards. Errors are always *ParseError.
//
// Beyond the JSON-RPC grammar it rejects, as Invalid Request, anything two
// parsers could read differently: duplicate object keys at any depth, case
// variants of the members it captures, invalid UTF-8 in any string,
// unpaired surrogate escapes in keys, method and name, nesting deeper than
// 64, and trailing data after the value. Message lists these guarantees and
// why each matters.
func ParseBody(b []byte) (*Body, error) {
	// Sized for typical nesting so duplicate tracking rarely grows it.
	var keys [24][]byte
	s := scanner{b: b, keys: keys[:0]}
	body, perr := s.body()
	if perr == nil {
		return body, nil
	}
	if perr.Code != CodeParseError {
		// The strict scan stops at the first problem, which may precede a
		// syntax error later on; JSON-RPC wants Parse error whenever the
		// text is not JSON, so re-check the grammar alone.
		id, syntaxOK := laxScan(b)
		if !syntaxOK {
			return nil, errSyntax()
		}
		perr.ID = id
	}
	return nil, perr
}

// laxScan checks that b starts with a grammatical JSON value and, when it is
// an object with exactly one id member of a valid id type, returns that id.
func laxScan(b []byte) (id json.RawMessage, ok bool) {
	s := scanner{b: b, lax: true}
	s.ws()
	if s.i >= len(b) {
		return nil, false
	}
	if b[s.i] != '{' {
		err := s.value(0)
		return nil, err == nil || err.Code != CodeParseError
	}
	c := capture{keys: idKeys, subIdx: -1}
	if err := s.object(1, &c); err != nil {
		return nil, err.Code != CodeParseError
	}
	if c.count[0] == 1 {
		if v := b[c.spans[0].s:c.spans[0].e]; validIDType(v) {
			id = v
		}
	}
	return id, true
}

func validIDType(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch c := v[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	case c == 'n':
		return string(v) == "null"
	}
	return false
}

func (s *scanner) body() (*Body, *ParseError) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, errSyntax()
	}
	var body Body
	switch s.b[s.i] {
	case '{':
		m, err := s.message(1)
		if err != nil {
			return nil, err
		}
		body.Messages = []*Message{m}
	case '[':
		body.Batch = true
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			return nil, invalid("empty batch")
		}
		for {
			if s.i >= len(s.b) {
				return nil, errSyntax()
			}
			if s.b[s.i] != '{' {
				return nil, invalid("batch element is not an object")
			}
			m, err := s.message(2)
			if err != nil {
				err.ID = nil
				return nil, err
			}
			body.Messages = append(body.Messages, m)
			s.ws()
			if s.i >= len(s.b) {
				return nil, errSyntax()
			}
			if s.b[s.i] == ']' {
				s.i++
				break
			}
			if s.b[s.i] != ',' {
				return nil, errSyntax()
			}
			s.i++
			s.ws()
		}
	default:
		return nil, invalid("body is not an object or array")
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, invalid("trailing data after JSON value")
	}
	return &body, nil
}

// message scans one message object at s.i and validates its JSON-RPC shape.
func (s *scanner) message(depth int) (*Message, *ParseError) {
	start := s.i
	var pc capture
	pc.keys = paramKeys
	mc := capture{keys: msgKeys, sub: &pc, subIdx: mParams}
	if err := s.object(depth, &mc); err != nil {
		return nil, err
	}
	b := s.b
	m := &Message{Raw: b[start:s.i]}
	val := func(i int) []byte { return b[mc.spans[i].s:mc.spans[i].e] }
	has := func(i int) bool { return mc.spans[i].ok }

	if !has(mJSONRPC) || string(s.stringValue(val(mJSONRPC), mc.spans[mJSONRPC].s)) != "2.0" {
		return nil, invalid(`jsonrpc must be "2.0"`)
	}
	if has(mID) {
		if !validIDType(val(mID)) {
			return nil, invalid("id must be a string, number or null")
		}
		m.ID = val(mID)
	}
	hasResult, hasError := has(mResult), has(mError)
	if has(mMethod) {
		v := val(mMethod)
		if v[0] != '"' {
			return nil, invalid("method must be a string")
		}
		info := s.strAt(mc.spans[mMethod].s)
		if info.lone {
			return nil, invalid("unpaired surrogate in method")
		}
		if info.e == info.s {
			// The empty method is reserved to mean "response" in this
			// package's API (see NonIdempotent); no protocol defines it.
			return nil, invalid("empty method")
		}
		m.Method = string(unescape(b, info))
		if hasResult || hasError {
			return nil, invalid("message has both method and result/error")
		}
		if has(mID) {
			m.Kind = KindRequest
		} else {
			m.Kind = KindNotification
		}
	} else {
		switch {
		case !hasResult && !hasError:
			return nil, invalid("message has no method, result or error")
		case hasResult && hasError:
			return nil, invalid("response has both result and error")
		case !has(mID):
			return nil, invalid("response has no id")
		case hasError && val(mError)[0] != '{':
			return nil, invalid("error must be an object")
		}
		m.Kind = KindResponse
	}
	if has(mParams) {
		v := val(mParams)
		if v[0] != '{' && v[0] != '[' {
			return nil, invalid("params must be an object or array")
		}
		m.Params = v
	}
	if p := nameParam(m.Method); p >= 0 {
		sp := pc.spans[p]
		if !sp.ok || b[sp.s] != '"' {
			return nil, invalidParams("params." + paramKeys[p] + " must be a string")
		}
		info := s.strAt(sp.s)
		if info.lone {
			return nil, invalid("unpaired surrogate in params." + paramKeys[p])
		}
		m.Name = string(unescape(b, info))
	}
	return m, nil
}

// strAt rescans the already validated string literal at offset i.
func (s *scanner) strAt(i int) strInfo {
	t := scanner{b: s.b, i: i}
	info, _ := t.str()
	return info
}

// stringValue returns the unescaped contents of v (at offset off) when it is
// a string literal, else nil.
func (s *scanner) stringValue(v []byte, off int) []byte {
	if len(v) == 0 || v[0] != '"' {
		return nil
	}
	return unescape(s.b, s.strAt(off))
}
