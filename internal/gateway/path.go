package gateway

import (
	"strings"
	"unicode/utf8"
)

// checkPath enforces the one path rule of the gateway: the request path is
// routed and forwarded exactly as received (escaped form), so anything that
// a backend could decode or normalise into a different path is refused with
// 400 instead of being "cleaned". That keeps the path the gateway routes
// and authorizes on identical to the path the backend acts on, whatever
// the backend's framework (docs/proxy.md#routing).
//
// Refused:
//   - a path that does not start with "/", empty segments ("//") and dot
//     segments ("." or "..");
//   - backslashes, control bytes and NUL, "#" (a fragment never reaches a
//     server: some cut the path there) and raw non-ASCII bytes (not a URI;
//     servers disagree on their charset);
//   - ";" anywhere: Tomcat, Jetty and Spring strip ";params" from segments,
//     so "/mcp;x" and "/x/..;/mcp" would become "/mcp";
//   - the percent-encoding of an unreserved character (ALPHA, DIGIT, "-",
//     ".", "_", "~"): RFC 3986 §2.3 says a conforming client never encodes
//     them, and every decoding server (Go's ServeMux among them) treats
//     "/%6Dcp" as "/mcp";
//   - the percent-encoding of "%" (double encoding: "%252e" is "%2e" after
//     one decode, "." after two), "/", "\", ";", NUL and control bytes;
//   - malformed percent-encodings, and encoded bytes that do not decode to
//     valid UTF-8 (overlong forms such as "%C0%AE" are "." to some decoders).
//
// What remains after these rules decodes to one path that no common
// backend reads differently, except for letter case: see route
// match.path.caseSensitive.
func checkPath(escaped string) string {
	if escaped == "" || escaped[0] != '/' {
		return "path must start with /"
	}
	// One pass, no allocation: the common path is a handful of lower-case
	// letters and slashes.
	segStart := 1
	// utf8Run collects the bytes of an encoded non-ASCII character
	// ("%E2%82%AC") until it is complete, to validate it without
	// decoding the path.
	var utf8Run [utf8.UTFMax]byte
	runLen := 0
	for i := 1; i <= len(escaped); i++ {
		if runLen > 0 && (i == len(escaped) || escaped[i] != '%' || i+2 >= len(escaped) || unhex(escaped[i+1]) < 8) {
			return errInvalidUTF8
		}
		if i == len(escaped) || escaped[i] == '/' {
			switch seg := escaped[segStart:i]; seg {
			case "":
				// A trailing slash is a legitimate, distinct path; only
				// empty segments in the middle are ambiguous.
				if i < len(escaped) {
					return "empty path segment"
				}
			case ".", "..":
				return "dot segment in path"
			}
			segStart = i + 1
			continue
		}
		c := escaped[i]
		if pathPlain[c] {
			continue
		}
		switch {
		case c == '%':
			if i+2 >= len(escaped) {
				return "truncated percent-encoding in path"
			}
			hi, lo := unhex(escaped[i+1]), unhex(escaped[i+2])
			if hi > 15 || lo > 15 {
				return "malformed percent-encoding in path"
			}
			if msg := encodedRefusal[hi<<4|lo]; msg != "" {
				return msg
			}
			if hi >= 8 {
				utf8Run[runLen] = hi<<4 | lo
				runLen++
				if utf8.FullRune(utf8Run[:runLen]) {
					// Invalid sequences (overlong forms, surrogates,
					// stray continuation bytes) decode as one RuneError
					// byte; an encoded U+FFFD decodes as three.
					if r, n := utf8.DecodeRune(utf8Run[:runLen]); r == utf8.RuneError && n <= 1 {
						return errInvalidUTF8
					}
					runLen = 0
				}
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return "control character in path"
		case c == '\\':
			return "backslash in path"
		case c == ';':
			return "\";\" in path: servers such as Tomcat and Jetty strip \";parameters\" from path segments"
		case c == '#':
			return "\"#\" in path"
		case c >= 0x80:
			return "raw non-ASCII byte in path (percent-encode it as UTF-8)"
		}
	}
	return ""
}

const errInvalidUTF8 = "percent-encoded bytes in path are not valid UTF-8"

// pathPlain marks the bytes checkPath accepts without a second look:
// letters, digits, and the URI characters with no special meaning to any
// backend's path decoding.
var pathPlain = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,=:@\"<>[]^`{|}?" {
		t[c] = true
	}
	return t
}()

// encodedRefusal is, for each decoded byte of a "%XX" escape, why the
// escape is refused ("" when it is accepted).
var encodedRefusal = func() (t [256]string) {
	for c := 0; c < 0x20; c++ {
		t[c] = "percent-encoded control character or NUL in path"
	}
	t[0x7f] = "percent-encoded control character or NUL in path"
	unreserved := "percent-encoded unreserved character in path: a conforming client never encodes letters, digits, \"-\", \".\", \"_\" or \"~\" (RFC 3986 §2.3), and a backend decodes it into a different path"
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~" {
		t[c] = unreserved
	}
	t['.'] = "encoded dot in path"
	t['/'] = "encoded slash in path"
	t['\\'] = "encoded backslash in path"
	t['%'] = "encoded \"%\" (%25) in path: double encoding"
	t[';'] = "encoded \";\" in path"
	return t
}()

// unhex returns the value of a hex digit, or 255.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// matchPrefix reports whether path is under prefix on a segment boundary
// and returns the remainder ("" or starting with "/").
func matchPrefix(prefix, path string) (string, bool) {
	if prefix == "/" {
		return path, true
	}
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest == "" || rest[0] == '/' {
		return rest, true
	}
	return "", false
}

// matchPrefixFold is matchPrefix for a route with match.path.caseSensitive
// false: ASCII letters of the prefix match in either case, as Envoy's
// case_sensitive: false does. Paths and prefixes are ASCII (checkPath,
// config validation), so ASCII folding is complete; the rest of the path
// is not folded and is forwarded as sent.
func matchPrefixFold(prefix, path string) (string, bool) {
	if prefix == "/" {
		return path, true
	}
	if len(path) < len(prefix) || !asciiEqualFold(path[:len(prefix)], prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest == "" || rest[0] == '/' {
		return rest, true
	}
	return "", false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// joinPath appends an escaped remainder to a base path without producing
// "//" or dropping a trailing slash the client sent.
func joinPath(base, rest string) string {
	base = strings.TrimSuffix(base, "/")
	if rest == "" {
		if base == "" {
			return "/"
		}
		return base
	}
	return base + rest
}
