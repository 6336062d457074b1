package jwt

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// TestUnknownKIDFlood: 100 concurrent tokens with bogus kids cause at most
// one JWKS fetch per minRefreshInterval.
func TestUnknownKIDFlood(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	const interval = 300 * time.Millisecond
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.MinRefreshInterval = config.Duration(interval)
	}))
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("provisioning fetched %d times", n)
	}
	// Tokens are signed before the interval starts (RSA signing is slow).
	kids := func(round int) []string {
		out := make([]string, 100)
		for i := range out {
			switch i % 3 {
			case 0:
				out[i] = fmt.Sprintf("bogus-%d-%d", round, i)
			case 1:
				out[i] = fmt.Sprintf("../../%d/%d/../../etc/passwd", round, i)
			default:
				out[i] = fmt.Sprintf("https://evil.example/%d/%d", round, i)
			}
		}
		return out
	}
	toks := map[int][]string{}
	for round := range 3 {
		for _, kid := range kids(round) {
			toks[round] = append(toks[round], sign(t, k.attacker.withKID(kid), claims()))
		}
	}
	flood := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for _, tok := range toks[round] {
			wg.Go(func() {
				res := p.do(request(tok))
				var pe *policy.Error
				if res.called || !errors.As(res.err, &pe) || pe.Status != http.StatusUnauthorized || pe.Message != "unknown signing key" {
					mu.Lock()
					errs = append(errs, fmt.Errorf("called=%v err=%v", res.called, res.err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
	}

	time.Sleep(interval + 50*time.Millisecond)
	flood(0)
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("after the first flood: %d fetches, want 2 (provisioning + one refresh)", n)
	}
	flood(1) // within the interval: no fetch at all
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("after a second flood within the interval: %d fetches, want 2", n)
	}
	time.Sleep(interval + 50*time.Millisecond)
	flood(2)
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("after a flood in the next interval: %d fetches, want 3", n)
	}
	for _, path := range srv.seenPaths() {
		if path != "/" {
			t.Errorf("JWKS requested at %q", path)
		}
	}

	// A 10 KB kid is refused without any fetch.
	time.Sleep(interval + 50*time.Millisecond)
	tok := sign(t, k.rsa1.withKID(strings.Repeat("x", 10<<10)), claims())
	wantRejected(t, p.do(request(tok)), "invalid_token", tok)
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("a 10 KB kid caused a fetch (%d)", n)
	}
}

// TestKeyRotation: a new key (K2) is picked up on first use; a removed key
// (K1) is refused after the next successful refresh, even for a token
// that was verified (and cached) before.
func TestKeyRotation(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.MinRefreshInterval = config.Duration(100 * time.Millisecond)
	}))
	tok1 := sign(t, k.rsa1, claims())
	tok2 := sign(t, k.rsa2, claims())
	for range 2 { // the second time from the verified-token cache
		if res := p.do(request(tok1)); res.err != nil || !res.called {
			t.Fatalf("K1: %v", res.err)
		}
	}
	if p.v.cache.len() != 1 {
		t.Errorf("cache has %d entries", p.v.cache.len())
	}

	// Add K2.
	srv.setKeys(k.rsa1, k.rsa2)
	time.Sleep(150 * time.Millisecond)
	if res := p.do(request(tok2)); res.err != nil || !res.called {
		t.Fatalf("K2 after it was added: %v", res.err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
	if res := p.do(request(tok1)); res.err != nil {
		t.Fatalf("K1 while both are published: %v", res.err)
	}

	// Remove K1; the next refresh (periodic, forced here) drops it.
	srv.setKeys(k.rsa2)
	if err := p.v.src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	pe := wantRejected(t, p.do(request(tok1)), "invalid_token", tok1)
	if pe.Message != "unknown signing key" {
		t.Errorf("K1 after removal: %q", pe.Message)
	}
	if res := p.do(request(tok2)); res.err != nil {
		t.Fatalf("K2 after K1 was removed: %v", res.err)
	}
}

// TestPeriodicRefresh: the refresh loop picks up a removal without any
// token asking for it, and stops on Cleanup.
func TestPeriodicRefresh(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1, k.rsa2)
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.RefreshInterval = config.Duration(50 * time.Millisecond)
		j.JWKS.MinRefreshInterval = config.Duration(10 * time.Millisecond)
	}))
	tok1 := sign(t, k.rsa1, claims())
	if res := p.do(request(tok1)); res.err != nil {
		t.Fatal(res.err)
	}
	srv.setKeys(k.rsa2)
	eventually(t, "K1 to be refused", func() bool { return p.do(request(tok1)).err != nil })
	wantRejected(t, p.do(request(tok1)), "invalid_token", tok1)

	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := p.Cleanup(); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-p.v.src.done:
	case <-time.After(time.Second):
		t.Fatal("refresh loop still running after Cleanup")
	}
	n := srv.hits.Load()
	time.Sleep(200 * time.Millisecond)
	if m := srv.hits.Load(); m != n {
		t.Errorf("%d fetches after Cleanup", m-n)
	}
}

