package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// Request is what the gateway decided an A2A request is.
type Request struct {
	// Method is the canonical method (message/send, ...), MethodCard or
	// MethodUnknown. It is what authorization, rate limits, stream caps,
	// metrics and the audit log see.
	Method string
	// RPC is the parsed body of a JSON-RPC request; nil for the other
	// forms.
	RPC *mcp.Body
}

// RequestError refuses a request whose body the gateway cannot make
// canonical. Code is a JSON-RPC error code; ID is the request id when it
// could be read unambiguously. JSONRPC says whether the answer is a
// JSON-RPC error (a body sent to the agent's JSON-RPC endpoint) or a plain
// JSON error (a body sent to an HTTP+JSON path).
type RequestError struct {
	Code    int
	Message string
	ID      json.RawMessage
	JSONRPC bool
}

func (e *RequestError) Error() string { return e.Message }

// Classify reads an A2A request: its HTTP method, the path below the
// target agent (rest) and its body. Every way of spelling an operation
// gets the one canonical method; a body that could be read two ways is
// refused (docs/a2a.md#canonical-methods):
//
//   - A POST body must be one strict JSON value (mcp.CheckJSON): no
//     duplicate keys, no nesting past 64, no trailing data, valid UTF-8.
//     Parsers downstream disagree on those (encoding/json keeps the last
//     duplicate and decodes only the first value), so the method the
//     backend runs could differ from the one the gateway counted.
//   - A body with a member named jsonrpc or method, in any letter case (Go
//     backends fold case when decoding), is JSON-RPC and must pass
//     mcp.ParseBody: one request, not a batch or a response, for a method
//     of either version. Its canonical method is the method's. An unknown
//     method is refused: the gateway cannot know whether it streams.
//   - A JSON-RPC body on an HTTP+JSON path is refused: which of the two
//     the backend acts on depends on how it is mounted.
//   - Otherwise an HTTP+JSON path names the operation; a card path is
//     MethodCard; any other JSON object POSTed to the agent (the user
//     guide's {"task": "..."}) asks the agent to act on a message and is
//     counted as message/send.
func Classify(httpMethod, rest string, body []byte) (Request, *RequestError) {
	if IsCardPath(rest) && httpMethod == "GET" {
		return Request{Method: MethodCard}, nil
	}
	op := restMethod(httpMethod, rest)
	if httpMethod != "POST" || len(body) == 0 {
		// Bodies of other methods are not read by A2A servers (a2a-go's
		// JSON-RPC handler takes POST only; the HTTP+JSON binding reads
		// GET and DELETE parameters from the path and query).
		if op == "" {
			op = MethodUnknown
		}
		return Request{Method: op}, nil
	}
	rpcEndpoint := op == ""
	parsed, err := mcp.ParseBody(body)
	if err == nil {
		if !rpcEndpoint {
			return Request{}, &RequestError{Code: mcp.CodeInvalidRequest, Message: "Invalid Request: a JSON-RPC body on an HTTP+JSON path (" + rest + ")", ID: singleID(parsed), JSONRPC: true}
		}
		if parsed.Batch {
			return Request{}, &RequestError{Code: mcp.CodeInvalidRequest, Message: "Invalid Request: A2A does not define JSON-RPC batches", JSONRPC: true}
		}
		m := parsed.Messages[0]
		if m.Kind == mcp.KindResponse {
			return Request{}, &RequestError{Code: mcp.CodeInvalidRequest, Message: "Invalid Request: a JSON-RPC response is not an A2A request", ID: m.ID, JSONRPC: true}
		}
		c := CanonicalMethod(m.Method)
		if c == "" {
			return Request{}, &RequestError{Code: mcp.CodeMethodNotFound, Message: "Method not found: not an A2A 0.3 or 1.0 method", ID: m.ID, JSONRPC: true}
		}
		return Request{Method: c, RPC: parsed}, nil
	}
	var pe *mcp.ParseError
	if !errors.As(err, &pe) {
		pe = &mcp.ParseError{Code: mcp.CodeParseError, Message: "Parse error"}
	}
	if serr := mcp.CheckJSON(body); serr != nil {
		se := serr.(*mcp.ParseError)
		return Request{}, &RequestError{Code: se.Code, Message: se.Message, ID: pe.ID, JSONRPC: rpcEndpoint}
	}
	// Strict JSON, but not a JSON-RPC message ParseBody accepts.
	switch kind, rpcLike := shape(body); {
	case kind != '{':
		// A2A bodies are objects in both bindings; an array is a batch.
		return Request{}, &RequestError{Code: mcp.CodeInvalidRequest, Message: "Invalid Request: an A2A request body must be a JSON object", JSONRPC: rpcEndpoint}
	case rpcLike:
		return Request{}, &RequestError{Code: pe.Code, Message: pe.Message, ID: pe.ID, JSONRPC: true}
	}
	if rpcEndpoint {
		return Request{Method: MethodSend}, nil
	}
	return Request{Method: op}, nil
}

func singleID(b *mcp.Body) json.RawMessage {
	if b.Batch || len(b.Messages) != 1 {
		return nil
	}
	return b.Messages[0].ID
}

// shape returns the first byte of a strict JSON value ('{', '[', ...) and,
// for an object, whether a top-level member names jsonrpc or method in any
// letter case (with Unicode simple folding, as encoding/json matches
// member names). b has passed mcp.CheckJSON.
func shape(b []byte) (kind byte, rpcLike bool) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return 0, false
	}
	if t[0] != '{' {
		return t[0], false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if _, err := dec.Token(); err != nil { // '{'
		return '{', true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return '{', true
		}
		key, _ := tok.(string)
		if strings.EqualFold(key, "jsonrpc") || strings.EqualFold(key, "method") {
			return '{', true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil && !errors.Is(err, io.EOF) {
			// Unreachable after CheckJSON; refuse rather than guess.
			return '{', true
		}
	}
	return '{', false
}
