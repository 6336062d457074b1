package jwt

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// issuerServer is an OIDC issuer: a discovery document at
// /.well-known/openid-configuration and a JWKS at /jwks, each counting
// requests. doc, when set, replaces the discovery handler.
type issuerServer struct {
	*httptest.Server
	jwks      *jwksServer
	discoHits atomic.Int64
	mu        sync.Mutex
	doc       http.HandlerFunc
	auth      []string
}

func newIssuerServer(t *testing.T, tls bool, ks ...testKey) *issuerServer {
	t.Helper()
	s := &issuerServer{jwks: &jwksServer{}}
	s.jwks.setKeys(ks...)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case discoveryPath:
			s.discoHits.Add(1)
			s.mu.Lock()
			s.auth = append(s.auth, r.Header.Get("Authorization"))
			doc := s.doc
			s.mu.Unlock()
			if doc != nil {
				doc(w, r)
				return
			}
			s.writeDoc(w, s.URL, s.URL+"/jwks")
		case "/jwks":
			s.jwks.serve(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *issuerServer) writeDoc(w http.ResponseWriter, issuer, jwksURI string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "jwks_uri": jwksURI,
		"response_types_supported": []string{"id_token"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
}

func (s *issuerServer) setDoc(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = h
}

func (s *issuerServer) seenAuth() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

// discoveryConfig is jwtConfig without jwksUri, for issuer.
func discoveryConfig(issuer string, mods ...func(*Config)) *Config {
	return jwtConfig("", append([]func(*Config){func(j *Config) { j.Issuer = issuer }}, mods...)...)
}

func TestDiscoveryFindsTheJWKS(t *testing.T) {
	k := testKeys(t).rsa1
	srv := newIssuerServer(t, false, k)
	p := mustPolicy(t, discoveryConfig(srv.URL))
	if got := p.v.src.cfg.uri; got != srv.URL+"/jwks" {
		t.Fatalf("jwks uri = %q", got)
	}
	res := p.do(request(sign(t, k, claims(set("iss", srv.URL)))))
	if res.err != nil || !res.called {
		t.Fatalf("token refused: %v", res.err)
	}
	// The configured issuer, not the discovery host, is what tokens need.
	wantRejected(t, p.do(request(sign(t, k, claims()))), "invalid_token", "")
	if n := srv.discoHits.Load(); n != 1 {
		t.Errorf("discovery fetched %d times", n)
	}
}

func TestDiscoveryIssuerWithTrailingSlash(t *testing.T) {
	k := testKeys(t).ec256
	srv := newIssuerServer(t, false, k)
	srv.setDoc(func(w http.ResponseWriter, r *http.Request) { srv.writeDoc(w, srv.URL+"/", srv.URL+"/jwks") })
	p := mustPolicy(t, discoveryConfig(srv.URL+"/"))
	if res := p.do(request(sign(t, k, claims(set("iss", srv.URL+"/"))))); res.err != nil {
		t.Fatal(res.err)
	}
}

func TestDiscoveryWithIssuerPath(t *testing.T) {
	k := testKeys(t).ec256
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tenant/a" + discoveryPath:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL + "/tenant/a", "jwks_uri": srv.URL + "/tenant/a/keys"})
		case "/tenant/a/keys":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{k.jwk()}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	mustPolicy(t, discoveryConfig(srv.URL+"/tenant/a"))
}

func TestDiscoveryFailures(t *testing.T) {
	k := testKeys(t).rsa1
	other := newJWKSServer(t, k) // a host that must never be contacted
	big := strings.Repeat(" ", maxDiscoveryBytes)
	tests := []struct {
		name string
		doc  func(s *issuerServer) http.HandlerFunc
		want string
	}{
		{"issuer mismatch", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { s.writeDoc(w, "https://evil.example", s.URL+"/jwks") }
		}, "does not equal the configured issuer"},
		{"issuer differs by a trailing slash", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { s.writeDoc(w, s.URL+"/", s.URL+"/jwks") }
		}, "does not equal the configured issuer"},
		{"no jwks_uri", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.URL})
			}
		}, `no "jwks_uri"`},
		{"jwks_uri not a string", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"issuer": s.URL, "jwks_uri": 42})
			}
		}, `"jwks_uri" is not a string`},
		{"jwks_uri plain http to another host", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { s.writeDoc(w, s.URL, "http://keys.example/jwks") }
		}, "must be https"},
		{"jwks_uri relative", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { s.writeDoc(w, s.URL, "/jwks") }
		}, "not an absolute URL"},
		{"jwks_uri with user info", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { s.writeDoc(w, s.URL, "https://u:p@keys.example/jwks") }
		}, "user info"},
		{"oversized body", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				// Streamed without Content-Length: the read bound catches it.
				_, _ = w.Write([]byte(`{"issuer":"` + s.URL + `","x":"`))
				w.(http.Flusher).Flush()
				_, _ = w.Write([]byte(big + `"}`))
			}
		}, "larger than"},
		{"oversized Content-Length", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "10485760")
				_, _ = w.Write([]byte("{}"))
			}
		}, "larger than"},
		{"redirect to another host", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+discoveryPath, http.StatusFound)
			}
		}, "refusing redirect to another host"},
		{"HTML", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte("<html>login</html>"))
			}
		}, "is not JSON"},
		{"404", func(s *issuerServer) http.HandlerFunc { return http.NotFound }, "unexpected status 404"},
		{"trailing data", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"issuer":"` + s.URL + `","jwks_uri":"` + s.URL + `/jwks"} {}`))
			}
		}, "data after the JSON object"},
		{"timeout", func(s *issuerServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}
		}, "timeout after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIssuerServer(t, false, k)
			srv.setDoc(tt.doc(srv))
			_, err := newPolicy(t, discoveryConfig(srv.URL, func(j *Config) {
				if tt.name == "timeout" {
					j.JWKS.Timeout = config.Duration(300 * time.Millisecond)
				} // else 2s: room to stream 1 MiB under -race on a busy machine
			}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "oidc discovery") {
				t.Errorf("err = %v, want it to name oidc discovery", err)
			}
			if n := srv.jwks.hits.Load(); n != 0 {
				t.Errorf("JWKS fetched %d times after a failed discovery", n)
			}
		})
	}
	if n := other.hits.Load(); n != 0 {
		t.Fatalf("the redirect target was contacted %d times", n)
	}
}

func TestDiscoverySameHostRedirect(t *testing.T) {
	k := testKeys(t).rsa1
	srv := newIssuerServer(t, false, k)
	srv.setDoc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("moved") == "" {
			http.Redirect(w, r, srv.URL+discoveryPath+"?moved=1", http.StatusMovedPermanently)
			return
		}
		srv.writeDoc(w, srv.URL, srv.URL+"/jwks")
	})
	mustPolicy(t, discoveryConfig(srv.URL))
}

func TestDiscoveryBearerTokenStaysOnTheIssuerHost(t *testing.T) {
	k := testKeys(t).rsa1
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("issuer-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken := func(j *Config) { j.JWKS.BearerTokenFile = tokFile }

	t.Run("same host", func(t *testing.T) {
		srv := newIssuerServer(t, false, k)
		mustPolicy(t, discoveryConfig(srv.URL, withToken))
		if a := srv.seenAuth(); len(a) != 1 || a[0] != "Bearer issuer-secret" {
			t.Errorf("discovery Authorization = %q", a)
		}
		if a := srv.jwks.seenAuth(); len(a) != 1 || a[0] != "Bearer issuer-secret" {
			t.Errorf("JWKS Authorization = %q", a)
		}
	})
	t.Run("JWKS on another host", func(t *testing.T) {
		keys := newJWKSServer(t, k)
		srv := newIssuerServer(t, false, k)
		srv.setDoc(func(w http.ResponseWriter, r *http.Request) { srv.writeDoc(w, srv.URL, keys.URL+"/jwks") })
		logs := captureLogs(t)
		p := mustPolicy(t, discoveryConfig(srv.URL, withToken))
		if p.v.src.cfg.uri != keys.URL+"/jwks" {
			t.Fatalf("jwks uri = %q", p.v.src.cfg.uri)
		}
		if a := srv.seenAuth(); len(a) != 1 || a[0] != "Bearer issuer-secret" {
			t.Errorf("discovery Authorization = %q", a)
		}
		if a := keys.seenAuth(); len(a) != 1 || a[0] != "" {
			t.Errorf("the bearer token went to another host: %q", a)
		}
		if strings.Contains(logs.String(), "issuer-secret") {
			t.Error("token logged")
		}
	})
}

func TestDiscoveryOverTLSWithCAFile(t *testing.T) {
	k := testKeys(t).ec256
	srv := newIssuerServer(t, true, k)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without the CA the issuer's certificate is not trusted.
	if _, err := newPolicy(t, discoveryConfig(srv.URL)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	p := mustPolicy(t, discoveryConfig(srv.URL, func(j *Config) { j.JWKS.CAFile = ca }))
	if res := p.do(request(sign(t, k, claims(set("iss", srv.URL))))); res.err != nil {
		t.Fatal(res.err)
	}
}

// A reload within refreshInterval reuses the discovered jwks_uri; later,
// a failed discovery falls back to it within maxStale, and fails after.
func TestDiscoveryCacheAndFallback(t *testing.T) {
	k := testKeys(t).rsa1
	srv := newIssuerServer(t, false, k)
	var mu sync.Mutex
	now := time.Now()
	discoveries.mu.Lock()
	discoveries.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	discoveries.mu.Unlock()
	t.Cleanup(func() {
		discoveries.mu.Lock()
		discoveries.now = time.Now
		discoveries.mu.Unlock()
	})
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cfg := discoveryConfig(srv.URL, func(j *Config) {
		j.JWKS.RefreshInterval = config.Duration(time.Minute)
		j.JWKS.MaxStale = config.Duration(time.Hour)
	})

	mustPolicy(t, cfg)
	mustPolicy(t, cfg)
	if n := srv.discoHits.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1 (cached within refreshInterval)", n)
	}

	srv.setDoc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	advance(2 * time.Minute) // past refreshInterval, within maxStale
	logs := captureLogs(t)
	p := mustPolicy(t, cfg)
	if n := srv.discoHits.Load(); n != 2 {
		t.Fatalf("discovery fetched %d times, want a retry after refreshInterval", n)
	}
	if p.v.src.cfg.uri != srv.URL+"/jwks" {
		t.Fatalf("jwks uri = %q", p.v.src.cfg.uri)
	}
	if !strings.Contains(logs.String(), "using the jwks_uri discovered before") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}

	advance(2 * time.Hour) // past maxStale
	if _, err := newPolicy(t, cfg); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the discovery failure past maxStale", err)
	}
}

func TestDiscoveryURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://kubernetes.default.svc":   "https://kubernetes.default.svc/.well-known/openid-configuration",
		"https://kubernetes.default.svc/":  "https://kubernetes.default.svc/.well-known/openid-configuration",
		"https://idp.example/tenants/a":    "https://idp.example/tenants/a/.well-known/openid-configuration",
		"http://127.0.0.1:9999/realms/x/":  "http://127.0.0.1:9999/realms/x/.well-known/openid-configuration",
		"https://accounts.example.com:443": "https://accounts.example.com:443/.well-known/openid-configuration",
	} {
		got, _, err := discoveryURL(in)
		if err != nil || got != want {
			t.Errorf("discoveryURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "kubernetes.default.svc", "https://i.example/?a=b", "https://i.example/#f", "https://u@i.example", "ftp://i.example"} {
		if _, _, err := discoveryURL(bad); err == nil {
			t.Errorf("discoveryURL(%q) accepted", bad)
		}
	}
}
