package jwt

// TokenReview mode: the Kubernetes API server decides whether a token is
// valid (POST /apis/authentication.k8s.io/v1/tokenreviews), which also
// catches tokens of deleted ServiceAccounts and pods, something a JWKS
// cannot know. See docs/jwt.md#tokenreview-mode.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// MethodTokenReview is Principal.Method for a caller authenticated by the
// TokenReview API alone (validation: tokenreview). With validation: both
// the principal is the verified JWT's (identity.MethodJWT).
const MethodTokenReview = "tokenreview"

const (
	// reviewCacheSize bounds the TokenReview results kept per client.
	reviewCacheSize = 4096
	// reviewRetryAfter is the Retry-After (seconds) sent while the API
	// server cannot be asked.
	reviewRetryAfter = "5"
	// Client-side rate limit towards the API server (client-go's token
	// bucket). Cached and JWKS-rejected tokens never count.
	reviewQPS   = 50
	reviewBurst = 100
	// reviewLogEvery throttles the WARN logged while the API server is
	// unavailable.
	reviewLogEvery = 10 * time.Second
)

// reviewerConfig identifies a TokenReview client. Policies with equal
// reviewerConfigs share one client and one result cache, across routes and
// config reloads (the cache key includes the audiences).
type reviewerConfig struct {
	kubeconfig, apiServer, caFile, tokenFile string
	cacheTTL, failureTTL, timeout            time.Duration
	// perClientPerMinute and perClientBurst size each client's budget
	// of uncached reviews (clientBudget).
	perClientPerMinute, perClientBurst int
	// rec receives the client's TokenReviews
	// (agentgateway_tokenreview_requests_total); part of the key, as for
	// sourceConfig. Nil records nothing.
	rec policy.Recorder
}

func newReviewerConfig(j *Config) reviewerConfig {
	o := j.TokenReview
	if o == nil {
		o = &TokenReviewOptions{}
	}
	or := func(d, def config.Duration) time.Duration {
		if d <= 0 {
			return def.D()
		}
		return d.D()
	}
	orInt := func(n, def int) int {
		if n <= 0 {
			return def
		}
		return n
	}
	return reviewerConfig{
		perClientPerMinute: orInt(o.PerClientReviewsPerMinute, DefaultTokenReviewPerClientPerMinute),
		perClientBurst:     orInt(o.PerClientBurst, DefaultTokenReviewPerClientBurst),
		kubeconfig:         o.Kubeconfig,
		apiServer:          o.APIServer,
		caFile:             o.CAFile,
		tokenFile:          o.TokenFile,
		cacheTTL:           or(o.CacheTTL, DefaultTokenReviewCacheTTL),
		failureTTL:         or(o.FailureTTL, DefaultTokenReviewFailureTTL),
		timeout:            or(o.Timeout, DefaultTokenReviewTimeout),
	}
}

// reviewFunc sends one TokenReview. It is kubeClient.create in production.
type reviewFunc func(ctx context.Context, tr *kubeTokenReview) (*kubeTokenReview, error)

// reviewer asks the API server about tokens and caches the answers.
type reviewer struct {
	cfg    reviewerConfig
	host   string
	create reviewFunc
	cache  *reviewCache // accepted tokens, until cacheTTL or exp
	// neg remembers rejected tokens for failureTTL, apart from cache so
	// that a flood of forged tokens cannot evict accepted ones.
	neg    *reviewCache
	budget *clientBudget
	sf     singleflight.Group
	log    *slog.Logger
	now    func() time.Time
	calls  atomic.Int64 // TokenReviews sent (tests)

	lastWarn atomic.Int64 // unix nanos of the last unavailability WARN

	ctx    context.Context // cancelled when the last policy releases it
	cancel context.CancelFunc
	// closeIdle releases the client's pooled connections (nil in tests
	// with a fake client).
	closeIdle func()
	// refs and probed are guarded by reviewers.mu.
	refs   int
	probed bool
}

// reviewResult is the API server's answer about one token for one set of
// audiences.
type reviewResult struct {
	ok  bool
	msg string // rejection message (fixed text), when !ok
	// When ok: the authenticated user.
	username  string
	audiences []string
	claims    map[string]any // read-only, shared
}

