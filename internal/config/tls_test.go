package config

import (
	"reflect"
	"strings"
	"testing"
)

// tlsBind adds a tls block to base's bind.
func tlsBind(block string) string {
	return strings.Replace(base, "  - port: 8080\n", "  - port: 8080\n    tls:\n"+indent(block, 6), 1)
}

// tlsRoute adds route-level YAML after base's match block.
func tlsRoute(src, extra string) string {
	return strings.Replace(src, "                prefix: /mcp\n", "                prefix: /mcp\n"+indent(extra, 12), 1)
}

const seedMTLS = `security:
  mtls:
    enabled: true
    mode: STRICT
    certificateAuthority: /etc/certs/ca.crt
    serverCert: /etc/certs/tls.crt
    serverKey: /etc/certs/tls.key
`

func TestTLSValid(t *testing.T) {
	for name, src := range map[string]string{
		// Validate does no I/O: none of these files exist.
		"server only":        tlsBind("certFile: /nope/tls.crt\nkeyFile: /nope/tls.key\n"),
		"strict":             tlsBind("certFile: a\nkeyFile: b\nclientCA: c\nclientAuth: STRICT\nminVersion: 1.3\n"),
		"permissive":         tlsBind("certFile: a\nkeyFile: b\nclientCA: c\nclientAuth: PERMISSIVE\nminVersion: \"1.2\"\n"),
		"ca implies strict":  tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"),
		"seed security.mtls": base + seedMTLS,
		"mtls disabled beside bind tls": tlsBind("certFile: a\nkeyFile: b\n") +
			"security:\n  mtls:\n    enabled: false\n",
		"client certificate identity": tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientAuth: PERMISSIVE\ntrustDomain: cluster.local\ntrustBundles:\n  - {trustDomain: cluster.local, caFile: c}\n  - {trustDomain: prod_2.example-1, caFile: d}\n"),
			"authentication:\n  clientCertificate: true\n  trustDomains: [cluster.local, prod_2.example-1]\n"),
		// One clientCA and one trust domain named by the routes: the
		// bundle is that domain's, as before.
		"single clientCA, single route trust domain": tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"),
			"authentication:\n  clientCertificate: true\n  trustDomains: [prod.example]\n"),
		"clientCA with trustDomain": tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\ntrustDomain: prod.example\n"),
			"authentication:\n  clientCertificate: true\n"),
		"security.mtls trust bundles": tlsRoute(base, "authentication:\n  clientCertificate: true\n  trustDomains: [partner.example]\n") +
			"security:\n  mtls:\n    enabled: true\n    serverCert: a\n    serverKey: b\n    trustBundles:\n      - {trustDomain: cluster.local, caFile: c}\n      - {trustDomain: partner.example, caFile: d}\n",
		"client certificate via security.mtls": tlsRoute(base, "authentication:\n  clientCertificate: true\n") + seedMTLS,
		"backend tls": strings.Replace(base, "address: http://mcp:8000\n",
			"address: https://mcp:8443\n                tls:\n                  caFile: /x/ca.crt\n                  certFile: /x/c.crt\n                  keyFile: /x/c.key\n                  serverName: mcp.internal\n                  minVersion: 1.3\n", 1),
		"backend tls ip server name": strings.Replace(base, "address: http://mcp:8000\n",
			"address: https://10.0.0.1:8443\n                tls: {serverName: 10.0.0.1}\n", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if got := problems("t.yaml", src); got != nil {
				t.Fatalf("unexpected problems:\n%s\n%s", strings.Join(got, "\n"), src)
			}
		})
	}
}

