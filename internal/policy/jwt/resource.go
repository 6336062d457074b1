package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// OAuth 2.0 Protected Resource Metadata (RFC 9728), which the MCP
// authorization spec asks servers to publish so that clients can discover
// how to authenticate. On MCP routes the policy publishes, for a route with
// prefix /mcp:
//
//	GET /.well-known/oauth-protected-resource/mcp
//	{"resource":"http://HOST/mcp","authorization_servers":["<issuer>"],
//	 "bearer_methods_supported":["header"]}
//
// and adds resource_metadata="http://HOST/.well-known/oauth-protected-resource/mcp"
// to the WWW-Authenticate challenge of its 401s.
//
// The scheme and host are the gateway's own view of the request: https
// when the gateway terminated TLS, else http, and the Host the client sent.
// X-Forwarded-Proto and X-Forwarded-Host are not trusted: behind a proxy
// that terminates TLS or rewrites Host, the URLs name the gateway as the
// proxy reached it.

// WellKnownPrefix is the RFC 9728 well-known path; the route's path prefix
// is appended to it (RFC 9728 §3.1).
const WellKnownPrefix = "/.well-known/oauth-protected-resource"

var _ policy.WellKnown = (*Policy)(nil)

// newForRoute is the registered factory: New, plus what the policy needs
// to know about its route to publish RFC 9728 metadata.
func newForRoute(ctx context.Context, p *config.Policy, env policy.Env) (policy.Policy, error) {
	pp, err := New(ctx, p, env)
	if err != nil {
		return nil, err
	}
	if pol, ok := pp.(*Policy); ok && isMCPRoute(env.Route) {
		pol.mcp, pol.prefix = true, env.Route.Match.Path.Prefix
	}
	return pp, nil
}

// isMCPRoute reports whether rc proxies to an MCP backend, as the gateway
// decides a route's kind.
func isMCPRoute(rc *config.Route) bool {
	if rc == nil {
		return false
	}
	for _, b := range rc.Backends {
		if b.Type == config.BackendMCPHTTP {
			return true
		}
	}
	return false
}

// metadataPath is the well-known path for a route prefix: "/mcp" →
// "/.well-known/oauth-protected-resource/mcp", "/" → the bare well-known
// path.
func metadataPath(prefix string) string {
	return WellKnownPrefix + strings.TrimSuffix(prefix, "/")
}

// WellKnown publishes the protected-resource metadata of an MCP route.
// Other routes publish nothing.
func (p *Policy) WellKnown(prefix string) (string, http.Handler) {
	if !p.mcp {
		return "", nil
	}
	return metadataPath(prefix), metadataHandler(p.v.issuer, prefix)
}

// resourceURLs returns the route's resource identifier and its metadata
// URL as the client addressed the gateway, or ok=false when the Host is
// not a plain authority (it is then left out rather than echoed).
func resourceURLs(r *http.Request, prefix string) (resource, metadata string, ok bool) {
	host := r.Host
	if !validAuthority(host) {
		return "", "", false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p := strings.TrimSuffix(prefix, "/")
	return scheme + "://" + host + p, scheme + "://" + host + WellKnownPrefix + p, true
}

// validAuthority accepts host[:port] made of the characters RFC 3986 allows
// in a reg-name, an IP literal and a port; nothing that could end a quoted
// string or a URL component.
func validAuthority(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

type resourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
}

// metadataHandler serves the metadata document. It is public (no token)
// and readable cross-origin, as browser-based MCP clients fetch it.
func metadataHandler(issuer, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "*")
			h.Set("Access-Control-Max-Age", "86400")
			h.Set("Allow", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		resource, _, ok := resourceURLs(r, prefix)
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "invalid Host header")
			return
		}
		md := resourceMetadata{Resource: resource, BearerMethodsSupported: []string{"header"}}
		if issuer != "" { // tokenreview mode may leave the issuer unchecked
			md.AuthorizationServers = []string{issuer}
		}
		b, _ := json.Marshal(md)
		b = append(b, '\n')
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		_, _ = w.Write(b)
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{msg, status})
	_, _ = w.Write(append(b, '\n'))
}

// withResourceMetadata adds resource_metadata to the challenge of a 401 on
// an MCP route. Other errors, and other routes, are returned unchanged. The
// policy.Error is copied: rejections are built per request, but a shared
// error value must never be modified.
func (p *Policy) withResourceMetadata(r *http.Request, err error) error {
	if !p.mcp {
		return err
	}
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		return err
	}
	_, meta, ok := resourceURLs(r, p.prefix)
	if !ok {
		return err
	}
	cp := *pe
	cp.Header = pe.Header.Clone()
	if cp.Header == nil {
		cp.Header = http.Header{}
	}
	ch := cp.Header.Get("WWW-Authenticate")
	if ch == "" {
		ch = `Bearer realm="` + Realm + `"`
	}
	cp.Header.Set("WWW-Authenticate", ch+`, resource_metadata="`+meta+`"`)
	return &cp
}
