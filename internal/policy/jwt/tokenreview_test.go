package jwt

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/test/kubeenv"
)

// The TokenReview tests run against a real kube-apiserver and etcd
// (test/kubeenv; `make kube` builds them). Failures of the API server are
// real too: a TCP proxy in front of it that refuses or holds connections.

// fakeClock is a clock tests move forward.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time            { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration)   { c.off.Add(int64(d)) }
func useClock(p *Policy, c *fakeClock) *Policy { p.tr.r.now, p.tr.now = c.now, c.now; return p }

func TestInterpret(t *testing.T) {
	auds := []string{"agent-gateway"}
	ok := tokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{"agent-gateway"},
		User: userInfo{
			Username: "system:serviceaccount:ns:sa",
			UID:      "u1",
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:ns"},
			Extra:    map[string][]string{"authentication.kubernetes.io/pod-name": {"p1"}},
		},
	}
	res := interpret(&kubeTokenReview{Status: ok}, auds)
	if !res.ok || res.username != "system:serviceaccount:ns:sa" || res.claims["uid"] != "u1" {
		t.Fatalf("accepted review: %+v", res)
	}
	extra := res.claims["extra"].(map[string]any)
	if v := extra["authentication.kubernetes.io/pod-name"].([]any); v[0] != "p1" {
		t.Errorf("extra = %v", extra)
	}
	for name, st := range map[string]tokenReviewStatus{
		"not authenticated": {Authenticated: false, Error: "secret stuff"},
		// An API server that does not echo the audience is not
		// audience-aware: its yes is about some other audience.
		"no status audiences":    func() tokenReviewStatus { s := ok; s.Audiences = nil; return s }(),
		"other status audience":  func() tokenReviewStatus { s := ok; s.Audiences = []string{"kube"}; return s }(),
		"no username":            func() tokenReviewStatus { s := ok; s.User.Username = ""; return s }(),
		"username with newline":  func() tokenReviewStatus { s := ok; s.User.Username = "a\nb"; return s }(),
		"authenticated=false ok": func() tokenReviewStatus { s := ok; s.Authenticated = false; return s }(),
	} {
		if res := interpret(&kubeTokenReview{Status: st}, auds); res.ok || res.msg == "" || strings.Contains(res.msg, "secret") {
			t.Errorf("%s: %+v, want a fixed rejection", name, res)
		}
	}
}

func TestReviewCacheKeyIncludesAudiences(t *testing.T) {
	c := newReviewCache(8)
	tok := "a.b.c"
	base := c.sum(tok, []string{"x", "y"})
	for _, auds := range [][]string{{"x"}, {"y", "x"}, {"xy"}, {"x\x00y"}, nil} {
		if c.sum(tok, auds) == base {
			t.Errorf("audiences %q share the key of [x y]", auds)
		}
	}
	if c.sum("a.b.d", []string{"x", "y"}) == base {
		t.Error("another token shares the key")
	}
	if newReviewCache(8).sum(tok, []string{"x", "y"}) == base {
		t.Error("the HMAC key is not random per cache")
	}
}

func TestReviewCacheBounded(t *testing.T) {
	c := newReviewCache(16)
	now := time.Now()
	for i := range 100 {
		c.put(c.sum(strings.Repeat("a", i+1), nil), &reviewResult{ok: true}, now.Add(time.Minute), now)
	}
	if n := c.len(); n > 16 {
		t.Fatalf("cache holds %d entries, max 16", n)
	}
	k := c.sum("expired", nil)
	c.put(k, &reviewResult{ok: true}, now.Add(-time.Second), now)
	if c.get(k, now) != nil {
		t.Error("an already expired entry was stored")
	}
}

func TestTokenReviewNotInCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	j := &Config{Audiences: []string{"agent-gateway"}, Validation: ValidationTokenReview}
	_, err := newPolicy(t, j)
	if err == nil || !strings.Contains(err.Error(), "tokenReview.kubeconfig or tokenReview.apiServer") {
		t.Fatalf("err = %v, want a hint to set kubeconfig or apiServer", err)
	}
}

func TestTokenReviewUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	j := &Config{Audiences: []string{"agent-gateway"}, Validation: ValidationTokenReview,
		TokenReview: &TokenReviewOptions{APIServer: "http://127.0.0.1:" + strconv.Itoa(port), Timeout: config.Duration(2 * time.Second)}}
	_, err = newPolicy(t, j)
	if err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("err = %v, want provisioning to fail", err)
	}
	if len(reviewers.m) != 0 {
		t.Errorf("a failed provisioning left %d reviewers registered", len(reviewers.m))
	}
}

// kubeFixture is a cluster with the gateway's ServiceAccount bound to
// deploy/rbac, and an agent ServiceAccount.
type kubeFixture struct {
	c        *kubeenv.Cluster
	gwToken  string // file with the gateway's token
	proxy    *kubeenv.Proxy
	agentNS  string
	repoRoot string
}

func newKubeFixture(t *testing.T) *kubeFixture {
	c := kubeenv.Start(t, kubeenv.Options{})
	root, _ := filepath.Abs("../../..")
	c.CreateNamespace(t, "agent-gateway")
	c.CreateServiceAccount(t, "agent-gateway", "agent-gateway")
	c.ApplyManifest(t, filepath.Join(root, "deploy/rbac/clusterrole.yaml"))
	c.ApplyManifest(t, filepath.Join(root, "deploy/rbac/clusterrolebinding.yaml"))
	c.WaitAllowed(t, "system:serviceaccount:agent-gateway:agent-gateway", "create", "authentication.k8s.io", "tokenreviews")
	c.CreateNamespace(t, "agent-core-infra")
	f := &kubeFixture{
		c:        c,
		gwToken:  kubeenv.TokenFile(t, c.Token(t, "agent-gateway", "agent-gateway", []string{kubeenv.DefaultAudience}, 3600)),
		proxy:    c.NewProxy(t),
		agentNS:  "agent-core-infra",
		repoRoot: root,
	}
	return f
}

// policy builds a jwt-authn policy in mode against the proxy.
func (f *kubeFixture) policy(t *testing.T, mode string, mods ...func(*Config)) *Policy {
	t.Helper()
	j := &Config{
		Issuer:     kubeenv.DefaultIssuer,
		Audiences:  []string{kubeenv.DefaultAudience},
		Validation: mode,
		ClaimToHeaders: []ClaimHeader{
			{Claim: "sub", Header: "x-agent-identity"},
		},
		TokenReview: &TokenReviewOptions{
			APIServer: f.proxy.URL, CAFile: f.c.CAFile, TokenFile: f.gwToken,
			CacheTTL: config.Duration(time.Minute), FailureTTL: config.Duration(10 * time.Second),
			Timeout: config.Duration(2 * time.Second),
		},
	}
	if mode == ValidationBoth {
		j.JWKSURI = f.c.URL + "/openid/v1/jwks"
		j.JWKS = &JWKSOptions{CAFile: f.c.CAFile, BearerTokenFile: f.gwToken}
	}
	for _, m := range mods {
		m(j)
	}
	return mustPolicy(t, j)
}

func (f *kubeFixture) agent(t *testing.T, name string) string {
	t.Helper()
	f.c.CreateServiceAccount(t, f.agentNS, name)
	return f.c.Token(t, f.agentNS, name, []string{kubeenv.DefaultAudience}, 3600)
}

// shortTTL sets cacheTTL to 1s.
func shortTTL(j *Config) { j.TokenReview.CacheTTL = config.Duration(time.Second) }

