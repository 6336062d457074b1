package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/policy/a2aauthz"
)

// Limits on agent cards the gateway reads (card rewriting and the agent
// listing).
const (
	maxCardBytes     = 1 << 20
	cardFetchTimeout = 5 * time.Second
	cardCacheTTL     = 30 * time.Second
)

// agentRouter is the innermost handler of an A2A route: it sends the
// exchange to the backend serving its target agent, injects the verified
// source and the target for that backend, rewrites agent cards so they
// point at the gateway, and serves the agent listing at the bare prefix.
//
// It runs after authentication and authorization, so an unauthenticated
// caller learns nothing about which agents exist (401 comes first), and an
// authorized call to an agent no backend serves gets 404.
type agentRouter struct {
	prefix   string
	external string // route externalUrl, "" = from an allowed Host (policy.BaseURL)
	dir      *a2a.Directory
	backends []*backend
	// names are the agent names listed for each backend.
	names [][]string
	cards []*cardCache
	// push restricts push-notification URLs callers hand agents
	// (docs/a2a.md#push-notification-urls).
	push *a2a.PushPolicy
}

func newAgentRouter(rc *config.Route, backends []*backend) *agentRouter {
	dbs := make([]a2a.Backend, len(rc.Backends))
	for i, b := range rc.Backends {
		dbs[i] = a2a.Backend{Name: b.Name, Agents: b.Agents}
	}
	// The exact names the rules use pick a derived agent's canonical name
	// (a2a.NewDirectory); a2a-authz builds its directory from the same.
	targets := a2aauthz.RouteTargets(rc)
	ar := &agentRouter{
		prefix:   rc.Match.Path.Prefix,
		external: strings.TrimSuffix(rc.ExternalURL, "/"),
		dir:      a2a.NewDirectory(dbs, targets),
		backends: backends,
		push:     pushPolicy(rc),
	}
	for i := range backends {
		// Only canonical names are listed: a version alias is the same
		// agent, and the listing must show what authorization decides on.
		ar.names = append(ar.names, ar.dir.Names(i))
		ar.cards = append(ar.cards, &cardCache{})
	}
	return ar
}

// pushPolicy builds the route's push-URL policy from its (defaulted and
// validated) config. A route without the block gets the defaults: the
// check is on unless the config turns it off.
func pushPolicy(rc *config.Route) *a2a.PushPolicy {
	p := &a2a.PushPolicy{}
	if rc.A2A == nil || rc.A2A.PushNotifications == nil {
		return p
	}
	pn := rc.A2A.PushNotifications
	p.Off = pn.Check != nil && !*pn.Check
	p.Schemes = pn.Schemes
	p.AllowedHosts = pn.AllowedHosts
	p.AllowInternalNames = pn.AllowInternalNames
	for _, c := range pn.AllowedCIDRs {
		if pfx, err := netip.ParsePrefix(c); err == nil {
			p.AllowedCIDRs = append(p.AllowedCIDRs, pfx)
		}
	}
	return p
}

// checkPush refuses a request that hands the agent a push-notification
// URL the route's policy does not allow, with 403 before anything reaches
// the agent: the agent would call that URL from inside the cluster.
func (ar *agentRouter) checkPush(ex *policy.Exchange) error {
	urls, err := a2a.PushURLs(ex.ProtoMethod, ex.RPC != nil, ex.Body)
	if err != nil {
		return &policy.Error{Status: http.StatusForbidden, Code: policy.CodeForbidden, Message: "push notification config refused: " + err.Error(), Cause: err}
	}
	for _, u := range urls {
		if err := ar.push.Check(u); err != nil {
			var pe *a2a.PushURLError
			msg := "push notification url refused"
			if errors.As(err, &pe) {
				msg += ": " + pe.Reason
			}
			return &policy.Error{Status: http.StatusForbidden, Code: policy.CodeForbidden, Message: msg, Cause: err}
		}
	}
	return nil
}

