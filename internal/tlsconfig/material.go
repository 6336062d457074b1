package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// Material is one generation of a listener's TLS material: the
// configuration handshakes get, the client-certificate mode, and the client
// CA bundles, one per SPIFFE trust domain. It is immutable; a reload of the
// files or of the config makes a new one, so the pointer identifies the
// generation (see docs/tls.md, "Live revocation").
type Material struct {
	cfg        *tls.Config
	clientAuth tls.ClientAuthType
	local      string
	// bundles by trust domain; all is their union (the handshake pool).
	// Both nil when client certificates are not requested.
	bundles map[string]*bundle
	all     *bundle
}

// bundle is a set of CA certificates: a pool for chain building, and the
// certificates themselves so that an already verified chain can be checked
// against it by looking up its anchor.
type bundle struct {
	pool  *x509.CertPool
	roots map[string]bool // raw DER
}

func newBundle() *bundle { return &bundle{pool: x509.NewCertPool(), roots: map[string]bool{}} }

func (b *bundle) add(c *x509.Certificate) {
	b.pool.AddCert(c)
	b.roots[string(c.Raw)] = true
}

// Errors of Material.Check. Their text is safe to show a client.
var (
	// ErrCertRequired: the connection has no client certificate and the
	// port now requires one (a reload moved it to STRICT).
	ErrCertRequired = errors.New("this port now requires a client certificate; reconnect with one")
	// ErrCertNoLongerTrusted: the connection's client certificate no longer
	// chains to any client CA of the port (a CA was removed).
	ErrCertNoLongerTrusted = errors.New("the connection's client certificate is no longer trusted on this port (its CA was removed); reconnect")
	// ErrNoTrustBundle: the SPIFFE ID names a trust domain the port has no
	// bundle for.
	ErrNoTrustBundle = errors.New("the client certificate's SPIFFE trust domain has no trust bundle on this port")
	// ErrWrongTrustBundle: the certificate chains to a CA of the port, but
	// not to one of the bundle of the trust domain its SPIFFE ID names.
	ErrWrongTrustBundle = errors.New("the client certificate does not chain to the trust bundle of the trust domain its SPIFFE ID names")
	// ErrNoCertificate: no verified client certificate.
	ErrNoCertificate = errors.New("a verified client certificate is required")
)

// Peer is what a connection's client certificate is worth under one
// generation of the material.
type Peer struct {
	// Err is set when this generation's handshake would refuse the
	// connection: its requests must be refused and the connection closed.
	Err error
	// ID is the certificate's verified SPIFFE identity, when IDErr is nil.
	ID    ServiceAccountID
	IDErr error
	// Local: ID is in the listener's local trust domain
	// (ServerOptions.LocalTrustDomain).
	Local bool
	// Leaf is the client certificate (nil without one). Its expiry is not
	// part of the result: callers check it per request.
	Leaf *x509.Certificate
}

// Check evaluates a connection's client certificate against this
// generation, as its handshake would, and then as an X.509-SVID:
//
//   - Peer.Err: a certificate is required and the connection has none, or
//     the certificate no longer chains to any of the port's bundles;
//   - Peer.ID: the SPIFFE ServiceAccount ID (ServiceAccountFromCert), only
//     if the certificate chains to the bundle of the trust domain that ID
//     names. A CA of another domain's bundle never vouches for it.
//
// A chain the handshake verified is accepted without rebuilding when its
// anchor is still in the bundle; otherwise the chain is verified again
// against the bundle. Check costs a map lookup in the common case and a
// chain verification at worst; callers cache the result per connection
// and generation.
func (m *Material) Check(st *tls.ConnectionState) Peer {
	if st == nil || m.clientAuth == tls.NoClientCert {
		// Certificates are not requested (any more): no connection is
		// refused for its certificate, and none gives an identity.
		return Peer{IDErr: ErrNoCertificate}
	}
	if len(st.PeerCertificates) == 0 {
		if m.clientAuth == tls.RequireAndVerifyClientCert {
			return Peer{Err: ErrCertRequired, IDErr: ErrNoCertificate}
		}
		return Peer{IDErr: ErrNoCertificate}
	}
	leaf := st.PeerCertificates[0]
	if !m.all.vouchesFor(st) {
		return Peer{Err: ErrCertNoLongerTrusted, IDErr: ErrCertNoLongerTrusted, Leaf: leaf}
	}
	p := Peer{Leaf: leaf}
	id, err := ServiceAccountFromCert(leaf)
	if err != nil {
		p.IDErr = err
		return p
	}
	b := m.bundles[id.TrustDomain]
	switch {
	case b == nil:
		p.IDErr = ErrNoTrustBundle
	case !b.vouchesFor(st):
		p.IDErr = ErrWrongTrustBundle
	default:
		p.ID, p.Local = id, id.TrustDomain == m.local
	}
	return p
}

// vouchesFor reports whether the peer's certificate chains to b: a chain
// verified at the handshake that ends in one of b's CAs, or else a chain
// built now from the certificates the peer sent.
func (b *bundle) vouchesFor(st *tls.ConnectionState) bool {
	for _, ch := range st.VerifiedChains {
		if len(ch) > 0 && b.roots[string(ch[len(ch)-1].Raw)] {
			return true
		}
	}
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         b.pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime:   time.Now(),
	})
	return err == nil
}
