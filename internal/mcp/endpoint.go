package mcp

import (
	"net/url"
	"strings"
)

// EndpointRewrite maps the data of a legacy HTTP+SSE `endpoint` event (the
// URI the client must POST messages to) from the backend's URL space into
// the gateway's.
//
// data may be an absolute URL, an absolute path or a relative reference; a
// relative reference is resolved against backendSSEPath, the escaped path
// (URL.EscapedPath) of the backend SSE request that produced the event.
// backendBase and gatewayBase are plain paths; "" and "/" mean the root. The resolved path must lie
// under backendBase (a path prefix matched on a segment boundary), which is
// replaced by gatewayBase; the query is kept and the fragment dropped.
// Scheme, host and user info are always dropped: the backend's address must
// not leak to clients, and the gateway routes by path to its own configured
// backend regardless of the host the backend named.
//
// It reports false when data cannot be mapped, for example when it points
// outside backendBase, uses dot segments (even percent-encoded) to climb out
// of it, or is not an http(s) or path reference. The caller should then fail
// the stream rather than hand the client an unusable or unsafe URI.
func EndpointRewrite(data, backendSSEPath, backendBase, gatewayBase string) (string, bool) {
	data = strings.TrimSpace(data)
	if data == "" || strings.ContainsAny(data, "\\\x00") {
		return "", false
	}
	ref, err := url.Parse(data)
	if err != nil || ref.Opaque != "" {
		return "", false
	}
	switch strings.ToLower(ref.Scheme) {
	case "", "http", "https":
	default:
		return "", false
	}
	if ref.Scheme == "" && ref.Host == "" && !strings.HasPrefix(ref.Path, "/") {
		if backendSSEPath == "" {
			backendSSEPath = trimSlash(backendBase) + "/"
		}
		base, err := url.Parse(backendSSEPath)
		if err != nil || base.Scheme != "" || base.Host != "" || !strings.HasPrefix(base.Path, "/") {
			return "", false
		}
		ref = base.ResolveReference(ref)
	} else {
		// Resolve against the root so dot segments are removed the same
		// way for every form of reference.
		ref = (&url.URL{Path: "/"}).ResolveReference(&url.URL{
			Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery,
		})
	}
	if ref.Path == "" {
		ref.Path = "/"
	}
	// ResolveReference only removes literal dot segments; a backend that
	// decodes %2e before normalising would still climb out of the prefix.
	for seg := range strings.SplitSeq(ref.Path, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	bb, gb := trimSlash(backendBase), trimSlash(gatewayBase)
	escaped := ref.EscapedPath()
	rest, ok := underPrefix(escaped, bb)
	if !ok {
		return "", false
	}
	// The decoded path must agree, or an encoded slash could make the
	// prefix match on one reading and not the other.
	if _, ok := underPrefix(ref.Path, bb); !ok {
		return "", false
	}
	out := gb + rest
	if out == "" {
		out = "/"
	}
	if ref.RawQuery != "" {
		out += "?" + ref.RawQuery
	}
	return out, true
}

func trimSlash(p string) string { return strings.TrimRight(p, "/") }

// underPrefix reports whether path lies under prefix on a segment boundary
// and returns the remainder (empty or starting with '/').
func underPrefix(path, prefix string) (string, bool) {
	if !strings.HasPrefix(path, "/") {
		return "", false
	}
	if path == prefix {
		return "", true
	}
	if strings.HasPrefix(path, prefix+"/") {
		return path[len(prefix):], true
	}
	return "", false
}
