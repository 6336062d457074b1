package mcp

// Header names used by MCP Streamable HTTP.
const (
	HeaderSessionID       = "Mcp-Session-Id"
	HeaderProtocolVersion = "Mcp-Protocol-Version"
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
	HeaderLastEventID     = "Last-Event-Id"
)

// ValidSessionID reports whether id is acceptable as an Mcp-Session-Id.
// The spec limits session IDs to visible ASCII (0x21-0x7E); enforcing that
// at the edge keeps control characters and non-ASCII out of logs, cache
// keys and the headers the gateway forwards.
func ValidSessionID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
