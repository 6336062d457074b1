package e2e

// Chaos tests of what the gateway depends on: Redis (shared rate limits),
// the JWKS endpoint and the kube-apiserver (TokenReview mode). The load
// driver and its helpers are in chaos_test.go.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
	"github.com/agentgateway-go/agentgateway/test/kubeenv"
)

// chaosProbe sends one call every interval until stop is closed (at most
// max calls), each from next(id), and returns the results in order.
func chaosProbe(c *http.Client, interval time.Duration, max int, stop <-chan struct{}, next func(id int) chaosResult) <-chan []chaosResult {
	out := make(chan []chaosResult, 1)
	go func() {
		var rs []chaosResult
		defer func() { out <- rs }()
		for i := 0; i < max; i++ {
			rs = append(rs, next(int(chaosSeq.Add(1))))
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		}
	}()
	return out
}

// chaosMetric returns the value of the sample of name whose labels are
// exactly labels (0 when there is none).
func chaosMetric(t *testing.T, g *Gateway, name, labels string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` ([0-9.e+]+)$`)
	m := re.FindStringSubmatch(scrape(t, g.AdminURL("/metrics")))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// ---------------------------------------------------------------------------
// Redis is killed and restarted.

// chaosRateLimitListeners is an MCP route /mcp to be with two descriptors:
// echo (the load; never limited) and slow (6 a minute, burst 6), and the
// stream route.
func chaosRateLimitListeners(be string) string {
	return fmt.Sprintf(`      - name: mcp
        routes:
          - name: limited
            match:
              path:
                prefix: /mcp
            policies:
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: echo
                      rateLimit: {requestsPerMinute: 1000000}
                    - key: tool-name
                      value: slow
                      rateLimit: {requestsPerMinute: 6}
            backends:
              - name: limited-backend
                type: mcp-http
                address: %s
                mcp: {endpoint: /mcp}
%s`, be, chaosEventsRoute(be, ""))
}

