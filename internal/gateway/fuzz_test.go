package gateway

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckPath checks the invariant the router relies on: an accepted
// path decodes to one path that no common backend reads differently, and
// routing on the escaped form agrees with routing on the decoded one.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/mcp", "/mcp/x", "/mcp/../x", "/a%2Fb", "/a//b", "/%2e%2e/", "/a\\b", "/a%00",
		"/%6Dcp", "/x/%252e%252e/mcp", "/x/..;/mcp", "/mcp;a=b", "/mcp/caf%C3%A9", "/%C0%AE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkPath(p) != "" {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "\\;#") {
			t.Fatalf("accepted %q", p)
		}
		// Go's ServeMux, and any other decoding server, reads this.
		dec, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("accepted %q, which does not decode: %v", p, err)
		}
		if !utf8.ValidString(dec) {
			t.Fatalf("accepted %q, which decodes to invalid UTF-8", p)
		}
		// Decoding twice changes nothing (no double encoding), and the
		// decoded path has the same segments: no separator, dot segment,
		// path parameter or control byte appears in decoding.
		if strings.Contains(dec, "%") {
			t.Fatalf("accepted %q, which decodes to %q (double encoding)", p, dec)
		}
		for _, c := range []byte(dec) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("accepted %q, which decodes to a control byte", p)
			}
		}
		if strings.ContainsAny(dec, "\\;") || strings.Count(dec, "/") != strings.Count(p, "/") {
			t.Fatalf("accepted %q, which decodes to %q", p, dec)
		}
		for _, seg := range strings.Split(dec, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q: dot segment after decoding", p)
			}
		}
		// A prefix of unreserved characters matches the escaped path
		// exactly when it matches the decoded one: no encoded spelling of
		// a route reaches another route.
		for _, pre := range []string{"/mcp", "/agents", "/a-b_c.d~e9"} {
			_, okEsc := matchPrefix(pre, p)
			_, okDec := matchPrefix(pre, dec)
			if okEsc != okDec {
				t.Fatalf("prefix %q: escaped %q matches %v, decoded %q matches %v", pre, p, okEsc, dec, okDec)
			}
			_, okEsc = matchPrefixFold(pre, p)
			_, okDec = matchPrefixFold(pre, strings.ToLower(dec))
			if okEsc != okDec {
				t.Fatalf("case-insensitive prefix %q: escaped %q matches %v, lower-cased decoded %q matches %v", pre, p, okEsc, dec, okDec)
			}
		}
	})
}
