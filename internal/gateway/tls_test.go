package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

func init() {
	// Certificate rotation tests wait for a few reload intervals.
	tlsReloadInterval = 50 * time.Millisecond
}

const tlsReloadWait = 200 * time.Millisecond

// tlsPKI is the material of one test: the gateway's CA and server
// certificate, and a client CA with client certificates.
type tlsPKI struct {
	dir        string
	serverCA   *tlstest.CA
	clientCA   *tlstest.CA
	otherCA    *tlstest.CA // not trusted by the gateway
	serverCert string
	serverKey  string
	clientCAF  string
}

func newTLSPKI(t *testing.T) *tlsPKI {
	t.Helper()
	p := &tlsPKI{dir: t.TempDir()}
	p.serverCA = tlstest.NewCA(t, "gateway-ca")
	p.clientCA = tlstest.NewCA(t, "client-ca")
	p.otherCA = tlstest.NewCA(t, "other-ca")
	p.serverCert, p.serverKey = tlstest.WriteLeaf(t, p.dir, "tls", p.serverCA.Issue(t, tlstest.Localhost()))
	p.clientCAF = tlstest.WriteFile(t, p.dir, "ca.crt", p.clientCA.PEM)
	return p
}

func tlsSPIFFEClient(t *testing.T, ca *tlstest.CA, ns, sa string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, tlstest.Options{CommonName: sa, Client: true,
		URIs: []string{"spiffe://cluster.local/ns/" + ns + "/sa/" + sa}}).TLS(t)
}

// client returns an HTTPS client trusting the gateway's CA that presents
// certs (none when empty). Each request uses a new connection, so every
// request is a new handshake.
func (p *tlsPKI) client(certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   p.tlsConfig(certs...),
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}}
}

// tlsConfig presents the certificate whatever CAs the server asks for
// (crypto/tls would otherwise hold back a certificate of a CA the server
// does not list, and the server would never see it).
func (p *tlsPKI) tlsConfig(certs ...tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: tlstest.Pool(p.serverCA)}
	if len(certs) > 0 {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	return c
}

// tlsEchoBackend answers with the identity headers it received.
type tlsEchoBackend struct {
	*httptest.Server
	calls atomic.Int64
}

type tlsEchoed struct {
	Identity []string `json:"identity"`
	Proto    string   `json:"proto"`
	XFProto  string   `json:"xfProto"`
	Auth     string   `json:"auth"`
	ClientCN string   `json:"clientCN"`
}

func tlsEchoHandler(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		e := tlsEchoed{Identity: r.Header.Values("X-Agent-Identity"), Proto: r.Proto, XFProto: r.Header.Get("X-Forwarded-Proto"), Auth: r.Header.Get("Authorization")}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			e.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	})
}

func newTLSEchoBackend(t *testing.T) *tlsEchoBackend {
	t.Helper()
	b := &tlsEchoBackend{}
	b.Server = httptest.NewServer(tlsEchoHandler(&b.calls))
	t.Cleanup(b.Close)
	return b
}

// tlsApply starts a gateway with src (which has %d for the bind port).
func tlsApply(t *testing.T, src string, args ...any) (*Gateway, int) {
	t.Helper()
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = g.Shutdown(2 * time.Second) })
	if err := g.Apply(context.Background(), tlsMustConfig(t, port, admin, src, args...)); err != nil {
		t.Fatal(err)
	}
	return g, port
}

func tlsMustConfig(t *testing.T, port, admin int, src string, args ...any) *config.Config {
	t.Helper()
	s := fmt.Sprintf(src, append([]any{port}, args...)...)
	s += fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	return gatewaytest.Config(t, s)
}

func tlsGet(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, tlsEchoed, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, tlsEchoed{}, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var e tlsEchoed
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("backend body %q: %v", body, err)
		}
	}
	return res, e, nil
}

const tlsBindConfig = `
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
          - name: r
            match:
              path:
                prefix: /
            backends:
              - name: b
                address: %s
`

