package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/upstream"
)

// The lean forwarding path: plain-HTTP backends get the gateway's own
// HTTP/1.1 client (internal/upstream) instead of httputil.ReverseProxy
// and http.Transport. It does what ReverseProxy did for the gateway, with
// the same rules (rewrite, modifyResponse, the retry transport, the
// response copy), minus the outgoing request's header clone and the
// transport's goroutines per connection. Anything it is not sure about
// takes the ReverseProxy path (leanEligible).

// leanTransport adapts the client to the retry transport: each attempt
// writes the inbound header map as it is, rewritten on the fly by the
// exchange's Forwarding.
type leanTransport struct{ c *upstream.Client }

func (t leanTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var f *upstream.Forwarding
	if st, ok := r.Context().Value(upstreamKey{}).(*upstreamState); ok {
		f = &st.fwd
	}
	return t.c.Do(r, f)
}

// leanEligible reports whether r can take the lean path: no protocol
// upgrade (ReverseProxy handles 101 and the tunnel), no request trailers,
// and a body of known length.
func leanEligible(r *http.Request, buffered bool) bool {
	if _, up := r.Header["Upgrade"]; up {
		return false
	}
	if len(r.Trailer) > 0 {
		return false
	}
	return buffered || r.ContentLength >= 0
}

// Header names the forwarded request never carries from the client: the
// caller's cookies and, unless the route opts in, its credentials;
// Forwarded (ReverseProxy's Rewrite removes it too). X-Forwarded-For is
// listed for a peer address without a port, where ReverseProxy drops it.
var (
	omitNoAuth    = []string{"Forwarded", "Cookie", "Authorization"}
	omitAuth      = []string{"Forwarded", "Cookie"}
	omitNoAuthXFF = []string{"Forwarded", "Cookie", "Authorization", "X-Forwarded-For"}
	omitAuthXFF   = []string{"Forwarded", "Cookie", "X-Forwarded-For"}
)

// forwarding fills st.fwd with the header rules of rewrite and
// ProxyRequest.SetXForwarded: X-Forwarded-For appends the peer to the
// client's list, X-Forwarded-Host and -Proto say what this hop saw.
func (b *backend) forwarding(in *http.Request, st *upstreamState) {
	n := 0
	clientIP, _, err := net.SplitHostPort(in.RemoteAddr)
	if err == nil {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		st.fwdSet[n] = upstream.Field{Name: "X-Forwarded-For", Value: clientIP}
		n++
	}
	st.fwdSet[n] = upstream.Field{Name: "X-Forwarded-Host", Value: in.Host}
	n++
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	st.fwdSet[n] = upstream.Field{Name: "X-Forwarded-Proto", Value: proto}
	n++
	st.fwd.Set = st.fwdSet[:n]
	switch {
	case b.route.forwardAuth && err == nil:
		st.fwd.Omit = omitAuth
	case b.route.forwardAuth:
		st.fwd.Omit = omitAuthXFF
	case err == nil:
		st.fwd.Omit = omitNoAuth
	default:
		st.fwd.Omit = omitNoAuthXFF
	}
}

// targetURL is the backend URL of the exchange, as rewrite builds it.
func (b *backend) targetURL(in *http.Request, st *upstreamState) *url.URL {
	u := &url.URL{Scheme: b.target.Scheme, Host: b.target.Host, RawQuery: in.URL.RawQuery}
	var p string
	if st.rest == "" && b.endpoint != "" {
		p = b.endpoint
	} else {
		p = joinPath(b.base, st.rest)
	}
	u.RawPath = p
	u.Path = p
	if strings.IndexByte(p, '%') >= 0 {
		if up, err := url.PathUnescape(p); err == nil {
			u.Path = up
		}
	}
	if u.Path == u.RawPath {
		u.RawPath = ""
	}
	return u
}