func TestCacheControlHonoured(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	srv.setHeader(http.Header{"Cache-Control": {"public, max-age=3600"}})
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.RefreshInterval = config.Duration(5 * time.Minute)
		j.JWKS.MaxStale = config.Duration(24 * time.Hour)
	}))
	if d := p.v.src.nextDelay(); d != time.Hour {
		t.Errorf("next refresh in %v, want 1h (max-age)", d)
	}
}

func TestCacheDelay(t *testing.T) {
	const def, lo, hi = 5 * time.Minute, time.Minute, 24 * time.Hour
	tests := []struct {
		cc, age string
		want    time.Duration
	}{
		{"", "", def},
		{"public", "", def},
		{"max-age=3600", "", time.Hour},
		{"public, max-age=600, must-revalidate", "", 10 * time.Minute},
		{"MAX-AGE=600", "", 10 * time.Minute},
		{`max-age="600"`, "", 10 * time.Minute},
		{"max-age=600", "120", 8 * time.Minute},
		{"max-age=600", "6000", lo},
		{"max-age=1", "", lo},
		{"max-age=0", "", lo},
		{"no-store", "", lo},
		{"no-cache, max-age=600", "", lo},
		{"max-age=600, no-cache", "", lo},
		{"max-age=99999999999999999", "", hi},
		{"max-age=172800", "", hi},
		{"max-age=-5", "", def},
		{"max-age=abc", "", def},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.cc != "" {
			h.Set("Cache-Control", tt.cc)
		}
		if tt.age != "" {
			h.Set("Age", tt.age)
		}
		if got := cacheDelay(h, def, lo, hi); got != tt.want {
			t.Errorf("Cache-Control %q Age %q: %v, want %v", tt.cc, tt.age, got, tt.want)
		}
	}
}

// jwksFailure is a misbehaving JWKS endpoint.
type jwksFailure struct {
	name string
	mode func(other *jwksServer) http.HandlerFunc
	want string // in the provisioning error
}

func jwksFailures() []jwksFailure {
	return []jwksFailure{
		{"503", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			}
		}, "unexpected status 503"},
		{"timeout", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}
		}, "timeout"},
		{"10 MB", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
				chunk := []byte(strings.Repeat("x", 64<<10))
				for range 160 {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				_, _ = w.Write([]byte(`"}`))
			}
		}, "larger than 1048576 bytes"},
		{"10 MB declared", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "10485760")
				_, _ = w.Write([]byte(`{"keys":[]`))
			}
		}, "larger than 1048576 bytes"},
		{"redirect to another host", func(other *jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/jwks", http.StatusFound)
			}
		}, "refusing redirect to another host"},
		{"HTML", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(`<html><body>{"keys":[]}</body></html>`))
			}
		}, `content type "text/html; charset=utf-8" is not JSON`},
		{"HTML without content type", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = w.Write([]byte(`<html><body>login</body></html>`))
			}
		}, "not a JSON object"},
		{"no keys member", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"issuer":"x"}`))
			}
		}, `no "keys" member`},
		{"keys not an array", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"keys":{"kid":"k1"}}`))
			}
		}, `"keys" is not an array`},
		{"keys null", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"keys":null}`))
			}
		}, `"keys" is not an array`},
		{"trailing garbage", func(*jwksServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"keys":[]} {}`))
			}
		}, "not a JSON object"},
	}
}