func TestTLSErrors(t *testing.T) {
	backendTLS := func(addr, block string) string {
		return strings.Replace(base, "address: http://mcp:8000\n", "address: "+addr+"\n                tls:\n"+indent(block, 18), 1)
	}
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"missing files", tlsBind("clientAuth: NONE\n"), []string{
			"binds[0].tls.certFile: certFile is required",
			"binds[0].tls.keyFile: keyFile is required",
		}},
		{"bad mode", tlsBind("certFile: a\nkeyFile: b\nclientCA: c\nclientAuth: strict\n"), []string{
			`t.yaml:7:19: binds[0].tls.clientAuth: unknown clientAuth "strict" (valid: STRICT, PERMISSIVE, NONE)`,
		}},
		{"strict without CA", tlsBind("certFile: a\nkeyFile: b\nclientAuth: STRICT\n"), []string{
			"binds[0].tls.clientCA: clientCA is required when clientAuth is STRICT",
		}},
		{"permissive without CA", tlsBind("certFile: a\nkeyFile: b\nclientAuth: PERMISSIVE\n"), []string{
			"binds[0].tls.clientCA: clientCA is required when clientAuth is PERMISSIVE",
		}},
		{"NONE with CA", tlsBind("certFile: a\nkeyFile: b\nclientCA: c\nclientAuth: NONE\n"), []string{
			"binds[0].tls.clientAuth: clientAuth NONE never requests a client certificate",
		}},
		{"min version", tlsBind("certFile: a\nkeyFile: b\nminVersion: 1.1\n"), []string{
			`binds[0].tls.minVersion: TLS 1.1 is not supported (valid: "1.2", "1.3")`,
		}},
		{"min version garbage", tlsBind("certFile: a\nkeyFile: b\nminVersion: TLS1.2\n"), []string{
			`binds[0].tls.minVersion: unknown TLS version "TLS1.2"`,
		}},
		{"both forms", tlsBind("certFile: a\nkeyFile: b\n") + seedMTLS, []string{
			"t.yaml:3:5: binds[0].tls: conflicts with security.mtls, which is enabled",
		}},
		{"seed form incomplete", base + "security:\n  mtls:\n    enabled: true\n", []string{
			"security.mtls.serverCert: serverCert is required when enabled",
			"security.mtls.serverKey: serverKey is required when enabled",
			"security.mtls.certificateAuthority: certificateAuthority is required when enabled",
		}},
		{"seed form bad mode", base + strings.Replace(seedMTLS, "mode: STRICT", "mode: MUTUAL", 1), []string{
			`security.mtls.mode: unknown mode "MUTUAL" (valid: STRICT, PERMISSIVE)`,
		}},
		{"seed form NONE", base + strings.Replace(seedMTLS, "mode: STRICT", "mode: NONE", 1), []string{
			"security.mtls.mode: mode NONE is not mutual TLS",
		}},
		{"seed form disabled still checks mode", base + "security:\n  mtls:\n    mode: DISABLE\n", []string{
			`security.mtls.mode: unknown mode "DISABLE"`,
		}},
		{"client certificate on plain bind", tlsRoute(base, "authentication:\n  clientCertificate: true\n"), []string{
			"binds[0].listeners[0].routes[0].authentication.clientCertificate: the route's bind (port 8080) does not verify client certificates",
		}},
		{"client certificate on NONE bind", tlsRoute(tlsBind("certFile: a\nkeyFile: b\n"), "authentication:\n  clientCertificate: true\n"), []string{
			"authentication.clientCertificate: the route's bind (port 8080) does not verify client certificates",
		}},
		{"trust domains", tlsRoute(base, "authentication:\n  trustDomains: [Cluster.Local, 'spiffe://td', td, td]\n"), []string{
			"authentication.trustDomains: trustDomains applies only with clientCertificate: true",
			`authentication.trustDomains[0]: "Cluster.Local" is not a SPIFFE trust domain`,
			`authentication.trustDomains[1]: "spiffe://td" is not a SPIFFE trust domain`,
			`authentication.trustDomains[3]: duplicate trust domain "td" (first at trustDomains[2])`,
		}},
		// Trust domains (issue #19 finding 1): one bundle per domain,
		// never a single bundle for several domains.
		{"clientCA for several route trust domains", tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"),
			"authentication:\n  clientCertificate: true\n  trustDomains: [cluster.local, evil.example]\n"), []string{
			"t.yaml:6:17: binds[0].tls.clientCA: clientCA is a single trust bundle, but routes on bind port 8080 accept several trust domains (cluster.local, evil.example)",
		}},
		{"certificateAuthority for several route trust domains", tlsRoute(base, "authentication:\n  clientCertificate: true\n  trustDomains: [cluster.local, evil.example]\n") + seedMTLS, []string{
			"security.mtls.certificateAuthority: certificateAuthority is a single trust bundle, but routes on bind port 8080 accept several trust domains",
		}},
		{"route trust domain without a bundle", tlsRoute(tlsBind("certFile: a\nkeyFile: b\ntrustBundles: [{trustDomain: cluster.local, caFile: c}]\n"),
			"authentication:\n  clientCertificate: true\n  trustDomains: [cluster.local, evil.example]\n"), []string{
			`authentication.trustDomains[1]: trust domain "evil.example" has no trust bundle on the route's bind (port 8080 has: cluster.local)`,
		}},
		{"route trust domain other than clientCA's", tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\ntrustDomain: cluster.local\n"),
			"authentication:\n  clientCertificate: true\n  trustDomains: [evil.example]\n"), []string{
			`authentication.trustDomains[0]: trust domain "evil.example" has no trust bundle`,
		}},
		{"trust bundle fields", tlsBind("certFile: a\nkeyFile: b\nclientCA: x\ntrustDomain: Bad\ntrustBundles:\n  - {caFile: c}\n  - {trustDomain: 'spiffe://td'}\n  - {trustDomain: td, caFile: d}\n  - {trustDomain: td, caFile: e}\n"), []string{
			`t.yaml:7:20: binds[0].tls.trustDomain: "Bad" is not a SPIFFE trust domain`,
			"t.yaml:8:7: binds[0].tls.trustBundles: use either clientCA (one bundle, for trustDomain) or trustBundles (one bundle per trust domain), not both",
			"binds[0].tls.trustBundles[0].trustDomain: trustDomain is required",
			"binds[0].tls.trustBundles[1].caFile: caFile is required",
			`binds[0].tls.trustBundles[1].trustDomain: "spiffe://td" is not a SPIFFE trust domain`,
			`binds[0].tls.trustBundles[3].trustDomain: duplicate trust domain "td" (first at trustBundles[2])`,
		}},
		{"local trust domain not among bundles", tlsBind("certFile: a\nkeyFile: b\ntrustDomain: cluster.local\ntrustBundles: [{trustDomain: td, caFile: c}]\n"), []string{
			`binds[0].tls.trustDomain: trust domain "cluster.local" has no entry in trustBundles`,
		}},
		{"trust domain without CA", tlsBind("certFile: a\nkeyFile: b\ntrustDomain: cluster.local\n"), []string{
			"binds[0].tls.trustDomain: trustDomain applies only with clientCA or trustBundles",
		}},
		{"NONE with trust bundles", tlsBind("certFile: a\nkeyFile: b\nclientAuth: NONE\ntrustBundles: [{trustDomain: td, caFile: c}]\n"), []string{
			"binds[0].tls.clientAuth: clientAuth NONE never requests a client certificate, so trustBundles would not be used",
		}},
		{"seed form with both", base + seedMTLS + "    trustBundles: [{trustDomain: td, caFile: c}]\n", []string{
			"security.mtls.trustBundles: use either certificateAuthority (one bundle, for trustDomain) or trustBundles",
		}},
		{"backend tls on http", backendTLS("http://mcp:8000", "caFile: ca.crt\n"), []string{
			`backends[0].tls: a tls block requires an https:// address (address is "http://mcp:8000")`,
		}},
		{"backend cert without key", backendTLS("https://mcp", "certFile: c.crt\n"), []string{
			"backends[0].tls.keyFile: keyFile is required with certFile",
		}},
		{"backend key without cert", backendTLS("https://mcp", "keyFile: c.key\n"), []string{
			"backends[0].tls.certFile: certFile is required with keyFile",
		}},
		{"backend server name and version", backendTLS("https://mcp", "serverName: 'mcp:443'\nminVersion: 1.0\n"), []string{
			`backends[0].tls.serverName: serverName "mcp:443" is not a host name or IP address`,
			`backends[0].tls.minVersion: TLS 1.0 is not supported`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems("t.yaml", tc.src)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s\n%s", len(got), len(tc.want), strings.Join(got, "\n"), tc.src)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want …%s…", i, got[i], w)
				}
			}
		})
	}
}