func newReviewer(cfg reviewerConfig, log *slog.Logger) (*reviewer, error) {
	k, err := kubeConnFor(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := newKubeClient(k)
	if err != nil {
		return nil, err
	}
	r := newReviewerWith(cfg, func(ctx context.Context, tr *kubeTokenReview) (*kubeTokenReview, error) {
		res, err := cl.create(ctx, tr)
		if rec := cfg.rec; rec != nil {
			switch {
			case err != nil:
				rec.TokenReview("error")
			case res.Status.Authenticated:
				rec.TokenReview("ok")
			default:
				rec.TokenReview("denied")
			}
		}
		return res, err
	}, log)
	r.host = k.host
	r.closeIdle = cl.close
	r.log.Info("tokenreview client", "apiServer", k.host, "kubeconfig", cfg.kubeconfig,
		"caFile", k.caFile, "tokenFile", k.tokenFile)
	return r, nil
}

func newReviewerWith(cfg reviewerConfig, create reviewFunc, log *slog.Logger) *reviewer {
	cache := newReviewCache(reviewCacheSize)
	r := &reviewer{cfg: cfg, create: create, cache: cache, neg: cache.sibling(reviewCacheSize),
		budget: newClientBudget(cfg.perClientPerMinute, cfg.perClientBurst, clientBudgetSize), log: log, now: time.Now}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// probe checks at start-up that the API server answers TokenReviews from
// the gateway's credentials, so that missing RBAC or an unreachable server
// fails provisioning instead of every request. The probe token is not a
// credential of anyone.
func (r *reviewer) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	r.calls.Add(1)
	_, err := r.create(ctx, &kubeTokenReview{Spec: tokenReviewSpec{Token: "agentgateway-startup-probe"}})
	switch {
	case err == nil:
		return nil
	case kubeStatus(err) == http.StatusForbidden:
		return fmt.Errorf("tokenReview: the gateway may not create tokenreviews at %s (grant the ClusterRole in deploy/rbac/clusterrole.yaml): %w", r.host, err)
	case kubeStatus(err) == http.StatusUnauthorized:
		return fmt.Errorf("tokenReview: the API server at %s rejected the gateway's own credentials (tokenReview.tokenFile, kubeconfig or in-cluster token): %w", r.host, err)
	default:
		return fmt.Errorf("tokenReview: API server at %s unavailable: %w", r.host, err)
	}
}

// errReviewUnavailable wraps every failure to get an answer.
var errReviewUnavailable = errors.New("tokenreview unavailable")

// budgetError is the answer when the client has spent its budget of
// uncached reviews: only that client waits, for retryAfter.
type budgetError struct{ retryAfter time.Duration }

func (e *budgetError) Error() string { return "tokenreview budget of this client spent" }

// review returns the API server's answer about tok for audiences, from the
// cache when possible. Concurrent reviews of the same token share one call.
// A review no cached answer covers is charged to client's budget first
// (a *budgetError when it is spent).
// exp (zero if unknown) bounds how long a success is cached; it comes from
// the token's payload and is used for nothing else. An error means no
// answer could be had (the API server is unreachable, times out, answers
// an error status, or refuses the gateway's credentials); it is never
// cached.
func (r *reviewer) review(ctx context.Context, client, tok string, audiences []string, exp time.Time) (*reviewResult, error) {
	key := r.cache.sum(tok, audiences)
	now := r.now()
	if res := r.cache.get(key, now); res != nil {
		return res, nil
	}
	if res := r.neg.get(key, now); res != nil {
		return res, nil
	}
	if wait := r.budget.take(client, now); wait > 0 {
		return nil, &budgetError{retryAfter: wait}
	}
	ch := r.sf.DoChan(string(key[:]), func() (any, error) {
		if res := r.cache.get(key, r.now()); res != nil {
			return res, nil
		}
		if res := r.neg.get(key, r.now()); res != nil {
			return res, nil
		}
		// Detached from the request: one caller giving up must not fail
		// the others sharing this call.
		cctx, cancel := context.WithTimeout(r.ctx, r.cfg.timeout)
		defer cancel()
		r.calls.Add(1)
		tr := &kubeTokenReview{Spec: tokenReviewSpec{Token: tok, Audiences: audiences}}
		out, err := r.create(cctx, tr)
		if err != nil && retryable(err) && cctx.Err() == nil {
			// A pooled connection the API server (or a load balancer)
			// closed while idle: a TokenReview has no side effect, so try
			// once more on a fresh connection.
			out, err = r.create(cctx, tr)
		}
		if err != nil {
			r.warnUnavailable(err)
			return nil, fmt.Errorf("%w: %w", errReviewUnavailable, err)
		}
		res := interpret(out, audiences)
		now := r.now()
		if !res.ok {
			r.neg.put(key, res, now.Add(r.cfg.failureTTL), now)
			return res, nil
		}
		notAfter := now.Add(r.cfg.cacheTTL)
		if !exp.IsZero() && exp.Before(notAfter) {
			notAfter = exp
		}
		r.cache.put(key, res, notAfter, now)
		return res, nil
	})
	select {
	case v := <-ch:
		if v.Err != nil {
			return nil, v.Err
		}
		return v.Val.(*reviewResult), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errReviewUnavailable, ctx.Err())
	}
}

