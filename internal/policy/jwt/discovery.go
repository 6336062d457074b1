package jwt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// OIDC discovery (OpenID Connect Discovery 1.0 §4): when jwksUri is
// omitted, the JWKS URL is read from <issuer>/.well-known/openid-configuration
// when the policy is provisioned.
const (
	discoveryPath     = "/.well-known/openid-configuration"
	maxDiscoveryBytes = 1 << 20 // the JWKS bound
	// maxDiscoveryCache bounds remembered discovery results.
	maxDiscoveryCache = 256
)

// discoveryKey identifies one discovery: the issuer and how it is reached.
type discoveryKey struct {
	issuer, caFile, tokenFile string
	timeout                   time.Duration
}

type discoveryResult struct {
	jwksURI   string
	sameHost  bool // jwks_uri has the issuer's scheme and host (port included)
	fetchedAt time.Time
}

// discoveries remembers results across provisioning, so that a reload does
// not fetch the document again within refreshInterval, and still succeeds
// (with a warning) while the issuer is briefly down, within maxStale.
var discoveries = struct {
	mu  sync.Mutex
	m   map[discoveryKey]discoveryResult
	now func() time.Time
}{m: map[discoveryKey]discoveryResult{}, now: time.Now}

// sourceConfigFor returns the JWKS source configuration of j: from jwksUri,
// or, when it is omitted, from the issuer's OIDC discovery document.
func sourceConfigFor(ctx context.Context, j *Config, log *slog.Logger) (sourceConfig, error) {
	sc := newSourceConfig(j)
	if j.JWKSURI != "" {
		return sc, nil
	}
	key := discoveryKey{issuer: j.Issuer, caFile: sc.caFile, tokenFile: sc.tokenFile, timeout: sc.timeout}
	res, err := discover(ctx, key, sc.refresh, sc.maxStale, log)
	if err != nil {
		return sourceConfig{}, err
	}
	sc.uri = res.jwksURI
	if !res.sameHost {
		// A bearer token configured for the issuer never leaves its host;
		// the in-cluster defaults still apply to the JWKS host on their own
		// terms (see newFetcher).
		sc.tokenFile = ""
	}
	return sc, nil
}

// discover returns the issuer's jwks_uri, from the cache when it is younger
// than fresh, else by fetching the document; a failed fetch falls back to a
// cached result no older than maxStale.
func discover(ctx context.Context, key discoveryKey, fresh, maxStale time.Duration, log *slog.Logger) (discoveryResult, error) {
	discoveries.mu.Lock()
	cached, have := discoveries.m[key]
	now := discoveries.now()
	discoveries.mu.Unlock()
	if have && now.Sub(cached.fetchedAt) < fresh {
		return cached, nil
	}
	res, err := fetchDiscovery(ctx, key, log)
	if err != nil {
		if have && now.Sub(cached.fetchedAt) <= maxStale {
			log.Warn("oidc discovery failed; using the jwks_uri discovered before", "issuer", config.RedactURL(key.issuer),
				"err", err, "jwksUri", config.RedactURL(cached.jwksURI), "discovered_at", cached.fetchedAt)
			return cached, nil
		}
		return discoveryResult{}, err
	}
	res.fetchedAt = now
	discoveries.mu.Lock()
	if len(discoveries.m) >= maxDiscoveryCache {
		for k := range discoveries.m { // drop an arbitrary entry
			delete(discoveries.m, k)
			break
		}
	}
	discoveries.m[key] = res
	discoveries.mu.Unlock()
	return res, nil
}

// discoveryURL is issuer + /.well-known/openid-configuration, with a
// trailing slash of the issuer removed first (OIDC Discovery §4.1).
func discoveryURL(issuer string) (string, *url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", nil, fmt.Errorf("issuer %q is not an http(s) URL without query, fragment or user info, so it cannot be used for OIDC discovery; set jwksUri", truncate(issuer, 200))
	}
	return strings.TrimSuffix(issuer, "/") + discoveryPath, u, nil
}

// fetchDiscovery GETs the discovery document with the JWKS fetch rules
// (timeout, 1 MiB, same-host redirects only, CA and bearer token as
// configured or in-cluster) and checks it.
func fetchDiscovery(ctx context.Context, key discoveryKey, log *slog.Logger) (discoveryResult, error) {
	durl, iu, err := discoveryURL(key.issuer)
	if err != nil {
		return discoveryResult{}, err
	}
	if iu.Scheme == "http" && !config.IsLoopbackHost(iu.Hostname()) {
		log.Warn("INSECURE: OIDC discovery uses plain http to a non-loopback host; anyone on the path can substitute the signing keys. Use an https issuer, or set jwksUri.",
			"issuer", iu.Redacted())
	}
	f, err := newFetcher("discovery URL", durl, key.caFile, key.tokenFile, key.timeout)
	if err != nil {
		return discoveryResult{}, err
	}
	defer f.transport.CloseIdleConnections()
	body, _, err := f.getJSON(ctx, context.Background(), "application/json", "agentgateway-oidc-discovery", maxDiscoveryBytes)
	if err != nil {
		return discoveryResult{}, fmt.Errorf("oidc discovery from %s: %w", config.RedactURL(durl), err)
	}
	jwksURI, err := parseDiscovery(body, key.issuer)
	if err != nil {
		return discoveryResult{}, fmt.Errorf("oidc discovery from %s: %w", config.RedactURL(durl), err)
	}
	ju, _ := url.Parse(jwksURI)
	res := discoveryResult{jwksURI: jwksURI, sameHost: ju.Scheme == iu.Scheme && strings.EqualFold(ju.Host, iu.Host)}
	log.Info("oidc discovery", "issuer", iu.Redacted(), "jwksUri", ju.Redacted(), "same_host", res.sameHost)
	return res, nil
}

// parseDiscovery checks a discovery document and returns its jwks_uri. The
// issuer must equal the configured one exactly (OIDC Discovery §4.3), and
// jwks_uri must be an https URL (http only to a loopback host) without
// user info or fragment: a downgrade to plain http is never accepted from
// a document.
func parseDiscovery(body []byte, issuer string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var doc map[string]json.RawMessage
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return "", errors.New("document is not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return "", errors.New("document has data after the JSON object")
	}
	str := func(name string) (string, error) {
		raw, ok := doc[name]
		if !ok {
			return "", fmt.Errorf("document has no %q", name)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q is not a string", name)
		}
		return s, nil
	}
	iss, err := str("issuer")
	if err != nil {
		return "", err
	}
	if iss != issuer {
		return "", fmt.Errorf("document's issuer %q does not equal the configured issuer %q", truncate(iss, 200), truncate(issuer, 200))
	}
	ju, err := str("jwks_uri")
	if err != nil {
		return "", err
	}
	u, err := url.Parse(ju)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("jwks_uri %q is not an absolute URL", truncate(ju, 200))
	case u.User != nil || u.Fragment != "":
		return "", fmt.Errorf("jwks_uri %q has user info or a fragment", truncate(u.Redacted(), 200))
	case u.Scheme == "https":
	case u.Scheme == "http" && config.IsLoopbackHost(u.Hostname()):
	default:
		return "", fmt.Errorf("jwks_uri %q must be https (http only to a loopback host)", truncate(u.Redacted(), 200))
	}
	return ju, nil
}
