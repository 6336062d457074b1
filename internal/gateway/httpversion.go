package gateway

import (
	"net/http"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// HTTP versions towards backends (docs/proxy.md#http-versions-to-backends).
//
// backends[].http.version picks the transport of a backend. http1 on an
// http:// address takes the lean client (forward.go), with the shared
// HTTP/1.1 transport as its fallback. Every other choice goes through
// ReverseProxy and one of the transports below, all clones of the shared
// one (timeouts, pool sizes, no compression, the same dialer) that differ
// only in their Protocols. They are long-lived like the shared transport,
// so their connections, and the streams multiplexed on them, survive
// reloads.
//
// Protocols is set explicitly on each: an http.Transport with a custom
// dialer or TLS config otherwise quietly drops HTTP/2 (Go issue 14275),
// which is why every https:// backend spoke HTTP/1.1 before.

// h2SendPingTimeout is how long an HTTP/2 connection to a backend may
// stay silent before the gateway pings it; one that does not answer
// within h2PingTimeout is closed. Many streams ride one connection, so a
// connection that died without a FIN (a backend host gone, a NAT entry
// dropped) would otherwise hang every one of them until its idle timeout.
//
// h2StreamWindow is the flow-control window of one stream from a
// backend: what the gateway buffers for a stream whose client reads
// slower than the backend writes (Go's client default is 4 MiB; 1 MiB is
// Go's server default, and plenty for the bandwidth-delay product of a
// backend network). The connection window stays Go's default (1 GiB):
// the gateway returns it only as streams are read, so a smaller one
// would let a few slow clients stall every stream on the connection.
const (
	h2SendPingTimeout = 30 * time.Second
	h2PingTimeout     = 15 * time.Second
	h2StreamWindow    = 1 << 20
)

// versionTransports are the fallback transports by HTTP version.
type versionTransports struct {
	h1   *http.Transport // HTTP/1.1 only: the shared transport
	h2c  *http.Transport // cleartext HTTP/2 with prior knowledge
	h2   *http.Transport // TLS, ALPN h2 only
	auto *http.Transport // TLS, ALPN h2 then http/1.1
}

// newVersionTransports derives the HTTP/2 transports from base, which
// becomes the HTTP/1.1-only one.
func newVersionTransports(base *http.Transport) *versionTransports {
	var p1 http.Protocols
	p1.SetHTTP1(true)
	base.Protocols = &p1
	with := func(set func(*http.Protocols)) *http.Transport {
		t := base.Clone()
		var p http.Protocols
		set(&p)
		t.Protocols = &p
		// The concurrent-stream limit is the backend's
		// (SETTINGS_MAX_CONCURRENT_STREAMS); past it the transport opens
		// another connection rather than queue (StrictMaxConcurrentRequests
		// false), and the circuit breaker's maxRequests bounds the
		// requests, hence the connections, per backend.
		t.HTTP2 = &http.HTTP2Config{SendPingTimeout: h2SendPingTimeout, PingTimeout: h2PingTimeout,
			MaxReceiveBufferPerStream: h2StreamWindow}
		return t
	}
	return &versionTransports{
		h1:   base,
		h2c:  with(func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }),
		h2:   with(func(p *http.Protocols) { p.SetHTTP2(true) }),
		auto: with(func(p *http.Protocols) { p.SetHTTP1(true); p.SetHTTP2(true) }),
	}
}

// backendVersion is bc's http.version, defaulted as SetDefaults does.
func backendVersion(bc *config.Backend, scheme string) string {
	if bc.HTTP != nil && bc.HTTP.Version != "" {
		return bc.HTTP.Version
	}
	if scheme == "https" {
		return config.HTTPVersionAuto
	}
	return config.HTTPVersion1
}

// template is the transport for version over scheme.
func (vt *versionTransports) template(version, scheme string) *http.Transport {
	switch {
	case version == config.HTTPVersion2 && scheme == "http":
		return vt.h2c
	case version == config.HTTPVersion2:
		return vt.h2
	case version == config.HTTPVersionAuto && scheme == "https":
		return vt.auto
	}
	return vt.h1
}

// upgradeSplit sends protocol upgrades (WebSocket and the like) over
// HTTP/1.1 to a backend that otherwise speaks HTTP/2 only: HTTP/2 has
// no Upgrade (RFC 9113, section 8.2.2) and Go's client does not do
// extended CONNECT, so h1 is the only way such a request can succeed.
type upgradeSplit struct {
	h2, h1 http.RoundTripper
}

func (s upgradeSplit) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, up := r.Header["Upgrade"]; up {
		return s.h1.RoundTrip(r)
	}
	return s.h2.RoundTrip(r)
}

// Cleanup closes the backend's own transports' idle connections.
func (s upgradeSplit) Cleanup() error {
	for _, t := range []http.RoundTripper{s.h2, s.h1} {
		if c, ok := t.(policy.Cleaner); ok {
			_ = c.Cleanup()
		}
	}
	return nil
}