// retryable reports whether err is a transport failure (no HTTP answer),
// as opposed to an answer with an error status or a timeout.
func retryable(err error) bool {
	return kubeStatus(err) == 0 && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// interpret turns a TokenReview status into a result. Authenticated
// requires a username and one of audiences in status.audiences: an API
// server that does not echo a requested audience is not audience-aware,
// and its yes says nothing about this gateway.
func interpret(tr *kubeTokenReview, audiences []string) *reviewResult {
	st := tr.Status
	if !st.Authenticated {
		return &reviewResult{msg: "token rejected by the Kubernetes API server"}
	}
	if !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(audiences, a) }) {
		return &reviewResult{msg: "audience not accepted"}
	}
	u := st.User
	if u.Username == "" || !validHeaderValue(u.Username) {
		return &reviewResult{msg: "token rejected by the Kubernetes API server"}
	}
	claims := map[string]any{"sub": u.Username, "aud": toAny(st.Audiences)}
	if u.UID != "" {
		claims["uid"] = u.UID
	}
	if len(u.Groups) > 0 {
		claims["groups"] = toAny(u.Groups)
	}
	if len(u.Extra) > 0 {
		extra := make(map[string]any, len(u.Extra))
		for k, v := range u.Extra {
			extra[k] = toAny(v)
		}
		claims["extra"] = extra
	}
	return &reviewResult{ok: true, username: u.Username, audiences: slices.Clone(st.Audiences), claims: claims}
}

func toAny[S ~[]string](s S) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// warnUnavailable logs at most one WARN per reviewLogEvery.
func (r *reviewer) warnUnavailable(err error) {
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last < int64(reviewLogEvery) || !r.lastWarn.CompareAndSwap(last, now) {
		return
	}
	r.log.Warn("tokenreview failed; answering 503 until the API server answers", "apiServer", r.host, "err", err)
}

// reviewers shares reviewers between policies with the same config.
var reviewers = newSharedTable[reviewerConfig, *reviewer]()

// acquireReviewer returns the shared reviewer for cfg, creating and
// probing it if needed.
func acquireReviewer(ctx context.Context, cfg reviewerConfig, log *slog.Logger) (*reviewer, error) {
	r, err := reviewers.acquire(cfg, func() (*reviewer, error) { return newReviewer(cfg, log) })
	if err != nil {
		return nil, err
	}
	reviewers.mu.Lock()
	probed := r.probed
	reviewers.mu.Unlock()
	if !probed {
		if err := r.probe(ctx); err != nil {
			releaseReviewer(r)
			return nil, err
		}
		reviewers.mu.Lock()
		r.probed = true
		reviewers.mu.Unlock()
	}
	return r, nil
}

// releaseReviewer drops a reference; the last one cancels calls in flight.
func releaseReviewer(r *reviewer) {
	if reviewers.release(r.cfg, r, nil) {
		r.cancel()
		if r.closeIdle != nil {
			r.closeIdle()
		}
	}
}

// validationMode returns the policy's validation, defaulted.
func validationMode(j *Config) string {
	if j.Validation == "" {
		return DefaultValidation
	}
	return j.Validation
}