// resolveTarget splits the path below the route prefix into the target
// agent and the rest, and replaces the target with its canonical agent
// name before any policy runs: authorization, rate limits, metrics, the
// audit log and x-target-agent all see the agent the backend serves, not
// the alias the client wrote (docs/a2a.md#canonical-names). A name no
// backend serves is left as written; it ends in 404 after authorization.
func (ar *agentRouter) resolveTarget(ex *policy.Exchange, rest string) {
	ex.Target, ex.PathRest = splitTarget(rest)
	if _, canonical, ok := ar.dir.Resolve(ex.Target); ok {
		ex.Target = canonical
	}
}

// classifyA2A decides the canonical method of an A2A request from its
// path and body (a2a.Classify). A body that cannot be made canonical is
// refused with 400 before any policy runs, as on MCP routes: a JSON-RPC
// error echoing the id when the body went to the agent's JSON-RPC
// endpoint, a plain JSON error on an HTTP+JSON path.
func classifyA2A(r *http.Request, ex *policy.Exchange) error {
	req, rerr := a2a.Classify(r.Method, ex.PathRest, ex.Body)
	if rerr != nil {
		ex.ProtoMethod = a2a.MethodUnknown
		if rerr.JSONRPC {
			ex.RPC = &mcp.Body{Messages: []*mcp.Message{{ID: rerr.ID}}}
		}
		return &policy.Error{Status: http.StatusBadRequest, Code: rerr.Code, Message: rerr.Message}
	}
	ex.ProtoMethod, ex.RPC = req.Method, req.RPC
	return nil
}

// splitTarget splits the path below an A2A route's prefix into the target
// agent segment and the rest forwarded to its backend.
func splitTarget(rest string) (target, sub string) {
	if rest == "" || rest == "/" {
		return "", rest
	}
	s := rest[1:]
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

func (ar *agentRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := policy.ExchangeFrom(r.Context())
	if ex.Target == "" {
		if ex.PathRest == "" || ex.PathRest == "/" {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return ar.list(w, r, ex)
			}
			return policy.Errorf(http.StatusNotFound, "no target agent in path: use %s/<agent>", ar.prefix)
		}
		return policy.Errorf(http.StatusNotFound, "no target agent in path")
	}
	// ex.Target is canonical already (resolveTarget); resolving it again
	// gives the same backend.
	i, _, ok := ar.dir.Resolve(ex.Target)
	if !ok {
		return policy.Errorf(http.StatusNotFound, "unknown agent %q", ex.Target)
	}
	b := ar.backends[i]
	ex.Backend = b.name
	// The edge already removed client copies; only these values reach
	// the backend.
	if p, ok := identity.From(r.Context()); ok {
		r.Header.Set("X-Source-Agent", p.Subject)
	}
	r.Header.Set("X-Target-Agent", ex.Target)
	if err := ar.checkPush(ex); err != nil {
		// The access log and metrics show the refusal, not the
		// authorization that came before it.
		ex.Decision = policy.DecisionDenied
		return err
	}
	// Every card the agent hands out is rewritten to point at the
	// gateway: the public card, and the extended card in both bindings
	// (GET .../v1/card or .../extendedAgentCard, and the JSON-RPC
	// agent/getAuthenticatedExtendedCard or GetExtendedAgentCard, whose
	// result is the card).
	extended := ex.ProtoMethod == a2a.MethodExtendedCard
	if (a2a.IsCardPath(ex.PathRest) && r.Method == http.MethodGet) || extended {
		// The card is rewritten, so it must arrive uncompressed.
		r.Header.Del("Accept-Encoding")
		gw, err := ar.agentURL(r, ex.Target)
		if err != nil {
			return err
		}
		base := b.target.EscapedPath()
		rpc := extended && ex.RPC != nil
		ex.ResponseHooks = append(ex.ResponseHooks, func(res *http.Response) error {
			if rpc {
				return rewriteCardRPCResponse(res, base, gw)
			}
			return rewriteCardResponse(res, base, gw)
		})
	}
	return b.ServeHTTP(w, r)
}

