// Package mcp parses the MCP wire formats the gateway needs to see:
// JSON-RPC bodies (bounded, strict) and SSE streams.
//
// The gateway authorizes on what it parses here, while the backend acts on
// what its own parser sees. Every leniency in this package is therefore a
// potential authorization bypass, which is why the JSON-RPC parser rejects
// inputs that common parsers disagree on (duplicate keys, invalid UTF-8,
// lone surrogates in the fields policies look at) instead of guessing;
// Message documents each guarantee.
//
// The package is the gateway's one reader of JSON-RPC: ParseBody and
// CheckJSON validate bodies, Lookup, Members and Elements read into values
// the scanner has validated, and ReadList with ListResult.Items is the one
// walker of list results, shared by the mcp-authz filters of every stream
// and by telemetry's tool catalog.
package mcp