// newTokenReviewPolicy provisions validation: tokenreview: no JWKS, the API
// server decides. Provisioning fails if the API server does not answer a
// TokenReview from the gateway's credentials.
func newTokenReviewPolicy(ctx context.Context, j *Config, log *slog.Logger, rec policy.Recorder) (*Policy, error) {
	pol := &Policy{v: newVerifier(j, nil), rec: rec}
	pol.v.cache.rec = rec
	for _, ch := range j.ClaimToHeaders {
		pol.headers = append(pol.headers, claimHeader{claim: ch.Claim, header: http.CanonicalHeaderKey(ch.Header)})
	}
	if err := pol.addTokenReview(ctx, j, log); err != nil {
		return nil, err
	}
	return pol, nil
}

// addTokenReview acquires the shared reviewer for j's tokenReview block.
func (p *Policy) addTokenReview(ctx context.Context, j *Config, log *slog.Logger) error {
	cfg := newReviewerConfig(j)
	cfg.rec = p.rec
	r, err := acquireReviewer(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("jwt-authn: %w", err)
	}
	p.tr = newTokenReview(j, r, p.v.skew)
	return nil
}

// check verifies tok according to the policy's validation mode. client
// (the peer's address) is charged for reviews no cached answer covers.
func (p *Policy) check(ctx context.Context, client, tok string) (*identity.Principal, *policy.Error) {
	switch {
	case p.tr == nil: // jwks
		return p.v.verify(ctx, tok)
	case p.v.src == nil: // tokenreview
		if len(tok) > p.v.maxToken {
			return nil, invalidToken("token too large")
		}
		return p.tr.authenticate(ctx, client, tok)
	default: // both: the JWKS first, so forged tokens never reach the API server
		prin, perr := p.v.verify(ctx, tok)
		if perr != nil {
			return nil, perr
		}
		if perr := p.tr.confirm(ctx, client, tok, prin); perr != nil {
			return nil, perr
		}
		return prin, nil
	}
}

// tokenReview is one policy's use of a reviewer.
type tokenReview struct {
	r         *reviewer
	audiences []string
	issuer    string // "" = not checked
	skew      time.Duration
	now       func() time.Time
}

func newTokenReview(j *Config, r *reviewer, skew time.Duration) *tokenReview {
	return &tokenReview{r: r, audiences: slices.Clone(j.Audiences), issuer: j.Issuer, skew: skew, now: time.Now}
}

// payloadHints is what is read from a token's payload before the API
// server is asked. Nothing here is trusted: it can only reject a token
// early (saving a call) or shorten how long an answer is cached.
type payloadHints struct {
	exp time.Time
	iss string
}

// prefilter rejects tokens that cannot be valid without asking the API
// server: not a JWS in compact form, a payload that is not a JSON object,
// an exp in the past (beyond the clock skew), an iss other than the
// configured issuer, or an aud holding none of the audiences.
func (t *tokenReview) prefilter(tok string) (payloadHints, *policy.Error) {
	var h payloadHints
	if msg := checkShape(tok); msg != "" {
		return h, invalidToken(msg)
	}
	seg := strings.Split(tok, ".")[1]
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return h, invalidToken("malformed token")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil || c == nil {
		return h, invalidToken("malformed token")
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, invalidToken("malformed token")
	}
	if raw, ok := c["exp"]; ok {
		n, ok := raw.(json.Number)
		f, err := strconv.ParseFloat(n.String(), 64)
		if !ok || err != nil || math.IsNaN(f) || f <= 0 || f > maxNumericDate {
			return h, invalidToken("token has an invalid time claim")
		}
		h.exp = time.Unix(int64(f), 0)
		if !t.now().Before(h.exp.Add(t.skew)) {
			return h, invalidToken("token expired")
		}
	}
	if iss, _ := c["iss"].(string); t.issuer != "" {
		if iss != t.issuer {
			return h, invalidToken("issuer not accepted")
		}
		h.iss = iss
	}
	if raw, ok := c["aud"]; ok {
		var auds []string
		switch a := raw.(type) {
		case string:
			auds = []string{a}
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					auds = append(auds, s)
				}
			}
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(t.audiences, a) }) {
			return h, invalidToken("audience not accepted")
		}
	}
	return h, nil
}

