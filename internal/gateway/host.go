package gateway

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// hostPolicy decides, per bind, which Host header values are served and
// which may be reflected into URLs the gateway hands out (RFC 9728
// metadata, resource_metadata, agent cards and the agent listing).
//
// DNS rebinding: a page at http://evil.example whose name the attacker
// re-points to 127.0.0.1 reaches a loopback gateway with Host and Origin
// both evil.example. The Origin check alone (same-origin) passes, so the
// Host itself must be checked. The go-sdk streamable handler refuses a
// non-loopback Host on any connection that arrived on a loopback address;
// the gateway does the same when allowedHosts is unset, so putting it in
// front of a local MCP server does not remove that protection.
type hostPolicy struct {
	// patterns are binds[].allowedHosts; nil when unset.
	patterns []config.HostPattern
	// loopback is true when the bind listens on a loopback address only.
	loopback bool
}

func newHostPolicy(b *config.Bind) (hostPolicy, error) {
	hp := hostPolicy{loopback: isLoopbackName(b.Address)}
	for _, s := range b.AllowedHosts {
		p, err := config.ParseHostPattern(s)
		if err != nil {
			return hostPolicy{}, err
		}
		hp.patterns = append(hp.patterns, p)
	}
	return hp, nil
}

// check returns whether the request's Host is served on this bind, and
// the Host in canonical form (host[:port]) that the gateway may build URLs
// from, "" when it must not reflect this Host.
func (hp *hostPolicy) check(r *http.Request) (served bool, reflect string) {
	if len(hp.patterns) > 0 {
		host, port, ok := config.CanonicalHost(r.Host)
		if !ok {
			return false, ""
		}
		for _, p := range hp.patterns {
			if p.Match(host, port) {
				return true, joinHostPort(r.Host, host, port)
			}
		}
		return false, ""
	}
	if hp.loopback || arrivedOnLoopback(r) {
		host, port, ok := config.CanonicalHost(r.Host)
		if !ok || !isLoopbackName(host) {
			return false, ""
		}
		return true, joinHostPort(r.Host, host, port)
	}
	// Not a loopback connection and no allowedHosts: served whatever its
	// Host (a Service is reached by many names), but nothing the client
	// wrote is echoed back as the gateway's address.
	return true, ""
}

// joinHostPort is host[:port], which is the raw Host itself (no
// allocation) when that was canonical already.
func joinHostPort(raw, host, port string) string {
	if port == "" {
		if raw == host {
			return raw
		}
		return host
	}
	if len(raw) == len(host)+1+len(port) && raw[:len(host)] == host && raw[len(host)+1:] == port {
		return raw
	}
	return host + ":" + port
}

// arrivedOnLoopback reports whether the connection's local address is a
// loopback address (a wildcard bind reached through 127.0.0.1 or ::1).
func arrivedOnLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || a == nil {
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isLoopbackName reports whether host (no port; IPv6 with or without
// brackets) is "localhost" or a loopback IP address, as go-sdk's
// util.IsLoopback does.
func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