func TestTLSClientAuthModes(t *testing.T) {
	p := newTLSPKI(t)
	good := p.clientCA.Issue(t, tlstest.Options{CommonName: "good", Client: true}).TLS(t)
	foreign := p.otherCA.Issue(t, tlstest.Options{CommonName: "foreign", Client: true}).TLS(t)
	for _, tc := range []struct {
		mode                    string
		none, goodOK, foreignOK bool
	}{
		{config.ClientAuthStrict, false, true, false},
		{config.ClientAuthPermissive, true, true, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			be := newTLSEchoBackend(t)
			_, port := tlsApply(t, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, tc.mode, be.URL)
			url := fmt.Sprintf("https://127.0.0.1:%d/x", port)
			for _, c := range []struct {
				name  string
				certs []tls.Certificate
				ok    bool
			}{
				{"no certificate", nil, tc.none},
				{"trusted certificate", []tls.Certificate{good}, tc.goodOK},
				{"certificate of another CA", []tls.Certificate{foreign}, tc.foreignOK},
			} {
				before := be.calls.Load()
				res, e, err := tlsGet(t, p.client(c.certs...), url)
				if !c.ok {
					if err == nil {
						t.Fatalf("%s: got %d, want a failed handshake", c.name, res.StatusCode)
					}
					if be.calls.Load() != before {
						t.Fatalf("%s: request reached the backend", c.name)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if res.StatusCode != http.StatusOK || res.Proto != "HTTP/2.0" || e.XFProto != "https" {
					t.Fatalf("%s: status %d proto %s x-forwarded-proto %q", c.name, res.StatusCode, res.Proto, e.XFProto)
				}
			}
		})
	}
}

// A STRICT listener refuses a client without a certificate, and both
// modes refuse a certificate of another CA, during the handshake itself:
// the TLS alert comes back before any HTTP byte.
func TestTLSRejectsAtHandshake(t *testing.T) {
	p := newTLSPKI(t)
	foreign := p.otherCA.Issue(t, tlstest.Options{CommonName: "foreign", Client: true}).TLS(t)
	for _, tc := range []struct {
		mode  string
		certs []tls.Certificate
		alert []string
	}{
		{"STRICT", nil, []string{"certificate required", "handshake failure"}},
		{"STRICT", []tls.Certificate{foreign}, []string{"bad certificate", "unknown certificate authority"}},
		{"PERMISSIVE", []tls.Certificate{foreign}, []string{"bad certificate", "unknown certificate authority"}},
	} {
		be := newTLSEchoBackend(t)
		_, port := tlsApply(t, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, tc.mode, be.URL)
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := p.tlsConfig(tc.certs...)
			cfg.MaxVersion = v
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
			if err == nil {
				// TLS 1.3: the client finishes first; the server's alert
				// arrives on the first read.
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			found := false
			for _, a := range tc.alert {
				found = found || err != nil && strings.Contains(err.Error(), a)
			}
			if !found {
				t.Fatalf("%s, %d certs, TLS %x: err = %v, want one of %q", tc.mode, len(tc.certs), v, err, tc.alert)
			}
		}
		if be.calls.Load() != 0 {
			t.Fatal("backend reached")
		}
	}
}

func TestTLSNoClientAuthAndMinVersion(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	cfg := strings.Replace(tlsBindConfig, "      clientCA: %s\n      clientAuth: %s\n", "      minVersion: 1.3\n", 1)
	_, port := tlsApply(t, cfg, p.serverCert, p.serverKey, be.URL)
	url := fmt.Sprintf("https://127.0.0.1:%d/x", port)
	res, _, err := tlsGet(t, p.client(), url)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("res %v err %v", res, err)
	}
	c := p.client()
	c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
	if _, _, err := tlsGet(t, c, url); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.2 client against minVersion 1.3: err = %v", err)
	}
	// Plain HTTP on a TLS port is refused by the TLS layer.
	res, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/x", port))
	if err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on a TLS port: %d", res.StatusCode)
		}
	}
	if be.calls.Load() != 1 {
		t.Fatalf("backend calls = %d, want 1", be.calls.Load())
	}
}

