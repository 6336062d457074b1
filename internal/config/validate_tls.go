package config

import (
	"net/url"
	"strings"
)

// TLS validation (docs/tls.md). Like the rest of Validate it is pure: file
// paths are checked for presence only; the files are read when the config
// is applied, and a missing or bad file fails that step.

func (v *validator) listenerTLS(b *Bind, bp string) {
	if m := v.mtls(); m != nil && m.Enabled && b.TLS != nil {
		v.add(bp+".tls", "conflicts with security.mtls, which is enabled and already configures TLS for every bind; use either binds[].tls or security.mtls")
	}
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
	switch t.ClientAuth {
	case "": // defaulted from clientCA
	case ClientAuthStrict, ClientAuthPermissive:
		if t.ClientCA == "" {
			v.add(tp+".clientCA", "clientCA is required when clientAuth is %s: client certificates are verified against it", t.ClientAuth)
		}
	case ClientAuthNone:
		if t.ClientCA != "" {
			v.add(tp+".clientAuth", "clientAuth NONE never requests a client certificate, so clientCA would not be used; use STRICT or PERMISSIVE, or remove clientCA")
		}
	default:
		v.add(tp+".clientAuth", "unknown clientAuth %q (valid: STRICT, PERMISSIVE, NONE)", t.ClientAuth)
	}
	v.tlsVersion(t.MinVersion, tp+".minVersion")
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
	if m.CertificateAuthority == "" {
		v.add(p+".certificateAuthority", "certificateAuthority is required when enabled: client certificates are verified against it")
	}
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
	seen := map[string]int{}
	for i, td := range a.TrustDomains {
		tp := joinIndex(ap+".trustDomains", i)
		if !isTrustDomain(td) {
			v.add(tp, "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\" and \"_\"; no scheme or path), e.g. \"cluster.local\"", td)
		} else if first, dup := seen[td]; dup {
			v.add(tp, "duplicate trust domain %q (first at trustDomains[%d])", td, first)
		} else {
			seen[td] = i
		}
	}
	if !a.ClientCertificate {
		return
	}
	t := v.c.BindTLS(b)
	if t == nil || t.ClientAuth == ClientAuthNone || t.ClientAuth == "" && t.ClientCA == "" {
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