// authenticate is validation: tokenreview. The principal is built from the
// TokenReview status only (the payload is not trusted).
func (t *tokenReview) authenticate(ctx context.Context, client, tok string) (*identity.Principal, *policy.Error) {
	h, perr := t.prefilter(tok)
	if perr != nil {
		return nil, perr
	}
	res, perr := t.ask(ctx, client, tok, h.exp)
	if perr != nil {
		return nil, perr
	}
	p := &identity.Principal{
		Subject:   res.username,
		Issuer:    h.iss,
		Audiences: res.audiences,
		ExpiresAt: h.exp,
		Method:    MethodTokenReview,
		Claims:    res.claims,
	}
	p.Namespace, p.ServiceAccount, _ = identity.ParseServiceAccount(res.username)
	return p, nil
}

// confirm is the second step of validation: both. The JWT already
// verified; the API server must still accept it (its ServiceAccount, pod
// or secret may be gone), and as the same user: the principal is the
// JWT's, so a sub the API server does not vouch for (a signer the JWKS
// trusts minting another name, a username prefix or claim mapping on the
// API server) is refused rather than picking one of the two names.
func (t *tokenReview) confirm(ctx context.Context, client, tok string, prin *identity.Principal) *policy.Error {
	res, perr := t.ask(ctx, client, tok, prin.ExpiresAt)
	if perr != nil {
		return perr
	}
	if res.username != prin.Subject {
		pe := invalidToken("token subject does not match the Kubernetes API server's user")
		// Logged by the edge, never sent: names only, no token.
		pe.Cause = fmt.Errorf("validation both: JWT sub %q differs from TokenReview username %q",
			truncate(prin.Subject, 256), truncate(res.username, 256))
		return pe
	}
	return nil
}

func (t *tokenReview) ask(ctx context.Context, client, tok string, exp time.Time) (*reviewResult, *policy.Error) {
	res, err := t.r.review(ctx, client, tok, t.audiences, exp)
	var be *budgetError
	if errors.As(err, &be) {
		// 429, not 401: the token was not judged. Retry-After is when
		// this client's bucket has a review again.
		h := http.Header{}
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(be.retryAfter.Seconds()))))
		return nil, &policy.Error{Status: http.StatusTooManyRequests, Code: policy.CodeRateLimited,
			Message: "too many token reviews from this client; retry later", Header: h, Cause: err}
	}
	if err != nil {
		h := http.Header{}
		h.Set("Retry-After", reviewRetryAfter)
		return nil, &policy.Error{Status: http.StatusServiceUnavailable, Code: policy.CodeGateway,
			Message: "token review is unavailable", Header: h, Cause: err}
	}
	if !res.ok {
		return nil, invalidToken(res.msg)
	}
	return res, nil
}

// reviewCache remembers TokenReview answers by an HMAC of the token and
// the audiences (a raw token is never a map key and never kept), until
// their notAfter.
type reviewCache struct {
	key []byte
	max int

	mu sync.Mutex
	m  map[[sha256.Size]byte]reviewEntry
}

type reviewEntry struct {
	res      *reviewResult
	notAfter time.Time
}

func newReviewCache(n int) *reviewCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &reviewCache{key: key, max: n, m: map[[sha256.Size]byte]reviewEntry{}}
}

// sibling is another cache of n entries keyed by the same HMAC, so one sum
// looks a token up in both.
func (c *reviewCache) sibling(n int) *reviewCache {
	return &reviewCache{key: c.key, max: n, m: map[[sha256.Size]byte]reviewEntry{}}
}

// sum is HMAC-SHA256(token, 0, len-prefixed audiences...).
func (c *reviewCache) sum(tok string, audiences []string) (out [sha256.Size]byte) {
	h := hmac.New(sha256.New, c.key)
	_, _ = io.WriteString(h, tok)
	for _, a := range audiences {
		_, _ = fmt.Fprintf(h, "\x00%d:%s", len(a), a)
	}
	h.Sum(out[:0])
	return out
}

func (c *reviewCache) get(k [sha256.Size]byte, now time.Time) *reviewResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	if !now.Before(e.notAfter) {
		delete(c.m, k)
		return nil
	}
	return e.res
}

func (c *reviewCache) put(k [sha256.Size]byte, res *reviewResult, notAfter, now time.Time) {
	if !now.Before(notAfter) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for kk, e := range c.m {
			if !now.Before(e.notAfter) {
				delete(c.m, kk)
			}
		}
		for kk := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, kk)
		}
	}
	c.m[k] = reviewEntry{res: res, notAfter: notAfter}
}

func (c *reviewCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
