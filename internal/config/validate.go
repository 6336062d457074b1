package config

import (
	"fmt"

	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
)

// policyKind describes one policy type for validation.
type policyKind struct {
	typ   string             // the type name (Policy.Type)
	block string             // the YAML block that configures it
	set   func(*Policy) bool // whether that block is present
	// check validates a policy of this type (its block is present) on
	// route r; pp is the policy's field path.
	check func(v *validator, r *Route, p *Policy, pp string)
}

// PolicyTypes lists the valid policy types in chain order: those
// registered by their packages (policy.Define). The one table of policy
// types (policyKinds) drives it, the type and block checks (policyShape)
// and the per-type validation; policy.TypeOrder must list the same types
// in the same order (TestPolicyTypesFollowTypeOrder in internal/policy
// checks it).
func PolicyTypes() []string {
	ks := policyKinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.typ
	}
	return out
}

// policyKindOf returns the table entry of type typ.
func policyKindOf(typ string) (policyKind, bool) {
	for _, k := range policyKinds() {
		if k.typ == typ {
			return k, true
		}
	}
	return policyKind{}, false
}

// Validate checks the semantics of the config and returns every problem as an
// ErrorList (nil when the config is valid). It performs no I/O. It may be
// called before or after SetDefaults: unset fields that have a default are
// accepted.
func (c *Config) Validate() error {
	if c == nil {
		return ErrorList{{Msg: "config is nil"}}
	}
	v := &validator{c: c}
	v.validate()
	return v.errs.err()
}

type validator struct {
	c    *Config
	errs ErrorList
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.c.Errorf(path, format, args...))
}

func (v *validator) validate() {
	c := v.c
	if len(c.Binds) == 0 {
		v.add("binds", "at least one bind is required")
	}
	bindPorts := map[int]int{} // port -> bind index
	routeNames := map[string]string{}
	for bi := range c.Binds {
		b := &c.Binds[bi]
		bp := joinIndex("binds", bi)
		if b.Port < 1 || b.Port > 65535 {
			v.add(bp+".port", "port %d is out of range 1-65535", b.Port)
		} else if first, dup := bindPorts[b.Port]; dup {
			v.add(bp+".port", "port %d is already used by binds[%d]", b.Port, first)
		} else {
			bindPorts[b.Port] = bi
		}
		if msg := checkHost(b.Address); msg != "" {
			v.add(bp+".address", "%s", msg)
		}
		for i, h := range b.AllowedHosts {
			if _, err := ParseHostPattern(h); err != nil {
				v.add(joinIndex(bp+".allowedHosts", i), "%v", err)
			}
		}
		v.listenerTLS(b, bp)
		if len(b.Listeners) == 0 {
			v.add(bp+".listeners", "at least one listener is required")
		}
		listenerNames := map[string]int{}
		prefixes := map[string]string{} // prefix -> route path
		type foldedPrefix struct {
			path  string
			folds bool
		}
		foldedPrefixes := map[string]foldedPrefix{} // lower-cased prefix -> route
		for li := range b.Listeners {
			l := &b.Listeners[li]
			lp := joinIndex(bp+".listeners", li)
			if l.Name == "" {
				v.add(lp+".name", "name is required")
			} else if first, dup := listenerNames[l.Name]; dup {
				v.add(lp+".name", "duplicate listener name %q (first at %s.listeners[%d])", l.Name, bp, first)
			} else {
				listenerNames[l.Name] = li
			}
			if len(l.Routes) == 0 {
				v.add(lp+".routes", "at least one route is required")
			}
			for ri := range l.Routes {
				r := &l.Routes[ri]
				rp := joinIndex(lp+".routes", ri)
				if r.Name == "" {
					v.add(rp+".name", "name is required")
				} else if first, dup := routeNames[r.Name]; dup {
					v.add(rp+".name", "duplicate route name %q (first at %s); route names must be unique across the config", r.Name, first)
				} else {
					routeNames[r.Name] = rp
				}
				pp := rp + ".match.path.prefix"
				folds := r.Match.Path.CaseSensitive != nil && !*r.Match.Path.CaseSensitive
				if msg := checkPrefix(r.Match.Path.Prefix); msg != "" {
					v.add(pp, "%s", msg)
				} else if first, dup := prefixes[r.Match.Path.Prefix]; dup {
					v.add(pp, "prefix %q is already used by %s on the same bind (port %d)", r.Match.Path.Prefix, first, b.Port)
				} else {
					prefixes[r.Match.Path.Prefix] = rp
					// Two prefixes equal but for letter case, one of them
					// case-insensitive, would both match "/MCP": which
					// route (and policies) wins must not be a tie.
					lower := strings.ToLower(r.Match.Path.Prefix)
					if o, dup := foldedPrefixes[lower]; dup && (folds || o.folds) {
						v.add(rp+".match.path.caseSensitive", "prefix %q and the prefix of %s on the same bind (port %d) differ only in letter case, and one of them is caseSensitive: false", r.Match.Path.Prefix, o.path, b.Port)
					} else if !dup || folds {
						foldedPrefixes[lower] = foldedPrefix{rp, folds}
					}
				}
				v.route(r, rp)
				v.routeAuthentication(r, rp, b, bp)
			}
		}
	}
	v.adminAndMetrics(bindPorts)
	v.observability()
	v.server()
	v.security()
	v.rateLimiting()
	if l := c.Logging; l != nil {
		if l.Format != "" && l.Format != LogFormatJSON && l.Format != LogFormatText {
			v.add("logging.format", "unknown log format %q (valid: json, text)", l.Format)
		}
		switch l.Level {
		case "", LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError:
		default:
			v.add("logging.level", "unknown log level %q (valid: debug, info, warn, error)", l.Level)
		}
	}
}