func failureConfig(uri string) *Config {
	return jwtConfig(uri, func(j *Config) {
		// Generous enough for 10 MB under -race on a loaded machine; the
		// timeout case still proves the bound.
		j.JWKS.Timeout = config.Duration(2 * time.Second)
		j.JWKS.MinRefreshInterval = config.Duration(50 * time.Millisecond)
	})
}

func TestJWKSFailuresColdCache(t *testing.T) {
	for _, f := range jwksFailures() {
		t.Run(f.name, func(t *testing.T) {
			other := newJWKSServer(t, testKeys(t).rsa1)
			srv := newJWKSServer(t)
			srv.setMode(f.mode(other))
			logs := captureLogs(t)
			p, err := newPolicy(t, failureConfig(srv.URL))
			if err == nil || p != nil {
				t.Fatal("provisioning succeeded without a key set")
			}
			if !strings.Contains(err.Error(), f.want) {
				t.Errorf("error = %v, want it to contain %q", err, f.want)
			}
			if n := other.hits.Load(); n != 0 {
				t.Errorf("redirect target fetched %d times", n)
			}
			if !strings.Contains(logs.String(), "jwks fetch failed") {
				t.Errorf("no log line for the failure:\n%s", logs)
			}
			registry.mu.Lock()
			_, leaked := registry.m[newSourceConfig(failureConfig(srv.URL))]
			registry.mu.Unlock()
			if leaked {
				t.Error("failed source left in the registry")
			}
		})
	}
}

func TestJWKSFailuresWarmCache(t *testing.T) {
	k := testKeys(t)
	for _, f := range jwksFailures() {
		t.Run(f.name, func(t *testing.T) {
			other := newJWKSServer(t, k.rsa1)
			srv := newJWKSServer(t, k.rsa1)
			p := mustPolicy(t, failureConfig(srv.URL))
			good := sign(t, k.rsa1, claims())
			bogus := sign(t, k.rsa1.withKID("bogus"), claims())
			if res := p.do(request(good)); res.err != nil {
				t.Fatal(res.err)
			}
			srv.setMode(f.mode(other))
			time.Sleep(60 * time.Millisecond)

			// An unknown kid triggers a fetch, which fails: 401, and the
			// last good key set stays in use.
			hits := srv.hits.Load()
			wantRejected(t, p.do(request(bogus)), "invalid_token", bogus)
			if srv.hits.Load() != hits+1 {
				t.Errorf("unknown kid: %d fetches, want 1", srv.hits.Load()-hits)
			}
			if res := p.do(request(good)); res.err != nil || !res.called {
				t.Fatalf("known key after a failed refresh: %v", res.err)
			}
			// Also through a forced periodic refresh (not from the cache).
			if err := p.v.src.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), f.want) {
				t.Errorf("refresh error = %v, want %q", err, f.want)
			}
			other2 := sign(t, k.rsa1, claims(set("jti", "fresh")))
			if res := p.do(request(other2)); res.err != nil || !res.called {
				t.Fatalf("uncached token after a failed refresh: %v", res.err)
			}
			if n := other.hits.Load(); n != 0 {
				t.Errorf("redirect target fetched %d times", n)
			}
		})
	}
}

