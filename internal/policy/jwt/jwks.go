package jwt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Fetch limits.
const (
	maxJWKSBytes      = 1 << 20 // 1 MiB
	maxTokenFileBytes = 64 << 10
	maxRedirects      = 3
	// Bounds applied to a JWKS response's Cache-Control max-age.
	minMaxAge = time.Minute
	maxMaxAge = 24 * time.Hour
)

// In-cluster ServiceAccount files, used for the Kubernetes API server's
// JWKS when they exist. Variables so tests can point them elsewhere.
var (
	inClusterCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// sourceConfig identifies a JWKS source. Policies whose sourceConfig is
// equal share one source: one key set, one refresh loop, one fetch per
// refresh, across routes and across config reloads.
type sourceConfig struct {
	uri                 string
	caFile, tokenFile   string // as configured ("" = default)
	refresh, minRefresh time.Duration
	maxStale, timeout   time.Duration
	// rec receives the source's fetches (agentgateway_jwks_fetches_total);
	// part of the key, so that two gateways in one process never count
	// each other's fetches. Nil records nothing.
	rec policy.Recorder
}

func newSourceConfig(j *Config) sourceConfig {
	k := j.JWKS
	if k == nil {
		k = &JWKSOptions{}
	}
	or := func(d, def config.Duration) time.Duration {
		if d <= 0 {
			return def.D()
		}
		return d.D()
	}
	return sourceConfig{
		uri:        j.JWKSURI,
		caFile:     k.CAFile,
		tokenFile:  k.BearerTokenFile,
		refresh:    or(k.RefreshInterval, DefaultJWKSRefreshInterval),
		minRefresh: or(k.MinRefreshInterval, DefaultJWKSMinRefreshInterval),
		maxStale:   or(k.MaxStale, DefaultJWKSMaxStale),
		timeout:    or(k.Timeout, DefaultJWKSTimeout),
	}
}

// snapshot is the key set in use and when it was last fetched.
type snapshot struct {
	keys    *keySet
	fetched time.Time // last successful fetch (even if nothing changed)
	gen     uint64    // bumped whenever the usable keys change
	delay   time.Duration
}

// source fetches and caches one JWKS.
type source struct {
	cfg sourceConfig
	*fetcher
	log *slog.Logger
	now func() time.Time
	// minMaxAge/maxMaxAge bound Cache-Control max-age (fields for tests).
	minMaxAge, maxMaxAge time.Duration

	snap atomic.Pointer[snapshot]
	sf   singleflight.Group

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	failures    int
	staleLogged bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// refs and started are guarded by registry.mu.
	refs    int
	started bool
}

// Lookup results.
type lookupStatus int

const (
	keyFound       lookupStatus = iota
	keyUnknown                  // no key with this kid
	keyMismatch                 // kid known, but no key of it fits the alg
	keyUnavailable              // no usable key set (never fetched, or older than maxStale)
)

func newSource(cfg sourceConfig, log *slog.Logger) (*source, error) {
	f, err := newFetcher("jwksUri", cfg.uri, cfg.caFile, cfg.tokenFile, cfg.timeout)
	if err != nil {
		return nil, err
	}
	s := &source{cfg: cfg, fetcher: f, log: log, now: time.Now, minMaxAge: minMaxAge, maxMaxAge: maxMaxAge}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	s.log.Info("jwks source", "jwksUri", config.RedactURL(cfg.uri), "caFile", f.caFile, "bearerTokenFile", f.tokenFile)
	return s, nil
}

// fetcher performs bounded GETs of one URL (a JWKS or an OIDC discovery
// document): TLS 1.2+, the configured or in-cluster CA, the bearer token
// re-read before each request, redirects only to the same scheme and host,
// a timeout from connection to last byte and a size bound.
type fetcher struct {
	uri       string
	timeout   time.Duration
	client    *http.Client
	transport *http.Transport
	caFile    string // effective CA file, "" for the system roots
	tokenFile string // effective bearer token file, "" for none
}

// newFetcher builds the client for uri. what names the URL in errors.
func newFetcher(what, uri, caFile, tokenFile string, timeout time.Duration) (*fetcher, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an absolute http(s) URL", what, uri)
	}
	f := &fetcher{uri: uri, timeout: timeout}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.Scheme == "https" && isKubernetesAPIHost(u.Hostname()) {
		// The API server's JWKS endpoint needs authentication by default
		// and is served with the cluster CA.
		if caFile == "" && fileExists(inClusterCAFile) {
			caFile = inClusterCAFile
		}
		if tokenFile == "" && fileExists(inClusterTokenFile) {
			tokenFile = inClusterTokenFile
		}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("jwks caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("jwks caFile %s: no PEM certificates", caFile)
		}
		tlsConf.RootCAs = pool
	}
	if tokenFile != "" {
		if _, err := readBearerToken(tokenFile); err != nil {
			return nil, fmt.Errorf("jwks bearerTokenFile: %w", err)
		}
	}
	f.caFile, f.tokenFile = caFile, tokenFile
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.ResponseHeaderTimeout = timeout
	tr.MaxResponseHeaderBytes = 64 << 10
	tr.MaxIdleConns = 2
	f.transport = tr
	orig := u
	f.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != orig.Scheme || !strings.EqualFold(req.URL.Host, orig.Host) {
				return fmt.Errorf("refusing redirect to another host (%s)", truncate(req.URL.Redacted(), 200))
			}
			return nil
		},
	}
	return f, nil
}

