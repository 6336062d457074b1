package gateway

import (
	"net/http"
	"strings"
)

// checkPath enforces the one path rule of the gateway: the request path is
// routed and forwarded exactly as received (escaped form), so anything that
// a backend could decode or normalise into a different path is refused with
// 400 instead of being "cleaned". That keeps the path the gateway routes
// and authorizes on identical to the path the backend receives.
//
// Refused: a path that does not start with "/", empty segments ("//"),
// dot segments ("." or ".."), backslashes, NUL and control bytes, and the
// percent-encodings of "/", "\", "." and NUL (%2F, %5C, %2E, %00), in any
// letter case.
func checkPath(escaped string) string {
	if escaped == "" || escaped[0] != '/' {
		return "path must start with /"
	}
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return "control character in path"
		case c == '\\':
			return "backslash in path"
		case c == '%':
			if i+2 >= len(escaped) {
				return "truncated percent-encoding in path"
			}
			switch strings.ToUpper(escaped[i+1 : i+3]) {
			case "2F", "5C", "2E", "00":
				return "encoded slash, backslash, dot or NUL in path"
			}
		}
	}
	if escaped == "/" {
		return ""
	}
	for _, seg := range strings.Split(escaped[1:], "/") {
		switch seg {
		case "":
			// A trailing slash is a legitimate, distinct path; only empty
			// segments in the middle are ambiguous.
			continue
		case ".", "..":
			return "dot segment in path"
		}
	}
	if strings.Contains(escaped, "//") {
		return "empty path segment"
	}
	return ""
}

// requestPath returns the escaped path exactly as the client sent it.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
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
