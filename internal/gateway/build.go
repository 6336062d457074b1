package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/federation"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig"
	"github.com/agentgateway-go/agentgateway/internal/upstream"
)

// runtime is one provisioned config: compiled routes, their chains and the
// resources their policies hold. Requests pin the runtime they started on,
// so a reload never changes the config under an in-flight request or an
// open stream; the runtime is cleaned up when its last request finishes.
type runtime struct {
	cfg      *config.Config
	ports    map[int]*portRoutes
	cleaners []policy.Cleaner
	// refs counts the gateway's own reference plus in-flight requests. It
	// reaches zero exactly once, after the runtime has been replaced and
	// its last request has finished.
	refs atomic.Int64
	log  *slog.Logger
}

type portRoutes struct {
	addr   string
	routes []*route // longest prefix first
	// tls is the bind's TLS material; nil for plain HTTP (tls.go).
	tls *tlsconfig.Server
	// wellKnown maps exact escaped paths to documents that policies
	// publish for their route (policy.WellKnown); served before routing.
	wellKnown map[string]wellKnownDoc
	// hosts decides which Host values the bind serves and reflects.
	hosts hostPolicy
}

type wellKnownDoc struct {
	route string
	h     http.Handler
}

type route struct {
	name   string
	prefix string
	// foldCase is match.path.caseSensitive: false.
	foldCase       bool
	kind           policy.Kind
	handler        policy.Handler
	allowedOrigins []string
	maxBody        int64
	forwardAuth    bool
	// streamIdle is server.streamIdleTimeout, the idle limit of exchanges
	// whose timeout policy sets none.
	streamIdle time.Duration
	// stripHeaders are identity headers the gateway owns; client-sent
	// copies are always removed.
	stripHeaders []string
	// underscores is server.headersWithUnderscores.
	underscores string
	// wellKnown are the documents the route's policies publish.
	wellKnown []wellKnownPath
	// agents is the agent router of an A2A route: the edge resolves the
	// target to its canonical agent with it before any policy runs.
	agents *agentRouter
	// policies are the policy types in chain order and backends the
	// route's backends, for the status page.
	policies []string
	backends []*backend
	// federation is the last handler of a federated MCP route; the edge
	// asks it which backend a request names before the policies run.
	federation *federation.Handler
}

type wellKnownPath struct {
	path string
	h    http.Handler
}

// IdentityHeaders are always stripped from client requests: only the
// gateway may set them, after verifying the caller.
var IdentityHeaders = []string{"X-Agent-Identity", "X-Source-Agent", "X-Target-Agent"}

// Problems returns what this build cannot run in cfg: routes with several
// backends that do not route by agent. `run` refuses to start when there
// are any; `validate` reports them. (A policy type this build does not
// enforce is unknown to its config: an error of Validate.)
func Problems(cfg *config.Config) []string {
	var out []string
	for bi, b := range cfg.Binds {
		for li, l := range b.Listeners {
			for ri, r := range l.Routes {
				if len(r.Backends) > 1 && !r.IsA2A() && !r.IsFederated() {
					path := fmt.Sprintf("binds[%d].listeners[%d].routes[%d].backends", bi, li, ri)
					out = append(out, cfg.Errorf(path, "only A2A routes (with an a2a-authz policy or backends with agents) and federated MCP routes (mcp-http backends) choose among %d backends; give this route one backend", len(r.Backends)).Error())
				}
			}
		}
	}
	return out
}