// waitRejected moves clk past cacheTTL (1s) until tok is refused: after a
// ServiceAccount is deleted, kube-apiserver itself still accepts its tokens
// for up to 10 s (its own token cache, TokenSuccessCacheTTL).
func waitRejected(t *testing.T, p *Policy, clk *fakeClock, tok string) *policy.Error {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		clk.advance(2 * time.Second)
		res := p.do(request(tok))
		if res.err != nil {
			return wantRejected(t, res, "invalid_token", tok)
		}
		if time.Now().After(deadline) {
			t.Fatal("the token of a deleted ServiceAccount is still accepted after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func wantUnavailable(t *testing.T, res result) {
	t.Helper()
	var pe *policy.Error
	if res.called || !errors.As(res.err, &pe) || pe.Status != http.StatusServiceUnavailable || pe.Header.Get("Retry-After") == "" {
		t.Fatalf("called=%v err=%v, want 503 with Retry-After", res.called, res.err)
	}
}

func TestTokenReview(t *testing.T) {
	f := newKubeFixture(t)

	t.Run("accepts a real ServiceAccount token", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview)
		tok := f.agent(t, "ekspoc-v6-kagent-agent-sa")
		res := p.do(request(tok))
		if res.err != nil || !res.called {
			t.Fatalf("err = %v", res.err)
		}
		pr := res.principal
		want := "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
		if pr.Subject != want || pr.Namespace != "agent-core-infra" || pr.ServiceAccount != "ekspoc-v6-kagent-agent-sa" ||
			pr.Method != MethodTokenReview || pr.Issuer != kubeenv.DefaultIssuer || pr.ExpiresAt.IsZero() {
			t.Errorf("principal = %+v", pr)
		}
		if g, _ := pr.ClaimString("groups"); !strings.Contains(g, "system:serviceaccounts:agent-core-infra") {
			t.Errorf("groups = %s", g)
		}
		if uid, _ := pr.ClaimString("uid"); uid == "" {
			t.Error("no uid claim")
		}
		if got := res.header.Values("X-Agent-Identity"); len(got) != 1 || got[0] != want {
			t.Errorf("x-agent-identity = %q", got)
		}
		// Cached: no second TokenReview.
		before := p.tr.r.calls.Load()
		for range 5 {
			if res := p.do(request(tok)); res.err != nil {
				t.Fatal(res.err)
			}
		}
		if n := p.tr.r.calls.Load() - before; n != 0 {
			t.Errorf("%d TokenReviews for a cached token", n)
		}
	})

	t.Run("wrong audience", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview)
		f.c.CreateServiceAccount(t, f.agentNS, "wrong-aud")
		tok := f.c.Token(t, f.agentNS, "wrong-aud", []string{"some-other-service"}, 3600)
		wantRejected(t, p.do(request(tok)), "invalid_token", tok)
		// Even when the payload is not read first, the API server says no
		// for our audience.
		if ok, _, _ := f.c.TokenReview(t, tok, []string{kubeenv.DefaultAudience}); ok {
			t.Error("the API server accepted a token for another audience")
		}
	})

	t.Run("deleted ServiceAccount", func(t *testing.T) {
		clk := &fakeClock{}
		p := useClock(f.policy(t, ValidationTokenReview, shortTTL), clk)
		tok := f.agent(t, "short-lived-sa")
		if res := p.do(request(tok)); res.err != nil {
			t.Fatal(res.err)
		}
		f.c.DeleteServiceAccount(t, f.agentNS, "short-lived-sa")
		// Within cacheTTL the cached answer stands (documented).
		if res := p.do(request(tok)); res.err != nil {
			t.Fatalf("within cacheTTL: %v", res.err)
		}
		pe := waitRejected(t, p, clk, tok)
		if pe.Message != "token rejected by the Kubernetes API server" {
			t.Errorf("message = %q", pe.Message)
		}
		// The rejection is cached for failureTTL, then asked again.
		calls := p.tr.r.calls.Load()
		wantRejected(t, p.do(request(tok)), "invalid_token", tok)
		if n := p.tr.r.calls.Load() - calls; n != 0 {
			t.Errorf("%d TokenReviews, want 0 (failure cached)", n)
		}
		clk.advance(11 * time.Second)
		wantRejected(t, p.do(request(tok)), "invalid_token", tok)
		if n := p.tr.r.calls.Load() - calls; n != 1 {
			t.Errorf("%d TokenReviews, want 1 after failureTTL", n)
		}
	})

	t.Run("success is cached no longer than exp", func(t *testing.T) {
		clk := &fakeClock{}
		p := useClock(f.policy(t, ValidationTokenReview), clk)
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 600)
		res := p.do(request(tok))
		if res.err != nil {
			t.Fatal(res.err)
		}
		exp := res.principal.ExpiresAt
		// 30 s before exp the cached entry must not outlive exp.
		clk.advance(time.Until(exp) - 30*time.Second)
		p.tr.r.cache = newReviewCache(reviewCacheSize)
		if res := p.do(request(tok)); res.err != nil {
			t.Fatal(res.err)
		}
		for _, e := range p.tr.r.cache.m {
			if e.notAfter.After(exp) {
				t.Errorf("cached until %s, after exp %s", e.notAfter, exp)
			}
		}
		// After exp (and the skew) the token is refused without a call.
		clk.advance(91 * time.Second)
		calls := p.tr.r.calls.Load()
		pe := wantRejected(t, p.do(request(tok)), "invalid_token", tok)
		if pe.Message != "token expired" || p.tr.r.calls.Load() != calls {
			t.Errorf("message %q, %d calls", pe.Message, p.tr.r.calls.Load()-calls)
		}
	})

	t.Run("garbage never reaches the API server", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview)
		tok := f.agent(t, "garbage-check")
		parts := strings.Split(tok, ".")
		calls := p.tr.r.calls.Load()
		for name, bad := range map[string]string{
			"two segments":  parts[0] + "." + parts[1],
			"four segments": tok + ".x",
			"JWE":           "a.b.c.d.e",
			"dots":          strings.Repeat(".", 15000),
			"payload junk":  parts[0] + ".bm90LWpzb24." + parts[2],
			"wrong issuer":  parts[0] + "." + b64u([]byte(`{"iss":"https://evil","aud":["agent-gateway"],"exp":9999999999}`)) + "." + parts[2],
			"expired":       parts[0] + "." + b64u([]byte(`{"iss":"https://kubernetes.default.svc","aud":["agent-gateway"],"exp":1000}`)) + "." + parts[2],
		} {
			res := p.do(request(bad))
			if res.err == nil || res.called {
				t.Errorf("%s: accepted", name)
			}
		}
		if n := p.tr.r.calls.Load() - calls; n != 0 {
			t.Errorf("%d TokenReviews for garbage", n)
		}
		// A forged payload that passes the prefilter is the API server's to
		// refuse: the signature no longer matches.
		forged := parts[0] + "." + b64u([]byte(`{"iss":"https://kubernetes.default.svc","aud":["agent-gateway"],"sub":"system:serviceaccount:kube-system:admin","exp":9999999999}`)) + "." + parts[2]
		wantRejected(t, p.do(request(forged)), "invalid_token", forged)
		if n := p.tr.r.calls.Load() - calls; n != 1 {
			t.Errorf("%d TokenReviews for the forged token, want 1", n)
		}
	})

	t.Run("concurrent requests share one review", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview, func(j *Config) {
			j.TokenReview.Timeout = config.Duration(20 * time.Second)
		})
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 700)
		calls := p.tr.r.calls.Load()
		f.proxy.Hold()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- p.do(request(tok)).err
			}()
		}
		time.Sleep(300 * time.Millisecond)
		f.proxy.Release()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := p.tr.r.calls.Load() - calls; n != 1 {
			t.Errorf("%d TokenReviews for 20 concurrent requests, want 1", n)
		}
	})

	t.Run("API server down: 503, never cached", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview)
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 800)
		logs := captureLogs(t)
		f.proxy.Down()
		wantUnavailable(t, p.do(request(tok)))
		wantUnavailable(t, p.do(request(tok)))
		if err := f.proxy.Up(); err != nil {
			t.Fatal(err)
		}
		if res := p.do(request(tok)); res.err != nil {
			t.Fatalf("after recovery: %v", res.err)
		}
		assertNoLeak(t, tok, logs.String())
		if !strings.Contains(logs.String(), "tokenreview failed") {
			t.Errorf("no WARN logged:\n%s", logs)
		}
	})

	t.Run("API server hanging: 503 after timeout", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview, func(j *Config) {
			j.TokenReview.Timeout = config.Duration(time.Second)
		})
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 900)
		f.proxy.Hold()
		defer f.proxy.Release()
		start := time.Now()
		wantUnavailable(t, p.do(request(tok)))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s, timeout is 1s", d)
		}
	})

	t.Run("a caller giving up does not fail the others", func(t *testing.T) {
		p := f.policy(t, ValidationTokenReview, func(j *Config) {
			j.TokenReview.Timeout = config.Duration(20 * time.Second)
		})
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 1000)
		f.proxy.Hold()
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan result, 1)
		go func() { first <- p.do(request(tok).WithContext(ctx)) }()
		time.Sleep(100 * time.Millisecond)
		second := make(chan result, 1)
		go func() { second <- p.do(request(tok)) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		if res := <-first; res.err == nil {
			t.Error("the cancelled request succeeded")
		}
		f.proxy.Release()
		if res := <-second; res.err != nil {
			t.Fatalf("the other request failed: %v", res.err)
		}
	})

	t.Run("both: JWKS first, then TokenReview", func(t *testing.T) {
		clk := &fakeClock{}
		p := useClock(f.policy(t, ValidationBoth, shortTTL), clk)
		tok := f.agent(t, "both-sa")
		res := p.do(request(tok))
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.principal.Method != "jwt" || res.principal.Namespace != f.agentNS {
			t.Errorf("principal = %+v", res.principal)
		}
		// A token the JWKS refuses never reaches the API server.
		calls := p.tr.r.calls.Load()
		keys := testKeys(t)
		hdr := strings.Split(tok, ".")[0]
		forged := signRaw(t, keys.attacker.priv, "RS256", hdr+"."+strings.Split(tok, ".")[1])
		pe := wantRejected(t, p.do(request(forged)), "invalid_token", forged)
		if pe.Message != "invalid signature" || p.tr.r.calls.Load() != calls {
			t.Errorf("message %q, %d calls", pe.Message, p.tr.r.calls.Load()-calls)
		}
		// The JWKS alone cannot know the ServiceAccount is gone.
		f.c.DeleteServiceAccount(t, f.agentNS, "both-sa")
		waitRejected(t, p, clk, tok)
		if _, perr := p.v.verify(context.Background(), tok); perr != nil {
			t.Fatalf("JWKS step refused: %v", perr)
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		gw, _ := readBearerToken(f.gwToken)
		p := f.policy(t, ValidationTokenReview, func(j *Config) {
			j.TokenReview = &TokenReviewOptions{Kubeconfig: f.c.Kubeconfig(t, "", gw)}
		})
		tok := f.c.Token(t, f.agentNS, "ekspoc-v6-kagent-agent-sa", []string{kubeenv.DefaultAudience}, 1100)
		if res := p.do(request(tok)); res.err != nil {
			t.Fatal(res.err)
		}
	})

	t.Run("RBAC: without the ClusterRole provisioning fails", func(t *testing.T) {
		f.c.CreateServiceAccount(t, "agent-gateway", "unprivileged")
		file := kubeenv.TokenFile(t, f.c.Token(t, "agent-gateway", "unprivileged", []string{kubeenv.DefaultAudience}, 3600))
		_, err := newPolicy(t, &Config{
			Audiences: []string{kubeenv.DefaultAudience}, Validation: ValidationTokenReview,
			TokenReview: &TokenReviewOptions{APIServer: f.c.URL, CAFile: f.c.CAFile, TokenFile: file},
		})
		if err == nil || !strings.Contains(err.Error(), "may not create tokenreviews") {
			t.Fatalf("err = %v, want the RBAC hint", err)
		}
	})
}

func TestKubeConnOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kc := write("kubeconfig", `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: "https://kube.example:6443/", certificate-authority-data: "bm90LWEtY2VydA=="}}]
users: [{name: u, user: {token: from-kubeconfig}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`)
	tokFile := write("token", "from-file\n")
	k, err := kubeConnFor(reviewerConfig{kubeconfig: kc, timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if k.host != "https://kube.example:6443" || k.token != "from-kubeconfig" || k.timeout != 3*time.Second || string(k.caData) != "not-a-cert" {
		t.Errorf("kubeconfig: %+v", k)
	}
	k, err = kubeConnFor(reviewerConfig{kubeconfig: kc, apiServer: "https://other:6443", caFile: "/ca.pem", tokenFile: tokFile})
	if err != nil {
		t.Fatal(err)
	}
	if k.host != "https://other:6443" || k.token != "" || k.tokenFile != tokFile || k.caFile != "/ca.pem" || k.caData != nil {
		t.Errorf("overrides: %+v", k)
	}
	// apiServer alone: nothing but what is configured is sent.
	k, err = kubeConnFor(reviewerConfig{apiServer: "https://other:6443"})
	if err != nil {
		t.Fatal(err)
	}
	if k.token != "" || k.tokenFile != "" || k.certData != nil || k.certFile != "" {
		t.Errorf("apiServer alone sends credentials: %+v", k)
	}
	// Paths in a kubeconfig are relative to it, as kubectl reads them.
	rel := write("rel-kubeconfig", `current-context: c
clusters: [{name: c, cluster: {server: "https://kube.example", certificate-authority: ca.crt}}]
users: [{name: u, user: {tokenFile: token, client-certificate: tls.crt, client-key: tls.key}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`)
	if k, err = kubeConnFor(reviewerConfig{kubeconfig: rel}); err != nil {
		t.Fatal(err)
	}
	if k.caFile != filepath.Join(dir, "ca.crt") || k.tokenFile != tokFile || k.certFile != filepath.Join(dir, "tls.crt") || k.keyFile != filepath.Join(dir, "tls.key") {
		t.Errorf("relative paths: %+v", k)
	}
	for name, c := range map[string]reviewerConfig{
		"missing tokenFile":  {apiServer: "https://other:6443", tokenFile: filepath.Join(dir, "missing")},
		"missing kubeconfig": {kubeconfig: filepath.Join(dir, "missing")},
		"exec plugin": {kubeconfig: write("exec-kubeconfig", `current-context: c
clusters: [{name: c, cluster: {server: "https://kube.example"}}]
users: [{name: u, user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`)},
		"unknown context": {kubeconfig: write("ctx-kubeconfig", `current-context: nope
clusters: [{name: c, cluster: {server: "https://kube.example"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`)},
		"not a URL": {apiServer: "kube.example:6443"},
	} {
		if _, err := kubeConnFor(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzPrefilter checks that the payload prefilter never panics and never
// lets through what the shape check refuses.
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{"a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", "x.eyJhdWQiOjF9.y", "..", "a.b.c.d.e",
		"e30.eyJleHAiOiJ4In0.c", "e30.eyJpc3MiOjEsImF1ZCI6W3t9XX0.c", "e30.bnVsbA.c", "e30.e30gMQ.c"} {
		f.Add(s)
	}
	tr := &tokenReview{audiences: []string{"agent-gateway"}, issuer: "https://kubernetes.default.svc", skew: time.Minute, now: time.Now}
	f.Fuzz(func(t *testing.T, tok string) {
		_, perr := tr.prefilter(tok)
		if perr == nil && checkShape(tok) != "" {
			t.Fatalf("prefilter passed a malformed token %q", tok)
		}
	})
}
