// Package tlsconfig builds crypto/tls configurations from PEM files and
// keeps them current when the files change: the gateway's listener
// certificate and client CA bundles (one per SPIFFE trust domain), and the CA pool and client certificate
// used towards https backends. It also extracts Kubernetes ServiceAccount
// identities from SPIFFE X.509 certificates.
//
// Files are checked lazily (see DefaultReloadInterval): a handshake or a
// backend request that finds the interval elapsed stats the files and, if
// any changed, reads and parses them again. A file that fails to load is
// logged and the previous material stays in use. See docs/tls.md.
package tlsconfig

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// maxPEMBytes bounds a certificate, key or CA file.
const maxPEMBytes = 1 << 20

// Version parses a minimum TLS version as written in the config: "1.2" or
// "1.3"; "" means 1.2.
func Version(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unsupported TLS version %q", s)
}

// ServerOptions configure a listener's TLS.
type ServerOptions struct {
	CertFile, KeyFile string
	// TrustBundles are the client CA bundles, one per SPIFFE trust domain.
	// At least one is required unless ClientAuth is tls.NoClientCert. The
	// handshake accepts a certificate that chains to any of them; a SPIFFE
	// identity is then taken from it only if it chains to the bundle of
	// the trust domain it names (Material.Check).
	TrustBundles []TrustBundle
	// LocalTrustDomain is the trust domain whose SVIDs name this cluster's
	// ServiceAccounts (ServiceAccountID.Local); "" when none does.
	LocalTrustDomain string
	// ClientAuth is tls.RequireAndVerifyClientCert (STRICT),
	// tls.VerifyClientCertIfGiven (PERMISSIVE) or tls.NoClientCert.
	ClientAuth tls.ClientAuthType
	MinVersion uint16
	// NextProtos are the ALPN protocols offered (e.g. "h2", "http/1.1").
	NextProtos []string
	// ReloadInterval is the least time between file checks
	// (DefaultReloadInterval when 0).
	ReloadInterval time.Duration
	Logger         *slog.Logger
}

// TrustBundle is the CA bundle of one SPIFFE trust domain.
type TrustBundle struct {
	TrustDomain string
	CAFile      string
}

// Server is the TLS side of one listener. Its Config is handed to
// tls.NewListener once; the certificate, key and client CA bundles behind
// it follow the files.
type Server struct {
	opts ServerOptions
	r    *reloader[*Material]
}

// NewServer loads the files now and fails if any is missing or invalid.
func NewServer(o ServerOptions) (*Server, error) {
	switch o.ClientAuth {
	case tls.NoClientCert:
		o.TrustBundles = nil
	case tls.RequireAndVerifyClientCert, tls.VerifyClientCertIfGiven:
		if len(o.TrustBundles) == 0 {
			return nil, errors.New("client certificate verification needs a client CA file")
		}
	default:
		return nil, fmt.Errorf("unsupported client auth mode %v", o.ClientAuth)
	}
	seen := map[string]bool{}
	for _, b := range o.TrustBundles {
		if !isTrustDomain(b.TrustDomain) || b.CAFile == "" || seen[b.TrustDomain] {
			return nil, fmt.Errorf("invalid or duplicate trust bundle %q (%s)", b.TrustDomain, b.CAFile)
		}
		seen[b.TrustDomain] = true
	}
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS12
	}
	files := []string{o.CertFile, o.KeyFile}
	for _, b := range o.TrustBundles {
		files = append(files, b.CAFile)
	}
	s := &Server{opts: o}
	r, err := newReloader("listener certificate and client CA", files, o.ReloadInterval, o.Logger, s.build)
	if err != nil {
		return nil, err
	}
	s.r = r
	return s, nil
}

