package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

// wellKnownConfig: an MCP route with jwt-authn (publishes RFC 9728
// metadata), a plain HTTP route with jwt-authn (does not), and a catch-all
// route whose backend counts what reaches it.
const wellKnownConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            policies:
              - type: jwt-authn
                jwt: {issuer: https://kubernetes.default.svc, audiences: [agent-gateway], jwksUri: %s}
            backends:
              - {name: b, type: mcp-http, address: %s, mcp: {endpoint: /mcp}}
          - name: agents
            match: {path: {prefix: /agents}}
            policies:
              - type: jwt-authn
                jwt: {issuer: https://kubernetes.default.svc, audiences: [agent-gateway], jwksUri: %s}
            backends:
              - {name: a, address: %s}
          - name: rest
            match: {path: {prefix: /}}
            backends:
              - {name: r, address: %s}
`

func TestWellKnownServedBeforeRouting(t *testing.T) {
	jwks := gatewaytest.StartIssuer(t, gatewaytest.NewECKey(t, "k1"))
	var restHits atomic.Int64
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		restHits.Add(1)
		_, _ = io.WriteString(w, "rest")
	}))
	t.Cleanup(rest.Close)
	mcpBE := newMCPBackend(t, nil)
	g, gw := startGateway(t, wellKnownConfig, jwks.URL, mcpBE.URL, jwks.URL, rest.URL, rest.URL)

	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(gw + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// The 401 names the metadata URL; the gateway serves it itself, even
	// though the catch-all route "/" would match the path.
	resp, err := http.Post(gw+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != http.StatusUnauthorized || m == nil {
		t.Fatalf("%d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if want := gw + "/.well-known/oauth-protected-resource/mcp"; m[1] != want {
		t.Fatalf("resource_metadata = %q, want %q", m[1], want)
	}
	resp, body := get(strings.TrimPrefix(m[1], gw) + "?x=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal([]byte(body), &md); err != nil {
		t.Fatal(err)
	}
	if md.Resource != gw+"/mcp" || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != "https://kubernetes.default.svc" {
		t.Errorf("metadata = %+v", md)
	}
	if n := restHits.Load(); n != 0 {
		t.Fatalf("catch-all route reached %d times", n)
	}

	// Not an MCP route: nothing published, the path routes normally.
	if resp, body := get("/.well-known/oauth-protected-resource/agents"); resp.StatusCode != http.StatusOK || body != "rest" {
		t.Errorf("/agents metadata: %d %q", resp.StatusCode, body)
	}
	// Only the exact path is published.
	if resp, body := get("/.well-known/oauth-protected-resource/mcp/x"); body != "rest" {
		t.Errorf("sub-path: %d %q", resp.StatusCode, body)
	}

	// A reload without jwt-authn on /mcp withdraws the document.
	cfg := reparse(t, g, fmt.Sprintf(strings.Replace(wellKnownConfig, `
            policies:
              - type: jwt-authn
                jwt: {issuer: https://kubernetes.default.svc, audiences: [agent-gateway], jwksUri: %s}
            backends:
              - {name: b,`, `
            backends:
              - {name: b,`, 1), g.cfgPort(t), mcpBE.URL, jwks.URL, rest.URL, rest.URL))
	if err := g.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, body := get("/.well-known/oauth-protected-resource/mcp"); body != "rest" {
		t.Errorf("after reload: %q", body)
	}
}

// cfgPort returns the bind port of the running config.
func (g *Gateway) cfgPort(t *testing.T) int {
	t.Helper()
	rt := g.acquire()
	defer rt.release()
	return rt.cfg.Binds[0].Port
}

// reparse builds a config for src with the running admin section.
func reparse(t *testing.T, g *Gateway, src string) *config.Config {
	t.Helper()
	rt := g.acquire()
	src += fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", rt.cfg.Admin.Port)
	rt.release()
	return gatewaytest.Config(t, src)
}