func (v *validator) route(r *Route, rp string) {
	if len(r.Backends) == 0 {
		v.add(rp+".backends", "at least one backend is required")
	}
	names := map[string]int{}
	agentNames := map[string]string{}
	for i := range r.Backends {
		be := &r.Backends[i]
		bp := joinIndex(rp+".backends", i)
		if be.Name == "" {
			v.add(bp+".name", "name is required")
		} else if first, dup := names[be.Name]; dup {
			v.add(bp+".name", "duplicate backend name %q (first at backends[%d])", be.Name, first)
		} else {
			names[be.Name] = i
		}
		if msg := checkBackendURL(be.Address); msg != "" {
			v.add(bp+".address", "%s", msg)
		}
		typ := be.Type
		if typ == "" {
			typ = DefaultBackendType
		}
		switch typ {
		case BackendMCPHTTP, BackendHTTP:
		default:
			v.add(bp+".type", "unknown backend type %q (valid: mcp-http, http)", be.Type)
		}
		if m := be.MCP; m != nil {
			if typ != BackendMCPHTTP {
				v.add(bp+".mcp", "an mcp block requires type: mcp-http (backend type is %q)", typ)
			}
			if m.Endpoint != "" && !strings.HasPrefix(m.Endpoint, "/") {
				v.add(bp+".mcp.endpoint", "endpoint %q must start with \"/\"", m.Endpoint)
			}
			if m.Protocol != "" && m.Protocol != MCPProtocolHTTP && m.Protocol != MCPProtocolSSE {
				v.add(bp+".mcp.protocol", "unknown MCP protocol %q (valid: http, sse)", m.Protocol)
			}
			if m.Timeout < 0 {
				v.add(bp+".mcp.timeout", "must not be negative")
			}
		}
		v.backendTLS(be, bp)
		v.backendHTTP(be, bp)
		for j, a := range be.Agents {
			ap := joinIndex(bp+".agents", j)
			if !a2a.ValidAgentName(a) {
				v.add(ap, "agent name %q must be 1-253 of [A-Za-z0-9._-], starting with a letter or digit", a)
			} else if first, dup := agentNames[a]; dup {
				v.add(ap, "agent %q is already served by %s", a, first)
			} else {
				agentNames[a] = ap
			}
		}
		if cb := be.CircuitBreaker; cb != nil {
			cp := bp + ".circuitBreaker"
			if cb.MaxRequests < 0 {
				v.add(cp+".maxRequests", "must not be negative")
			}
			if cb.ConsecutiveFailures < 0 {
				v.add(cp+".consecutiveFailures", "must not be negative")
			}
			if cb.BaseEjectionTime < 0 {
				v.add(cp+".baseEjectionTime", "must not be negative")
			}
			if cb.MaxEjectionTime < 0 || (cb.MaxEjectionTime > 0 && cb.MaxEjectionTime < cb.BaseEjectionTime) {
				v.add(cp+".maxEjectionTime", "must not be shorter than baseEjectionTime")
			}
		}
		if len(be.Agents) > 0 && typ == BackendMCPHTTP {
			v.add(bp+".agents", "agents are for A2A backends; an mcp-http backend serves MCP")
		}
	}
	if r.IsA2A() {
		v.a2aNames(r, rp, agentNames)
	}
	if r.A2A != nil {
		if !r.IsA2A() {
			v.add(rp+".a2a", "a2a options are for A2A routes (a route with an a2a-authz policy or a backend with agents)")
		} else if pn := r.A2A.PushNotifications; pn != nil {
			v.pushNotifications(pn, rp+".a2a.pushNotifications")
		}
	}
	v.federation(r, rp)
	if r.ExternalURL != "" {
		if msg := checkBackendURL(r.ExternalURL); msg != "" {
			v.add(rp+".externalUrl", "%s", msg)
		}
	}

	seen := map[string]int{}
	for i := range r.Policies {
		p := &r.Policies[i]
		pp := joinIndex(rp+".policies", i)
		k, ok := v.policyShape(p, pp)
		if !ok {
			continue
		}
		if first, dup := seen[p.Type]; dup {
			v.add(pp+".type", "policy type %q appears more than once in this route (first at policies[%d])", p.Type, first)
		} else {
			seen[p.Type] = i
		}
		k.check(v, r, p, pp)
	}

	for i, o := range r.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			v.add(joinIndex(rp+".allowedOrigins", i), "%s", msg)
		}
	}
	if r.MaxBodyBytes != nil && *r.MaxBodyBytes <= 0 {
		v.add(rp+".maxBodyBytes", "must be greater than 0")
	} else if s := v.c.Server; r.MaxBodyBytes != nil && s != nil && s.MaxBufferedBodyBytes != nil && *s.MaxBufferedBodyBytes > 0 && *r.MaxBodyBytes > *s.MaxBufferedBodyBytes {
		v.add(rp+".maxBodyBytes", "%d is more than server.maxBufferedBodyBytes (%d): no such body could ever be buffered", *r.MaxBodyBytes, *s.MaxBufferedBodyBytes)
	}
}

