package gateway

import (
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

// Trust domains: the bind holds one CA bundle per SPIFFE trust domain
// (config.BindClientTrust), and an SVID gives an identity only if it
// chains to the bundle of the domain it names (tlsconfig.Material.Check);
// a CA trusted for one domain never vouches for another. The principal of
// an SVID of the bind's local trust domain is the ServiceAccount username;
// an SVID of any other domain keeps its full SPIFFE ID as subject, so
// identities of different domains never collide in authz rules or rate
// limits.

// withClientCert wraps a route's chain on a TLS bind (lt): every request
// re-checks its connection against the current TLS material (tls.go, live
// revocation), and on a route with authentication.clientCertificate the
// certificate's identity is established. On plain binds it returns next.
func withClientCert(rc *config.Route, lt *tlsconfig.Server, next policy.Handler, log *slog.Logger, rec policy.Recorder) policy.Handler {
	if lt == nil {
		return next
	}
	if rec == nil {
		rec = policy.NopRecorder{}
	}
	c := &certAuthn{next: next, lt: lt, route: rc.Name, log: log, rec: rec}
	if a := rc.Authentication; a != nil && a.ClientCertificate {
		c.identity, c.trustDomains = true, a.TrustDomains
		c.only = !rc.HasPolicy(config.PolicyJWTAuthn)
	}
	return c
}

type certAuthn struct {
	next policy.Handler
	lt   *tlsconfig.Server
	// identity: the route accepts certificates as identity; trustDomains
	// then limits their trust domains (none: every domain with a bundle).
	identity     bool
	trustDomains []string
	// only: no jwt-authn on the route, the certificate is required.
	only  bool
	route string
	log   *slog.Logger
	// rec receives the authentication outcomes this check decides: its
	// refusals, and the certificate's identity on a route without
	// jwt-authn (with jwt-authn, that policy reports the outcome).
	rec policy.Recorder
}

var (
	errTrustDomain      = errors.New("the client certificate's SPIFFE trust domain is not accepted on this route")
	errCertExpired      = errors.New("the client certificate has expired since the connection was made")
	agentIdentityHeader = IdentityHeaders[0] // X-Agent-Identity
)

func (c *certAuthn) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	peer := peerCheck(r, c.lt)
	if peer.Err != nil {
		// The current material would refuse this connection's handshake:
		// refuse the request and close the connection (GOAWAY on HTTP/2)
		// so the client reconnects through a full handshake.
		if c.log != nil {
			c.log.Info("request refused on a connection the current TLS material no longer accepts; closing it", "route", c.route, "reason", peer.Err.Error())
		}
		c.refused(r)
		return &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: peer.Err.Error(),
			Header: http.Header{"Connection": {"close"}}}
	}
	if !c.identity {
		return c.next.ServeHTTP(w, r)
	}
	p, err := certPrincipal(peer, c.trustDomains)
	if err != nil {
		if c.only {
			c.refused(r)
			return &policy.Error{Status: http.StatusUnauthorized, Code: policy.CodeUnauthorized, Message: err.Error()}
		}
		if !errors.Is(err, tlsconfig.ErrNoCertificate) && c.log != nil {
			c.log.Debug("client certificate not usable as identity; a bearer token is required", "route", c.route, "reason", err.Error())
		}
		return c.next.ServeHTTP(w, r)
	}
	if c.only {
		// The edge removed every client-sent copy; this is the only one.
		r.Header.Set(agentIdentityHeader, p.Subject)
		c.rec.AuthnDecision(c.route, true)
	}
	if ex := policy.ExchangeFrom(r.Context()); ex != nil {
		ex.Principal = p
		if ex.Bound() {
			// identity.From finds it through the exchange's context.
			return c.next.ServeHTTP(w, r)
		}
	}
	return c.next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), p)))
}

// refused reports a request this check refuses (401) as an
// authentication failure.
func (c *certAuthn) refused(r *http.Request) {
	c.rec.AuthnDecision(c.route, false)
	if ex := policy.ExchangeFrom(r.Context()); ex != nil {
		ex.Decision = policy.DecisionUnauthenticated
	}
}

// certPrincipal returns the principal of a connection's client
// certificate, checked (Material.Check) against the current material.
func certPrincipal(peer tlsconfig.Peer, trustDomains []string) (*identity.Principal, error) {
	if peer.IDErr != nil {
		return nil, peer.IDErr
	}
	leaf, id := peer.Leaf, peer.ID
	// The handshake checked validity once; a long-lived connection can
	// outlive the certificate, so check again per request, as a token's
	// exp is.
	if time.Now().After(leaf.NotAfter) {
		return nil, errCertExpired
	}
	if len(trustDomains) > 0 && !slices.Contains(trustDomains, id.TrustDomain) {
		return nil, errTrustDomain
	}
	p := &identity.Principal{
		Subject:   id.ID,
		Issuer:    "spiffe://" + id.TrustDomain,
		ExpiresAt: leaf.NotAfter,
		Method:    identity.MethodMTLS,
	}
	if peer.Local {
		// This cluster's ServiceAccount: the same principal its token
		// carries, so rules match either credential.
		p.Subject, p.Namespace, p.ServiceAccount = id.Subject(), id.Namespace, id.ServiceAccount
	}
	p.Claims = map[string]any{"sub": p.Subject, "spiffe_id": id.ID}
	return p, nil
}
