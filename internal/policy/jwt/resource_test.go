package jwt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// routePolicy provisions the policy through the registered factory, on a
// route with prefix and (if mcp) an MCP backend.
func routePolicy(t *testing.T, j *Config, prefix string, mcp bool) *Policy {
	t.Helper()
	rc := &config.Route{Name: "r", Match: config.Match{Path: config.PathMatch{Prefix: prefix}},
		Backends: []config.Backend{{Name: "b", Address: "http://127.0.0.1:1"}}}
	if mcp {
		rc.Backends[0].Type = config.BackendMCPHTTP
	}
	p, err := newForRoute(context.Background(), &config.Policy{Type: Type, Spec: j}, policy.Env{RouteName: "r", Route: rc})
	if err != nil {
		t.Fatal(err)
	}
	pol := p.(*Policy)
	t.Cleanup(func() { _ = pol.Cleanup() })
	return pol
}

func TestWellKnownOnlyOnMCPRoutes(t *testing.T) {
	srv := newJWKSServer(t, testKeys(t).rsa1)
	if path, h := routePolicy(t, jwtConfig(srv.URL), "/agents", false).WellKnown("/agents"); path != "" || h != nil {
		t.Errorf("non-MCP route publishes %q", path)
	}
	for prefix, want := range map[string]string{
		"/mcp":      "/.well-known/oauth-protected-resource/mcp",
		"/":         "/.well-known/oauth-protected-resource",
		"/tools/v1": "/.well-known/oauth-protected-resource/tools/v1",
	} {
		path, h := routePolicy(t, jwtConfig(srv.URL), prefix, true).WellKnown(prefix)
		if path != want || h == nil {
			t.Errorf("prefix %q: path %q, want %q", prefix, path, want)
		}
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	srv := newJWKSServer(t, testKeys(t).rsa1)
	p := routePolicy(t, jwtConfig(srv.URL), "/mcp", true)
	_, h := p.WellKnown("/mcp")

	// The edge puts the base URL of an allowed Host in the context.
	get := func(method, host string, tlsOn bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://x/.well-known/oauth-protected-resource/mcp", nil)
		r.Host = host
		scheme := "http"
		if tlsOn {
			r.TLS = &tls.ConnectionState{}
			scheme = "https"
		}
		r = r.WithContext(policy.WithBaseURL(r.Context(), scheme+"://"+host))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := get(http.MethodGet, "gw.example:8080", false)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	var md map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if md["resource"] != "http://gw.example:8080/mcp" {
		t.Errorf("resource = %v", md["resource"])
	}
	if as, _ := md["authorization_servers"].([]any); len(as) != 1 || as[0] != testIssuer {
		t.Errorf("authorization_servers = %v", md["authorization_servers"])
	}
	if bm, _ := md["bearer_methods_supported"].([]any); len(bm) != 1 || bm[0] != "header" {
		t.Errorf("bearer_methods_supported = %v", md["bearer_methods_supported"])
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}

	if w := get(http.MethodGet, "gw.example", true); !strings.Contains(w.Body.String(), `"resource":"https://gw.example/mcp"`) {
		t.Errorf("TLS: %s", w.Body.String())
	}
	if w := get(http.MethodHead, "gw.example", false); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", w.Code, w.Body.String())
	}
	if w := get(http.MethodOptions, "gw.example", false); w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("OPTIONS: %d %v", w.Code, w.Header())
	}
	if w := get(http.MethodPost, "gw.example", false); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Errorf("POST: %d", w.Code)
	}
	if w := get(http.MethodGet, "gw.example", false); w.Header().Get("Vary") != "Host" {
		t.Errorf("a document built from the Host has Vary %q", w.Header().Get("Vary"))
	}
	for _, bad := range []string{"", `gw"x`, "gw x", "gw/x", "gw\\x", "user@gw", strings.Repeat("a", 300)} {
		if w := get(http.MethodGet, bad, false); w.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d %s", bad, w.Code, w.Body.String())
		}
	}
	// No allowed Host (the edge set no base URL) and no externalUrl: the
	// Host the client sent is not echoed.
	r := httptest.NewRequest(http.MethodGet, "http://x/.well-known/oauth-protected-resource/mcp", nil)
	r.Host = "evil.example"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest || strings.Contains(w.Body.String(), "evil") {
		t.Errorf("no base URL: %d %s", w.Code, w.Body.String())
	}
}

