package mcp

import "testing"

func TestEndpointRewrite(t *testing.T) {
	tests := []struct {
		name                     string
		data, sse, bbase, gwbase string
		want                     string
		ok                       bool
	}{
		{"absolute url", "http://backend:8000/mcp/message?sessionId=x", "/mcp/sse", "/mcp", "/tools", "/tools/message?sessionId=x", true},
		{"https with userinfo", "https://u:p@backend/mcp/message?sessionId=x#frag", "/mcp/sse", "/mcp", "/tools", "/tools/message?sessionId=x", true},
		{"scheme-relative", "//backend:8000/mcp/message?sessionId=x", "/mcp/sse", "/mcp", "/tools", "/tools/message?sessionId=x", true},
		{"absolute path", "/mcp/message?sessionId=x", "/mcp/sse", "/mcp", "/tools", "/tools/message?sessionId=x", true},
		{"relative", "message?sessionId=x", "/mcp/sse", "/mcp", "/tools", "/tools/message?sessionId=x", true},
		{"relative dot", "./messages/?session_id=abc", "/mcp/sse", "/mcp", "/tools", "/tools/messages/?session_id=abc", true},
		{"relative up within base", "../mcp/message?s=1", "/mcp/sse", "/mcp", "/tools", "/tools/message?s=1", true},
		{"query only", "?sessionId=x", "/mcp/sse", "/mcp", "/tools", "/tools/sse?sessionId=x", true},
		{"relative without sse path", "message?s=1", "", "/mcp", "/tools", "/tools/message?s=1", true},
		{"base with trailing slash", "/mcp/message", "/mcp/sse", "/mcp/", "/tools/", "/tools/message", true},
		{"exact base", "/mcp", "/mcp/sse", "/mcp", "/tools", "/tools", true},
		{"root backend base", "/messages?s=1", "/sse", "/", "/tools", "/tools/messages?s=1", true},
		{"root gateway base", "/mcp/messages?s=1", "/mcp/sse", "/mcp", "/", "/messages?s=1", true},
		{"root both, exact", "/", "/sse", "", "", "/", true},
		{"escaped path kept", "/mcp/a%20b/message?x=%2F", "/mcp/sse", "/mcp", "/tools", "/tools/a%20b/message?x=%2F", true},
		{"escaped sse path", "message?s=1", "/mcp/a%2Fb/sse", "/mcp", "/tools", "/tools/a%2Fb/message?s=1", true},
		{"sse path not absolute", "message?s=1", "sse", "/mcp", "/tools", "", false},
		{"surrounding space", "  /mcp/message?s=1 ", "/mcp/sse", "/mcp", "/tools", "/tools/message?s=1", true},

		{"outside base", "/other/message", "/mcp/sse", "/mcp", "/tools", "", false},
		{"not on segment boundary", "/mcpx/message", "/mcp/sse", "/mcp", "/tools", "", false},
		{"relative climbs out", "../../admin", "/mcp/sse", "/mcp", "/tools", "", false},
		{"absolute climbs out", "/mcp/../admin", "/mcp/sse", "/mcp", "/tools", "", false},
		{"encoded dots", "/mcp/%2e%2e/admin", "/mcp/sse", "/mcp", "/tools", "", false},
		{"encoded slash and dots", "/mcp/x%2F..%2F..%2Fadmin", "/mcp/sse", "/mcp", "/tools", "", false},
		{"encoded slash in base", "/mcp%2Fmessage", "/mcp/sse", "/mcp", "/tools", "", false},
		{"backslash", "/mcp\\..\\admin", "/mcp/sse", "/mcp", "/tools", "", false},
		{"other scheme", "ftp://backend/mcp/message", "/mcp/sse", "/mcp", "/tools", "", false},
		{"javascript", "javascript:alert(1)", "/mcp/sse", "/mcp", "/tools", "", false},
		{"empty", "", "/mcp/sse", "/mcp", "/tools", "", false},
		{"control char", "/mcp/message\n?x", "/mcp/sse", "/mcp", "/tools", "", false},
		{"bad escape", "/mcp/%zz", "/mcp/sse", "/mcp", "/tools", "", false},
		{"absolute url without path", "http://backend:8000", "/mcp/sse", "/mcp", "/tools", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := EndpointRewrite(tt.data, tt.sse, tt.bbase, tt.gwbase)
			if got != tt.want || ok != tt.ok {
				t.Errorf("EndpointRewrite(%q) = %q, %v; want %q, %v", tt.data, got, ok, tt.want, tt.ok)
			}
		})
	}
}