// The seed's security.mtls block turns every bind into a STRICT mTLS
// listener.
func TestSeedSecurityMTLS(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	src := `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /
            backends:
              - name: b
                address: %s
security:
  mtls:
    enabled: true
    mode: STRICT
    certificateAuthority: %s
    serverCert: %s
    serverKey: %s
`
	_, port := tlsApply(t, src, be.URL, p.clientCAF, p.serverCert, p.serverKey)
	url := fmt.Sprintf("https://127.0.0.1:%d/x", port)
	if _, _, err := tlsGet(t, p.client(), url); err == nil {
		t.Fatal("client without certificate accepted")
	}
	good := p.clientCA.Issue(t, tlstest.Options{CommonName: "good", Client: true}).TLS(t)
	if res, _, err := tlsGet(t, p.client(good), url); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("res %v err %v", res, err)
	}
}

func tlsServedSerial(t *testing.T, p *tlsPKI, port int, certs ...tls.Certificate) (*big.Int, error) {
	t.Helper()
	var serial *big.Int
	c := p.client(certs...)
	c.Transport.(*http.Transport).TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
		serial = cs.PeerCertificates[0].SerialNumber
		return nil
	}
	res, _, err := tlsGet(t, c, fmt.Sprintf("https://127.0.0.1:%d/x", port))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	return serial, nil
}

// Rotating the certificate, key and client CA files takes effect for new
// handshakes without a restart or a config reload.
func TestTLSRotation(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	_, port := tlsApply(t, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, "STRICT", be.URL)
	oldClient := p.clientCA.Issue(t, tlstest.Options{CommonName: "old", Client: true}).TLS(t)

	s1, err := tlsServedSerial(t, p, port, oldClient)
	if err != nil {
		t.Fatal(err)
	}
	next := p.serverCA.Issue(t, tlstest.Localhost())
	tlstest.WriteLeaf(t, p.dir, "tls", next)
	time.Sleep(tlsReloadWait)
	// The first handshake after the interval checks the files and gets
	// the new certificate.
	s2, err := tlsServedSerial(t, p, port, oldClient)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Cmp(s1) == 0 || s2.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("served serial %v, want the rotated %v (was %v)", s2, next.Cert.SerialNumber, s1)
	}

	// Client CA rotation: the new CA's clients are accepted, the old
	// CA's are refused.
	newCA := tlstest.NewCA(t, "client-ca-2")
	tlstest.WriteFile(t, p.dir, "ca.crt", newCA.PEM)
	time.Sleep(tlsReloadWait)
	if _, err := tlsServedSerial(t, p, port, oldClient); err == nil {
		t.Fatal("client of the retired CA accepted after rotation")
	}
	newClient := newCA.Issue(t, tlstest.Options{CommonName: "new", Client: true}).TLS(t)
	if _, err := tlsServedSerial(t, p, port, newClient); err != nil {
		t.Fatalf("client of the new CA: %v", err)
	}

	// A broken rotation (garbage key) keeps the last good material.
	tlstest.WriteFile(t, p.dir, "tls.key", []byte("garbage"))
	time.Sleep(tlsReloadWait)
	s3, err := tlsServedSerial(t, p, port, newClient)
	if err != nil || s3.Cmp(s2) != 0 {
		t.Fatalf("after a bad key: serial %v err %v, want %v", s3, err, s2)
	}
}

