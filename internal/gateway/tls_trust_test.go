package gateway

// Regression tests for issue #19, findings 1 (certificate trust: one CA
// bundle per SPIFFE trust domain) and 2 (live revocation: a reload reaches
// connections already open). End to end through the real gateway over TLS
// on loopback.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

const (
	trustPlanner   = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	trustPlannerID = "spiffe://cluster.local/ns/agent-core-infra/sa/planning-agent-sa"
)

func trustCert(t *testing.T, ca *tlstest.CA, spiffeID string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, tlstest.Options{CommonName: "agent", Client: true, URIs: []string{spiffeID}}).TLS(t)
}

// trustExpect sends one request and checks the status and, for 200, the
// identity the backend saw; a refused request must not reach the backend.
func trustExpect(t *testing.T, be *tlsEchoBackend, c *http.Client, url string, status int, identity string) {
	t.Helper()
	before := be.calls.Load()
	res, e, err := tlsGet(t, c, url)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d", url, res.StatusCode, status)
	}
	if status != http.StatusOK {
		if be.calls.Load() != before {
			t.Fatal("refused request reached the backend")
		}
		return
	}
	if strings.Join(e.Identity, "|") != identity {
		t.Fatalf("backend saw X-Agent-Identity %q, want %q", e.Identity, identity)
	}
}

// The guide's security.mtls form with a certificate-only route: the client
// CA is the bundle of cluster.local (the default), so a certificate of
// that same CA naming another trust domain is no identity.
func TestTrustDomainOfSingleClientCA(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	src := `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: agents
            match: {path: {prefix: /agents}}
            authentication:
              clientCertificate: true
            backends: [{name: b, address: "%s"}]
security:
  mtls:
    enabled: true
    mode: STRICT
    certificateAuthority: %s
    serverCert: %s
    serverKey: %s
`
	_, port := tlsApply(t, src, be.URL, p.clientCAF, p.serverCert, p.serverKey)
	url := fmt.Sprintf("https://127.0.0.1:%d/agents", port)
	trustExpect(t, be, p.client(trustCert(t, p.clientCA, trustPlannerID)), url, http.StatusOK, trustPlanner)
	evil := trustCert(t, p.clientCA, "spiffe://evil.example/ns/agent-core-infra/sa/planning-agent-sa")
	trustExpect(t, be, p.client(evil), url, http.StatusUnauthorized, "")
}

// Two trust domains, each with its own CA: a CA trusted for one domain
// cannot mint identities in the other, and the two domains' principals
// never collide.
func TestTrustBundlePerDomain(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	partnerCA := tlstest.NewCA(t, "partner-ca")
	partnerCAF := tlstest.WriteFile(t, p.dir, "partner-ca.crt", partnerCA.PEM)
	const route = `
    listeners:
      - name: l
        routes:
          - name: agents
            match: {path: {prefix: /agents}}
            authentication:
              clientCertificate: true
              trustDomains: [cluster.local, partner.example]
            backends: [{name: b, address: "%s"}]
`
	// The old way to trust both CAs, one bundle for both domains, is now
	// refused: any CA in it could issue identities in either domain.
	union := tlstest.WriteFile(t, p.dir, "union.crt", append(append([]byte{}, p.clientCA.PEM...), partnerCA.PEM...))
	cfg, err := tlsParse(fmt.Sprintf(`
binds:
  - port: 8443
    address: 127.0.0.1
    tls:
      certFile: %s
      keyFile: %s
      clientCA: %s
`+route, p.serverCert, p.serverKey, union, be.URL))
	if err == nil || !strings.Contains(err.Error(), "test.yaml:8:17: binds[0].tls.clientCA: clientCA is a single trust bundle") {
		t.Fatalf("one clientCA for two trust domains: err = %v (config %v)", err, cfg != nil)
	}

	_, port := tlsApply(t, `
binds:
  - port: %d
    address: 127.0.0.1
    tls:
      certFile: %s
      keyFile: %s
      trustDomain: cluster.local
      trustBundles:
        - {trustDomain: cluster.local, caFile: "%s"}
        - {trustDomain: partner.example, caFile: "%s"}
`+route, p.serverCert, p.serverKey, p.clientCAF, partnerCAF, be.URL)
	url := fmt.Sprintf("https://127.0.0.1:%d/agents", port)
	const partnerID = "spiffe://partner.example/ns/agent-core-infra/sa/planning-agent-sa"
	for _, tc := range []struct {
		name     string
		cert     tls.Certificate
		status   int
		identity string
	}{
		{"cluster.local CA, cluster.local ID", trustCert(t, p.clientCA, trustPlannerID), 200, trustPlanner},
		{"partner CA forging a cluster.local ID", trustCert(t, partnerCA, trustPlannerID), 401, ""},
		{"cluster.local CA forging a partner ID", trustCert(t, p.clientCA, partnerID), 401, ""},
		// Another domain's ServiceAccount is not this cluster's: its
		// principal is its SPIFFE ID.
		{"partner CA, partner ID", trustCert(t, partnerCA, partnerID), 200, partnerID},
		{"trusted CA, unknown trust domain", trustCert(t, p.clientCA, "spiffe://evil.example/ns/agent-core-infra/sa/planning-agent-sa"), 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trustExpect(t, be, p.client(tc.cert), url, tc.status, tc.identity)
		})
	}
}

// tlsParse parses, defaults and validates a config.
func tlsParse(src string) (*config.Config, error) {
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	cfg.SetDefaults()
	return cfg, cfg.Validate()
}

