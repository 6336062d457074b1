package gateway

import "testing"

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/mcp", true},
		{"/mcp/", true},
		{"/mcp/x", true},
		{"/agents/weather-agent-v6", true},
		{"/mcp/a%20b", true},
		{"mcp", false},
		{"", false},
		{"//mcp", false},
		{"/mcp//x", false},
		{"/mcp/./x", false},
		{"/mcp/../admin", false},
		{"/mcp/..", false},
		{"/mcp/.", false},
		{"/mcp%2Fx", false},
		{"/mcp%2fx", false},
		{"/mcp/%2e%2e/x", false},
		{"/mcp/%2E", false},
		{"/mcp%00", false},
		{"/mcp%5cx", false},
		{"/mcp\\x", false},
		{"/mcp\x00", false},
		{"/mcp/%", false},
		{"/mcp/%4", false},
		{"/mcp/..x", true},
		{"/mcp/.well-known", true},
	}
	for _, tt := range tests {
		if got := checkPath(tt.path); (got == "") != tt.ok {
			t.Errorf("checkPath(%q) = %q, want ok=%v", tt.path, got, tt.ok)
		}
	}
}

func TestMatchPrefix(t *testing.T) {
	tests := []struct {
		prefix, path, rest string
		ok                 bool
	}{
		{"/mcp", "/mcp", "", true},
		{"/mcp", "/mcp/", "/", true},
		{"/mcp", "/mcp/x", "/x", true},
		{"/mcp", "/mcpx", "", false},
		{"/mcp", "/mc", "", false},
		{"/", "/anything", "/anything", true},
		{"/agents", "/agents/weather-agent-v6", "/weather-agent-v6", true},
	}
	for _, tt := range tests {
		rest, ok := matchPrefix(tt.prefix, tt.path)
		if ok != tt.ok || rest != tt.rest {
			t.Errorf("matchPrefix(%q, %q) = %q, %v; want %q, %v", tt.prefix, tt.path, rest, ok, tt.rest, tt.ok)
		}
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ base, rest, want string }{
		{"/mcp", "", "/mcp"},
		{"/mcp", "/x", "/mcp/x"},
		{"", "", "/"},
		{"", "/x", "/x"},
		{"/mcp/", "/x", "/mcp/x"},
	}
	for _, tt := range tests {
		if got := joinPath(tt.base, tt.rest); got != tt.want {
			t.Errorf("joinPath(%q, %q) = %q, want %q", tt.base, tt.rest, got, tt.want)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		origin, host string
		allowed      []string
		ok           bool
	}{
		{"http://gw:8080", "gw:8080", nil, true},
		{"http://evil.example", "gw:8080", nil, false},
		{"http://evil.example", "gw:8080", []string{"http://evil.example"}, true},
		{"http://evil.example", "gw:8080", []string{"*"}, true},
		{"null", "gw:8080", nil, false},
	}
	for _, tt := range tests {
		if got := originAllowed(tt.origin, tt.host, tt.allowed); got != tt.ok {
			t.Errorf("originAllowed(%q, %q, %v) = %v", tt.origin, tt.host, tt.allowed, got)
		}
	}
}
