package jwt_test

// These tests run the policy behind the real edge (internal/gateway), to
// check what a client and a backend actually see: the JSON-RPC error body
// and WWW-Authenticate on MCP routes, one identity header, no token
// forwarded.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/gateway"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/jwt"
)

type seen struct {
	mu      sync.Mutex
	headers []http.Header
}

func (s *seen) add(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, h.Clone())
}

func (s *seen) all() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

func TestBehindTheEdge(t *testing.T) {
	jwksSrv := gatewaytest.StartIssuer(t, gatewaytest.NewECKey(t, "k1"))

	var got seen
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r.Header)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{}}`)
	}))
	t.Cleanup(backend.Close)

	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(`
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match:
              path:
                prefix: /mcp
            policies:
              - type: jwt-authn
                jwt:
                  issuer: https://kubernetes.default.svc
                  audiences: [agent-gateway]
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
            backends:
              - name: b
                type: mcp-http
                address: %s
admin:
  address: 127.0.0.1
  port: %d
`, port, jwksSrv.URL, backend.URL, admin)
	gatewaytest.Start(t, gateway.New(gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), src)
	gw := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)

	const sub = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	mint := func(exp time.Time) string {
		return jwksSrv.Sign(t, jwtlib.MapClaims{
			"iss": "https://kubernetes.default.svc", "aud": []string{"agent-gateway"}, "sub": sub,
			"exp": exp.Unix(), "iat": time.Now().Unix(),
		})
	}
	valid, expired := mint(time.Now().Add(time.Hour)), mint(time.Now().Add(-time.Hour))

	post := func(url string, hdr map[string][]string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather_data"}}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}

	rejections := []struct {
		name      string
		url       string
		hdr       map[string][]string
		challenge string
	}{
		{"no token", gw, nil, `Bearer realm="agentgateway"`},
		{"expired", gw, map[string][]string{"Authorization": {"Bearer " + expired}},
			`Bearer realm="agentgateway", error="invalid_token", error_description="token expired"`},
		{"token in the query string", gw + "?access_token=" + valid, nil, `Bearer realm="agentgateway"`},
		{"two Authorization headers", gw, map[string][]string{"Authorization": {"Bearer " + valid, "Bearer " + valid}},
			`Bearer realm="agentgateway", error="invalid_request", error_description="more than one Authorization header"`},
		{"spoofed identity without a token", gw, map[string][]string{"X-Agent-Identity": {sub}}, `Bearer realm="agentgateway"`},
	}
	for _, tt := range rejections {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.url, tt.hdr)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// MCP routes point clients at their RFC 9728 metadata.
			want := tt.challenge + fmt.Sprintf(`, resource_metadata="http://127.0.0.1:%d/.well-known/oauth-protected-resource/mcp"`, port)
			if c := resp.Header.Get("WWW-Authenticate"); c != want {
				t.Errorf("WWW-Authenticate = %q, want %q", c, want)
			}
			// Authentication runs before the body is read (a refused
			// request costs no buffering), so there is no request id to
			// echo: id null, as JSON-RPC allows for an id not read.
			e, _ := body["error"].(map[string]any)
			if id, ok := body["id"]; body["jsonrpc"] != "2.0" || !ok || id != nil || e == nil || e["code"] != float64(-32001) {
				t.Errorf("body = %v", body)
			}
			if msg, _ := e["message"].(string); strings.Contains(msg, valid[:20]) || strings.Contains(msg, expired[:20]) {
				t.Errorf("token in the error message: %q", msg)
			}
		})
	}
	if n := len(got.all()); n != 0 {
		t.Fatalf("backend reached %d times by rejected requests", n)
	}

	resp, body := post(gw, map[string][]string{
		"Authorization":    {"Bearer " + valid},
		"X-Agent-Identity": {"system:serviceaccount:kube-system:admin", "other"},
		"x-agent-identity": {"lower-case copy"},
	})
	if resp.StatusCode != http.StatusOK || body["result"] == nil {
		t.Fatalf("valid token: %d %v", resp.StatusCode, body)
	}
	hs := got.all()
	if len(hs) != 1 {
		t.Fatalf("backend saw %d requests", len(hs))
	}
	if v := hs[0].Values("X-Agent-Identity"); len(v) != 1 || v[0] != sub {
		t.Errorf("backend X-Agent-Identity = %q", v)
	}
	if a := hs[0].Get("Authorization"); a != "" {
		t.Errorf("backend got the caller's Authorization: %q", a)
	}
}