// agentURL is the gateway URL of target as the client reaches it: under
// the route's externalUrl, else under the base URL the edge derived from a
// Host the bind allows. A Host the bind does not vouch for is never
// written into a card or the listing (421 instead).
func (ar *agentRouter) agentURL(r *http.Request, target string) (string, error) {
	ext := ar.external
	if ext == "" {
		ext = policy.BaseURL(r.Context())
	}
	if ext == "" {
		return "", policy.Errorf(http.StatusMisdirectedRequest, "the gateway URL cannot be derived from this Host: set the route's externalUrl or the bind's allowedHosts")
	}
	return ext + ar.prefix + "/" + target, nil
}

// rewriteCardResponse replaces a successful JSON card response with the
// card rewritten to point at gw. Other responses pass unchanged.
func rewriteCardResponse(res *http.Response, backendBase, gw string) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	b, err := readCardBody(res)
	if err != nil {
		return err
	}
	out, err := a2a.RewriteCard(b, func(u string) (string, bool) { return a2a.GatewayURL(u, backendBase, gw) })
	if err != nil {
		return &policy.Error{Status: http.StatusBadGateway, Message: "invalid agent card from backend", Cause: err}
	}
	setCardBody(res, out)
	res.Header.Set("Content-Type", "application/json")
	return nil
}

// rewriteCardRPCResponse rewrites the card in a successful JSON-RPC
// answer to an extended-card request: the result member of a JSON
// response, or of each event of an SSE response. Anything the gateway
// cannot rewrite is refused with 502, never passed on.
func rewriteCardRPCResponse(res *http.Response, backendBase, gw string) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	b, err := readCardBody(res)
	if err != nil {
		return err
	}
	rewrite := func(u string) (string, bool) { return a2a.GatewayURL(u, backendBase, gw) }
	var out []byte
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if ct == "text/event-stream" {
		var buf bytes.Buffer
		for ev, err := range mcp.ParseEvents(bytes.NewReader(b), maxCardBytes) {
			if err != nil {
				return &policy.Error{Status: http.StatusBadGateway, Message: "invalid extended agent card stream from backend", Cause: err}
			}
			if ev.HasData {
				data, err := a2a.RewriteCardResult([]byte(ev.Data), rewrite)
				if err != nil {
					return &policy.Error{Status: http.StatusBadGateway, Message: "invalid extended agent card from backend", Cause: err}
				}
				ev.Data = string(bytes.TrimSuffix(data, []byte("\n")))
			}
			if err := mcp.WriteEvent(&buf, ev); err != nil {
				return &policy.Error{Status: http.StatusBadGateway, Message: "invalid extended agent card stream from backend", Cause: err}
			}
		}
		out = buf.Bytes()
	} else {
		out, err = a2a.RewriteCardResult(b, rewrite)
		if err != nil {
			return &policy.Error{Status: http.StatusBadGateway, Message: "invalid extended agent card from backend", Cause: err}
		}
		res.Header.Set("Content-Type", "application/json")
	}
	setCardBody(res, out)
	return nil
}

// readCardBody reads a card response (bounded), which must be
// uncompressed.
func readCardBody(res *http.Response) ([]byte, error) {
	if ce := res.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		res.Body.Close()
		return nil, &policy.Error{Status: http.StatusBadGateway, Message: "agent card is compressed; cannot rewrite it", Cause: fmt.Errorf("content-encoding %q", ce)}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxCardBytes+1))
	res.Body.Close()
	if err != nil {
		return nil, &policy.Error{Status: http.StatusBadGateway, Message: "could not read agent card", Cause: err}
	}
	if len(b) > maxCardBytes {
		return nil, &policy.Error{Status: http.StatusBadGateway, Message: "agent card too large", Cause: fmt.Errorf("card exceeds %d bytes", maxCardBytes)}
	}
	return b, nil
}

