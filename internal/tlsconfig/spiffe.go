package tlsconfig

import (
	"crypto/x509"
	"errors"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/identity"
)

// ServiceAccountID is a Kubernetes ServiceAccount named by a SPIFFE ID
// spiffe://<trust-domain>/ns/<namespace>/sa/<name>, the form Istio and
// SPIRE's Kubernetes workload registrar issue.
type ServiceAccountID struct {
	// ID is the SPIFFE ID as it appears in the certificate.
	ID             string
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// Subject is the Kubernetes username of the ServiceAccount,
// system:serviceaccount:<namespace>:<name>, the same principal a
// ServiceAccount token carries in "sub".
func (id ServiceAccountID) Subject() string {
	return identity.ServiceAccountPrefix + id.Namespace + ":" + id.ServiceAccount
}

// Errors of ServiceAccountFromCert. Their text is safe to show a client.
var (
	ErrNoSPIFFEID       = errors.New("client certificate has no SPIFFE ID (URI SAN)")
	ErrManyURIs         = errors.New("client certificate must have exactly one URI SAN (its SPIFFE ID)")
	ErrNotServiceAcct   = errors.New("client certificate SPIFFE ID is not of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>")
	ErrCertNotForClient = errors.New("client certificate is a CA certificate")
)

// ServiceAccountFromCert returns the ServiceAccount a verified client
// certificate names. The X.509-SVID rules apply: the certificate must have
// exactly one URI SAN, and it must be a SPIFFE ID; a leaf that is a CA is
// refused. The ID must be exactly spiffe://<trust-domain>/ns/<ns>/sa/<sa>
// with a valid trust domain (lowercase letters, digits, ".", "-", "_"), no
// port, user info, query, fragment or percent-encoding, a namespace that
// is a DNS label and a name that is a DNS subdomain.
//
// The caller must only pass a certificate that chain verification
// accepted (tls.ConnectionState.VerifiedChains[0][0]).
func ServiceAccountFromCert(c *x509.Certificate) (ServiceAccountID, error) {
	if c.IsCA {
		return ServiceAccountID{}, ErrCertNotForClient
	}
	switch len(c.URIs) {
	case 0:
		return ServiceAccountID{}, ErrNoSPIFFEID
	case 1:
	default:
		return ServiceAccountID{}, ErrManyURIs
	}
	u := c.URIs[0]
	if u.Scheme != "spiffe" {
		return ServiceAccountID{}, ErrNoSPIFFEID
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" ||
		u.RawPath != "" || u.Port() != "" || u.Hostname() != u.Host || !isTrustDomain(u.Host) {
		return ServiceAccountID{}, ErrNotServiceAcct
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "ns" || parts[3] != "sa" {
		return ServiceAccountID{}, ErrNotServiceAcct
	}
	id := ServiceAccountID{ID: u.String(), TrustDomain: u.Host, Namespace: parts[2], ServiceAccount: parts[4]}
	if ns, sa, ok := identity.ParseServiceAccount(id.Subject()); !ok || ns != id.Namespace || sa != id.ServiceAccount {
		return ServiceAccountID{}, ErrNotServiceAcct
	}
	return id, nil
}

// isTrustDomain: lowercase letters, digits, ".", "-", "_"; 1-255 bytes.
func isTrustDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
