package gateway

import (
	"strings"
	"testing"
)

// FuzzCheckPath checks the invariant the router relies on: an accepted
// path has no segment a backend could resolve differently.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/mcp", "/mcp/x", "/mcp/../x", "/a%2Fb", "/a//b", "/%2e%2e/", "/a\\b", "/a%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkPath(p) != "" {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "\\") {
			t.Fatalf("accepted %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted dot segment in %q", p)
			}
		}
		lp := strings.ToLower(p)
		for _, bad := range []string{"%2f", "%5c", "%2e", "%00"} {
			if strings.Contains(lp, bad) {
				t.Fatalf("accepted %s in %q", bad, p)
			}
		}
	})
}