func setCardBody(res *http.Response, out []byte) {
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Set("Content-Length", strconv.Itoa(len(out)))
	// The rewritten card is a different representation.
	res.Header.Del("ETag")
	res.Header.Del("Content-Md5")
	res.Header.Del("Content-Encoding")
}

// listedAgent is one entry of the agent listing.
type listedAgent struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	CardURL     string `json:"cardUrl"`
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
	// CardError says the card could not be fetched; the agent is still
	// listed because the caller may call it.
	CardError string `json:"cardError,omitempty"`
}

// list answers GET <prefix>: the agents the caller may call, with the
// name, description and version from each agent's card.
func (ar *agentRouter) list(w http.ResponseWriter, r *http.Request, ex *policy.Exchange) error {
	base, err := ar.agentURL(r, "")
	if err != nil {
		return err
	}
	out := struct {
		Agents []listedAgent `json:"agents"`
	}{Agents: []listedAgent{}}
	type job struct {
		i    int
		name string
	}
	var jobs []job
	for i, names := range ar.names {
		for _, n := range names {
			if ex.TargetAllowed == nil || ex.TargetAllowed(n) {
				jobs = append(jobs, job{i, n})
			}
		}
	}
	cards := make([]*a2a.Card, len(ar.backends))
	errs := make([]error, len(ar.backends))
	var wg sync.WaitGroup
	fetched := map[int]bool{}
	for _, j := range jobs {
		if fetched[j.i] {
			continue
		}
		fetched[j.i] = true
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cards[i], errs[i] = ar.cards[i].get(r.Context(), ar.backends[i])
		}(j.i)
	}
	wg.Wait()
	for _, j := range jobs {
		u := base + j.name
		la := listedAgent{Name: j.name, URL: u, CardURL: u + a2a.CardPath}
		if c := cards[j.i]; c != nil {
			la.DisplayName, la.Description, la.Version = c.Name, c.Description, c.Version
		} else if errs[j.i] != nil {
			la.CardError = "agent card unavailable"
		}
		out.Agents = append(out.Agents, la)
	}
	sort.Slice(out.Agents, func(a, b int) bool { return out.Agents[a].Name < out.Agents[b].Name })
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
	return nil
}

// cardCache keeps one backend's card for cardCacheTTL. Concurrent misses
// share one fetch.
type cardCache struct {
	mu      sync.Mutex
	card    *a2a.Card
	err     error
	expires time.Time
	wait    chan struct{}
}

func (c *cardCache) get(ctx context.Context, b *backend) (*a2a.Card, error) {
	c.mu.Lock()
	if time.Now().Before(c.expires) {
		card, err := c.card, c.err
		c.mu.Unlock()
		return card, err
	}
	if c.wait != nil {
		wait := c.wait
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		card, err := c.card, c.err
		c.mu.Unlock()
		return card, err
	}
	wait := make(chan struct{})
	c.wait = wait
	c.mu.Unlock()

	card, err := fetchCard(b)
	c.mu.Lock()
	c.card, c.err, c.wait = card, err, nil
	ttl := cardCacheTTL
	if err != nil {
		// Retry a failing backend sooner than a healthy one changes.
		ttl = cardCacheTTL / 6
	}
	c.expires = time.Now().Add(ttl)
	c.mu.Unlock()
	close(wait)
	return card, err
}

// fetchCard reads a backend's card directly (not through the route's
// chain: the listing request itself was authenticated and authorized).
// It does not depend on the caller's context, since the result is shared.
func fetchCard(b *backend) (*a2a.Card, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cardFetchTimeout)
	defer cancel()
	u := *b.target
	u.RawPath = ""
	u.Path = strings.TrimSuffix(b.target.Path, "/") + a2a.CardPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := b.transport.RoundTrip(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent card: status %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxCardBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxCardBytes {
		return nil, errors.New("agent card too large")
	}
	return a2a.ParseCard(body)
}
