package gateway

import (
	"net/http"
	"slices"
	"sort"
	"testing"
)

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
		{"/agents/weather-agent-v6/v1/message:send", true},
		{"/mcp/a%20b%3F%23%2B%40", true},
		{"/mcp/caf%C3%A9", true},
		{"/mcp/caf%c3%a9", true},
		{"/mcp/%E2%82%AC", true},
		{"/a/b~c_d-e.f", true},
		{"/mcp/x?", true},

		// Issue #14 finding 2: what a common backend decodes or normalises
		// into a different path.
		{"/%6Dcp", false},            // Go ServeMux: /mcp
		{"/%6dcp", false},            // lower-case hex
		{"/m%43p", false},            // upper-case letter
		{"/mcp%31", false},           // digit
		{"/a%2Db", false},            // "-"
		{"/a%5Fb", false},            // "_"
		{"/a%7Eb", false},            // "~"
		{"/a%7eb", false},            // "~", lower-case hex
		{"/x/%252e%252e/mcp", false}, // double encoding
		{"/%25", false},
		{"/x/..;/mcp", false}, // Tomcat: /mcp
		{"/mcp;jsessionid=1", false},
		{"/mcp/;/x", false},
		{"/mcp%3Bx", false},
		{"/mcp%3bx", false},
		{"/mcp%0A", false}, // encoded control
		{"/mcp%0d%0aX:y", false},
		{"/mcp%7F", false},
		{"/mcp/%C0%AE%C0%AE/x", false}, // overlong "." for lax UTF-8 decoders
		{"/mcp/%C3", false},            // truncated UTF-8
		{"/mcp/%FF", false},
		{"/mcp/%E2%82/x", false},  // incomplete UTF-8 before "/"
		{"/mcp/%E2%82%20", false}, // incomplete UTF-8 before an ASCII escape
		{"/mcp/%E2%82a", false},
		{"/mcp/%ED%A0%80", false},     // surrogate
		{"/mcp/%80", false},           // stray continuation byte
		{"/mcp/%EF%BF%BD", true},      // U+FFFD itself
		{"/mcp/%F0%9F%98%80/x", true}, // 4-byte character
		{"/mcp/%zz", false},
		{"/mcp/%g0", false},
		{"/mcp/caf\xc3\xa9", false}, // raw non-ASCII
		{"/mcp#x", false},
		{"/mcp\x7f", false},
		{"/mcp\tx", false},
	}
	for _, tt := range tests {
		if got := checkPath(tt.path); (got == "") != tt.ok {
			t.Errorf("checkPath(%q) = %q, want ok=%v", tt.path, got, tt.ok)
		}
	}
}

func TestMatchPrefixFold(t *testing.T) {
	tests := []struct {
		prefix, path, rest string
		ok                 bool
	}{
		{"/mcp", "/MCP", "", true},
		{"/mcp", "/Mcp/X", "/X", true},
		{"/mcp", "/mcp", "", true},
		{"/MCP", "/mcp/", "/", true},
		{"/mcp", "/MCPX", "", false},
		{"/mcp", "/mc", "", false},
		{"/mcp", "/m\xc3\xa7p", "", false},
		{"/", "/ANY", "/ANY", true},
		{"/a-1", "/A-1/b", "/b", true},
		{"/a-1", "/A_1/b", "", false},
	}
	for _, tt := range tests {
		rest, ok := matchPrefixFold(tt.prefix, tt.path)
		if ok != tt.ok || rest != tt.rest {
			t.Errorf("matchPrefixFold(%q, %q) = %q, %v; want %q, %v", tt.prefix, tt.path, rest, ok, tt.rest, tt.ok)
		}
	}
}

func TestStripMethodOverride(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{
		"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
		"x_http_method_override", "X_HTTP_METHOD", "x-method_override",
		"X-HTTP-METHOD-OVERRIDE",
		// Kept: not an override header.
		"X-Http-Methods", "X-Request-Id", "X-Method-Overrider", "Content-Type",
	} {
		h[k] = []string{"DELETE"}
	}
	stripMethodOverride(h)
	var kept []string
	for k := range h {
		kept = append(kept, k)
	}
	sort.Strings(kept)
	if want := []string{"Content-Type", "X-Http-Methods", "X-Method-Overrider", "X-Request-Id"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
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

// BenchmarkCheckPath measures the path rule on the paths the gateway sees
// on every request: it must stay a small fraction of a request's cost.
func BenchmarkCheckPath(b *testing.B) {
	for _, p := range []string{"/mcp", "/agents/weather-agent-v6/v1/message:send", "/mcp/a%20b/c%C3%A9"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if checkPath(p) != "" {
					b.Fatal("refused")
				}
			}
		})
	}
}
