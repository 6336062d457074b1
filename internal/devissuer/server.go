package devissuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Paths served by the issuer, those of the Kubernetes API server.
const (
	JWKSPath      = "/openid/v1/jwks"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// Server serves a key's JWKS and an OIDC discovery document on loopback.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Issuer is the "iss" the discovery document announces.
	Issuer string
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
}

// Start serves k on addr ("" for 127.0.0.1 on a free port). addr must be a
// loopback address: a development key set is never offered to the
// network. issuer is the "iss" of the discovery document; "" means the
// server's own URL, which lets jwt-authn find the JWKS by OIDC discovery.
func Start(addr string, k *Key, issuer string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !config.IsLoopbackHost(host) {
		return nil, fmt.Errorf("development issuer address %s is not loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), ln: ln, done: make(chan struct{})}
	s.Issuer = issuer
	if s.Issuer == "" {
		s.Issuer = s.URL
	}
	s.srv = &http.Server{
		Handler:           Handler(k, s.Issuer, s.URL+JWKSPath),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// JWKSURI is the URL of the key set.
func (s *Server) JWKSURI() string { return s.URL + JWKSPath }

// Close stops the server.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Handler serves GET /openid/v1/jwks and GET
// /.well-known/openid-configuration, shaped like the Kubernetes API
// server's answers.
func Handler(k *Key, issuer, jwksURI string) http.Handler {
	jwks := k.JWKS()
	disco, _ := json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              jwksURI,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{k.Alg()},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(jwks)
	})
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(disco)
	})
	return mux
}