// TestChaosRedisKilled: two gateways share rate limits through a real
// redis-server, one with failureMode open, one closed, each under steady
// tools/call load, while Redis is killed and restarted. Expected
// (docs/operations.md):
//
//   - fail-open: every call keeps succeeding, without waiting for Redis;
//     limits are enforced locally (the slow tool's 6 a minute, per
//     process) until Redis is back;
//   - fail-closed: calls a descriptor applies to get 503 (JSON-RPC error
//     echoing the id) and never reach the backend;
//   - each gateway logs one line when the store goes down and one when it
//     is back, whatever the load;
//   - after the restart, each gateway finds Redis again by itself (health
//     check backoff at most 5s) and limits are shared again;
//   - streams stay open (Redis is not on their path);
//   - no call runs twice; goroutines and heap return to their level
//     before the load.
func TestChaosRedisKilled(t *testing.T) {
	redis := redistest.Start(t)
	be := newChaosBackend(t)
	section := func(mode string) string {
		return fmt.Sprintf("rateLimiting:\n  failureMode: %s\n  replicas: 2\n  redis:\n    address: %s\n    keyPrefix: \"chaos:\"\n", mode, redis.Addr())
	}
	start := func(mode string) *Gateway {
		cfg := NewPorts(t)
		cfg.Listeners = chaosRateLimitListeners(be.URL)
		cfg.Extra = section(mode)
		return StartGateway(t, cfg)
	}
	open, closed := start("open"), start("closed")
	beforeOpen, beforeClosed := chaosWarmMeasure(t, open, open.URL("/mcp"), nil), chaosWarmMeasure(t, closed, closed.URL("/mcp"), nil)
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	// slowCalls sends n calls of the rate-limited tool, alternating
	// between gws, and counts 200s and 429s.
	slowCalls := func(gws []*Gateway, n int) (ok, limited int, others []chaosResult) {
		for i := 0; i < n; i++ {
			id := int(chaosSeq.Add(1))
			r := chaosCall(c, gws[i%len(gws)].URL("/mcp"), id, "tools/call", "slow", resToolArgs{Key: "slow" + strconv.Itoa(id)}, nil)
			switch r.status {
			case 200:
				ok++
			case 429:
				limited++
			default:
				others = append(others, r)
			}
		}
		return ok, limited, others
	}

	loadOpen := startChaosLoad(t, chaosLoadConfig{URL: open.URL("/mcp"), Prefix: "open", Workers: 3, Streams: 4, StreamURL: open.URL("/events")})
	loadClosed := startChaosLoad(t, chaosLoadConfig{URL: closed.URL("/mcp"), Prefix: "closed", Workers: 2})
	time.Sleep(time.Second)
	underOpen, underClosed := chaosMeasure(t, open), chaosMeasure(t, closed)

	killedAt := time.Now()
	redis.Kill()
	time.Sleep(500 * time.Millisecond)
	// Local limits while Redis is down: 6 of 8 on the fail-open gateway;
	// the fail-closed one refuses them all.
	downOK, downLimited, downOthers := slowCalls([]*Gateway{open}, 8)
	_, _, closedSlow := slowCalls([]*Gateway{closed}, 2)
	time.Sleep(time.Second)
	restartedAt := time.Now()
	redis.Restart()
	// Each gateway finds Redis again by itself (health check backoff).
	var upAt [2]time.Time
	for deadline := time.Now().Add(15 * time.Second); upAt[0].IsZero() || upAt[1].IsZero(); time.Sleep(20 * time.Millisecond) {
		for i, g := range []*Gateway{open, closed} {
			if upAt[i].IsZero() && strings.Contains(g.Logs(), "limits are shared through redis again") {
				upAt[i] = time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis not found again within 15s (open: %v, closed: %v)", !upAt[0].IsZero(), !upAt[1].IsZero())
		}
	}
	// Shared again (Redis restarted empty): 6 of 8 across both gateways.
	upOK, upLimited, upOthers := slowCalls([]*Gateway{open, closed}, 8)
	time.Sleep(time.Second)
	resOpen, resClosed := loadOpen.Stop(), loadClosed.Stop()
	streams := loadOpen.CloseStreams()

	if downOK != 6 || downLimited != 2 || len(downOthers) > 0 {
		t.Errorf("fail-open gateway, Redis down: %d allowed, %d limited, others %v; want local 6 and 2", downOK, downLimited, downOthers)
	}
	for _, r := range closedSlow {
		if err := chaosRPCError(r, 503); err != nil {
			t.Errorf("fail-closed gateway, Redis down, slow: %v: %v", r, err)
		}
	}
	if upOK != 6 || upLimited != 2 || len(upOthers) > 0 {
		t.Errorf("after the restart, two gateways: %d allowed, %d limited, others %v; want shared 6 and 2", upOK, upLimited, upOthers)
	}

	fails := &chaosFails{t: t}
	var openDownMax time.Duration
	var openDown int
	for _, r := range resOpen {
		if r.status != 200 {
			fails.add("fail-open gateway (at %v from the kill): %v", r.at.Sub(killedAt), r)
		}
		if r.at.After(killedAt) && r.at.Before(upAt[0]) {
			openDown++
			openDownMax = max(openDownMax, r.took)
		}
	}
	// Not waiting for Redis: a Redis call is bounded by 100ms, and no call
	// is made while it is known down.
	if openDownMax > time.Second {
		fails.add("fail-open gateway: a call took %v while Redis was down", openDownMax)
	}
	var closed503 int
	for _, r := range resClosed {
		switch {
		case r.end().Before(killedAt) || r.at.After(upAt[1].Add(500*time.Millisecond)):
			if r.status != 200 {
				fails.add("fail-closed gateway, Redis up (at %v from the kill): %v", r.at.Sub(killedAt), r)
			}
		case r.at.After(killedAt.Add(300*time.Millisecond)) && r.at.Before(restartedAt):
			closed503++
			if err := chaosRPCError(r, 503); err != nil {
				fails.add("fail-closed gateway, Redis down: %v: %v", r, err)
			}
			if be.Execs(r.key) != 0 {
				fails.add("fail-closed gateway: refused %s reached the backend", r.key)
			}
		}
	}
	fails.done()
	if openDown < 20 || closed503 < 10 {
		t.Errorf("outage not exercised: %d fail-open calls, %d fail-closed 503s while Redis was down", openDown, closed503)
	}
	chaosNoDuplicates(t, be.resBackend, append(append([]chaosResult(nil), resOpen...), resClosed...))
	recovery, stayed := chaosRecovery(resClosed, restartedAt)
	if recovery < 0 || recovery > 7*time.Second || !stayed {
		t.Errorf("fail-closed gateway: recovery %v after the restart (stayed up: %v), want within 7s", recovery, stayed)
	}
	// One line per state change, not per request, under load. A slow
	// Redis reply on a loaded CI machine can make a real extra down/up
	// pair after the restart, so allow a few pairs, each a pair.
	for _, g := range []*Gateway{open, closed} {
		logs := g.Logs()
		if n, m := strings.Count(logs, "rate limit store down"), strings.Count(logs, "limits are shared through redis again"); n < 1 || n != m || n > 3 {
			t.Errorf("gateway logged %d store-down and %d store-up lines, want one of each per outage", n, m)
		}
	}
	wantChaosStreamsOpen(t, streams, 4)
	afterOpen := chaosSettle(t, open, beforeOpen, underOpen)
	afterClosed := chaosSettle(t, closed, beforeClosed, underClosed)
	wantChaosClientCloseNotBlamed(t, open)
	t.Logf("fail-open: %d calls %s, max %v while Redis was down; fail-closed: %d calls %s; store back after %v (open) and %v (closed); fail-closed recovery %v; streams %+v",
		len(resOpen), chaosStatuses(resOpen), openDownMax.Round(time.Millisecond), len(resClosed), chaosStatuses(resClosed),
		upAt[0].Sub(restartedAt).Round(time.Millisecond), upAt[1].Sub(restartedAt).Round(time.Millisecond), recovery.Round(time.Millisecond), streams)
	t.Logf("fail-open: before %v, under load %v, after %v; fail-closed: before %v, under load %v, after %v",
		beforeOpen, underOpen, afterOpen, beforeClosed, underClosed, afterClosed)
}

// ---------------------------------------------------------------------------
// The JWKS endpoint hangs.

// chaosIssuer serves a JWKS that can hang, and signs tokens with its keys:
// "rl-k1" is published from the start, "chaos-k2" only after Rotate.
type chaosIssuer struct {
	k1, k2 *gatewaytest.Key
	URL    string // of the JWKS

	mu      sync.Mutex
	hang    chan struct{}
	rotated bool
	fetches int
}

func startChaosIssuer(t *testing.T) *chaosIssuer {
	t.Helper()
	iss := &chaosIssuer{}
	iss.k1, iss.k2 = gatewaytest.NewRSAKey(t, "rl-k1"), gatewaytest.NewRSAKey(t, "chaos-k2")
	one, two := gatewaytest.JWKS(iss.k1), gatewaytest.JWKS(iss.k1, iss.k2)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		iss.fetches++
		hang := iss.hang
		iss.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		iss.mu.Lock()
		body := one
		if iss.rotated {
			body = two
		}
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	iss.URL = url + "/jwks"
	t.Cleanup(iss.Release)
	return iss
}

// Hang makes every fetch wait until Release.
func (iss *chaosIssuer) Hang() {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if iss.hang == nil {
		iss.hang = make(chan struct{})
	}
}

// Release answers the fetches again, with both keys (a rotation).
func (iss *chaosIssuer) Release() {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.rotated = true
	if iss.hang != nil {
		close(iss.hang)
		iss.hang = nil
	}
}

func (iss *chaosIssuer) Fetches() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.fetches
}

