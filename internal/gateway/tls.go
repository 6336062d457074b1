package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig"
)

// TLS on binds and towards backends (docs/tls.md).
//
// A bind's TLS material belongs to the runtime (portRoutes.tls), so a
// reload that changes file paths or modes takes effect for new handshakes
// as soon as the new runtime is swapped in. The listener itself is wrapped
// once, when the port is opened; its GetConfigForClient looks up the
// current runtime. Turning TLS on or off for a port that is already open
// would need a different listener, so such a reload is rejected.

// tlsReloadInterval is how often the files behind TLS material are
// checked at most (tests shorten it).
var tlsReloadInterval = tlsconfig.DefaultReloadInterval

// alpn is offered on TLS binds: HTTP/2 and HTTP/1.1.
var alpn = []string{"h2", "http/1.1"}

var errNoTLS = errors.New("this port no longer serves TLS")

// newListenerTLS loads a bind's TLS material; nil when the bind is plain
// HTTP. cfg is defaulted and validated.
func newListenerTLS(cfg *config.Config, b *config.Bind, log *slog.Logger) (*tlsconfig.Server, error) {
	t := cfg.BindTLS(b)
	if t == nil {
		return nil, nil
	}
	mv, err := tlsconfig.Version(t.MinVersion)
	if err != nil {
		return nil, err
	}
	mode := tls.NoClientCert
	switch t.ClientAuth {
	case config.ClientAuthStrict:
		mode = tls.RequireAndVerifyClientCert
	case config.ClientAuthPermissive:
		mode = tls.VerifyClientCertIfGiven
	case config.ClientAuthNone:
	case "":
		if t.ClientCA != "" || len(t.TrustBundles) > 0 {
			mode = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, fmt.Errorf("unknown clientAuth %q", t.ClientAuth)
	}
	opts := tlsconfig.ServerOptions{
		CertFile:       t.CertFile,
		KeyFile:        t.KeyFile,
		ClientAuth:     mode,
		MinVersion:     mv,
		NextProtos:     alpn,
		ReloadInterval: tlsReloadInterval,
		Logger:         log,
	}
	if ct := cfg.BindClientTrust(b); ct != nil {
		opts.LocalTrustDomain = ct.Local
		for _, tb := range ct.Bundles {
			if tb.TrustDomain == "" {
				// Validate refuses this; never fall back to "any domain".
				return nil, errors.New("tls: the client CA bundle belongs to no single trust domain (set trustDomain or use trustBundles)")
			}
			opts.TrustBundles = append(opts.TrustBundles, tlsconfig.TrustBundle{TrustDomain: tb.TrustDomain, CAFile: tb.CAFile})
		}
	}
	s, err := tlsconfig.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return s, nil
}

// serveTLS makes a newly opened port serve TLS when its bind has TLS
// material (pr.tls); plain ports are left alone. Each handshake takes the
// material of the runtime current at that moment, and each connection
// gets a connTLS, where its requests cache what its certificate is worth
// under the material current for them (peerCheck).
func (g *Gateway) serveTLS(bs *boundServer, port int, pr *portRoutes) {
	if pr == nil || pr.tls == nil {
		return
	}
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: alpn,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if rt := g.cur.Load(); rt != nil {
				if p := rt.ports[port]; p != nil && p.tls != nil {
					return p.tls.GetConfigForClient(hello)
				}
			}
			return nil, errNoTLS
		},
	}
	// TLSConfig with "h2" in NextProtos makes Serve set up HTTP/2.
	bs.srv.TLSConfig = base
	bs.srv.Protocols.SetHTTP2(true)
	// HTTP/2 requests' contexts derive from the connection's, so one
	// connTLS serves every stream of a connection.
	bs.srv.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connTLSKey{}, &connTLS{})
	}
	bs.ln = tls.NewListener(bs.ln, base)
}

// Live revocation (docs/tls.md). A connection's handshake is checked once,
// against the material of that moment; a keep-alive or HTTP/2 connection
// then outlives reloads. So every request on a TLS port re-checks its
// connection against the material current for the request (the pinned
// runtime's, after any file reload): Material.Check, cached per connection
// and generation, so in the steady state a request costs a pointer
// comparison. A connection the current material would refuse at the
// handshake (its CA removed, or no certificate where one is now required)
// gets 401 and is closed: "Connection: close" on HTTP/1.1, GOAWAY on
// HTTP/2 (net/http turns that header into a graceful GOAWAY), so the
// client reconnects and meets the new material in a full handshake.

