package gateway

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig"
)

// Identity from client certificates (route authentication.clientCertificate,
// docs/tls.md).
//
// On such a route a verified client certificate whose only URI SAN is
// spiffe://<trust-domain>/ns/<ns>/sa/<sa> authenticates the caller as
// system:serviceaccount:<ns>:<sa> (identity.MethodMTLS). This runs before
// the policy chain:
//
//   - with jwt-authn on the route, the certificate principal is put in the
//     context and jwt-authn accepts it when the request has no
//     Authorization header; a bearer token, when sent, is verified and
//     wins (an invalid token is a 401 even with a good certificate). A
//     certificate that does not qualify is ignored and the token is
//     required as usual;
//   - without jwt-authn the certificate is the route's only credential: a
//     request without a qualifying certificate gets 401, and
//     X-Agent-Identity is set to the principal for the backend.

// withClientCertAuthn wraps a route's chain when the route accepts client
// certificates; otherwise it returns next.
func withClientCertAuthn(rc *config.Route, next policy.Handler, log *slog.Logger) policy.Handler {
	a := rc.Authentication
	if a == nil || !a.ClientCertificate {
		return next
	}
	only := true
	for _, p := range rc.Policies {
		if p.Type == config.PolicyJWTAuthn {
			only = false
		}
	}
	return &certAuthn{next: next, trustDomains: a.TrustDomains, only: only, route: rc.Name, log: log}
}

type certAuthn struct {
	next         policy.Handler
	trustDomains []string
	// only: no jwt-authn on the route, the certificate is required.
	only  bool
	route string
	log   *slog.Logger
}

var (
	errNoClientCert     = errors.New("a verified client certificate is required")
	errTrustDomain      = errors.New("the client certificate's SPIFFE trust domain is not accepted on this route")
	errCertExpired      = errors.New("the client certificate has expired since the connection was made")
	agentIdentityHeader = IdentityHeaders[0] // X-Agent-Identity
)

func (c *certAuthn) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	p, err := certPrincipal(r.TLS, c.trustDomains)
	if err != nil {
		if c.only {
			return &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: err.Error()}
		}
		if !errors.Is(err, errNoClientCert) && c.log != nil {
			c.log.Debug("client certificate not usable as identity; a bearer token is required", "route", c.route, "reason", err.Error())
		}
		return c.next.ServeHTTP(w, r)
	}
	if c.only {
		// The edge removed every client-sent copy; this is the only one.
		r.Header.Set(agentIdentityHeader, p.Subject)
	}
	if ex := policy.ExchangeFrom(r.Context()); ex != nil {
		ex.Principal = p
	}
	return c.next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), p)))
}

// certPrincipal returns the principal a verified client certificate names.
func certPrincipal(st *tls.ConnectionState, trustDomains []string) (*identity.Principal, error) {
	// VerifiedChains is set only when the certificate chained to the
	// bind's client CA (STRICT, or PERMISSIVE with a certificate sent).
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil, errNoClientCert
	}
	leaf := st.VerifiedChains[0][0]
	// The handshake checked validity once; a long-lived connection can
	// outlive the certificate, so check again per request, as a token's
	// exp is.
	if time.Now().After(leaf.NotAfter) {
		return nil, errCertExpired
	}
	id, err := tlsconfig.ServiceAccountFromCert(leaf)
	if err != nil {
		return nil, err
	}
	if len(trustDomains) > 0 && !slices.Contains(trustDomains, id.TrustDomain) {
		return nil, errTrustDomain
	}
	sub := id.Subject()
	return &identity.Principal{
		Subject:        sub,
		Namespace:      id.Namespace,
		ServiceAccount: id.ServiceAccount,
		Issuer:         "spiffe://" + id.TrustDomain,
		ExpiresAt:      leaf.NotAfter,
		Method:         identity.MethodMTLS,
		Claims:         map[string]any{"sub": sub, "spiffe_id": id.ID},
	}, nil
}