// token signs a token for sub with key k1 ("rl-k1") or k2 ("chaos-k2");
// jti makes it unique.
func (iss *chaosIssuer) token(t testing.TB, newKey bool, sub, jti string) string {
	now := time.Now()
	key := iss.k1
	if newKey {
		key = iss.k2
	}
	s, err := key.Token(jwtlib.MapClaims{
		"iss": rlIssuer, "aud": []string{rlAudience}, "sub": sub, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Errorf("signing: %v", err)
	}
	return s
}

// TestChaosJWKSHang: after the gateway fetched the JWKS, the endpoint
// hangs for 3 s under a steady load of tokens signed with a known key
// (one token reused, plus a fresh token every third call); meanwhile a
// prober sends a token whose kid is not in the key set every 300 ms. Then
// the endpoint answers again with the new key added. Expected
// (docs/operations.md):
//
//   - tokens with a known kid keep succeeding and never wait for the JWKS
//     (no call near jwks.timeout, p99 bounded);
//   - a token with an unknown kid fails fast with 401 (unknown signing key,
//     JSON-RPC error with id null: authentication runs before the body is
//     read): it waits at most jwks.timeout (1s)
//     for the one rate-limited fetch it may trigger, and not at all within
//     minRefreshInterval of the last fetch attempt;
//   - once the endpoint answers, the new kid is accepted within
//     minRefreshInterval (1s) plus one fetch;
//   - the failed fetches are counted and logged; streams stay open (they
//     were authenticated when they opened);
//   - goroutines and heap return to their level before the load.
func TestChaosJWKSHang(t *testing.T) {
	iss := startChaosIssuer(t)
	be := newChaosBackend(t)
	jwt := fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
                  jwks: {timeout: 1s, minRefreshInterval: 2s}
`, rlIssuer, rlAudience, iss.URL)
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("jwks", "/mcp", be.URL, "/mcp", "http", jwt)
	cfg.Listeners += chaosEventsRoute(be.URL, jwt)
	g := StartGateway(t, cfg)
	known := iss.token(t, false, rlWeather, "shared")
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	before := chaosWarmMeasure(t, g, g.URL("/mcp"), auth(known))

	load := startChaosLoad(t, chaosLoadConfig{
		URL: g.URL("/mcp"), Prefix: "jwks", Streams: 4, StreamURL: g.URL("/events"), StreamHeader: auth(known),
		Header: func(id int) map[string]string {
			if id%3 == 0 {
				return auth(iss.token(t, false, rlWeather, strconv.Itoa(id)))
			}
			return auth(known)
		},
	})
	time.Sleep(time.Second)
	underLoad := chaosMeasure(t, g)
	fetchesBefore := iss.Fetches()
	hungAt := time.Now()
	iss.Hang()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	stopProbe := make(chan struct{})
	probes := chaosProbe(c, 100*time.Millisecond, 100, stopProbe, func(id int) chaosResult {
		tok := iss.token(t, true, rlWeather, "probe"+strconv.Itoa(id))
		return chaosCall(c, g.URL("/mcp"), id, "tools/call", "echo", resToolArgs{Key: "probe" + strconv.Itoa(id)}, auth(tok))
	})
	time.Sleep(3 * time.Second)
	releasedAt := time.Now()
	iss.Release()
	time.Sleep(3 * time.Second)
	close(stopProbe)
	probed := <-probes
	results := load.Stop()
	streams := load.CloseStreams()

	fails := &chaosFails{t: t}
	var beforeHang, during []chaosResult
	for _, r := range results {
		if r.status != 200 {
			fails.add("known-kid call (at %v from the hang): %v", r.at.Sub(hungAt), r)
		}
		switch {
		case r.end().Before(hungAt):
			beforeHang = append(beforeHang, r)
		case r.at.After(hungAt) && r.at.Before(releasedAt):
			during = append(during, r)
		}
	}
	var maxDuring time.Duration
	for _, r := range during {
		maxDuring = max(maxDuring, r.took)
	}
	p99Before, p99During := chaosP99(beforeHang), chaosP99(during)
	if maxDuring >= 900*time.Millisecond {
		fails.add("a known-kid call took %v during the hang: it waited for the JWKS (timeout 1s)", maxDuring)
	}
	if p99During > 4*p99Before+250*time.Millisecond {
		fails.add("known-kid p99 %v during the hang, %v before", p99During, p99Before)
	}
	var waited, fast, n401 int
	var slowest time.Duration
	for _, r := range probed {
		if r.at.After(releasedAt) {
			continue
		}
		if r.end().After(releasedAt) && r.status == 200 {
			// It waited for a fetch that the release answered.
			continue
		}
		if err := chaosAuthnError(r, 401); err != nil || !strings.Contains(string(r.body), "unknown signing key") {
			fails.add("unknown-kid probe during the hang: %v (%v)", r, err)
			continue
		}
		n401++
		slowest = max(slowest, r.took)
		switch {
		case r.took > 2*time.Second:
			fails.add("unknown-kid probe took %v, want at most jwks.timeout (1s)", r.took)
		case r.took >= 800*time.Millisecond:
			waited++
		case r.took < 300*time.Millisecond:
			fast++
		}
	}
	fails.done()
	if len(during) < 50 || waited == 0 || fast == 0 {
		t.Errorf("hang not exercised: %d known-kid calls; of %d unknown-kid probes refused during it, %d waited for a fetch, %d did not", len(during), n401, waited, fast)
	}
	if iss.Fetches() == fetchesBefore {
		t.Error("no JWKS fetch was attempted during the hang")
	}
	recovery, stayed := chaosRecovery(probed, releasedAt)
	if recovery < 0 || recovery > 3*time.Second || !stayed {
		t.Errorf("new kid accepted %v after the release (stayed accepted: %v), want within minRefreshInterval (2s) and a fetch", recovery, stayed)
	}
	if n := chaosMetric(t, g, "agentgateway_jwks_fetches_total", `{result="error"}`); n < 1 {
		t.Error("no failed JWKS fetch counted")
	}
	if !strings.Contains(g.Logs(), "jwks refresh failed; keeping the last good key set") {
		t.Error("no log line about the failed fetch")
	}
	wantChaosLogsJSON(t, g)
	chaosNoDuplicates(t, be.resBackend, results)
	wantChaosStreamsOpen(t, streams, 4)
	after := chaosSettle(t, g, before, underLoad)
	wantChaosClientCloseNotBlamed(t, g)
	t.Logf("%d known-kid calls: %s; p99 %v before the hang, %v during (max %v); %d unknown-kid probes got 401 during the hang (%d waited for a fetch, %d at once; slowest %v); new kid accepted %v after the release; %d JWKS fetches during the test; streams %+v; before %v, under load %v, after %v",
		len(results), chaosStatuses(results), p99Before, p99During, maxDuring, n401, waited, fast, slowest, recovery.Round(time.Millisecond),
		iss.Fetches()-fetchesBefore, streams, before, underLoad, after)
}

// ---------------------------------------------------------------------------
// The kube-apiserver is unavailable (TokenReview mode).

// TestChaosAPIServerUnavailable: jwt-authn in TokenReview mode against a
// real kube-apiserver (test/kubeenv) behind a loopback proxy, under a
// steady load of tokens already reviewed (cacheTTL 1m); a prober sends a
// never-seen token every 250 ms. The API server is taken away for 2 s
// (connections refused), then black-holed for 2.5 s (connections
// accepted, nothing forwarded), then given back. Expected (docs/operations.md):
//
//   - reviewed tokens keep succeeding from the review cache, without
//     waiting for the API server;
//   - new tokens get 503 with Retry-After (not 401), as a JSON-RPC error
//     with id null (authentication runs before the body is read): at once while connections are refused, after
//     tokenReview.timeout (1s) while they hang;
//   - new tokens are accepted again within 2 s of the API server's return
//     (failures are not cached);
//   - streams stay open (authenticated when they opened);
//   - goroutines and heap return to their level before the load.
func TestChaosAPIServerUnavailable(t *testing.T) {
	c := kubeenv.Start(t, kubeenv.Options{})
	defer func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (tail):\n%s", c.Logs(30))
		}
	}()
	c.CreateNamespace(t, ktNS)
	c.CreateServiceAccount(t, ktNS, ktAgent)
	proxy := c.NewProxy(t)
	be := newChaosBackend(t)
	// The gateway's credentials: the cluster's admin token (it may create
	// TokenReviews; the RBAC of deploy/rbac is TestKube's business).
	tokenFile := kubeenv.TokenFile(t, c.AdminToken)
	jwt := fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  validation: tokenreview
                  tokenReview:
                    apiServer: %s
                    caFile: %s
                    tokenFile: %s
                    cacheTTL: 1m
                    failureTTL: 1s
                    timeout: 1s
`, kubeenv.DefaultIssuer, kubeenv.DefaultAudience, proxy.URL, c.CAFile, tokenFile)
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("tokenreview", "/mcp", be.URL, "/mcp", "http", jwt)
	cfg.Listeners += chaosEventsRoute(be.URL, jwt)
	g := StartGateway(t, cfg)

	mint := func(n int) []string {
		toks := make([]string, n)
		for i := range toks {
			toks[i] = c.Token(t, ktNS, ktAgent, []string{kubeenv.DefaultAudience}, 3600)
		}
		return toks
	}
	reviewed, fresh := mint(4), mint(40)
	seen := map[string]bool{}
	for _, tok := range append(append([]string(nil), reviewed...), fresh...) {
		if seen[tok] {
			t.Fatal("the TokenRequest API returned the same token twice")
		}
		seen[tok] = true
	}
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, tok := range reviewed {
		if r := chaosCall(hc, g.URL("/mcp"), int(chaosSeq.Add(1)), "tools/list", "", nil, auth(tok)); r.status != 200 {
			t.Fatalf("first review: %v", r)
		}
	}
	before := chaosWarmMeasure(t, g, g.URL("/mcp"), auth(reviewed[0]))

	load := startChaosLoad(t, chaosLoadConfig{
		URL: g.URL("/mcp"), Prefix: "tr", Streams: 4, StreamURL: g.URL("/events"), StreamHeader: auth(reviewed[0]),
		Header: func(id int) map[string]string { return auth(reviewed[id%len(reviewed)]) },
	})
	time.Sleep(time.Second)
	underLoad := chaosMeasure(t, g)
	var (
		freshMu sync.Mutex
		next    int
	)
	stopProbe := make(chan struct{})
	probes := chaosProbe(hc, 250*time.Millisecond, len(fresh), stopProbe, func(id int) chaosResult {
		freshMu.Lock()
		tok := fresh[next]
		next++
		freshMu.Unlock()
		return chaosCall(hc, g.URL("/mcp"), id, "tools/call", "echo", resToolArgs{Key: "fresh" + strconv.Itoa(id)}, auth(tok))
	})
	downAt := time.Now()
	proxy.Down()
	time.Sleep(2 * time.Second)
	heldAt := time.Now()
	proxy.Hold()
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	backAt := time.Now()
	proxy.Release()
	time.Sleep(3 * time.Second)
	close(stopProbe)
	probed := <-probes
	results := load.Stop()
	streams := load.CloseStreams()

	fails := &chaosFails{t: t}
	var maxDuring time.Duration
	var during int
	for _, r := range results {
		if r.status != 200 {
			fails.add("reviewed token (at %v from the outage): %v", r.at.Sub(downAt), r)
		}
		if r.at.After(downAt) && r.at.Before(backAt) {
			during++
			maxDuring = max(maxDuring, r.took)
		}
	}
	if maxDuring >= 900*time.Millisecond {
		fails.add("a reviewed token took %v during the outage: it waited for the API server (timeout 1s)", maxDuring)
	}
	var refused, held []time.Duration
	for _, r := range probed {
		if !r.at.After(downAt.Add(100*time.Millisecond)) || !r.end().Before(backAt) {
			continue
		}
		if err := chaosAuthnError(r, 503); err != nil {
			fails.add("new token during the outage: %v: %v (want 503, not 401)", r, err)
			continue
		}
		if r.retryAfter == "" {
			fails.add("503 without Retry-After: %v", r)
		}
		if r.at.Before(heldAt) {
			refused = append(refused, r.took)
			if r.took > 500*time.Millisecond {
				fails.add("new token, connections refused: 503 after %v, want at once", r.took)
			}
		} else {
			held = append(held, r.took)
			if r.took > 2500*time.Millisecond {
				fails.add("new token, connections hanging: 503 after %v, want tokenReview.timeout (1s)", r.took)
			}
		}
	}
	fails.done()
	if during < 50 || len(refused) < 3 || len(held) < 1 {
		t.Errorf("outage not exercised: %d reviewed-token calls, %d new tokens refused fast, %d after the timeout", during, len(refused), len(held))
	}
	recovery, stayed := chaosRecovery(probed, backAt)
	if recovery < 0 || recovery > 2*time.Second || !stayed {
		t.Errorf("new tokens accepted %v after the API server came back (stayed accepted: %v), want within 2s; probes %v", recovery, stayed, probed)
	}
	if n := chaosMetric(t, g, "agentgateway_tokenreview_requests_total", `{result="error"}`); n < 1 {
		t.Error("no failed TokenReview counted")
	}
	if !strings.Contains(g.Logs(), "tokenreview failed; answering 503 until the API server answers") {
		t.Error("no log line about the failed TokenReview")
	}
	wantChaosLogsJSON(t, g)
	chaosNoDuplicates(t, be.resBackend, append(append([]chaosResult(nil), results...), probed...))
	wantChaosStreamsOpen(t, streams, 4)
	after := chaosSettle(t, g, before, underLoad)
	wantChaosClientCloseNotBlamed(t, g)
	t.Logf("%d reviewed-token calls: %s, max %v during the outage; new tokens: 503 after %v (refused), %v (black-holed); accepted again %v after the return; streams %+v; before %v, under load %v, after %v",
		len(results), chaosStatuses(results), maxDuring.Round(time.Millisecond), refused, held, recovery.Round(time.Millisecond), streams, before, underLoad, after)
}

// chaosAuthnError checks that r is a gateway-rendered JSON-RPC error with
// status from authentication. Authentication runs before the body is read
// (a refused request costs no buffering), so there is no request id to
// echo: the error's id is null, as JSON-RPC allows for an id not read.
func chaosAuthnError(r chaosResult, status int) error {
	if r.status != status {
		return fmt.Errorf("status %d, want %d", r.status, status)
	}
	var m resMsg
	if err := json.Unmarshal(r.body, &m); err != nil {
		return fmt.Errorf("body not JSON: %v", err)
	}
	if m.JSONRPC != "2.0" || m.Error == nil {
		return fmt.Errorf("not a JSON-RPC error")
	}
	if string(m.ID) != "null" {
		return fmt.Errorf("error id %s, want null (the body is not read before authentication)", m.ID)
	}
	if m.Error.Data.HTTPStatus != status {
		return fmt.Errorf("error.data.httpStatus %d, want %d", m.Error.Data.HTTPStatus, status)
	}
	return nil
}