// policyShape checks type and blocks; it returns the type's table entry
// and whether the typed block is present so that its contents can be
// checked.
func (v *validator) policyShape(p *Policy, pp string) (policyKind, bool) {
	kinds := policyKinds()
	valid := strings.Join(PolicyTypes(), ", ")
	if p.Type == "" {
		hint := ""
		for _, k := range kinds {
			if k.set(p) {
				hint = fmt.Sprintf(" (the %s block suggests type: %s)", k.block, k.typ)
				break
			}
		}
		v.add(pp+".type", "type is required; valid: %s%s", valid, hint)
		return policyKind{}, false
	}
	kind, known := policyKindOf(p.Type)
	if !known {
		v.add(pp+".type", "unknown policy type %q (valid: %s)", p.Type, valid)
		return policyKind{}, false
	}
	ok := true
	for _, k := range kinds {
		switch set := k.set(p); {
		case k.typ == p.Type && !set:
			v.add(pp, "a %s policy requires a %s block", p.Type, k.block)
			ok = false
		case k.typ != p.Type && set:
			v.add(pp+"."+k.block, "a %s block is not allowed in a %s policy (it configures type %s)", k.block, p.Type, k.typ)
		}
	}
	return kind, ok
}

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckPattern checks an mcp-authz principal, tool, resource or prompt
// pattern, or an a2a-authz source (docs/authz.md): names are compared as exact bytes, "*" and "**"
// are the only wildcards. It returns "" when p is acceptable.
func CheckPattern(p string) string {
	if !utf8.ValidString(p) {
		return fmt.Sprintf("%q is not valid UTF-8", p)
	}
	if strings.TrimSpace(p) != p {
		return fmt.Sprintf("%q must not start or end with whitespace (names are compared as exact bytes)", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("%q must not contain control characters", p)
		}
	}
	if strings.Contains(p, "***") {
		return fmt.Sprintf("%q: a run of three or more \"*\" is ambiguous; use \"*\" or \"**\"", p)
	}
	return ""
}

