package policy

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// The gateway's own JSON-RPC error codes, from the -32000..-32099 range
// JSON-RPC reserves for implementations. The codes JSON-RPC itself
// defines (Parse error, Invalid Request, ...) are mcp.Code*, next to the
// parser that produces most of them.
const (
	// CodeGateway is used for gateway-originated failures that are not
	// about the request itself (backend unreachable, timeouts, overload).
	CodeGateway = -32000
	// CodeUnauthorized is used for missing or invalid credentials.
	CodeUnauthorized = -32001
	// CodeForbidden is used when an authenticated caller is not allowed.
	CodeForbidden = -32003
	// CodeRateLimited is used when a rate limit rejects the call.
	CodeRateLimited = -32029
)

// Error is an error with the HTTP status and JSON-RPC code the edge should
// render. Policies return *Error (possibly wrapped); any other error renders
// as 500 / -32603 without leaking its text to the client.
type Error struct {
	Status  int
	Code    int    // JSON-RPC code; 0 derives one from Status
	Message string // safe to show to the client
	Header  http.Header
	Cause   error // logged, never sent to the client
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// RPCCode returns the JSON-RPC code to render for e.
func (e *Error) RPCCode() int {
	if e.Code != 0 {
		return e.Code
	}
	switch e.Status {
	case http.StatusBadRequest:
		return mcp.CodeInvalidRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusTooManyRequests:
		return CodeRateLimited
	default:
		return CodeGateway
	}
}

// Errorf builds an *Error with a client-safe message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, or a generic 500.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: mcp.CodeInternalError, Message: "internal error", Cause: err}
}