// isKubernetesAPIHost reports whether host is the in-cluster API server:
// kubernetes.default.svc, kubernetes.default.svc.cluster.local or
// $KUBERNETES_SERVICE_HOST. Other cluster domains are not guessed: the
// gateway's own token is only sent where it surely belongs (set
// jwks.caFile and jwks.bearerTokenFile explicitly otherwise).
func isKubernetesAPIHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "kubernetes.default.svc" || h == "kubernetes.default.svc.cluster.local" {
		return true
	}
	env := strings.Trim(os.Getenv("KUBERNETES_SERVICE_HOST"), "[]")
	return env != "" && strings.EqualFold(h, env)
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// readBearerToken reads a token file (re-read before every fetch: projected
// ServiceAccount tokens rotate). Errors never contain the token.
func readBearerToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxTokenFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxTokenFileBytes)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("%s does not hold a single token", path)
		}
	}
	return tok, nil
}

// close stops the refresh loop (if it was started) and any fetch in
// flight.
func (s *source) close(started bool) {
	s.cancel()
	if started {
		<-s.done
	}
	s.transport.CloseIdleConnections()
}

func (s *source) loop() {
	defer close(s.done)
	t := time.NewTimer(s.nextDelay())
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		_, _, _ = s.sf.Do("fetch", func() (any, error) { return nil, s.fetch(s.ctx) })
		t.Reset(s.nextDelay())
	}
}

// nextDelay is the wait before the next periodic fetch: the response's
// Cache-Control max-age (bounded) or refreshInterval after a success; after
// failures, minRefreshInterval doubling up to refreshInterval. It never
// exceeds half of maxStale, so a key set cannot go stale between fetches.
func (s *source) nextDelay() time.Duration {
	s.mu.Lock()
	failures := s.failures
	s.mu.Unlock()
	var d time.Duration
	if snap := s.snap.Load(); failures == 0 && snap != nil {
		d = snap.delay
	} else {
		d = s.cfg.minRefresh
		for i := 1; i < failures && d < s.cfg.refresh; i++ {
			d *= 2
		}
		d = min(d, s.cfg.refresh)
	}
	return max(min(d, s.cfg.maxStale/2), time.Millisecond)
}

// usable returns the current key set, or nil if there is none or it is
// older than maxStale.
func (s *source) usable() *snapshot {
	snap := s.snap.Load()
	if snap == nil || s.now().Sub(snap.fetched) > s.cfg.maxStale {
		return nil
	}
	return snap
}