func TestProtectedResourceMetadataExternalURL(t *testing.T) {
	srv := newJWKSServer(t, testKeys(t).rsa1)
	rc := &config.Route{Name: "r", Match: config.Match{Path: config.PathMatch{Prefix: "/mcp"}}, ExternalURL: "https://gw.example.com/",
		Backends: []config.Backend{{Name: "b", Type: config.BackendMCPHTTP, Address: "http://127.0.0.1:1"}}}
	p, err := newForRoute(context.Background(), &config.Policy{Type: Type, Spec: jwtConfig(srv.URL)}, policy.Env{RouteName: "r", Route: rc})
	if err != nil {
		t.Fatal(err)
	}
	pol := p.(*Policy)
	t.Cleanup(func() { _ = pol.Cleanup() })
	_, h := pol.WellKnown("/mcp")
	// externalUrl wins over the Host, allowed or not.
	for _, base := range []string{"", "http://localhost:8080"} {
		r := httptest.NewRequest(http.MethodGet, "http://x/.well-known/oauth-protected-resource/mcp", nil)
		r.Host = "evil.example"
		r = r.WithContext(policy.WithBaseURL(r.Context(), base))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"resource":"https://gw.example.com/mcp"`) || w.Header().Get("Vary") != "" {
			t.Errorf("base %q: %d %s vary %q", base, w.Code, w.Body.String(), w.Header().Get("Vary"))
		}
		pe := wantRejected(t, pol.do(r), "", "")
		if got, want := pe.Header.Get("WWW-Authenticate"), `resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp"`; !strings.Contains(got, want) {
			t.Errorf("base %q: WWW-Authenticate = %q, want %s", base, got, want)
		}
	}
}

func TestChallengeNamesTheMetadata(t *testing.T) {
	k := testKeys(t).rsa1
	srv := newJWKSServer(t, k)
	mcp := routePolicy(t, jwtConfig(srv.URL), "/mcp", true)
	other := routePolicy(t, jwtConfig(srv.URL), "/agents", false)

	req := func(tok string) *http.Request {
		r := request(tok)
		r.Host = "gw.example:8080"
		return r.WithContext(policy.WithBaseURL(r.Context(), "http://gw.example:8080"))
	}
	const meta = `, resource_metadata="http://gw.example:8080/.well-known/oauth-protected-resource/mcp"`
	for _, tt := range []struct {
		name, tok, code, want string
	}{
		{"no token", "", "", `Bearer realm="agentgateway"` + meta},
		{"bad token", "a.b.c", "invalid_token", `Bearer realm="agentgateway", error="invalid_token", error_description="malformed token"` + meta},
	} {
		pe := wantRejected(t, mcp.do(req(tt.tok)), tt.code, "")
		if got := pe.Header.Get("WWW-Authenticate"); got != tt.want {
			t.Errorf("%s: WWW-Authenticate = %q, want %q", tt.name, got, tt.want)
		}
		pe = wantRejected(t, other.do(req(tt.tok)), tt.code, "")
		if got := pe.Header.Get("WWW-Authenticate"); strings.Contains(got, "resource_metadata") {
			t.Errorf("%s: non-MCP route: %q", tt.name, got)
		}
	}

	// A Host that cannot be quoted safely leaves the parameter out, and so
	// does a Host the bind does not allow (no base URL from the edge).
	r := request("")
	r.Host = `gw"x`
	if pe := wantRejected(t, mcp.do(r.WithContext(policy.WithBaseURL(r.Context(), `http://gw"x`))), "", ""); strings.Contains(pe.Header.Get("WWW-Authenticate"), "resource_metadata") {
		t.Errorf("WWW-Authenticate = %q", pe.Header.Get("WWW-Authenticate"))
	}
	r = request("")
	r.Host = "evil.example"
	if pe := wantRejected(t, mcp.do(r), "", ""); strings.Contains(pe.Header.Get("WWW-Authenticate"), "resource_metadata") {
		t.Errorf("no allowed Host: WWW-Authenticate = %q", pe.Header.Get("WWW-Authenticate"))
	}

	// Other errors (503 with no key set) are unchanged.
	u := unavailable("30", nil)
	if err := mcp.withResourceMetadata(req(""), u); !errors.Is(err, u) {
		t.Errorf("503 changed: %v", err)
	}
}
