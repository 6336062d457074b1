package gateway

import (
	"maps"
	"net/http"
)

// informer forwards a backend's informational responses (103 Early
// Hints, 102 Processing) on the lean path, as ReverseProxy does on the
// transport path (upstream.Informer).
//
// Their fields are filtered like a final response's, and more: the
// hop-by-hop ones go (and those Connection names), so do the headers
// the gateway owns (identity headers, those its policies set),
// Content-Length (a 1xx has no body, RFC 9110 section 8.6) and
// Mcp-Session-Id (the gateway binds sessions from the final response;
// an id in a hint would reach the client unbound).
//
// 100 Continue is not forwarded: it answers the gateway's request, not
// the client's. The client's Expect: 100-continue was answered by
// net/http's server when the gateway read the body, which it does
// before any backend is asked.
//
// The upstream client accepts at most 8 of them per request, each head
// within the response header limit (1 MiB).
type informer struct {
	w     http.ResponseWriter
	route *route
}

func (f *informer) Got1xx(code int, h http.Header) error {
	if code == http.StatusContinue {
		return nil
	}
	filter1xx(h, f.route)
	// WriteHeader(1xx) sends the whole header map and leaves it as it
	// is: the 1xx carries the backend's fields only, and the headers
	// already set for the final response stay for it.
	dst := f.w.Header()
	var saved http.Header
	if len(dst) > 0 {
		saved = maps.Clone(dst)
		clear(dst)
	}
	maps.Copy(dst, h)
	f.w.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, saved)
	return nil
}

// filter1xx removes from a 1xx's fields what the client must not get
// (informer).
func filter1xx(h http.Header, rt *route) {
	removeHopByHop(h)
	for _, k := range rt.stripHeaders {
		delete(h, k)
	}
	delete(h, "Content-Length")
	delete(h, "Mcp-Session-Id")
}

// informWriter applies informer's rules on the transport path, where
// ReverseProxy forwards each 1xx itself: it copies the fields into the
// header map, calls WriteHeader and clears the map.
type informWriter struct {
	http.ResponseWriter
	route *route
}

func (w informWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if code == http.StatusContinue {
			return
		}
		filter1xx(w.Header(), w.route)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets ReverseProxy's ResponseController reach Flush and Hijack.
func (w informWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