// revClient keeps its connections open and counts the TCP connections it
// makes, so a test can tell a request on an old connection from one on a
// new connection.
type revClient struct {
	*http.Client
	dials atomic.Int64
}

func newRevClient(p *tlsPKI, h2 bool, certs ...tls.Certificate) *revClient {
	cfg := p.tlsConfig(certs...)
	if !h2 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	c := &revClient{}
	var d net.Dialer
	c.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
	return c
}

const revConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    tls:
      certFile: %s
      keyFile: %s
      clientCA: %s
      clientAuth: %s
    listeners:
      - name: l
        routes:
          - name: agents
            match: {path: {prefix: /agents}}
            authentication:
              clientCertificate: true
            backends: [{name: b, address: "%s"}]
          - name: open
            match: {path: {prefix: /open}}
            backends: [{name: b, address: "%s"}]
`

// A reload that drops a client CA, or moves a port from PERMISSIVE to
// STRICT, reaches connections already open: over HTTP/1.1 keep-alive and
// HTTP/2 alike, their next request is refused and the connection closed,
// and the client's next connection meets the new material at the
// handshake. Connections the new material accepts are not disturbed.
func TestLiveRevocation(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		for _, change := range []string{"CA file rotated", "config reload drops the CA", "PERMISSIVE to STRICT"} {
			t.Run(proto+" "+change, func(t *testing.T) {
				h2 := proto == "HTTP/2.0"
				p := newTLSPKI(t)
				be := newTLSEchoBackend(t)
				droppedCA := tlstest.NewCA(t, "dropped-ca")
				both := tlstest.WriteFile(t, p.dir, "ca.crt", append(append([]byte{}, p.clientCA.PEM...), droppedCA.PEM...))
				keepOnly := tlstest.WriteFile(t, p.dir, "keep.crt", p.clientCA.PEM)
				port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
				g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				t.Cleanup(func() { _ = g.Shutdown(2 * time.Second) })
				apply := func(caFile, mode string) {
					t.Helper()
					if err := g.Apply(context.Background(), tlsMustConfig(t, port, admin, revConfig, p.serverCert, p.serverKey, caFile, mode, be.URL, be.URL)); err != nil {
						t.Fatal(err)
					}
				}
				base := fmt.Sprintf("https://127.0.0.1:%d", port)

				// victim: the connection that loses its standing; keeper:
				// one that keeps it.
				var victim *revClient
				var path, identity string
				keeper := newRevClient(p, h2, trustCert(t, p.clientCA, "spiffe://cluster.local/ns/agent-core-infra/sa/keeper"))
				if change == "PERMISSIVE to STRICT" {
					apply(both, "PERMISSIVE")
					victim, path = newRevClient(p, h2), "/open"
				} else {
					apply(both, "STRICT")
					victim, path, identity = newRevClient(p, h2, trustCert(t, droppedCA, trustPlannerID)), "/agents", trustPlanner
				}
				for _, c := range []*revClient{victim, keeper} {
					for range 2 {
						res, e, err := tlsGet(t, c.Client, base+path)
						if err != nil || res.StatusCode != http.StatusOK || res.Proto != proto {
							t.Fatalf("before the change: res %v err %v", res, err)
						}
						if c == victim && strings.Join(e.Identity, "|") != identity {
							t.Fatalf("identity %q, want %q", e.Identity, identity)
						}
					}
					if c.dials.Load() != 1 {
						t.Fatalf("%d connections, want one kept open", c.dials.Load())
					}
				}

				switch change {
				case "CA file rotated":
					tlstest.WriteFile(t, p.dir, "ca.crt", p.clientCA.PEM)
					time.Sleep(tlsReloadWait) // the next request notices the change
				case "config reload drops the CA":
					apply(keepOnly, "STRICT")
				case "PERMISSIVE to STRICT":
					apply(both, "STRICT")
				}

				// The old connection: refused, and told to go away.
				before := be.calls.Load()
				res, _, err := tlsGet(t, victim.Client, base+path)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != http.StatusUnauthorized || victim.dials.Load() != 1 {
					t.Fatalf("old connection after the change: status %d, %d connections; want 401 on the open connection", res.StatusCode, victim.dials.Load())
				}
				if !h2 && !res.Close {
					t.Fatal("HTTP/1.1: the refused connection is not closed")
				}
				if be.calls.Load() != before {
					t.Fatal("refused request reached the backend")
				}
				// The client's next request needs a new connection (after
				// Connection: close, or the GOAWAY), whose handshake the
				// new material refuses. Bounded: on HTTP/2 the client may
				// send once more before it reads the GOAWAY; that request
				// is refused too.
				for i := 0; ; i++ {
					res, _, err := tlsGet(t, victim.Client, base+path)
					if err != nil {
						break
					}
					if res.StatusCode != http.StatusUnauthorized || i == 20 {
						t.Fatalf("request %d after the change: status %d, want a refused handshake", i, res.StatusCode)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if victim.dials.Load() < 2 {
					t.Fatal("no new connection after the refusal")
				}
				// A connection the new material accepts keeps working.
				res, _, err = tlsGet(t, keeper.Client, base+"/agents")
				if err != nil || res.StatusCode != http.StatusOK || keeper.dials.Load() != 1 {
					t.Fatalf("unaffected connection: res %v err %v dials %d", res, err, keeper.dials.Load())
				}
			})
		}
	}
}