// rateLimiting checks the top-level rateLimiting section.
func (v *validator) rateLimiting() {
	rl := v.c.RateLimiting
	if rl == nil {
		return
	}
	const p = "rateLimiting"
	switch rl.FailureMode {
	case "", FailureModeOpen, FailureModeClosed:
	default:
		v.add(p+".failureMode", "unknown failure mode %q (valid: open, closed)", rl.FailureMode)
	}
	if rl.Replicas < 0 {
		v.add(p+".replicas", "must not be negative")
	}
	r := rl.Redis
	if r == nil {
		return
	}
	rp := p + ".redis"
	if msg := checkHostPort(r.Address); msg != "" {
		v.add(rp+".address", "%s", msg)
	}
	if r.Password != "" && r.PasswordFile != "" {
		v.add(rp+".passwordFile", "set password or passwordFile, not both")
	}
	if r.DB < 0 {
		v.add(rp+".db", "must not be negative")
	}
	if r.Timeout != 0 && (r.Timeout < MinRedisTimeout || r.Timeout > MaxRedisTimeout) {
		v.add(rp+".timeout", "timeout %s is out of range %s-%s", r.Timeout, MinRedisTimeout, MaxRedisTimeout)
	}
	if t := r.TLS; t != nil && !t.Enabled && (t.CAFile != "" || t.ServerName != "") {
		v.add(rp+".tls.enabled", "caFile and serverName require enabled: true")
	}
}

// checkHostPort validates host:port with a numeric port.
func checkHostPort(s string) string {
	if s == "" {
		return "address is required (host:port)"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q has an invalid port", s)
	}
	if msg := checkHost(host); msg != "" {
		return fmt.Sprintf("%q: %s", s, msg)
	}
	return ""
}

// Warnings returns problems that do not make the config invalid but that
// an operator should know about (`agentgateway validate` prints them).
func (c *Config) Warnings() []*FieldError {
	if c == nil {
		return nil
	}
	var out []*FieldError
	if path, ok := c.firstRateLimit(); ok && (c.RateLimiting == nil || c.RateLimiting.Redis == nil) {
		if c.RateLimiting != nil && c.RateLimiting.Replicas > 1 {
			out = append(out, c.Errorf("rateLimiting.replicas", "rate limits are local to each replica (no rateLimiting.redis): with %d replicas up to %d times the configured rate is allowed; configure rateLimiting.redis to share limits", c.RateLimiting.Replicas, c.RateLimiting.Replicas))
		} else {
			out = append(out, c.Errorf(path, "rate limits are kept in this process's memory (no rateLimiting.redis): with more than one replica, each one allows the full rate"))
		}
	}
	for bi, b := range c.Binds {
		for li, l := range b.Listeners {
			for ri, r := range l.Routes {
				if r.IsFederated() && (c.Server == nil || c.Server.SessionKeys == nil) {
					rp := fmt.Sprintf("binds[%d].listeners[%d].routes[%d]", bi, li, ri)
					if c.RateLimiting != nil && c.RateLimiting.Replicas > 1 {
						out = append(out, c.Errorf(rp+".backends", "federated MCP route without server.sessionKeys: each of the %d replicas seals sessions with its own random key, so a session opened on one is refused (404) by the others; configure server.sessionKeys.file", c.RateLimiting.Replicas))
					} else {
						out = append(out, c.Errorf(rp+".backends", "federated MCP route without server.sessionKeys: sessions are sealed with a per-process random key and do not survive a restart nor move to another replica"))
					}
				}
				for pi, p := range r.Policies {
					pp := fmt.Sprintf("binds[%d].listeners[%d].routes[%d].policies[%d]", bi, li, ri, pi)
					if w, ok := p.Spec.(PolicyWarner); ok {
						at := PolicyAt{Route: &c.Binds[bi].Listeners[li].Routes[ri], Path: pp + "." + p.SpecBlock()}
						for _, e := range w.Warnings(at) {
							out = append(out, c.Errorf(e.Path, "%s", e.Msg))
						}
					}
				}
			}
		}
	}
	return out
}

// firstRateLimit returns the path of the first policy that limits a rate
// (RateLimiter: a rate-limit policy, an mcp-authz rule with rateLimit).
func (c *Config) firstRateLimit() (string, bool) {
	for bi, b := range c.Binds {
		for li, l := range b.Listeners {
			for ri, r := range l.Routes {
				for pi, p := range r.Policies {
					path := fmt.Sprintf("binds[%d].listeners[%d].routes[%d].policies[%d]", bi, li, ri, pi)
					if rl, ok := p.Spec.(RateLimiter); ok && rl.HasRateLimits() {
						return path, true
					}
				}
			}
		}
	}
	return "", false
}