// A reload can change TLS files; it cannot turn TLS on or off for a port
// that is open; missing files fail Apply (Validate does no I/O).
func TestTLSReload(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = g.Shutdown(2 * time.Second) })
	ctx := context.Background()

	missing := tlsMustConfig(t, port, admin, tlsBindConfig, p.dir+"/nope.crt", p.serverKey, p.clientCAF, "STRICT", be.URL)
	if err := g.Apply(ctx, missing); err == nil || !strings.Contains(err.Error(), "nope.crt") || !strings.Contains(err.Error(), fmt.Sprintf("bind %d", port)) {
		t.Fatalf("missing certificate file: err = %v", err)
	}
	if g.Addr(port) != nil {
		t.Fatal("port opened by a failed Apply")
	}

	if err := g.Apply(ctx, tlsMustConfig(t, port, admin, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, "STRICT", be.URL)); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/x", port)
	if _, _, err := tlsGet(t, p.client(), url); err == nil {
		t.Fatal("STRICT accepted a client without certificate")
	}
	// Reload to PERMISSIVE with another certificate: new handshakes use it.
	other := p.serverCA.Issue(t, tlstest.Localhost())
	oc, ok := tlstest.WriteLeaf(t, p.dir, "other", other)
	if err := g.Apply(ctx, tlsMustConfig(t, port, admin, tlsBindConfig, oc, ok, p.clientCAF, "PERMISSIVE", be.URL)); err != nil {
		t.Fatal(err)
	}
	serial, err := tlsServedSerial(t, p, port)
	if err != nil || serial.Cmp(other.Cert.SerialNumber) != 0 {
		t.Fatalf("after reload: serial %v err %v", serial, err)
	}
	// Turning TLS off on the open port is refused; the port keeps TLS.
	plain := strings.Replace(tlsBindConfig, "    tls:\n      certFile: %s\n      keyFile: %s\n      clientCA: %s\n      clientAuth: %s\n", "", 1)
	if err := g.Apply(ctx, tlsMustConfig(t, port, admin, plain, be.URL)); err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("turning TLS off: err = %v", err)
	}
	if _, err := tlsServedSerial(t, p, port); err != nil {
		t.Fatalf("TLS port broken by a rejected reload: %v", err)
	}
	// A broken file in a reload is rejected too, keeping the old config.
	if err := os.WriteFile(p.dir+"/broken.crt", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(ctx, tlsMustConfig(t, port, admin, tlsBindConfig, p.dir+"/broken.crt", p.serverKey, p.clientCAF, "STRICT", be.URL)); err == nil {
		t.Fatal("broken certificate accepted")
	}
	if _, err := tlsServedSerial(t, p, port); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}
}

