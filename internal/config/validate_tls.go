package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// TLS validation (docs/tls.md). Like the rest of Validate it is pure: file
// paths are checked for presence only; the files are read when the config
// is applied, and a missing or bad file fails that step.

func (v *validator) listenerTLS(b *Bind, bp string) {
	if m := v.mtls(); m != nil && m.Enabled && b.TLS != nil {
		v.add(bp+".tls", "conflicts with security.mtls, which is enabled and already configures TLS for every bind; use either binds[].tls or security.mtls")
	}
	v.clientCAAmbiguity(b, bp)
	t := b.TLS
	if t == nil {
		return
	}
	tp := bp + ".tls"
	if t.CertFile == "" {
		v.add(tp+".certFile", "certFile is required")
	}
	if t.KeyFile == "" {
		v.add(tp+".keyFile", "keyFile is required")
	}
	hasCA := t.ClientCA != "" || len(t.TrustBundles) > 0
	switch t.ClientAuth {
	case "": // defaulted from clientCA
	case ClientAuthStrict, ClientAuthPermissive:
		if !hasCA {
			v.add(tp+".clientCA", "clientCA is required when clientAuth is %s: client certificates are verified against it (or give one bundle per trust domain in trustBundles)", t.ClientAuth)
		}
	case ClientAuthNone:
		if t.ClientCA != "" {
			v.add(tp+".clientAuth", "clientAuth NONE never requests a client certificate, so clientCA would not be used; use STRICT or PERMISSIVE, or remove clientCA")
		}
		if len(t.TrustBundles) > 0 {
			v.add(tp+".clientAuth", "clientAuth NONE never requests a client certificate, so trustBundles would not be used; use STRICT or PERMISSIVE, or remove trustBundles")
		}
	default:
		v.add(tp+".clientAuth", "unknown clientAuth %q (valid: STRICT, PERMISSIVE, NONE)", t.ClientAuth)
	}
	v.clientTrust(t.ClientCA, t.TrustDomain, t.TrustBundles, tp, "clientCA")
	v.tlsVersion(t.MinVersion, tp+".minVersion")
}

// clientTrust checks the trust-domain fields of a tls block or of
// security.mtls (caField names its single-bundle field).
func (v *validator) clientTrust(ca, td string, tbs []TrustBundle, p, caField string) {
	if ca != "" && len(tbs) > 0 {
		v.add(p+".trustBundles", "use either %s (one bundle, for trustDomain) or trustBundles (one bundle per trust domain), not both", caField)
	}
	if td != "" {
		switch {
		case !isTrustDomain(td):
			v.add(p+".trustDomain", "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\" and \"_\"; no scheme or path), e.g. \"cluster.local\"", td)
		case ca == "" && len(tbs) == 0:
			v.add(p+".trustDomain", "trustDomain applies only with %s or trustBundles", caField)
		case len(tbs) > 0 && !slices.ContainsFunc(tbs, func(b TrustBundle) bool { return b.TrustDomain == td }):
			v.add(p+".trustDomain", "trust domain %q has no entry in trustBundles; the local trust domain must be one of them", td)
		}
	}
	seen := map[string]int{}
	for i, b := range tbs {
		bp := joinIndex(p+".trustBundles", i)
		switch {
		case b.TrustDomain == "":
			v.add(bp+".trustDomain", "trustDomain is required: each bundle vouches for the SPIFFE IDs of exactly one trust domain")
		case !isTrustDomain(b.TrustDomain):
			v.add(bp+".trustDomain", "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\" and \"_\"; no scheme or path), e.g. \"cluster.local\"", b.TrustDomain)
		default:
			if first, dup := seen[b.TrustDomain]; dup {
				v.add(bp+".trustDomain", "duplicate trust domain %q (first at trustBundles[%d]); put all of a domain's CAs in one caFile", b.TrustDomain, first)
			} else {
				seen[b.TrustDomain] = i
			}
		}
		if b.CAFile == "" {
			v.add(bp+".caFile", "caFile is required")
		}
	}
}

// clientCAAmbiguity refuses a single client CA bundle (clientCA or
// security.mtls.certificateAuthority) without a trustDomain on a bind
// whose routes accept several trust domains: it would have to vouch for
// all of them, so any CA in it could mint identities in every domain.
func (v *validator) clientCAAmbiguity(b *Bind, bp string) {
	t := v.c.BindTLS(b)
	if t == nil || t.ClientCA == "" || t.TrustDomain != "" || len(t.TrustBundles) > 0 || t.ClientAuth == ClientAuthNone {
		return
	}
	doms := RouteTrustDomains(b)
	if len(doms) < 2 {
		return
	}
	field, name := bp+".tls.clientCA", "clientCA"
	if b.TLS == nil {
		field, name = "security.mtls.certificateAuthority", "certificateAuthority"
	}
	v.add(field, "%s is a single trust bundle, but routes on bind port %d accept several trust domains (%s) and it cannot vouch for all of them (any CA in it could issue identities in every domain); give each trust domain its own bundle with trustBundles: [{trustDomain: %s, caFile: ...}, ...], or set trustDomain and list only that domain on the routes",
		name, b.Port, strings.Join(doms, ", "), doms[0])
}

func (v *validator) mtls() *MTLS {
	if v.c.Security == nil {
		return nil
	}
	return v.c.Security.MTLS
}