func (s *Server) build() (*Material, error) {
	o := s.opts
	cert, err := loadKeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, err
	}
	if time.Now().After(cert.Leaf.NotAfter) {
		s.logger().Warn("the listener certificate has expired; clients will reject it", "certFile", o.CertFile, "notAfter", cert.Leaf.NotAfter)
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   o.MinVersion,
		NextProtos:   o.NextProtos,
		ClientAuth:   o.ClientAuth,
	}
	m := &Material{cfg: c, clientAuth: o.ClientAuth, local: o.LocalTrustDomain}
	if o.ClientAuth != tls.NoClientCert {
		// The handshake pool is the union of the bundles: a connection
		// may be made with a certificate of any trusted domain. Identity
		// is decided per domain afterwards (Material.Check).
		m.all = newBundle()
		m.bundles = map[string]*bundle{}
		for _, tb := range o.TrustBundles {
			certs, err := loadCerts(tb.CAFile)
			if err != nil {
				return nil, err
			}
			b := newBundle()
			for _, ca := range certs {
				b.add(ca)
				m.all.add(ca)
			}
			m.bundles[tb.TrustDomain] = b
		}
		c.ClientCAs = m.all.pool
	}
	// Fresh session ticket keys for every version of the material: a
	// ticket issued before the client CA (or the server certificate)
	// changed must not resume a session after it. Recent Go versions also
	// check a resumed session's chain against the current ClientCAs; this
	// does not rely on that.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	c.SetSessionTicketKeys([][32]byte{key})
	return m, nil
}

func (s *Server) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.Default()
}

// Config returns the configuration to give tls.NewListener (or
// http.Server.TLSConfig). Every handshake gets the current material
// through GetConfigForClient.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         s.opts.MinVersion,
		NextProtos:         s.opts.NextProtos,
		GetConfigForClient: s.GetConfigForClient,
	}
}

// GetConfigForClient returns the current configuration, reloading the
// files first if they changed. The returned Config is shared and must not
// be modified.
func (s *Server) GetConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return s.r.get().cfg, nil
}

// Material returns the current generation of the listener's TLS material,
// reloading the files first if they changed (at most once per interval).
// A new pointer means a new generation: new files, or (through a new
// Server) a new config.
func (s *Server) Material() *Material { return s.r.get() }

// Certificate returns the certificate currently served (tests, logs).
func (s *Server) Certificate() *x509.Certificate {
	return s.r.get().cfg.Certificates[0].Leaf
}

// ClientOptions configure TLS towards a backend.
type ClientOptions struct {
	// CAFile replaces the system roots when set.
	CAFile string
	// CertFile and KeyFile are an optional client certificate.
	CertFile, KeyFile string
	// ServerName is verified and sent as SNI when set (otherwise the
	// address host).
	ServerName     string
	MinVersion     uint16
	ReloadInterval time.Duration
	Logger         *slog.Logger
}

// Client is the TLS side of one backend.
type Client struct {
	opts ClientOptions
	r    *reloader[*tls.Config]
}

// NewClient loads the files now and fails if any is missing or invalid.
func NewClient(o ClientOptions) (*Client, error) {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate and a key file")
	}
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS12
	}
	var files []string
	for _, f := range []string{o.CAFile, o.CertFile, o.KeyFile} {
		if f != "" {
			files = append(files, f)
		}
	}
	c := &Client{opts: o}
	r, err := newReloader("backend CA and client certificate", files, o.ReloadInterval, o.Logger, c.build)
	if err != nil {
		return nil, err
	}
	c.r = r
	return c, nil
}

func (c *Client) build() (*tls.Config, error) {
	o := c.opts
	cfg := &tls.Config{ServerName: o.ServerName, MinVersion: o.MinVersion}
	if o.CAFile != "" {
		pool, err := loadPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := loadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Config returns the current configuration, reloading the files first if
// they changed. A new pointer means new material. It is shared and must
// not be modified (http.Transport clones it per connection).
func (c *Client) Config() *tls.Config { return c.r.get() }

// readPEM reads a bounded PEM file.
func readPEM(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if len(data) > maxPEMBytes {
		return nil, fmt.Errorf("%s %s is larger than %d bytes", what, path, maxPEMBytes)
	}
	return data, nil
}

// loadKeyPair loads a certificate chain and its private key and checks
// that they match.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEM(certFile, "certificate file")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEM(keyFile, "key file")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate %s: %w", certFile, err)
		}
	}
	return cert, nil
}

// loadPool parses every CERTIFICATE block of a PEM bundle into a pool.
func loadPool(path string) (*x509.CertPool, error) {
	certs, err := loadCerts(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// loadCerts parses every CERTIFICATE block of a PEM bundle. A block that
// does not parse is an error rather than silently skipped, and a bundle
// without certificates is an error.
func loadCerts(path string) ([]*x509.Certificate, error) {
	data, err := readPEM(path, "CA file")
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", path, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return out, nil
}