// a2aNames refuses an A2A route on which one agent name would reach two
// backends: a derived name (backend name without "-backend") that another
// backend lists in agents, or that two backends derive. The directory
// resolves every name to one canonical agent of one backend
// (docs/a2a.md#canonical-names); a collision would leave the second
// backend reachable only through aliases that canonicalize to the first.
func (v *validator) a2aNames(r *Route, rp string, explicit map[string]string) {
	derived := map[string]string{}
	for i := range r.Backends {
		be := &r.Backends[i]
		if len(be.Agents) > 0 || be.Name == "" {
			continue
		}
		bp := joinIndex(rp+".backends", i)
		name := a2a.DerivedName(be.Name)
		switch first, dup := derived[name]; {
		case dup:
			v.add(bp+".name", "backend %q serves agent %q, which %s already serves; list distinct names in agents", be.Name, name, first)
		case explicit[name] != "":
			v.add(bp+".name", "backend %q serves agent %q, which %s lists; list distinct names in agents", be.Name, name, explicit[name])
		default:
			derived[name] = bp
		}
	}
}

// adminAndMetrics checks the admin listener and the Prometheus port, which
// share one listener.
func (v *validator) adminAndMetrics(bindPorts map[int]int) {
	c := v.c
	var prom *Prometheus
	if c.Observability != nil {
		prom = c.Observability.Prometheus
	}
	if c.Admin != nil {
		if msg := checkHost(c.Admin.Address); msg != "" {
			v.add("admin.address", "%s", msg)
		}
	}
	adminPort, promPort := 0, 0
	if c.Admin != nil {
		adminPort = c.Admin.Port
	}
	if prom != nil {
		promPort = prom.Port
	}
	// After SetDefaults both ports are filled in from each other; written
	// tells which one the user wrote so errors point there.
	promW := promPort != 0 && v.written("observability.prometheus.port")
	adminW := adminPort != 0 && v.written("admin.port")
	checkPorts := true
	if promPort != 0 && (promPort < 1 || promPort > 65535) {
		v.add("observability.prometheus.port", "port %d is out of range 1-65535", promPort)
		checkPorts = false
	}
	if adminPort != 0 && (adminPort < 1 || adminPort > 65535) && (adminW || adminPort != promPort) {
		v.add("admin.port", "port %d is out of range 1-65535", adminPort)
		checkPorts = false
	}
	if checkPorts && adminPort != 0 && promPort != 0 && adminPort != promPort {
		v.add("observability.prometheus.port", "port %d differs from admin.port %d: metrics are served on the admin listener", promPort, adminPort)
		checkPorts = false
	}
	if checkPorts {
		eff := adminPort
		if eff == 0 {
			eff = promPort
		}
		if eff == 0 {
			eff = DefaultAdminPort
		}
		if bi, clash := bindPorts[eff]; clash {
			switch {
			case promW:
				v.add("observability.prometheus.port", "port %d collides with binds[%d].port", eff, bi)
			case adminW || (adminPort != 0 && adminPort != DefaultAdminPort):
				v.add("admin.port", "port %d collides with binds[%d].port", eff, bi)
			default:
				v.add(joinIndex("binds", bi)+".port", "port %d is taken by the admin listener (admin.port defaults to %d); set admin.port to another port", eff, DefaultAdminPort)
			}
		}
	}
	if prom != nil {
		if prom.Path != "" && !strings.HasPrefix(prom.Path, "/") {
			v.add("observability.prometheus.path", "path %q must start with \"/\"", prom.Path)
		}
		for i, m := range prom.Metrics {
			if !isMetricName(m) {
				v.add(joinIndex("observability.prometheus.metrics", i), "%q is not a valid Prometheus metric name", m)
			}
		}
	}
}

// Written reports whether the field at path (e.g.
// "observability.prometheus.enabled") was written in the source file; for a
// Config built in code every field counts as written.
func (c *Config) Written(path string) bool {
	if c.src == nil {
		return true
	}
	_, ok := c.src.pos[path]
	return ok
}

// written reports whether the field at path was written in the source file.
// For a Config built in code every set field counts as written.
func (v *validator) written(path string) bool {
	if v.c.src == nil {
		return true
	}
	_, ok := v.c.src.pos[path]
	return ok
}