// security checks the seed's security.mtls block. When it is not enabled
// its file fields are ignored (the mode is still checked for typos).
func (v *validator) security() {
	m := v.mtls()
	if m == nil {
		return
	}
	const p = "security.mtls"
	switch m.Mode {
	case "", ClientAuthStrict, ClientAuthPermissive:
	case ClientAuthNone:
		v.add(p+".mode", "mode NONE is not mutual TLS (valid: STRICT, PERMISSIVE); to serve TLS without client certificates use binds[].tls")
	default:
		v.add(p+".mode", "unknown mode %q (valid: STRICT, PERMISSIVE)", m.Mode)
	}
	if !m.Enabled {
		return
	}
	if m.ServerCert == "" {
		v.add(p+".serverCert", "serverCert is required when enabled")
	}
	if m.ServerKey == "" {
		v.add(p+".serverKey", "serverKey is required when enabled")
	}
	if m.CertificateAuthority == "" && len(m.TrustBundles) == 0 {
		v.add(p+".certificateAuthority", "certificateAuthority is required when enabled: client certificates are verified against it (or give one bundle per trust domain in trustBundles)")
	}
	v.clientTrust(m.CertificateAuthority, m.TrustDomain, m.TrustBundles, p, "certificateAuthority")
}

func (v *validator) routeAuthentication(r *Route, rp string, b *Bind, bp string) {
	a := r.Authentication
	if a == nil {
		return
	}
	ap := rp + ".authentication"
	if len(a.TrustDomains) > 0 && !a.ClientCertificate {
		v.add(ap+".trustDomains", "trustDomains applies only with clientCertificate: true")
	}
	// The bind's bundles by trust domain; nil when it verifies no client
	// certificates or its single bundle is ambiguous (reported once, at
	// the bind).
	var bundles map[string]bool
	if ct := v.c.BindClientTrust(b); ct != nil && a.ClientCertificate {
		bundles = map[string]bool{}
		for _, tb := range ct.Bundles {
			if tb.TrustDomain == "" {
				bundles = nil
				break
			}
			bundles[tb.TrustDomain] = true
		}
	}
	seen := map[string]int{}
	for i, td := range a.TrustDomains {
		tp := joinIndex(ap+".trustDomains", i)
		if !isTrustDomain(td) {
			v.add(tp, "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\" and \"_\"; no scheme or path), e.g. \"cluster.local\"", td)
		} else if first, dup := seen[td]; dup {
			v.add(tp, "duplicate trust domain %q (first at trustDomains[%d])", td, first)
		} else {
			seen[td] = i
			if bundles != nil && !bundles[td] {
				v.add(tp, "trust domain %q has no trust bundle on the route's bind (port %d has: %s), so no certificate of it could ever be verified; add {trustDomain: %s, caFile: ...} to the bind's trustBundles, or fix the name",
					td, b.Port, strings.Join(slices.Sorted(maps.Keys(bundles)), ", "), td)
			}
		}
	}
	if !a.ClientCertificate {
		return
	}
	t := v.c.BindTLS(b)
	if t == nil || t.ClientAuth == ClientAuthNone || t.ClientAuth == "" && t.ClientCA == "" && len(t.TrustBundles) == 0 {
		v.add(ap+".clientCertificate", "the route's bind (port %d) does not verify client certificates: set %s.tls.clientCA (clientAuth STRICT or PERMISSIVE) or enable security.mtls", b.Port, bp)
	}
}

func (v *validator) backendTLS(be *Backend, bp string) {
	t := be.TLS
	if t == nil {
		return
	}
	tp := bp + ".tls"
	if u, err := url.Parse(be.Address); err == nil && be.Address != "" && u.Scheme != "https" {
		v.add(tp, "a tls block requires an https:// address (address is %q)", be.Address)
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add(tp+".keyFile", "keyFile is required with certFile")
	case t.CertFile == "" && t.KeyFile != "":
		v.add(tp+".certFile", "certFile is required with keyFile")
	}
	if t.ServerName != "" && checkHost(t.ServerName) != "" {
		v.add(tp+".serverName", "serverName %q is not a host name or IP address", t.ServerName)
	}
	v.tlsVersion(t.MinVersion, tp+".minVersion")
}

// backendHTTP checks http.version against the address scheme: ALPN
// needs TLS, so auto is for https:// only.
func (v *validator) backendHTTP(be *Backend, bp string) {
	h := be.HTTP
	if h == nil || h.Version == "" {
		return
	}
	vp := bp + ".http.version"
	switch h.Version {
	case HTTPVersion1, HTTPVersion2:
	case HTTPVersionAuto:
		if u, err := url.Parse(be.Address); err == nil && u.Scheme == "http" {
			v.add(vp, "auto negotiates the version in the TLS handshake (ALPN) and %q is cleartext: use http1, or http2 for cleartext HTTP/2 (h2c) with prior knowledge", be.Address)
		}
	default:
		v.add(vp, "unknown HTTP version %q (valid: http1, http2, auto)", h.Version)
	}
}

func (v *validator) tlsVersion(s, path string) {
	switch s {
	case "", TLSVersion12, TLSVersion13:
	case "1.0", "1.1", "1":
		v.add(path, "TLS %s is not supported (valid: \"1.2\", \"1.3\")", s)
	default:
		v.add(path, "unknown TLS version %q (valid: \"1.2\", \"1.3\")", s)
	}
}

// isTrustDomain reports whether s is a SPIFFE trust domain name: lowercase
// letters, digits, dots, dashes and underscores, at most 255 bytes.
func isTrustDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(".-_", c) >= 0) {
			return false
		}
	}
	return true
}