func TestTLSDefaultsAndBindTLS(t *testing.T) {
	c, err := Parse("t.yaml", []byte(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n")))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	got := c.BindTLS(&c.Binds[0])
	if got != c.Binds[0].TLS || got.ClientAuth != ClientAuthStrict || got.MinVersion != TLSVersion12 {
		t.Fatalf("bind tls = %+v", got)
	}

	c, err = Parse("t.yaml", []byte(tlsBind("certFile: a\nkeyFile: b\n")))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if got := c.BindTLS(&c.Binds[0]); got.ClientAuth != ClientAuthNone {
		t.Fatalf("clientAuth without CA = %q", got.ClientAuth)
	}

	// The seed form maps onto every bind.
	two := base + "  - port: 8081\n    listeners:\n" + strings.Replace(strings.SplitN(base, "    listeners:\n", 2)[1], "name: r\n", "name: r2\n", 1)
	c, err = Parse("t.yaml", []byte(two+"security:\n  mtls:\n    enabled: true\n    certificateAuthority: /ca\n    serverCert: /crt\n    serverKey: /key\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Security.MTLS.Mode != ClientAuthStrict {
		t.Fatalf("mode default = %q", c.Security.MTLS.Mode)
	}
	want := ListenerTLS{CertFile: "/crt", KeyFile: "/key", ClientCA: "/ca", ClientAuth: ClientAuthStrict, MinVersion: TLSVersion12}
	for i := range c.Binds {
		if got := c.BindTLS(&c.Binds[i]); got == nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("binds[%d] tls = %+v, want %+v", i, got, want)
		}
		if c.Binds[i].TLS != nil {
			t.Fatal("SetDefaults copied security.mtls into the bind")
		}
	}
	c.Security.MTLS.Mode = ClientAuthPermissive
	if got := c.BindTLS(&c.Binds[0]); got.ClientAuth != ClientAuthPermissive {
		t.Fatalf("permissive mapped to %q", got.ClientAuth)
	}
	c.Security.MTLS.Enabled = false
	if got := c.BindTLS(&c.Binds[0]); got != nil {
		t.Fatalf("disabled security.mtls still applies: %+v", got)
	}

	// Trust bundles imply STRICT.
	c, err = Parse("t.yaml", []byte(tlsBind("certFile: a\nkeyFile: b\ntrustBundles: [{trustDomain: td, caFile: c}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if got := c.BindTLS(&c.Binds[0]); got.ClientAuth != ClientAuthStrict {
		t.Fatalf("clientAuth with trust bundles = %q", got.ClientAuth)
	}

	// Backend tls minVersion default.
	c, err = Parse("t.yaml", []byte(strings.Replace(base, "address: http://mcp:8000\n", "address: https://mcp\n                tls: {caFile: ca}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if v := c.Binds[0].Listeners[0].Routes[0].Backends[0].TLS.MinVersion; v != TLSVersion12 {
		t.Fatalf("backend minVersion default = %q", v)
	}
}

// BindClientTrust attributes every bundle to exactly one trust domain.
func TestBindClientTrust(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      *ClientTrust
	}{
		{"no client certificates", tlsBind("certFile: a\nkeyFile: b\n"), nil},
		{"clientCA defaults to cluster.local", tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"),
			&ClientTrust{Bundles: []TrustBundle{{"cluster.local", "c"}}, Local: "cluster.local"}},
		{"seed security.mtls", base + seedMTLS,
			&ClientTrust{Bundles: []TrustBundle{{"cluster.local", "/etc/certs/ca.crt"}}, Local: "cluster.local"}},
		{"clientCA takes the routes' only trust domain", tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"), "authentication:\n  clientCertificate: true\n  trustDomains: [prod.example]\n"),
			&ClientTrust{Bundles: []TrustBundle{{"prod.example", "c"}}, Local: "prod.example"}},
		{"clientCA with trustDomain", tlsBind("certFile: a\nkeyFile: b\nclientCA: c\ntrustDomain: td\n"),
			&ClientTrust{Bundles: []TrustBundle{{"td", "c"}}, Local: "td"}},
		{"clientCA for several domains is ambiguous", tlsRoute(tlsBind("certFile: a\nkeyFile: b\nclientCA: c\n"), "authentication:\n  clientCertificate: true\n  trustDomains: [a, b]\n"),
			&ClientTrust{Bundles: []TrustBundle{{"", "c"}}}},
		{"one trust bundle is local", tlsBind("certFile: a\nkeyFile: b\ntrustBundles: [{trustDomain: td, caFile: c}]\n"),
			&ClientTrust{Bundles: []TrustBundle{{"td", "c"}}, Local: "td"}},
		{"several trust bundles: no local domain unless named", tlsBind("certFile: a\nkeyFile: b\ntrustBundles: [{trustDomain: a, caFile: c}, {trustDomain: b, caFile: d}]\n"),
			&ClientTrust{Bundles: []TrustBundle{{"a", "c"}, {"b", "d"}}}},
		{"several trust bundles, local named", tlsBind("certFile: a\nkeyFile: b\ntrustDomain: b\ntrustBundles: [{trustDomain: a, caFile: c}, {trustDomain: b, caFile: d}]\n"),
			&ClientTrust{Bundles: []TrustBundle{{"a", "c"}, {"b", "d"}}, Local: "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDefaults()
			if got := c.BindClientTrust(&c.Binds[0]); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
