package mcp

// KnownProtocolVersions lists the MCP revisions the gateway understands,
// oldest first. Callers must not modify it.
var KnownProtocolVersions = []string{
	"2024-11-05",
	"2025-03-26",
	"2025-06-18",
	"2025-11-25",
	"2026-07-28",
}

// DefaultProtocolVersion is the revision a server must assume when a
// Streamable HTTP request carries no Mcp-Protocol-Version header; the spec
// fixes it at the revision that introduced the transport, not the latest.
const DefaultProtocolVersion = "2025-03-26"

// LatestProtocolVersion is the newest revision in KnownProtocolVersions.
const LatestProtocolVersion = "2026-07-28"

// ValidProtocolVersion reports whether v is a known MCP revision. The match
// is exact: revisions are opaque identifiers, and accepting variants (case,
// whitespace) would let a client smuggle a value the backend reads
// differently.
func ValidProtocolVersion(v string) bool {
	for _, k := range KnownProtocolVersions {
		if v == k {
			return true
		}
	}
	return false
}