// load makes sure a usable key set exists, fetching it now if needed. It is
// what provisioning calls: an error means the policy cannot start.
func (s *source) load(ctx context.Context) error {
	if snap := s.usable(); snap != nil && snap.keys.size() > 0 {
		return nil
	}
	_, err, _ := s.sf.Do("fetch", func() (any, error) { return nil, s.fetch(ctx) })
	if err != nil {
		return err
	}
	snap := s.usable()
	if snap == nil {
		s.mu.Lock()
		err = s.lastErr
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("jwks at %s: no usable key set", s.redactedURI())
		}
		return err
	}
	if snap.keys.size() == 0 {
		return fmt.Errorf("jwks at %s has no usable signing key: %s", s.redactedURI(), strings.Join(append([]string{"0 keys"}, snap.keys.skipped...), "; "))
	}
	return nil
}

// refreshLimited fetches the JWKS unless a fetch was attempted less than
// minRefreshInterval ago. Concurrent callers share one fetch; the fetch
// runs on the source's context, so a caller giving up does not cancel it
// for the others.
func (s *source) refreshLimited(ctx context.Context) {
	ch := s.sf.DoChan("fetch", func() (any, error) {
		s.mu.Lock()
		recent := !s.lastAttempt.IsZero() && s.now().Sub(s.lastAttempt) < s.cfg.minRefresh
		s.mu.Unlock()
		if recent {
			return nil, nil
		}
		return nil, s.fetch(s.ctx)
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// keysFor returns the keys that may verify a token with kid and alg, and
// the key set generation they come from. An unknown kid triggers one
// rate-limited refresh before giving up; so does a key set that is
// unusable.
func (s *source) keysFor(ctx context.Context, kid, alg string) ([]*jwk, uint64, lookupStatus) {
	snap := s.usable()
	if snap == nil {
		s.refreshLimited(ctx)
		if snap = s.usable(); snap == nil {
			return nil, 0, keyUnavailable
		}
	}
	keys, st := match(snap.keys, kid, alg)
	if st == keyUnknown {
		s.refreshLimited(ctx)
		if snap = s.usable(); snap == nil {
			return nil, 0, keyUnavailable
		}
		keys, st = match(snap.keys, kid, alg)
	}
	return keys, snap.gen, st
}

func match(ks *keySet, kid, alg string) ([]*jwk, lookupStatus) {
	cands, ok := ks.byKID[kid]
	if !ok {
		return nil, keyUnknown
	}
	var out []*jwk
	for _, k := range cands {
		if k.fits(alg) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, keyMismatch
	}
	return out, keyFound
}

// retryAfter is the Retry-After advertised while no key set is usable.
func (s *source) retryAfter() string {
	secs := int64((s.cfg.minRefresh + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

func (s *source) redactedURI() string {
	if u, err := url.Parse(s.cfg.uri); err == nil {
		return u.Redacted()
	}
	return "jwksUri"
}

// fetch gets and parses the JWKS, and on success replaces the key set. On
// failure the last good key set stays in use (until maxStale).
func (s *source) fetch(ctx context.Context) error {
	start := s.now()
	s.mu.Lock()
	s.lastAttempt = start
	s.mu.Unlock()

	ks, delay, err := s.get(ctx)
	if err != nil && s.ctx.Err() != nil {
		return err // closed: nobody uses this source any more
	}
	if s.cfg.rec != nil {
		s.cfg.rec.JWKSFetch(err == nil)
	}
	if err != nil {
		err = fmt.Errorf("jwks fetch from %s: %w", s.redactedURI(), err)
		s.mu.Lock()
		s.failures++
		s.lastErr = err
		failures := s.failures
		logStale := false
		prev := s.snap.Load()
		if prev != nil && s.now().Sub(prev.fetched) > s.cfg.maxStale && !s.staleLogged {
			s.staleLogged, logStale = true, true
		}
		s.mu.Unlock()
		switch {
		case prev == nil:
			s.log.Error("jwks fetch failed; no key set yet", "err", err, "failures", failures)
		case logStale:
			s.log.Error("jwks key set is older than maxStale; tokens are refused with 503 until a fetch succeeds",
				"err", err, "last_success", prev.fetched, "maxStale", s.cfg.maxStale)
		default:
			s.log.Warn("jwks refresh failed; keeping the last good key set", "err", err, "failures", failures,
				"last_success", prev.fetched, "maxStale", s.cfg.maxStale)
		}
		return err
	}

	prev := s.snap.Load()
	next := &snapshot{keys: ks, fetched: s.now(), delay: delay}
	switch {
	case prev == nil:
		next.gen = 1
	case prev.keys.id == ks.id:
		next.gen = prev.gen
		next.keys = prev.keys
	default:
		next.gen = prev.gen + 1
	}
	s.snap.Store(next)
	s.mu.Lock()
	recovered := s.failures > 0
	s.failures, s.lastErr, s.staleLogged = 0, nil, false
	s.mu.Unlock()

	if prev == nil || prev.keys.id != ks.id {
		attrs := []any{"jwksUri", s.redactedURI(), "kids", ks.kids(), "next_refresh", delay}
		if prev != nil {
			attrs = append(attrs, "previous_kids", prev.keys.kids())
		}
		if len(ks.skipped) > 0 {
			attrs = append(attrs, "skipped", ks.skipped)
		}
		if ks.size() == 0 {
			s.log.Warn("jwks has no usable signing key; every token will be refused", attrs...)
		} else {
			s.log.Info("jwks keys loaded", attrs...)
		}
	} else if recovered {
		s.log.Info("jwks refresh recovered", "jwksUri", s.redactedURI())
	}
	return nil
}

// get performs one bounded GET of the JWKS.
func (s *source) get(ctx context.Context) (*keySet, time.Duration, error) {
	body, hdr, err := s.getJSON(ctx, s.ctx, "application/jwk-set+json, application/json", "agentgateway-jwks", maxJWKSBytes)
	if err != nil {
		return nil, 0, err
	}
	ks, err := parseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	return ks, cacheDelay(hdr, s.cfg.refresh, s.minMaxAge, s.maxMaxAge), nil
}

// getJSON performs one bounded GET of f.uri and returns a JSON body of at
// most limit bytes. owner is the context of whoever owns the fetcher: when
// it ends, errors are not reported as timeouts.
func (f *fetcher) getJSON(ctx, owner context.Context, accept, userAgent string, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.uri, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", userAgent)
	if f.tokenFile != "" {
		tok, err := readBearerToken(f.tokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("bearer token file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil && owner.Err() == nil {
			return nil, nil, fmt.Errorf("timeout after %s", f.timeout)
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, nil, fmt.Errorf("response is larger than %d bytes", limit)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
			return nil, nil, fmt.Errorf("content type %q is not JSON", truncate(ct, 100))
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil && owner.Err() == nil {
			return nil, nil, fmt.Errorf("timeout after %s reading the response", f.timeout)
		}
		return nil, nil, fmt.Errorf("reading response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("response is larger than %d bytes", limit)
	}
	return body, resp.Header, nil
}

// cacheDelay returns how long a response may be used: Cache-Control
// max-age minus Age, bounded to [lo, hi]; no-store or no-cache count as 0
// (so lo). Without max-age it returns def.
func cacheDelay(h http.Header, def, lo, hi time.Duration) time.Duration {
	maxAge := int64(-1)
	for _, v := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				maxAge = 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err == nil && n >= 0 && maxAge != 0 {
					maxAge = n
				}
			}
		}
	}
	if maxAge < 0 {
		return def
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		maxAge = max(maxAge-age, 0)
	}
	d := time.Duration(min(maxAge, int64(hi/time.Second)+1)) * time.Second
	return min(max(d, lo), hi)
}

// registry shares sources between policies with the same sourceConfig.
var registry = newSharedTable[sourceConfig, *source]()

// acquireSource returns the shared source for cfg, creating it if needed,
// with a usable key set (fetched now if needed). The refresh loop starts
// once the first key set is loaded.
func acquireSource(ctx context.Context, cfg sourceConfig, log *slog.Logger) (*source, error) {
	s, err := registry.acquire(cfg, func() (*source, error) { return newSource(cfg, log) })
	if err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		releaseSource(s)
		return nil, err
	}
	registry.mu.Lock()
	if !s.started && s.refs > 0 {
		s.started = true
		go s.loop()
	}
	registry.mu.Unlock()
	return s, nil
}

// releaseSource drops a reference; the last one stops the refresh loop.
func releaseSource(s *source) {
	var started bool
	if registry.release(s.cfg, s, func() { started = s.started }) {
		s.close(started)
	}
}
