package e2e

// End-to-end mutual TLS: the user guide's security.mtls block (Step 10.1)
// on the real binary, a real go-sdk MCP client presenting a SPIFFE client
// certificate, and certificate rotation picked up by the running process.
//
// Helpers in this file are prefixed "mx".

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

type mxArgs struct{}

// mxBackend is an MCP server whose whoami tool answers with the
// X-Agent-Identity header the gateway sent.
func mxBackend(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "mx", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "caller identity"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mxArgs) (*mcp.CallToolResult, any, error) {
		var ids []string
		if req.Extra != nil {
			ids = req.Extra.Header.Values("X-Agent-Identity")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(ids, "|")}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func mxClient(serverCA *tlstest.CA, cert *tls.Certificate, serial **big.Int) *http.Client {
	cfg := &tls.Config{RootCAs: tlstest.Pool(serverCA)}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if serial != nil {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			*serial = cs.PeerCertificates[0].SerialNumber
			return nil
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

func TestMTLSSeedConfigEndToEnd(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := tlstest.NewCA(t, "gateway-ca"), tlstest.NewCA(t, "mesh-ca")
	certFile, keyFile := tlstest.WriteLeaf(t, dir, "tls", serverCA.Issue(t, tlstest.Localhost()))
	caFile := tlstest.WriteFile(t, dir, "ca.crt", clientCA.PEM)
	backend := mxBackend(t)

	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: mcp-listener
        routes:
          - name: agent-to-mcp-tools
            match:
              path:
                prefix: /mcp
            authentication:
              clientCertificate: true
            backends:
              - name: tools
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /
`, backend)
	cfg.Extra = fmt.Sprintf(`security:
  mtls:
    enabled: true
    mode: STRICT
    certificateAuthority: %s
    serverCert: %s
    serverKey: %s
`, caFile, certFile, keyFile)
	g := StartGateway(t, cfg)
	endpoint := fmt.Sprintf("https://127.0.0.1:%d/mcp", g.Port)

	const agent = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	agentCert := clientCA.Issue(t, tlstest.Options{CommonName: "agent", Client: true,
		URIs: []string{"spiffe://cluster.local/ns/agent-core-infra/sa/ekspoc-v6-kagent-agent-sa"}}).TLS(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: mxClient(serverCA, &agentCert, nil), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != agent {
		t.Fatalf("backend saw X-Agent-Identity %q, want %q", got, agent)
	}
	_ = sess.Close()

	// No client certificate: the STRICT listener refuses the handshake.
	if _, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: mxClient(serverCA, nil, nil), MaxRetries: -1}, nil); err == nil {
		t.Fatal("client without certificate connected")
	}
	// Plain HTTP on the port gets nowhere either.
	if resp, err := http.Post(g.URL("/mcp"), "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP accepted")
		}
	}

	// Rotate the server certificate in place: the running process serves
	// the new one within a few seconds, without a restart or reload.
	next := serverCA.Issue(t, tlstest.Localhost())
	tlstest.WriteLeaf(t, filepath.Dir(certFile), "tls", next)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var serial *big.Int
		resp, err := mxClient(serverCA, &agentCert, &serial).Get(fmt.Sprintf("https://127.0.0.1:%d/mcp", g.Port))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if serial.Cmp(next.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotated certificate not served")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(g.Logs(), "reloaded listener certificate") {
		t.Error("rotation not logged")
	}
}