// TestMaxStale: once the last good key set is older than maxStale, tokens
// are refused with 503 + Retry-After (never accepted unverified); a
// successful fetch restores service.
func TestMaxStale(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	logs := captureLogs(t)
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.RefreshInterval = config.Duration(100 * time.Millisecond)
		j.JWKS.MinRefreshInterval = config.Duration(50 * time.Millisecond)
		j.JWKS.MaxStale = config.Duration(400 * time.Millisecond)
		j.JWKS.Timeout = config.Duration(200 * time.Millisecond)
	}))
	tok := sign(t, k.rsa1, claims())
	if res := p.do(request(tok)); res.err != nil {
		t.Fatal(res.err)
	}
	srv.setMode(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	eventually(t, "the key set to go stale", func() bool { return p.v.src.usable() == nil })
	res := p.do(request(tok))
	var pe *policy.Error
	if res.called || !errors.As(res.err, &pe) || pe.Status != http.StatusServiceUnavailable {
		t.Fatalf("stale key set: called=%v err=%v", res.called, res.err)
	}
	if pe.Header.Get("Retry-After") != "1" || pe.Header.Get("WWW-Authenticate") != "" || pe.Code != policy.CodeGateway {
		t.Errorf("503 headers %v code %d", pe.Header, pe.Code)
	}
	if pe.Cause == nil || !strings.Contains(pe.Cause.Error(), "unexpected status 503") {
		t.Errorf("cause = %v", pe.Cause)
	}
	assertNoLeak(t, tok, pe.Error())
	eventually(t, "the stale log line", func() bool { return strings.Contains(logs.String(), "older than maxStale") })

	srv.setKeys(k.rsa1)
	eventually(t, "recovery", func() bool { return p.do(request(tok)).err == nil })
}

func TestJWKSEmptiedRevokesEverything(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	p := mustPolicy(t, jwtConfig(srv.URL))
	tok := sign(t, k.rsa1, claims())
	if res := p.do(request(tok)); res.err != nil {
		t.Fatal(res.err)
	}
	srv.setKeys()
	if err := p.v.src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantRejected(t, p.do(request(tok)), "invalid_token", tok)
	// A reload sharing the emptied source does not provision.
	if _, err := newPolicy(t, jwtConfig(srv.URL)); err == nil || !strings.Contains(err.Error(), "no usable signing key") {
		t.Errorf("provisioning with an empty shared key set: %v", err)
	}
	// Once the issuer publishes a key again, it does.
	srv.setKeys(k.rsa1)
	mustPolicy(t, jwtConfig(srv.URL))
}

func TestProvisionNeedsAUsableKey(t *testing.T) {
	k := testKeys(t)
	for name, ks := range map[string][]testKey{"empty": nil, "only a weak key": {k.weak}} {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t, ks...)
			_, err := newPolicy(t, jwtConfig(srv.URL))
			if err == nil || !strings.Contains(err.Error(), "no usable signing key") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestSameHostRedirectFollowed(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	body, _ := json.Marshal(map[string]any{"keys": []any{k.rsa1.jwk()}})
	srv.setMode(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.Redirect(w, r, "/keys", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	p := mustPolicy(t, jwtConfig(srv.URL+"/openid/v1/jwks"))
	if res := p.do(request(sign(t, k.rsa1, claims()))); res.err != nil {
		t.Fatal(res.err)
	}
	// A redirect loop on the same host stops.
	srv.setMode(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path+"x", http.StatusFound) })
	if err := p.v.src.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Errorf("redirect loop: %v", err)
	}
}

