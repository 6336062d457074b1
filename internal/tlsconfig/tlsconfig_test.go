package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

const interval = 20 * time.Millisecond

func serverFiles(t *testing.T) (dir string, ca *tlstest.CA, certFile, keyFile, caFile string) {
	t.Helper()
	dir = t.TempDir()
	ca = tlstest.NewCA(t, "ca")
	certFile, keyFile = tlstest.WriteLeaf(t, dir, "server", ca.Issue(t, tlstest.Localhost()))
	caFile = tlstest.WriteFile(t, dir, "ca.crt", ca.PEM)
	return
}

func TestNewServerErrors(t *testing.T) {
	dir, ca, certFile, keyFile, caFile := serverFiles(t)
	other := ca.Issue(t, tlstest.Localhost())
	otherKey := tlstest.WriteFile(t, dir, "other.key", other.KeyPEM)
	empty := tlstest.WriteFile(t, dir, "empty.pem", []byte("not pem\n"))
	badCA := tlstest.WriteFile(t, dir, "bad-ca.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	big := tlstest.WriteFile(t, dir, "big.pem", make([]byte, maxPEMBytes+1))
	for _, tc := range []struct {
		name string
		o    ServerOptions
		want string
	}{
		{"missing cert", ServerOptions{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: keyFile}, "no such file"},
		{"missing key", ServerOptions{CertFile: certFile, KeyFile: filepath.Join(dir, "nope.key")}, "no such file"},
		{"key mismatch", ServerOptions{CertFile: certFile, KeyFile: otherKey}, "private key does not match"},
		{"missing CA", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.RequireAndVerifyClientCert, TrustBundles: td(filepath.Join(dir, "nope.pem"))}, "no such file"},
		{"CA without certs", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.VerifyClientCertIfGiven, TrustBundles: td(empty)}, "holds no PEM certificate"},
		{"CA garbage", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.VerifyClientCertIfGiven, TrustBundles: td(badCA)}, "certificate 1"},
		{"CA too large", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.VerifyClientCertIfGiven, TrustBundles: td(big)}, "larger than"},
		{"mode without CA", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.RequireAndVerifyClientCert}, "client CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := NewServer(ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: tls.RequireAndVerifyClientCert, TrustBundles: td(caFile)}); err != nil {
		t.Fatal(err)
	}
}

// td is a single trust bundle of cluster.local.
func td(caFile string) []TrustBundle {
	return []TrustBundle{{TrustDomain: "cluster.local", CAFile: caFile}}
}

func TestServerReload(t *testing.T) {
	dir, ca, certFile, keyFile, caFile := serverFiles(t)
	s, err := NewServer(ServerOptions{CertFile: certFile, KeyFile: keyFile, TrustBundles: td(caFile),
		ClientAuth: tls.RequireAndVerifyClientCert, ReloadInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.GetConfigForClient(nil)
	serial1 := s.Certificate().SerialNumber

	// Unchanged files: same config, even after the interval.
	time.Sleep(2 * interval)
	if c, _ := s.GetConfigForClient(nil); c != first {
		t.Fatal("config rebuilt without a file change")
	}

	// A half-done rotation (new certificate, old key) keeps the old
	// material.
	next := ca.Issue(t, tlstest.Localhost())
	tlstest.WriteFile(t, dir, "server.crt", next.CertPEM)
	time.Sleep(2 * interval)
	if c, _ := s.GetConfigForClient(nil); c != first || s.Certificate().SerialNumber.Cmp(serial1) != 0 {
		t.Fatal("mismatched key pair was loaded")
	}
	// The key arrives: the next check loads the pair.
	tlstest.WriteFile(t, dir, "server.key", next.KeyPEM)
	time.Sleep(2 * interval)
	c, _ := s.GetConfigForClient(nil)
	if c == first || s.Certificate().SerialNumber.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatal("rotated certificate not picked up")
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("config = %+v", c)
	}

	// The client CA rotates too.
	ca2 := tlstest.NewCA(t, "ca2")
	tlstest.WriteFile(t, dir, "ca.crt", ca2.PEM)
	time.Sleep(2 * interval)
	c2, _ := s.GetConfigForClient(nil)
	if c2 == c {
		t.Fatal("CA change not picked up")
	}
	leaf := ca2.Issue(t, tlstest.Options{CommonName: "c", Client: true}).Cert
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c2.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("new CA pool does not verify a client of the new CA: %v", err)
	}

	// A deleted file keeps the last good material.
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * interval)
	if c3, _ := s.GetConfigForClient(nil); c3 != c2 {
		t.Fatal("material dropped after a file disappeared")
	}
}

func TestClientReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	caFile := tlstest.WriteFile(t, dir, "ca.crt", ca.PEM)
	certFile, keyFile := tlstest.WriteLeaf(t, dir, "client", ca.Issue(t, tlstest.Options{CommonName: "c", Client: true}))
	if _, err := NewClient(ClientOptions{CertFile: certFile}); err == nil {
		t.Fatal("certificate without key accepted")
	}
	c, err := NewClient(ClientOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "backend.internal", MinVersion: tls.VersionTLS13, ReloadInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Config()
	if a.ServerName != "backend.internal" || a.MinVersion != tls.VersionTLS13 || a.RootCAs == nil || len(a.Certificates) != 1 {
		t.Fatalf("config = %+v", a)
	}
	next := ca.Issue(t, tlstest.Options{CommonName: "c2", Client: true})
	tlstest.WriteLeaf(t, dir, "client", next)
	time.Sleep(2 * interval)
	b := c.Config()
	if b == a || b.Certificates[0].Leaf.SerialNumber.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatal("client certificate rotation not picked up")
	}
	// No files at all: system roots, nothing to reload.
	plain, err := NewClient(ClientOptions{})
	if err != nil || plain.Config().RootCAs != nil {
		t.Fatalf("plain client: %v", err)
	}
}

func TestVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13} {
		if got, err := Version(in); err != nil || got != want {
			t.Errorf("Version(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"1.1", "1.0", "TLS1.3", "1.4"} {
		if _, err := Version(in); err == nil {
			t.Errorf("Version(%q) accepted", in)
		}
	}
}

func TestServiceAccountFromCert(t *testing.T) {
	ok := func(u string) *x509.Certificate {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return &x509.Certificate{URIs: []*url.URL{pu}}
	}
	id, err := ServiceAccountFromCert(ok("spiffe://cluster.local/ns/agent-core-infra/sa/planning-agent-sa"))
	if err != nil {
		t.Fatal(err)
	}
	if id.TrustDomain != "cluster.local" || id.Namespace != "agent-core-infra" || id.ServiceAccount != "planning-agent-sa" ||
		id.Subject() != "system:serviceaccount:agent-core-infra:planning-agent-sa" || id.ID != "spiffe://cluster.local/ns/agent-core-infra/sa/planning-agent-sa" {
		t.Fatalf("id = %+v", id)
	}
	if _, err := ServiceAccountFromCert(ok("spiffe://td/ns/a/sa/b.c-d")); err != nil {
		t.Errorf("dotted ServiceAccount name refused: %v", err)
	}
	two := ok("spiffe://td/ns/a/sa/b")
	two.URIs = append(two.URIs, ok("spiffe://td/ns/a/sa/c").URIs[0])
	mixed := ok("spiffe://td/ns/a/sa/b")
	mixed.URIs = append(mixed.URIs, ok("https://example.com/").URIs[0])
	ca := ok("spiffe://td/ns/a/sa/b")
	ca.IsCA = true
	for name, tc := range map[string]struct {
		c    *x509.Certificate
		want error
	}{
		"no URI":            {&x509.Certificate{DNSNames: []string{"x"}}, ErrNoSPIFFEID},
		"two SPIFFE IDs":    {two, ErrManyURIs},
		"SPIFFE and https":  {mixed, ErrManyURIs},
		"https URI":         {ok("https://td/ns/a/sa/b"), ErrNoSPIFFEID},
		"CA certificate":    {ca, ErrCertNotForClient},
		"no path":           {ok("spiffe://td"), ErrNotServiceAcct},
		"other path":        {ok("spiffe://td/workload/x"), ErrNotServiceAcct},
		"extra segment":     {ok("spiffe://td/ns/a/sa/b/c"), ErrNotServiceAcct},
		"trailing slash":    {ok("spiffe://td/ns/a/sa/b/"), ErrNotServiceAcct},
		"swapped":           {ok("spiffe://td/sa/b/ns/a"), ErrNotServiceAcct},
		"empty ns":          {ok("spiffe://td/ns//sa/b"), ErrNotServiceAcct},
		"upper ns":          {ok("spiffe://td/ns/A/sa/b"), ErrNotServiceAcct},
		"colon in ns":       {ok("spiffe://td/ns/a:b/sa/c"), ErrNotServiceAcct},
		"upper trust dom":   {ok("spiffe://TD/ns/a/sa/b"), ErrNotServiceAcct},
		"port":              {ok("spiffe://td:8443/ns/a/sa/b"), ErrNotServiceAcct},
		"user info":         {ok("spiffe://u@td/ns/a/sa/b"), ErrNotServiceAcct},
		"query":             {ok("spiffe://td/ns/a/sa/b?x=1"), ErrNotServiceAcct},
		"empty query":       {ok("spiffe://td/ns/a/sa/b?"), ErrNotServiceAcct},
		"fragment":          {ok("spiffe://td/ns/a/sa/b#f"), ErrNotServiceAcct},
		"percent-encoded":   {ok("spiffe://td/ns/a/sa/b%2Fc"), ErrNotServiceAcct},
		"dot segment":       {ok("spiffe://td/ns/../sa/b"), ErrNotServiceAcct},
		"IP trust domain":   {ok("spiffe://[::1]/ns/a/sa/b"), ErrNotServiceAcct},
		"long name segment": {ok("spiffe://td/ns/" + strings.Repeat("a", 64) + "/sa/b"), ErrNotServiceAcct},
	} {
		if _, err := ServiceAccountFromCert(tc.c); err != tc.want {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}
