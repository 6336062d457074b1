package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
// HTTP. t is config.BindTLS of a defaulted, validated config.
func newListenerTLS(t *config.ListenerTLS, log *slog.Logger) (*tlsconfig.Server, error) {
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
		if t.ClientCA != "" {
			mode = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, fmt.Errorf("unknown clientAuth %q", t.ClientAuth)
	}
	s, err := tlsconfig.NewServer(tlsconfig.ServerOptions{
		CertFile:       t.CertFile,
		KeyFile:        t.KeyFile,
		ClientCAFile:   t.ClientCA,
		ClientAuth:     mode,
		MinVersion:     mv,
		NextProtos:     alpn,
		ReloadInterval: tlsReloadInterval,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return s, nil
}

// serveTLS makes a newly opened port serve TLS when its bind has TLS
// material (pr.tls); plain ports are left alone. Each handshake takes the
// material of the runtime current at that moment.
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
	bs.ln = tls.NewListener(bs.ln, base)
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

// upstreamTransport returns the transport of a backend: the shared one, or
// for a backend with a tls block, its own (see tlsTransport).
func upstreamTransport(bc *config.Backend, d *deps) (http.RoundTripper, error) {
	t := bc.TLS
	if t == nil {
		return d.transport, nil
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
	tmpl, ok := d.transport.(*http.Transport)
	if !ok {
		tmpl = newTransport()
	}
	return &tlsTransport{client: c, template: tmpl}, nil
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