func TestSharedSource(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	cfg := jwtConfig(srv.URL)
	p1 := mustPolicy(t, cfg)
	p2 := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) { j.Audiences = []string{"other"} }))
	if p1.v.src != p2.v.src {
		t.Fatal("policies with the same JWKS settings do not share a source")
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d fetches for two policies", n)
	}
	// A different option is a different source.
	p3 := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) { j.JWKS.Timeout = config.Duration(time.Second) }))
	if p3.v.src == p1.v.src {
		t.Error("different jwks options share a source")
	}
	_ = p1.Cleanup()
	select {
	case <-p1.v.src.done:
		t.Fatal("source stopped while another policy uses it")
	default:
	}
	if res := p2.do(request(sign(t, k.rsa1, claims(set("aud", "other"))))); res.err != nil {
		t.Fatal(res.err)
	}
	_ = p2.Cleanup()
	select {
	case <-p1.v.src.done:
	case <-time.After(time.Second):
		t.Fatal("source not stopped after its last policy")
	}
	// A new policy (a reload) gets a fresh source.
	p4 := mustPolicy(t, cfg)
	if p4.v.src == p1.v.src {
		t.Error("a stopped source was reused")
	}
}

func TestPlainHTTPWarning(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, k.rsa1)
	logs := captureLogs(t)
	mustPolicy(t, jwtConfig(srv.URL))
	if strings.Contains(logs.String(), "INSECURE") {
		t.Errorf("warning for a loopback URI:\n%s", logs)
	}
	// A non-loopback plain-http URI (that cannot resolve) warns before
	// the fetch fails.
	_, err := newPolicy(t, jwtConfig("http://jwks.invalid/keys", func(j *Config) {
		j.JWKS.Timeout = config.Duration(500 * time.Millisecond)
	}))
	if err == nil {
		t.Fatal("fetch from .invalid succeeded")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "INSECURE: jwksUri uses plain http") {
		t.Errorf("no warning:\n%s", logs)
	}
}

// TestInCluster: for the API server (here: $KUBERNETES_SERVICE_HOST) the
// ServiceAccount CA is trusted and the ServiceAccount token is sent,
// re-read before each fetch; other hosts get neither.
func TestInCluster(t *testing.T) {
	k := testKeys(t)
	srv := newTLSJWKSServer(t, k.rsa1)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte("sa-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldCA, oldTok := inClusterCAFile, inClusterTokenFile
	inClusterCAFile, inClusterTokenFile = ca, tokFile
	t.Cleanup(func() { inClusterCAFile, inClusterTokenFile = oldCA, oldTok })

	t.Run("not the API server: system roots, no token", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		_, err := newPolicy(t, jwtConfig(srv.URL+"/a"))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a TLS verification error", err)
		}
	})
	t.Run("API server", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
		p := mustPolicy(t, jwtConfig(srv.URL+"/openid/v1/jwks"))
		if res := p.do(request(sign(t, k.rsa1, claims()))); res.err != nil {
			t.Fatal(res.err)
		}
		if err := os.WriteFile(tokFile, []byte("sa-token-2"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.v.src.fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
		auth := srv.seenAuth()
		if len(auth) < 2 || auth[len(auth)-2] != "Bearer sa-token-1" || auth[len(auth)-1] != "Bearer sa-token-2" {
			t.Errorf("Authorization sent = %q", auth)
		}
	})
	t.Run("explicit files for any host", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		p := mustPolicy(t, jwtConfig(srv.URL+"/b", func(j *Config) {
			j.JWKS.CAFile = ca
			j.JWKS.BearerTokenFile = tokFile
		}))
		if res := p.do(request(sign(t, k.rsa1, claims()))); res.err != nil {
			t.Fatal(res.err)
		}
	})
	t.Run("bad explicit files", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		for name, mod := range map[string]func(*Config){
			"missing CA":     func(j *Config) { j.JWKS.CAFile = filepath.Join(dir, "nope") },
			"CA not PEM":     func(j *Config) { j.JWKS.CAFile = tokFile },
			"missing token":  func(j *Config) { j.JWKS.CAFile = ca; j.JWKS.BearerTokenFile = filepath.Join(dir, "nope") },
			"token is a dir": func(j *Config) { j.JWKS.CAFile = ca; j.JWKS.BearerTokenFile = dir },
		} {
			if _, err := newPolicy(t, jwtConfig(srv.URL+"/c", mod)); err == nil {
				t.Errorf("%s: provisioning succeeded", name)
			}
		}
	})
	for _, a := range srv.seenAuth() {
		if a != "" && !strings.HasPrefix(a, "Bearer sa-token-") {
			t.Errorf("unexpected Authorization %q", a)
		}
	}
}

