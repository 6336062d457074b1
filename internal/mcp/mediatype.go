package mcp

import (
	"mime"
	"strings"
)

// MaxEventBytes bounds one SSE event the gateway itself rewrites or reads
// (the legacy endpoint event, the tools/list catalog of the metrics);
// mcp-authz's list filters have their own bound (MaxListResponseBytes).
const MaxEventBytes = 8 << 20

// IsEventStream reports whether a Content-Type is text/event-stream.
func IsEventStream(ct string) bool {
	// mime.ParseMediaType allocates; most responses are plainly not SSE.
	if base, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(base), "text/event-stream") {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}
