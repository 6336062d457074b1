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
// HOST is the route's externalUrl when set. Otherwise it is the gateway's
// own view of the request (https when the gateway terminated TLS, else
// http, and the Host the client sent), but only when the edge found that
// Host allowed on the bind (policy.BaseURL): an attacker-chosen Host
// (DNS rebinding, cache poisoning) is never echoed. With neither, the
// challenge carries no resource_metadata and the document is not served.
// X-Forwarded-Proto and X-Forwarded-Host are not trusted: behind a proxy
// that terminates TLS or rewrites Host, set externalUrl.

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
	if pol, ok := pp.(*Policy); ok && env.Route != nil && env.Route.IsMCP() {
		pol.mcp, pol.prefix = true, env.Route.Match.Path.Prefix
		pol.external = strings.TrimSuffix(env.Route.ExternalURL, "/")
	}
	return pp, nil
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
	return metadataPath(prefix), metadataHandler(p.v.issuer, prefix, p.external)
}

// resourceURLs returns the route's resource identifier and its metadata
// URL: under external (the route's externalUrl) when set, else under the
// base URL the edge derived from an allowed Host. ok=false when there is
// neither, or the base is not a plain authority: nothing is then echoed.
func resourceURLs(r *http.Request, prefix, external string) (resource, metadata string, ok bool) {
	base := external
	if base == "" {
		base = policy.BaseURL(r.Context())
		scheme, host, found := strings.Cut(base, "://")
		if !found || (scheme != "http" && scheme != "https") || !validAuthority(host) {
			return "", "", false
		}
	}
	p := strings.TrimSuffix(prefix, "/")
	return base + p, base + WellKnownPrefix + p, true
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
func metadataHandler(issuer, prefix, external string) http.Handler {
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
		resource, _, ok := resourceURLs(r, prefix, external)
		if !ok {
			// 421: this server will not answer for the authority the
			// client named (RFC 9110 15.5.20).
			writeJSONError(w, http.StatusMisdirectedRequest, "the resource URL cannot be derived from this Host: set the route's externalUrl or the bind's allowedHosts")
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
		if external == "" {
			// The document names the Host it was asked for; a shared cache
			// must not hand it to a client that named another.
			h.Set("Vary", "Host")
		}
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
	_, meta, ok := resourceURLs(r, p.prefix, p.external)
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