// tlsToken is a token of iss for sub.
func tlsToken(t *testing.T, iss *gatewaytest.Issuer, sub string) string {
	t.Helper()
	return iss.Sign(t, jwtlib.MapClaims{
		"iss": "https://issuer.test", "aud": "agent-gateway", "sub": sub,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
}

const tlsIdentityConfig = `
binds:
  - port: %[1]d
    address: 127.0.0.1
    tls:
      certFile: %[2]s
      keyFile: %[3]s
      clientAuth: PERMISSIVE
      trustDomain: cluster.local
      trustBundles:
        - {trustDomain: cluster.local, caFile: "%[4]s"}
        - {trustDomain: prod.example, caFile: "%[7]s"}
    listeners:
      - name: l
        routes:
          - name: cert-only
            match: {path: {prefix: /cert}}
            authentication:
              clientCertificate: true
            backends: [{name: b, address: "%[5]s"}]
          - name: cert-other-domain
            match: {path: {prefix: /prod}}
            authentication:
              clientCertificate: true
              trustDomains: [prod.example]
            backends: [{name: b, address: "%[5]s"}]
          - name: no-cert-identity
            match: {path: {prefix: /plain}}
            backends: [{name: b, address: "%[5]s"}]
          - name: jwt-or-cert
            match: {path: {prefix: /jwt}}
            authentication:
              clientCertificate: true
            policies:
              - type: jwt-authn
                jwt: &jwt
                  issuer: https://issuer.test
                  audiences: [agent-gateway]
                  jwksUri: %[6]s/jwks
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
            backends: [{name: b, address: "%[5]s"}]
          - name: jwt-only
            match: {path: {prefix: /jwtonly}}
            policies:
              - type: jwt-authn
                jwt: *jwt
            backends: [{name: b, address: "%[5]s"}]
`

// A verified SPIFFE client certificate becomes the principal
// (x-agent-identity at the backend) only on routes that allow it.
func TestClientCertificateIdentity(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	js := gatewaytest.StartIssuer(t, gatewaytest.NewRSAKey(t, "k1"))
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	prodCAF := tlstest.WriteFile(t, p.dir, "prod-ca.crt", tlstest.NewCA(t, "prod-ca").PEM)
	src := fmt.Sprintf(tlsIdentityConfig, port, p.serverCert, p.serverKey, p.clientCAF, be.URL, js.URL, prodCAF)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gatewaytest.Start(t, g, src+fmt.Sprintf("admin: {address: 127.0.0.1, port: %d}\n", admin))
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	const planner = "system:serviceaccount:agent-core-infra:planning-agent-sa"

	spiffe := p.client(tlsSPIFFEClient(t, p.clientCA, "agent-core-infra", "planning-agent-sa"))
	noSAN := p.client(p.clientCA.Issue(t, tlstest.Options{CommonName: "plain", Client: true}).TLS(t))
	twoSAN := p.client(p.clientCA.Issue(t, tlstest.Options{CommonName: "two", Client: true,
		URIs: []string{"spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/c/sa/d"}}).TLS(t))
	nocert := p.client()
	token := tlsToken(t, js, "system:serviceaccount:agent-core-infra:orchestrator-agent-sa")

	type want struct {
		status   int
		identity string // "" means no X-Agent-Identity at the backend
	}
	for _, tc := range []struct {
		name string
		c    *http.Client
		path string
		hdr  []string
		want want
	}{
		{"cert-only: SPIFFE certificate", spiffe, "/cert", nil, want{200, planner}},
		{"cert-only: spoofed header replaced", spiffe, "/cert", []string{"X-Agent-Identity", "system:serviceaccount:kube-system:admin", "x-agent-identity", "x"}, want{200, planner}},
		{"cert-only: no certificate", nocert, "/cert", nil, want{401, ""}},
		{"cert-only: certificate without SPIFFE ID", noSAN, "/cert", nil, want{401, ""}},
		{"cert-only: two URI SANs", twoSAN, "/cert", nil, want{401, ""}},
		{"cert-only: token is not a credential here", nocert, "/cert", []string{"Authorization", "Bearer " + token}, want{401, ""}},
		{"trust domain not accepted", spiffe, "/prod", nil, want{401, ""}},
		{"route without the flag: no identity", spiffe, "/plain", []string{"X-Agent-Identity", "spoofed"}, want{200, ""}},
		{"jwt route: certificate stands in for the token", spiffe, "/jwt", nil, want{200, planner}},
		{"jwt route: token wins over certificate", spiffe, "/jwt", []string{"Authorization", "Bearer " + token}, want{200, "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"}},
		{"jwt route: bad token is refused despite certificate", spiffe, "/jwt", []string{"Authorization", "Bearer " + token + "x"}, want{401, ""}},
		{"jwt route: token without certificate", nocert, "/jwt", []string{"Authorization", "Bearer " + token}, want{200, "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"}},
		{"jwt route: nothing", nocert, "/jwt", nil, want{401, ""}},
		{"jwt route: certificate without SPIFFE ID needs a token", noSAN, "/jwt", nil, want{401, ""}},
		{"jwt-only route ignores certificates", spiffe, "/jwtonly", nil, want{401, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := be.calls.Load()
			res, e, err := tlsGet(t, tc.c, base+tc.path, tc.hdr...)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want.status)
			}
			if tc.want.status != 200 {
				if be.calls.Load() != before {
					t.Fatal("refused request reached the backend")
				}
				return
			}
			var got []string
			if tc.want.identity != "" {
				got = []string{tc.want.identity}
			}
			if strings.Join(e.Identity, "|") != strings.Join(got, "|") {
				t.Fatalf("backend saw X-Agent-Identity %q, want %q", e.Identity, got)
			}
			if e.Auth != "" {
				t.Fatal("Authorization forwarded")
			}
		})
	}
}