func (v *validator) observability() {
	o := v.c.Observability
	if o == nil {
		return
	}
	if ot := o.OpenTelemetry; ot != nil {
		const p = "observability.opentelemetry"
		switch ot.Protocol {
		case OTelProtocolGRPC, OTelProtocolHTTP:
		case "":
			if ot.Enabled {
				v.add(p+".protocol", "protocol is required when enabled (valid: grpc, http)")
			}
		default:
			v.add(p+".protocol", "unknown protocol %q (valid: grpc, http)", ot.Protocol)
		}
		if ot.Endpoint == "" {
			if ot.Enabled {
				v.add(p+".endpoint", "endpoint is required when enabled")
			}
		} else if msg := checkURL(ot.Endpoint); msg != "" {
			v.add(p+".endpoint", "%s", msg)
		}
		if t := ot.Tracing; t != nil {
			if t.SamplingRate != nil && !(*t.SamplingRate >= 0 && *t.SamplingRate <= 1) {
				v.add(p+".tracing.samplingRate", "samplingRate %v is out of range [0, 1]", *t.SamplingRate)
			}
			keys := map[string]int{}
			for i, a := range t.Attributes {
				ap := joinIndex(p+".tracing.attributes", i)
				if a.Key == "" {
					v.add(ap+".key", "key is required")
				} else if first, dup := keys[a.Key]; dup {
					v.add(ap+".key", "duplicate attribute key %q (first at attributes[%d])", a.Key, first)
				} else {
					keys[a.Key] = i
				}
			}
		}
	}
	if m := o.MCP; m != nil {
		for i, name := range m.Metrics {
			if !isMetricName(name) {
				v.add(joinIndex("observability.mcp.metrics", i), "%q is not a valid Prometheus metric name", name)
			}
		}
	}
}

// federation checks the mcp block of route r and, on a federated route,
// its backends' prefixes (docs/federation.md#naming).
func (v *validator) federation(r *Route, rp string) {
	m := r.MCP
	if m != nil && (!r.IsMCP() || r.IsA2A()) {
		v.add(rp+".mcp", "mcp options are for MCP routes (a route with an mcp-http backend and no a2a-authz policy)")
		return
	}
	if m != nil {
		switch m.FailureMode {
		case "", FailClosed, FailOpen:
		default:
			v.add(rp+".mcp.failureMode", "unknown failure mode %q (valid: failClosed, failOpen)", m.FailureMode)
		}
		if m.SessionTTL < 0 {
			v.add(rp+".mcp.sessionTTL", "must not be negative")
		}
		if m.FanOutTimeout < 0 {
			v.add(rp+".mcp.fanOutTimeout", "must not be negative")
		}
		if m.Separator != nil && !validFederationName(*m.Separator, 1, 8) {
			v.add(rp+".mcp.separator", "separator %q must be 1-8 of [A-Za-z0-9._-]", *m.Separator)
		}
	}
	if !r.IsFederated() {
		for i := range r.Backends {
			if r.Backends[i].Prefix != nil {
				v.add(joinIndex(rp+".backends", i)+".prefix", "prefix is for federated MCP routes (more than one mcp-http backend, or mcp.federation: true)")
			}
		}
		return
	}
	sep := DefaultFederationSeparator
	if m != nil && m.Separator != nil {
		sep = *m.Separator
	}
	// Two prefixes collide when one, with the separator, starts the
	// other with the separator: "a" and "a_b" (separator "_") both claim
	// "a_b_x". Routing by prefix could then not tell the backends apart,
	// so such configs are refused. At most one backend may have the empty
	// prefix: its names are routed there when no other prefix matches.
	type claimed struct {
		full string
		i    int
	}
	var seen []claimed
	empty := -1
	for i := range r.Backends {
		be := &r.Backends[i]
		bp := joinIndex(rp+".backends", i)
		if be.Type != "" && be.Type != BackendMCPHTTP {
			v.add(bp+".type", "a federated MCP route federates mcp-http backends only (backend type is %q)", be.Type)
		}
		if be.MCP != nil && be.MCP.Protocol == MCPProtocolSSE {
			v.add(bp+".mcp.protocol", "legacy HTTP+SSE backends cannot be federated by this build; put the backend on a route of its own")
		}
		p := be.FederationPrefix()
		field := bp + ".prefix"
		if be.Prefix == nil || *be.Prefix == be.Name {
			// The default prefix (SetDefaults copies the name): the
			// name is what the user wrote.
			field = bp + ".name"
		}
		if p == "" {
			if empty >= 0 {
				v.add(field, "only one backend of a federated route may have the empty prefix (backends[%d] has it too): names would collide", empty)
			}
			empty = i
			continue
		}
		if !validFederationName(p, 1, 64) {
			v.add(field, "prefix %q must be 1-64 of [A-Za-z0-9._-] (set prefix explicitly when the backend name does not fit)", p)
			continue
		}
		full := p + sep
		for _, c := range seen {
			if strings.HasPrefix(full, c.full) || strings.HasPrefix(c.full, full) {
				v.add(field, "prefix %q collides with backends[%d]'s %q: with separator %q a name such as %q could belong to either", p, c.i, strings.TrimSuffix(c.full, sep), sep, longer(full, c.full)+"x")
			}
		}
		seen = append(seen, claimed{full, i})
	}
}