// serveLean proxies one exchange on the lean path. Errors go to st.err,
// as ReverseProxy's ErrorHandler put them.
func (b *backend) serveLean(w http.ResponseWriter, in *http.Request, ctx context.Context, st *upstreamState) {
	// The forwarding headers say what this hop saw: read before the
	// request is rewritten for the backend (out may be in itself).
	b.forwarding(in, st)
	var out *http.Request
	if in.Context().Value(upstreamKey{}) == st {
		// The exchange's context finds st (backend.ServeHTTP): the
		// outgoing request is the inbound one, rewritten for the
		// backend until the exchange is proxied, then put back for the
		// policies it returns through.
		saved := *in
		defer func() { *in = saved }()
		out = in
	} else {
		out = in.WithContext(ctx)
	}
	out.URL = b.targetURL(in, st)
	out.Host = b.target.Host
	out.RequestURI = ""
	out.Close = false
	if out.ContentLength == 0 {
		out.Body = nil
	}
	// A pooled connection the backend closed while idle can be replayed
	// on a new one (upstream.Client.Do's rules): out has the buffered
	// body's GetBody from backend.ServeHTTP.
	st.info = informer{w: w, route: b.route}
	st.fwd.Inform = &st.info
	res, err := b.lean.RoundTrip(out)
	if err != nil {
		st.err = err
		return
	}
	removeHopByHop(res.Header)
	if err := b.modifyResponse(res); err != nil {
		_ = res.Body.Close()
		st.err = err
		return
	}
	dst := w.Header()
	for k, vv := range res.Header {
		dst[k] = append(dst[k], vv...)
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = append(dst["Trailer"], strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	// As ReverseProxy: an event stream, or a body of unknown length, is
	// flushed after every write, so SSE events reach the client one by
	// one.
	var flush func() error
	if res.ContentLength == -1 || mcp.IsEventStream(res.Header.Get("Content-Type")) {
		if f, ok := w.(http.Flusher); ok {
			flush = func() error { f.Flush(); return nil }
		} else {
			flush = http.NewResponseController(w).Flush
		}
	}
	if flush != nil {
		// The headers go now, before any event: a listening stream may
		// stay silent for long, and ReverseProxy flushed them at once too.
		_ = flush()
		// An HTTP/1.1 GET stream goes on without this goroutine
		// (parked.go): the handler returns, the stream ends later.
		if in.Method == http.MethodGet && len(res.Trailer) == 0 {
			if es, _ := st.ex.Edge.(*edgeState); es != nil && es.park != nil && es.park.park(w, in, res, st.ex) {
				return
			}
		}
	}
	if err := copyBody(w, res.Body, flush); err != nil {
		_ = res.Body.Close()
		// Mid-stream, all that can be done is abort the client's
		// connection so it learns the response broke (as ReverseProxy).
		if in.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	_ = res.Body.Close()
	if len(res.Trailer) > 0 {
		// Force chunking, so the trailers can follow the body.
		if flush != nil {
			_ = flush()
		} else {
			_ = http.NewResponseController(w).Flush()
		}
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = append(dst[k], vv...)
		}
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		dst[k] = append(dst[k], vv...)
	}
}

// copyBody streams src to w with a pooled buffer. A flushed body (a
// stream) whose reader can wait for data without a buffer (dataWaiter)
// holds the copy buffer only while data moves: an idle stream keeps
// none.
func copyBody(w io.Writer, src io.Reader, flush func() error) error {
	if dw, ok := src.(dataWaiter); ok && flush != nil {
		return copyStream(w, src, dw, flush)
	}
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush != nil {
				if ferr := flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return ferr
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// copyStream is copyBody for a stream: wait for data, then borrow the
// buffer for one read, write and flush.
func copyStream(w io.Writer, src io.Reader, dw dataWaiter, flush func() error) error {
	for {
		dw.WaitData()
		if done, err := copyStep(w, src, flush); done {
			return err
		}
	}
}

// copyStep moves one read of a stream whose data is waiting: it reports
// done at the body's end (err nil) or on a failure.
func copyStep(w io.Writer, src io.Reader, flush func() error) (done bool, err error) {
	buf := copyBuffers.Get()
	n, rerr := src.Read(buf)
	var werr error
	if n > 0 {
		if _, werr = w.Write(buf[:n]); werr == nil {
			if ferr := flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				werr = ferr
			}
		}
	}
	copyBuffers.Put(buf)
	switch {
	case werr != nil:
		return true, werr
	case rerr == io.EOF:
		return true, nil
	case rerr != nil:
		return true, rerr
	}
	return false, nil
}

// hopHeaders are httputil's hop-by-hop response fields.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop is ReverseProxy's response rule: the fields Connection
// names, then the hop-by-hop ones.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}
