package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

// Check decides a connection's standing and identity per trust domain.
func TestMaterialCheck(t *testing.T) {
	dir, _, certFile, keyFile, _ := serverFiles(t)
	local, partner, removed := tlstest.NewCA(t, "local"), tlstest.NewCA(t, "partner"), tlstest.NewCA(t, "removed")
	bundles := []TrustBundle{
		{TrustDomain: "cluster.local", CAFile: tlstest.WriteFile(t, dir, "local.crt", local.PEM)},
		{TrustDomain: "partner.example", CAFile: tlstest.WriteFile(t, dir, "partner.crt", partner.PEM)},
	}
	server := func(mode tls.ClientAuthType) *Material {
		s, err := NewServer(ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: mode, TrustBundles: bundles, LocalTrustDomain: "cluster.local"})
		if err != nil {
			t.Fatal(err)
		}
		return s.Material()
	}
	strict, permissive, none := server(tls.RequireAndVerifyClientCert), server(tls.VerifyClientCertIfGiven), server(tls.NoClientCert)
	// conn is a connection whose certificate ca issued for id; verified
	// lists the handshake's chain (false: none, to force a rebuild).
	conn := func(ca *tlstest.CA, id string, verified bool) *tls.ConnectionState {
		c := ca.Issue(t, tlstest.Options{Client: true, URIs: []string{id}}).Cert
		st := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		if verified {
			st.VerifiedChains = [][]*x509.Certificate{{c, ca.Cert}}
		}
		return st
	}
	const localID, partnerID = "spiffe://cluster.local/ns/a/sa/b", "spiffe://partner.example/ns/a/sa/b"
	for _, tc := range []struct {
		name       string
		m          *Material
		st         *tls.ConnectionState
		err, idErr error
		local      bool
	}{
		{"STRICT, no certificate", strict, &tls.ConnectionState{}, ErrCertRequired, ErrNoCertificate, false},
		{"PERMISSIVE, no certificate", permissive, &tls.ConnectionState{}, nil, ErrNoCertificate, false},
		{"NONE ignores certificates", none, conn(removed, localID, true), nil, ErrNoCertificate, false},
		{"local domain", strict, conn(local, localID, true), nil, nil, true},
		{"local domain, chain rebuilt", strict, conn(local, localID, false), nil, nil, true},
		{"partner domain", strict, conn(partner, partnerID, true), nil, nil, false},
		{"partner CA, local ID", strict, conn(partner, localID, true), nil, ErrWrongTrustBundle, false},
		{"partner CA, local ID, chain rebuilt", strict, conn(partner, localID, false), nil, ErrWrongTrustBundle, false},
		{"local CA, partner ID", permissive, conn(local, partnerID, true), nil, ErrWrongTrustBundle, false},
		{"domain without bundle", strict, conn(local, "spiffe://evil.example/ns/a/sa/b", true), nil, ErrNoTrustBundle, false},
		{"CA no longer trusted", permissive, conn(removed, localID, true), ErrCertNoLongerTrusted, ErrCertNoLongerTrusted, false},
		{"not a SPIFFE ServiceAccount", strict, conn(local, "spiffe://cluster.local/x", true), nil, ErrNotServiceAcct, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.m.Check(tc.st)
			if p.Err != tc.err || p.IDErr != tc.idErr || p.Local != tc.local {
				t.Fatalf("Check = err %v, idErr %v, local %v; want %v, %v, %v", p.Err, p.IDErr, p.Local, tc.err, tc.idErr, tc.local)
			}
			if tc.idErr == nil && p.ID.Namespace != "a" {
				t.Fatalf("id = %+v", p.ID)
			}
		})
	}
}
