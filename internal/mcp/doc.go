// Package mcp parses the MCP wire formats the gateway needs to see:
// JSON-RPC bodies (bounded, strict) and SSE streams.
//
// The gateway authorizes on what it parses here, while the backend acts on
// what its own parser sees. Every leniency in this package is therefore a
// potential authorization bypass, which is why the JSON-RPC parser rejects
// inputs that common parsers disagree on (duplicate keys, invalid UTF-8,
// lone surrogates in the fields policies look at) instead of guessing.
package mcp