// build provisions cfg into a runtime. cfg must already be defaulted and
// validated. On error every policy provisioned so far is cleaned up.
func build(ctx context.Context, cfg *config.Config, d *deps) (_ *runtime, err error) {
	if ps := Problems(cfg); len(ps) > 0 {
		return nil, errors.New(strings.Join(ps, "\n"))
	}
	rt := &runtime{cfg: cfg, ports: map[int]*portRoutes{}, log: d.log}
	rt.refs.Store(1)
	defer func() {
		if err != nil {
			rt.cleanup()
		}
	}()
	for _, b := range cfg.Binds {
		pr := &portRoutes{addr: fmt.Sprintf("%s:%d", b.Address, b.Port)}
		if pr.tls, err = newListenerTLS(cfg, &b, d.log); err != nil {
			return nil, fmt.Errorf("bind %d: %w", b.Port, err)
		}
		if pr.hosts, err = newHostPolicy(&b); err != nil {
			return nil, fmt.Errorf("bind %d: %w", b.Port, err)
		}
		for li := range b.Listeners {
			for ri := range b.Listeners[li].Routes {
				rc := &b.Listeners[li].Routes[ri]
				r, err := rt.buildRoute(ctx, cfg, rc, pr.tls, d)
				if err != nil {
					return nil, fmt.Errorf("route %q: %w", rc.Name, err)
				}
				pr.routes = append(pr.routes, r)
				for _, wk := range r.wellKnown {
					if prev, dup := pr.wellKnown[wk.path]; dup {
						d.log.Warn("two routes publish the same well-known path; keeping the first", "path", wk.path, "route", prev.route, "ignored_route", r.name)
						continue
					}
					if pr.wellKnown == nil {
						pr.wellKnown = map[string]wellKnownDoc{}
					}
					pr.wellKnown[wk.path] = wellKnownDoc{route: r.name, h: wk.h}
				}
			}
		}
		sort.SliceStable(pr.routes, func(i, j int) bool { return len(pr.routes[i].prefix) > len(pr.routes[j].prefix) })
		rt.ports[b.Port] = pr
	}
	return rt, nil
}

// lt is the TLS material of the route's bind (nil for plain HTTP).
func (rt *runtime) buildRoute(ctx context.Context, cfg *config.Config, rc *config.Route, lt *tlsconfig.Server, d *deps) (*route, error) {
	r := &route{
		name:           rc.Name,
		prefix:         rc.Match.Path.Prefix,
		foldCase:       rc.Match.Path.CaseSensitive != nil && !*rc.Match.Path.CaseSensitive,
		kind:           routeKind(rc),
		allowedOrigins: rc.AllowedOrigins,
		forwardAuth:    rc.ForwardAuthorization,
		maxBody:        int64(*cfg.Server.MaxBodyBytes),
		streamIdle:     cfg.Server.StreamIdleTimeout.D(),
		underscores:    cfg.Server.HeadersWithUnderscores,
	}
	if rc.MaxBodyBytes != nil {
		r.maxBody = int64(*rc.MaxBodyBytes)
	}
	r.stripHeaders = append(r.stripHeaders, IdentityHeaders...)
	for _, p := range rc.Policies {
		if hs, ok := p.Spec.(config.HeaderSetter); ok {
			r.stripHeaders = append(r.stripHeaders, hs.SetsHeaders()...)
		}
	}
	var backends []*backend
	for i := range rc.Backends {
		be, err := newBackend(&rc.Backends[i], r, d)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", rc.Backends[i].Name, err)
		}
		if c, ok := be.transport.(policy.Cleaner); ok {
			rt.cleaners = append(rt.cleaners, c)
		}
		backends = append(backends, be)
	}
	r.backends = backends
	var inner policy.Handler = backends[0]
	if r.kind == policy.KindA2A {
		r.agents = newAgentRouter(rc, backends)
		inner = r.agents
	}
	if rc.IsFederated() {
		fed, err := newFederation(cfg, rc, backends, d)
		if err != nil {
			return nil, fmt.Errorf("federation: %w", err)
		}
		r.federation = fed
		inner = federatedOpens{next: fed, lim: d.fedOpens, route: rc.Name,
			limit: openLimit(cfg.Server.MaxSessionsPerIdentity, cfg.Server.SessionIdleTimeout.D())}
	} else if r.kind == policy.KindMCP && !backends[0].legacySSE {
		inner = mcpSessions{next: inner, t: d.sessions, b: backends[0], lim: sessionLimits{
			max: cfg.Server.MaxSessions, perIdentity: cfg.Server.MaxSessionsPerIdentity, idle: cfg.Server.SessionIdleTimeout.D(),
		}}
	}
	inner = identityStreams{next: inner, lim: d.lim, max: cfg.Server.MaxStreamsPerIdentity}

	// Policies run in the fixed order of policy.TypeOrder whatever their
	// order in the file, so a config cannot, say, rate-limit before it
	// authenticates.
	ps := make([]config.Policy, len(rc.Policies))
	copy(ps, rc.Policies)
	sort.SliceStable(ps, func(i, j int) bool { return policy.TypeOrder[ps[i].Type] < policy.TypeOrder[ps[j].Type] })
	type named struct {
		name string
		p    policy.Policy
	}
	var chain []named
	for i := range ps {
		f, ok := policy.Lookup(ps[i].Type)
		if !ok {
			// Validate refuses a type no package defined; this is a
			// config that skipped it.
			return nil, fmt.Errorf("unknown policy type %q", ps[i].Type)
		}
		p, err := f(ctx, &ps[i], policy.Env{RouteName: rc.Name, Route: rc, Config: cfg, Logger: d.log, Recorder: d.rec, Limits: d.limits})
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", ps[i].Type, err)
		}
		if c, ok := p.(policy.Cleaner); ok {
			rt.cleaners = append(rt.cleaners, c)
		}
		if wk, ok := p.(policy.WellKnown); ok {
			if path, wh := wk.WellKnown(r.prefix); path != "" && wh != nil {
				r.wellKnown = append(r.wellKnown, wellKnownPath{path, wh})
			}
		}
		chain = append(chain, named{ps[i].Type, p})
		r.policies = append(r.policies, ps[i].Type)
	}
	// The edge's body stage (edge.go) runs right after authentication:
	// credentials are checked from the headers before any body is
	// buffered, and authorization on sees the parsed body.
	h := inner
	staged := false
	for i := len(chain) - 1; i >= 0; i-- {
		if !staged && policy.TypeOrder[chain[i].name] <= policy.OrderAuthn {
			h, staged = bodyStage{next: h}, true
		}
		h = d.observer.WrapPolicy(rc.Name, chain[i].name, chain[i].p.Wrap, h)
	}
	if !staged {
		h = bodyStage{next: h}
	}
	r.handler = withClientCert(rc, lt, h, d.log, d.rec)
	return r, nil
}