type connTLSKey struct{}

// connTLS is one TLS connection's cached check.
type connTLS struct {
	mu   sync.Mutex
	gen  *tlsconfig.Material
	peer tlsconfig.Peer
}

// peerCheck returns what r's connection's client certificate is worth
// under the current material of lt.
func peerCheck(r *http.Request, lt *tlsconfig.Server) tlsconfig.Peer {
	m := lt.Material()
	c, _ := r.Context().Value(connTLSKey{}).(*connTLS)
	if c == nil {
		return m.Check(r.TLS)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != m {
		// r.TLS is the same for every request of the connection.
		c.gen, c.peer = m, m.Check(r.TLS)
	}
	return c.peer
}

// checkTLSSwitch rejects a new runtime that turns TLS on or off for a port
// that is already open.
func (g *Gateway) checkTLSSwitch(rt *runtime) error {
	old := g.cur.Load()
	if old == nil {
		return nil
	}
	for port := range g.servers {
		np, op := rt.ports[port], old.ports[port]
		if np == nil || op == nil {
			continue
		}
		if (np.tls != nil) != (op.tls != nil) {
			return fmt.Errorf("bind %d: turning TLS on or off for a port that is already serving needs a restart (or move the bind to another port)", port)
		}
	}
	return nil
}

// upstreamTransport returns the fallback transport of a backend: the
// shared one for its HTTP version (httpversion.go), or for a backend
// with a tls block, its own (see tlsTransport). A backend that speaks
// HTTP/2 only sends upgrades over HTTP/1.1 (upgradeSplit).
func upstreamTransport(bc *config.Backend, u *url.URL, d *deps) (http.RoundTripper, error) {
	version := backendVersion(bc, u.Scheme)
	if d.versions == nil {
		return d.transport, nil
	}
	tmpl := d.versions.template(version, u.Scheme)
	t := bc.TLS
	if t == nil {
		if version == config.HTTPVersion2 {
			return upgradeSplit{h2: tmpl, h1: d.versions.h1}, nil
		}
		return tmpl, nil
	}
	mv, err := tlsconfig.Version(t.MinVersion)
	if err != nil {
		return nil, err
	}
	c, err := tlsconfig.NewClient(tlsconfig.ClientOptions{
		CAFile:         t.CAFile,
		CertFile:       t.CertFile,
		KeyFile:        t.KeyFile,
		ServerName:     t.ServerName,
		MinVersion:     mv,
		ReloadInterval: tlsReloadInterval,
		Logger:         d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("backend %q tls: %w", bc.Name, err)
	}
	tt := &tlsTransport{client: c, template: tmpl}
	if version == config.HTTPVersion2 {
		return upgradeSplit{h2: tt, h1: &tlsTransport{client: c, template: d.versions.h1}}, nil
	}
	return tt, nil
}

// tlsTransport is a backend's own transport: a clone of the shared
// transport's settings (timeouts, pool sizes, no compression) with the
// backend's TLS config. When the CA or client certificate files change, a
// new clone is made for new requests and the old one's idle connections
// are closed; connections still in use finish their request and are then
// closed by the idle timeout.
type tlsTransport struct {
	client   *tlsconfig.Client
	template *http.Transport

	mu  sync.Mutex // serialises rebuilds
	cur atomic.Pointer[tlsTransportState]
}

type tlsTransportState struct {
	cfg *tls.Config // the tlsconfig snapshot tr was built from
	tr  *http.Transport
}

func (t *tlsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.transport().RoundTrip(req)
}

func (t *tlsTransport) transport() *http.Transport {
	cfg := t.client.Config()
	if s := t.cur.Load(); s != nil && s.cfg == cfg {
		return s.tr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	if old != nil && old.cfg == cfg {
		return old.tr
	}
	tr := t.template.Clone()
	tr.TLSClientConfig = cfg.Clone()
	t.cur.Store(&tlsTransportState{cfg: cfg, tr: tr})
	if old != nil {
		old.tr.CloseIdleConnections()
	}
	return tr
}

// Cleanup closes idle connections when the runtime is retired.
func (t *tlsTransport) Cleanup() error {
	if s := t.cur.Load(); s != nil {
		s.tr.CloseIdleConnections()
	}
	return nil
}