func TestIsKubernetesAPIHost(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	for h, want := range map[string]bool{
		"kubernetes.default.svc": true, "KUBERNETES.default.svc": true, "kubernetes.default.svc.cluster.local": true,
		"kubernetes.default.svc.": true, "10.96.0.1": true,
		"kubernetes.default.svc.evil.example": false, "kubernetes.default.svc.corp.local": false,
		"kubernetes.default": false, "kubernetes.default.svcx": false, "evil.example": false, "10.96.0.2": false,
	} {
		if got := isKubernetesAPIHost(h); got != want {
			t.Errorf("isKubernetesAPIHost(%q) = %v", h, got)
		}
	}
}

func TestReadBearerToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if tok, err := readBearerToken(write("ok", "  abc.def.ghi \n")); err != nil || tok != "abc.def.ghi" {
		t.Errorf("ok: %q %v", tok, err)
	}
	for name, content := range map[string]string{"empty": " \n", "two tokens": "a b", "big": strings.Repeat("a", maxTokenFileBytes+1), "ctl": "a\x01b"} {
		_, err := readBearerToken(write(name, content))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "a b") || strings.Contains(err.Error(), "aaaa") {
			t.Errorf("%s: error leaks the file content: %v", name, err)
		}
	}
}

func TestNoTokenInLogs(t *testing.T) {
	k := testKeys(t)
	logs := captureLogs(t)
	srv := newJWKSServer(t, k.rsa1)
	p := mustPolicy(t, jwtConfig(srv.URL, func(j *Config) {
		j.JWKS.MinRefreshInterval = config.Duration(time.Millisecond)
	}))
	const marker = "MARKER-kid-do-not-log"
	toks := []string{
		sign(t, k.rsa1, claims()),
		sign(t, k.rsa1.withKID(marker), claims()),
		sign(t, k.rsa1, claims(set("exp", 1))),
		sign(t, k.attacker, claims()),
		sign(t, k.rsa1, claims(set("aud", marker))),
	}
	var texts []string
	for _, tok := range toks {
		time.Sleep(2 * time.Millisecond)
		res := p.do(request(tok))
		if res.err != nil {
			pe := res.err.(*policy.Error)
			texts = append(texts, pe.Error(), pe.Message, fmt.Sprint(pe.Header))
		}
	}
	srv.setMode(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 500) })
	time.Sleep(2 * time.Millisecond)
	_ = p.do(request(toks[1]))
	all := logs.String() + strings.Join(texts, "\n")
	if strings.Contains(all, marker) {
		t.Errorf("a token's kid or claim leaked:\n%s", all)
	}
	for _, tok := range toks {
		assertNoLeak(t, tok, all)
	}
	if !strings.Contains(logs.String(), "jwks refresh failed") {
		t.Errorf("expected a refresh failure in the logs:\n%s", logs)
	}
}

// The jwks source log line redacts the URI as every other display of the
// config does (config.RedactURL): the password, and the values of
// secret-looking query parameters, which url.Redacted would show.
func TestJWKSSourceLogRedactsURI(t *testing.T) {
	logs := &gatewaytest.LogBuffer{}
	cfg := newSourceConfig(jwtConfig("https://user:pw-s3cr3t@issuer.example/jwks?access_token=tok-s3cr3t&kid=1"))
	s, err := newSource(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.cancel()
	out := logs.String()
	if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "issuer.example/jwks") {
		t.Errorf("jwks source log:\n%s", out)
	}
}