func longer(a, b string) string {
	if len(a) >= len(b) {
		return a
	}
	return b
}

// validFederationName reports whether s is min to max bytes of
// [A-Za-z0-9._-], the characters MCP allows in tool names.
func validFederationName(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) server() {
	s := v.c.Server
	if s == nil {
		return
	}
	for _, d := range []struct {
		name string
		val  Duration
	}{
		{"readHeaderTimeout", s.ReadHeaderTimeout},
		{"idleTimeout", s.IdleTimeout},
		{"shutdownGracePeriod", s.ShutdownGracePeriod},
		{"bodyReadTimeout", s.BodyReadTimeout},
		{"writeTimeout", s.WriteTimeout},
		{"sessionIdleTimeout", s.SessionIdleTimeout},
		{"streamIdleTimeout", s.StreamIdleTimeout},
	} {
		if d.val < 0 {
			v.add("server."+d.name, "must not be negative")
		}
	}
	if s.MaxHeaderBytes != nil && (*s.MaxHeaderBytes <= 0 || *s.MaxHeaderBytes > math.MaxInt32) {
		v.add("server.maxHeaderBytes", "must be between 1 and %d", math.MaxInt32)
	}
	if s.MaxHeaderCount < 0 {
		v.add("server.maxHeaderCount", "must not be negative")
	}
	switch s.HeadersWithUnderscores {
	case "", HeadersWithUnderscoresAllow, HeadersWithUnderscoresDrop, HeadersWithUnderscoresReject:
	default:
		v.add("server.headersWithUnderscores", "unknown value %q (valid: allow, drop, reject)", s.HeadersWithUnderscores)
	}
	if s.MaxBodyBytes != nil && *s.MaxBodyBytes <= 0 {
		v.add("server.maxBodyBytes", "must be greater than 0")
	}
	if k := s.SessionKeys; k != nil && k.File == "" {
		v.add("server.sessionKeys.file", "file is required")
	}
	if b := s.MaxBufferedBodyBytes; b != nil {
		if *b <= 0 {
			v.add("server.maxBufferedBodyBytes", "must be greater than 0")
		} else if s.MaxBodyBytes != nil && *s.MaxBodyBytes > *b {
			v.add("server.maxBufferedBodyBytes", "%d is less than server.maxBodyBytes (%d): a body of the largest size could never be buffered", *b, *s.MaxBodyBytes)
		}
	}
	for _, n := range []struct {
		name string
		val  int
	}{{"maxRequests", s.MaxRequests}, {"maxStreams", s.MaxStreams}, {"maxStreamsPerIdentity", s.MaxStreamsPerIdentity},
		{"maxSessions", s.MaxSessions}, {"maxSessionsPerIdentity", s.MaxSessionsPerIdentity}} {
		if n.val < 0 {
			v.add("server."+n.name, "must not be negative")
		}
	}
	if s.MaxConcurrentStreams < 0 || s.MaxConcurrentStreams > math.MaxUint32 {
		v.add("server.maxConcurrentStreams", "must be between 0 and %d", uint32(math.MaxUint32))
	}
}

// checkPrefix validates a route's path prefix.
func checkPrefix(p string) string {
	switch {
	case p == "":
		return "prefix is required"
	case p[0] != '/':
		return fmt.Sprintf("prefix %q must start with \"/\"", p)
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return fmt.Sprintf("prefix %q must not end with \"/\" (prefixes match whole path segments; write %q)", p, strings.TrimRight(p, "/"))
	}
	for _, bad := range []string{"//", "%", "\x00", "\\"} {
		if strings.Contains(p, bad) {
			return fmt.Sprintf("prefix %q must not contain %q", p, bad)
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("prefix %q must not contain %q segments", p, seg)
		}
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' {
			return fmt.Sprintf("prefix %q must not contain whitespace, control characters, \"?\" or \"#\"", p)
		}
		// The gateway refuses request paths with ";" or raw non-ASCII
		// bytes (docs/proxy.md#routing): such a prefix would never match.
		if r == ';' || r >= 0x80 {
			return fmt.Sprintf("prefix %q must not contain \";\" or non-ASCII characters (request paths with them are refused)", p)
		}
	}
	return ""
}