func routeKind(rc *config.Route) policy.Kind {
	switch {
	case rc.IsA2A():
		return policy.KindA2A
	case rc.IsMCP():
		return policy.KindMCP
	}
	return policy.KindHTTP
}

// match returns the route for an escaped path and the remainder after its
// prefix.
func (pr *portRoutes) match(path string) (*route, string) {
	for _, r := range pr.routes {
		match := matchPrefix
		if r.foldCase {
			match = matchPrefixFold
		}
		if rest, ok := match(r.prefix, path); ok {
			return r, rest
		}
	}
	return nil, ""
}

// acquire pins the current runtime for one request.
func (rt *runtime) tryAcquire() bool {
	for {
		n := rt.refs.Load()
		if n == 0 {
			return false
		}
		if rt.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (rt *runtime) release() {
	if rt.refs.Add(-1) == 0 {
		rt.cleanup()
	}
}

func (rt *runtime) cleanup() {
	for _, c := range rt.cleaners {
		if err := c.Cleanup(); err != nil && rt.log != nil {
			rt.log.Warn("policy cleanup failed", "err", err)
		}
	}
	rt.cleaners = nil
}

// deps are long-lived objects shared by every runtime.
type deps struct {
	log       *slog.Logger
	transport http.RoundTripper
	// versions are the transports by backend HTTP version
	// (httpversion.go); nil when Options.Transport overrides the
	// transport, which then carries every version.
	versions *versionTransports
	// upstream is the lean client for plain-HTTP backends (forward.go);
	// nil when Options.Transport overrides the transport.
	upstream *upstream.Client
	observer Observer
	// rec is what policies (and the client-certificate check) report
	// their decisions to: the observer, when it records them.
	rec      policy.Recorder
	drain    *drainer
	lim      *limiter
	sessions *sessionTracker
	limits   *sharedstate.Store // nil: the process's (policy.Env.Limits)
	// fedKeys seal federated session ids when server.sessionKeys is
	// unset: one random key for the life of the process, so sessions
	// survive reloads (not restarts).
	fedKeys *federation.Keys
	// fedOpens counts each identity's federated session opens
	// (federatedOpens), kept across reloads like fedKeys.
	fedOpens *gcra.Local
}