// tlsBackend is an https backend that requires a client certificate.
type tlsBackend struct {
	*httptest.Server
	ca, clientCA *tlstest.CA
	calls        atomic.Int64
}

func newTLSBackend(t *testing.T) *tlsBackend {
	t.Helper()
	b := &tlsBackend{ca: tlstest.NewCA(t, "backend-ca"), clientCA: tlstest.NewCA(t, "gateway-client-ca")}
	srvCert := b.ca.Issue(t, tlstest.Options{CommonName: "backend.internal", DNSNames: []string{"backend.internal"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	b.Server = httptest.NewUnstartedServer(tlsEchoHandler(&b.calls))
	b.TLS = &tls.Config{
		Certificates: []tls.Certificate{srvCert.TLS(t)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    tlstest.Pool(b.clientCA),
	}
	b.StartTLS()
	t.Cleanup(b.Close)
	return b
}

const tlsBackendConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /}}
            backends:
              - name: secure
                address: %s
                tls:
%s
`

func TestBackendTLS(t *testing.T) {
	be := newTLSBackend(t)
	dir := t.TempDir()
	caFile := tlstest.WriteFile(t, dir, "backend-ca.crt", be.ca.PEM)
	certFile, keyFile := tlstest.WriteLeaf(t, dir, "client", be.clientCA.Issue(t, tlstest.Options{CommonName: "gateway-1", Client: true}))
	_, port := tlsApply(t, tlsBackendConfig, be.URL, tlsIndent18(fmt.Sprintf("caFile: %s\ncertFile: %s\nkeyFile: %s\nserverName: backend.internal\n", caFile, certFile, keyFile)))
	url := fmt.Sprintf("http://127.0.0.1:%d/x", port)

	res, e, err := tlsGet(t, http.DefaultClient, url)
	if err != nil || res.StatusCode != http.StatusOK || e.ClientCN != "gateway-1" {
		t.Fatalf("res %v err %v backend saw client %q", res, err, e.ClientCN)
	}

	// Client certificate rotation is picked up without a reload.
	tlstest.WriteLeaf(t, dir, "client", be.clientCA.Issue(t, tlstest.Options{CommonName: "gateway-2", Client: true}))
	time.Sleep(tlsReloadWait)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, e, err = tlsGet(t, http.DefaultClient, url)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("after rotation: res %v err %v", res, err)
		}
		if e.ClientCN == "gateway-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend still sees %q after rotation", e.ClientCN)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, tc := range []struct {
		name  string
		block string
	}{
		{"no client certificate", fmt.Sprintf("caFile: %s\nserverName: backend.internal\n", caFile)},
		{"system roots do not trust the backend", fmt.Sprintf("certFile: %s\nkeyFile: %s\n", certFile, keyFile)},
		{"wrong server name", fmt.Sprintf("caFile: %s\ncertFile: %s\nkeyFile: %s\nserverName: other.internal\n", caFile, certFile, keyFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := be.calls.Load()
			_, port := tlsApply(t, tlsBackendConfig, be.URL, tlsIndent18(tc.block))
			res, _, err := tlsGet(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/x", port))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusBadGateway || be.calls.Load() != before {
				t.Fatalf("status %d, want 502 without reaching the backend", res.StatusCode)
			}
		})
	}

	// A missing file fails Apply.
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = g.Shutdown(time.Second) })
	err = g.Apply(context.Background(), tlsMustConfig(t, gatewaytest.FreePort(t), gatewaytest.FreePort(t), tlsBackendConfig, be.URL, tlsIndent18("caFile: "+dir+"/missing.crt\n")))
	if err == nil || !strings.Contains(err.Error(), "missing.crt") || !strings.Contains(err.Error(), `backend "secure"`) {
		t.Fatalf("missing CA file: err = %v", err)
	}
}

func tlsIndent18(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = strings.Repeat(" ", 18) + lines[i]
	}
	return strings.Join(lines, "\n")
}

// A resumed TLS session skips client certificate verification, so a
// session ticket issued before the client CA rotated must not let a
// client of the retired CA back in.
func TestTLSRotationInvalidatesSessionTickets(t *testing.T) {
	p := newTLSPKI(t)
	be := newTLSEchoBackend(t)
	_, port := tlsApply(t, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, "STRICT", be.URL)
	cfg := p.tlsConfig(p.clientCA.Issue(t, tlstest.Options{CommonName: "old", Client: true}).TLS(t))
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cfg.NextProtos = []string{"http/1.1"}
	call := func() (resumed bool, err error) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
		if err != nil {
			return false, err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
			return false, err
		}
		res, err := io.ReadAll(conn)
		if err != nil {
			return false, err
		}
		if !strings.HasPrefix(string(res), "HTTP/1.1 200 ") {
			return false, fmt.Errorf("response %.40q", res)
		}
		return conn.ConnectionState().DidResume, nil
	}
	if _, err := call(); err != nil {
		t.Fatal(err)
	}
	// Without a rotation the ticket is used, so the check below means
	// something.
	if resumed, err := call(); err != nil || !resumed {
		t.Fatalf("second connection: resumed %v err %v", resumed, err)
	}
	tlstest.WriteFile(t, p.dir, "ca.crt", tlstest.NewCA(t, "client-ca-2").PEM)
	time.Sleep(tlsReloadWait)
	if resumed, err := call(); err == nil {
		t.Fatalf("client of the retired CA got in after rotation (resumed %v)", resumed)
	}
}

func TestCertPrincipal(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	peer := func(notAfter time.Time, local bool) tlsconfig.Peer {
		c := ca.Issue(t, tlstest.Options{Client: true, NotAfter: notAfter, URIs: []string{"spiffe://cluster.local/ns/ns1/sa/sa1"}}).Cert
		id, err := tlsconfig.ServiceAccountFromCert(c)
		if err != nil {
			t.Fatal(err)
		}
		return tlsconfig.Peer{ID: id, Local: local, Leaf: c}
	}
	p, err := certPrincipal(peer(time.Now().Add(time.Hour), true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "system:serviceaccount:ns1:sa1" || p.Namespace != "ns1" || p.ServiceAccount != "sa1" || p.Method != "mtls" ||
		p.Issuer != "spiffe://cluster.local" || p.Claims["sub"] != p.Subject || p.Claims["spiffe_id"] != "spiffe://cluster.local/ns/ns1/sa/sa1" {
		t.Fatalf("principal = %+v", p)
	}
	// Another trust domain than the bind's own: the SPIFFE ID is the
	// subject, never a ServiceAccount username of this cluster.
	p, err = certPrincipal(peer(time.Now().Add(time.Hour), false), nil)
	if err != nil || p.Subject != "spiffe://cluster.local/ns/ns1/sa/sa1" || p.Namespace != "" || p.ServiceAccount != "" || p.Claims["sub"] != p.Subject {
		t.Fatalf("foreign-domain principal = %+v, %v", p, err)
	}
	if _, err := certPrincipal(peer(time.Now().Add(time.Hour), true), []string{"cluster.local", "x"}); err != nil {
		t.Fatalf("listed trust domain: %v", err)
	}
	if _, err := certPrincipal(peer(time.Now().Add(time.Hour), true), []string{"prod"}); err != errTrustDomain {
		t.Fatalf("unlisted trust domain: %v", err)
	}
	if _, err := certPrincipal(peer(time.Now().Add(-time.Minute), true), nil); err != errCertExpired {
		t.Fatalf("expired during the connection: %v", err)
	}
	if _, err := certPrincipal(tlsconfig.Peer{IDErr: tlsconfig.ErrNoCertificate}, nil); err != tlsconfig.ErrNoCertificate {
		t.Fatalf("no certificate: %v", err)
	}
}