// CheckURL validates an absolute http(s) URL with a host; it returns ""
// when s is acceptable. Policy packages check their URLs with it
// (jwt-authn's jwksUri).
func CheckURL(s string) string { return checkURL(s) }

// checkURL is CheckURL.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a valid URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q must be an absolute http:// or https:// URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Sprintf("%q has an empty port", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q has an invalid port", s)
		}
	}
	return ""
}

// checkBackendURL is checkURL without user info, query or fragment.
func checkBackendURL(s string) string {
	if s == "" {
		return "address is required"
	}
	if msg := checkURL(s); msg != "" {
		return msg
	}
	u, _ := url.Parse(s)
	switch {
	case u.User != nil:
		return fmt.Sprintf("%q must not contain user info", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not contain a query", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Sprintf("%q must not contain a fragment", s)
	}
	return ""
}

// checkOrigin accepts "*" or scheme://host[:port].
func checkOrigin(o string) string {
	if o == "*" {
		return ""
	}
	bad := fmt.Sprintf("%q is not an origin: want \"*\" or scheme://host[:port] with no path, e.g. \"https://app.example.com\"", o)
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(o, "#") {
		return bad
	}
	if strings.Contains(u.Host, "*") {
		return fmt.Sprintf("%q: wildcards are only supported as a lone \"*\"", o)
	}
	if strings.HasSuffix(u.Host, ":") {
		return bad
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad
		}
	}
	return ""
}

// checkHost accepts "", an IP address or a DNS name.
func checkHost(h string) string {
	if h == "" {
		return ""
	}
	ip := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if net.ParseIP(ip) != nil {
		return ""
	}
	if len(h) > 253 {
		return fmt.Sprintf("address %q is not an IP address or host name", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("address %q is not an IP address or host name (the port is set separately)", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("address %q is not an IP address or host name (the port is set separately)", h)
			}
		}
	}
	return ""
}

// isMetricName matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func isMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// pushNotifications checks the push-URL policy of an A2A route. Hosts and
// ranges must be written in canonical form (lower case, IP literals as
// netip prints them): an allow-list entry that the check would never
// match as written is a silent deny, or worse an allow the operator did
// not read.
func (v *validator) pushNotifications(pn *PushNotifications, path string) {
	for i, s := range pn.Schemes {
		if s != "http" && s != "https" {
			v.add(joinIndex(path+".schemes", i), "scheme %q: push notifications are HTTP callbacks; only http and https may be listed", s)
		}
	}
	for i, h := range pn.AllowedHosts {
		hp := joinIndex(path+".allowedHosts", i)
		wild := strings.HasPrefix(h, "*.")
		name := strings.TrimPrefix(h, "*.")
		bracketed := len(name) > 1 && name[0] == '[' && name[len(name)-1] == ']'
		if bracketed {
			name = name[1 : len(name)-1]
		}
		c, err := a2a.CanonicalPushHost(name, bracketed || strings.Contains(name, ":"))
		_, ipErr := netip.ParseAddr(c)
		switch {
		case err != nil:
			v.add(hp, "%q is not a host name, a *.domain wildcard or an IP literal: %v", h, err)
		case wild && ipErr == nil:
			v.add(hp, "%q: a wildcard applies to names, not IP addresses", h)
		case wild && !strings.Contains(c, "."):
			v.add(hp, "%q: a wildcard must name a domain with at least two labels (*.example.com)", h)
		case c != name || bracketed:
			v.add(hp, "%q is not in canonical form: write %q", h, strings.Repeat("*.", btoi(wild))+c)
		}
	}
	for i, c := range pn.AllowedCIDRs {
		cp := joinIndex(path+".allowedCIDRs", i)
		p, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			v.add(cp, "%q is not an IP range (CIDR, e.g. 10.0.5.0/24)", c)
		case p.Addr().Is4In6():
			v.add(cp, "%q: write IPv4 ranges in IPv4 form", c)
		case p.Masked() != p:
			v.add(cp, "%q is not in canonical form: write %q", c, p.Masked().String())
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
