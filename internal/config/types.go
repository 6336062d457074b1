// Package config holds the YAML configuration types of the gateway, a strict
// decoder that reports every problem with file, line, column and field path,
// defaults and pure validation. Nothing here performs I/O beyond reading the
// config file; runtime objects are built from these types by internal/gateway
// and the policy packages.
package config

import (
	"slices"
	"time"
)

// Config is the root of gateway.yaml.
type Config struct {
	Binds         []Bind         `yaml:"binds"`
	Observability *Observability `yaml:"observability"`
	// Admin configures the health/metrics listener. When absent it takes its
	// port from observability.prometheus.port (default 9090).
	Admin *Admin `yaml:"admin"`
	// Server holds hardening limits shared by every bind.
	Server *Server `yaml:"server"`
	// Logging configures the structured logger.
	Logging *Logging `yaml:"logging"`
	// Security holds the seed's security.mtls block (docs/tls.md).
	Security *Security `yaml:"security"`
	// RateLimiting configures where rate-limit counters live (local
	// memory, or Redis shared by every replica) and what happens when
	// Redis is down (docs/ratelimit.md).
	RateLimiting *RateLimiting `yaml:"rateLimiting"`

	// src records where the config was read from and the position of every
	// decoded field, so that Validate can report line:column. It is nil for
	// a Config built in code.
	src *source
}

// Bind is one TCP port. All listeners of a bind share it; their routes are
// matched together (longest prefix wins).
type Bind struct {
	Port      int        `yaml:"port"`
	Address   string     `yaml:"address"` // listen address, default "" (all interfaces)
	Listeners []Listener `yaml:"listeners"`
	// TLS serves the port over TLS, optionally verifying client
	// certificates (docs/tls.md). See Config.BindTLS for security.mtls.
	TLS *ListenerTLS `yaml:"tls"`
	// AllowedHosts lists the Host header values the port serves
	// (docs/config.md#allowedhosts): "name", "name:port", "*.suffix" or
	// "*". Unset: a loopback bind, and any connection that arrives on a
	// loopback address, serves loopback names only (DNS rebinding); other
	// connections are served whatever their Host, but the gateway builds
	// no URL from it.
	AllowedHosts []string `yaml:"allowedHosts"`
}

// Listener groups routes. It exists to name and organise routes; all
// listeners of a bind are served on the bind's port.
type Listener struct {
	Name   string  `yaml:"name"`
	Routes []Route `yaml:"routes"`
}

// Route matches requests by path prefix and proxies them to a backend
// through its policy chain.
type Route struct {
	Name     string    `yaml:"name"`
	Match    Match     `yaml:"match"`
	Policies []Policy  `yaml:"policies"`
	Backends []Backend `yaml:"backends"`

	// AllowedOrigins lists the Origin values accepted on MCP routes in
	// addition to same-origin requests. "*" allows any origin.
	AllowedOrigins []string `yaml:"allowedOrigins"`
	// ForwardAuthorization opts the route in to forwarding the caller's
	// Authorization header to the backend. Off by default so that a
	// caller's token never leaks to a backend by accident.
	ForwardAuthorization bool `yaml:"forwardAuthorization"`
	// MaxBodyBytes bounds a request body (default 4 MiB).
	MaxBodyBytes *ByteSize `yaml:"maxBodyBytes"`
	// Authentication selects credentials accepted on the route besides
	// the jwt-authn policy (docs/tls.md).
	Authentication *RouteAuthentication `yaml:"authentication"`
	// ExternalURL is the gateway's URL as clients reach it (scheme, host
	// and optional path, e.g. https://gateway.example.com). A2A agent
	// cards fetched through the route point at <externalUrl><prefix>/<agent>,
	// and the RFC 9728 resource and resource_metadata URLs of an MCP route
	// start with it; without it they are built from the request's scheme
	// and Host, and only when the bind allows that Host (docs/config.md#allowedhosts).
	ExternalURL string `yaml:"externalUrl"`
	// A2A holds options of an A2A route (docs/a2a.md). Set on every A2A
	// route by SetDefaults.
	A2A *RouteA2A `yaml:"a2a"`
	// MCP holds options of an MCP route: federation of several MCP
	// backends behind one endpoint (docs/federation.md). Set on every
	// federated route by SetDefaults.
	MCP *RouteMCP `yaml:"mcp"`
}

// RouteMCP holds the options of an MCP route.
type RouteMCP struct {
	// Federation makes the route a federated MCP server: the gateway
	// terminates the client's session and speaks MCP to every backend.
	// Default: true when the route has more than one mcp-http backend; a
	// route with one backend stays a byte-for-byte passthrough unless it
	// sets true.
	Federation *bool `yaml:"federation"`
	// Separator joins a backend's prefix and a name (default "_").
	Separator *string `yaml:"separator"`
	// FailureMode decides what a list does when a backend is down:
	// failClosed (default) answers an error, failOpen lists the others.
	FailureMode string `yaml:"failureMode"`
	// SessionTTL is the lifetime sealed into a federated session id
	// (default 24h).
	SessionTTL Duration `yaml:"sessionTTL"`
	// FanOutTimeout bounds each backend's part of a fan-out (initialize,
	// lists, logging/setLevel) when the backend sets no mcp.timeout
	// (default 10s).
	FanOutTimeout Duration `yaml:"fanOutTimeout"`
}

// Values of RouteMCP.FailureMode.
const (
	FailClosed = "failClosed"
	FailOpen   = "failOpen"
)

// RouteA2A holds the options of an A2A route.
type RouteA2A struct {
	// PushNotifications restricts the URLs a caller may give an agent to
	// send push notifications to (docs/a2a.md#push-notification-urls).
	PushNotifications *PushNotifications `yaml:"pushNotifications"`
}

// PushNotifications restricts push-notification URLs in
// tasks/pushNotificationConfig/set (every spelling) and in the
// configuration of message/send and message/stream. By default the URL
// must be http or https, an IP literal must not be loopback, link-local,
// private, CGNAT, unspecified, multicast or reserved, and a host name must
// not be obviously internal.
type PushNotifications struct {
	// Check (default true) turns the check on; false sends push URLs to
	// agents unchecked.
	Check *bool `yaml:"check"`
	// Schemes lists the allowed URL schemes (default [http, https]; only
	// these two may be listed).
	Schemes []string `yaml:"schemes"`
	// AllowedHosts lists host names ("hooks.example.com"), wildcard
	// subdomains ("*.example.com") and IP literals. When set, every other
	// host is refused.
	AllowedHosts []string `yaml:"allowedHosts"`
	// AllowedCIDRs lists IP ranges accepted even inside the refused
	// ranges (a webhook receiver at 10.0.5.7: 10.0.5.7/32).
	AllowedCIDRs []string `yaml:"allowedCIDRs"`
	// AllowInternalNames accepts names such as localhost, single-label
	// names and *.svc, *.local, *.internal when allowedHosts is empty.
	AllowInternalNames bool `yaml:"allowInternalNames"`
}

// IsA2A reports whether the route is an agent-to-agent route: it has an
// a2a-authz policy or a backend with an agents list. On such a route the
// first path segment under the prefix names the target agent.
func (r *Route) IsA2A() bool {
	if r.HasPolicy(PolicyA2AAuthz) {
		return true
	}
	for _, b := range r.Backends {
		if len(b.Agents) > 0 {
			return true
		}
	}
	return false
}

// IsFederated reports whether the route is a federated MCP route
// (docs/federation.md): an MCP route, not A2A, with mcp.federation true or,
// when unset, more than one backend.
func (r *Route) IsFederated() bool {
	if !r.IsMCP() || r.IsA2A() {
		return false
	}
	if r.MCP != nil && r.MCP.Federation != nil {
		return *r.MCP.Federation
	}
	return len(r.Backends) > 1
}

// FederationPrefix is the backend's prefix on a federated route: Prefix,
// or the backend name when unset.
func (b *Backend) FederationPrefix() string {
	if b.Prefix != nil {
		return *b.Prefix
	}
	return b.Name
}

// IsMCP reports whether the route proxies to an MCP backend (a backend
// of type mcp-http). A route that is also IsA2A is served as A2A.
func (r *Route) IsMCP() bool {
	for _, b := range r.Backends {
		if b.Type == BackendMCPHTTP {
			return true
		}
	}
	return false
}

// Authenticates reports whether the route establishes a verified
// principal: it has a jwt-authn policy or accepts client certificates as
// identity (authentication.clientCertificate). The authorization policies
// require it.
func (r *Route) Authenticates() bool {
	return (r.Authentication != nil && r.Authentication.ClientCertificate) || r.HasPolicy(PolicyJWTAuthn)
}

// HasPolicy reports whether the route has a policy of type typ.
func (r *Route) HasPolicy(typ string) bool {
	for i := range r.Policies {
		if r.Policies[i].Type == typ {
			return true
		}
	}
	return false
}

// Match selects requests for a route.
type Match struct {
	Path PathMatch `yaml:"path"`
}

// PathMatch matches on a path prefix, on segment boundaries.
type PathMatch struct {
	Prefix string `yaml:"prefix"`
	// CaseSensitive (default true) compares the prefix byte for byte, as
	// Envoy's route case_sensitive does. false matches the prefix's ASCII
	// letters in either case, so that "/MCP" reaches this route (and its
	// policies) rather than a shorter prefix, for backends that route
	// paths case-insensitively (docs/proxy.md#routing).
	CaseSensitive *bool `yaml:"caseSensitive"`
}

// Policy is one entry of a route's policy list. Type selects which
// registered block must be present; exactly that one may be set.
type Policy struct {
	Type string `yaml:"type"`

	// Spec is the block of a policy type that its own package defines
	// (policy.Define), such as *timeout.Config under the key "timeout".
	// SpecBlock names its key.
	Spec PolicySpec `yaml:"-"`
	// otherSpecs holds further registered blocks written in the same
	// entry; Validate refuses them (one block per policy).
	otherSpecs []PolicySpec
}

// Policy type names that the config itself needs: jwt-authn, which makes
// a route authenticate (Authenticates); a2a-authz, which makes a route an
// A2A route (IsA2A); mcp-authz, which the status page and explain pick
// authorization decisions by. Each policy's package defines its config
// and names its type after these (jwt.Type); the others name themselves
// (timeout.Type).
const (
	PolicyJWTAuthn = "jwt-authn"
	PolicyMCPAuthz = "mcp-authz"
	PolicyA2AAuthz = "a2a-authz"
)

// RateValue is a request rate.
type RateValue struct {
	RequestsPerMinute int `yaml:"requestsPerMinute"`
	// Burst is how many requests may arrive back to back after a quiet
	// period (GCRA tolerance). 0 means the default: requestsPerMinute.
	Burst int `yaml:"burst"`
}

// RateLimiting is the top-level rateLimiting section.
type RateLimiting struct {
	// Redis, when set, keeps counters in Redis so that every replica
	// shares them. Without it each process counts on its own.
	Redis *RedisStore `yaml:"redis"`
	// FailureMode is what happens while Redis is unreachable: "open"
	// (default) falls back to this process's local limits, "closed"
	// answers 503 to calls that need a limit check.
	FailureMode string `yaml:"failureMode"`
	// Replicas is the number of gateway replicas (the Helm chart passes
	// replicaCount). 0 means unknown. Used only to warn about local limits.
	Replicas int `yaml:"replicas"`
}

// Rate-limiting failure modes.
const (
	FailureModeOpen   = "open"
	FailureModeClosed = "closed"
)

// RedisStore is a Redis server holding rate-limit counters.
type RedisStore struct {
	// Address is host:port.
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// Password inline; prefer PasswordFile (a mounted Secret), which is
	// re-read for every new connection. At most one of them.
	Password     string    `yaml:"password"`
	PasswordFile string    `yaml:"passwordFile"`
	DB           int       `yaml:"db"`
	TLS          *RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key the gateway writes
	// (default "agentgateway:ratelimit:").
	KeyPrefix string `yaml:"keyPrefix"`
	// Timeout bounds every Redis call, connecting included (default
	// 100ms).
	Timeout Duration `yaml:"timeout"`
}

// RedisTLS configures TLS to Redis. Certificates are always verified.
type RedisTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string `yaml:"caFile"`
	// ServerName overrides the name verified in the server certificate
	// (default: the host of address).
	ServerName string `yaml:"serverName"`
}

// Backend is an upstream service.
type Backend struct {
	Name string `yaml:"name"`
	// Type is "mcp-http" for MCP servers, "http" (default) otherwise.
	Type    string      `yaml:"type"`
	Address string      `yaml:"address"`
	MCP     *MCPBackend `yaml:"mcp"`
	// TLS configures the connection to an https:// address (docs/tls.md).
	TLS *BackendTLS `yaml:"tls"`
	// CircuitBreaker protects the backend; on by default with the
	// defaults documented in docs/proxy.md#circuit-breaking.
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker"`
	// Agents lists the agent names this backend serves on an A2A route
	// (/agents/<name>). Without it the backend serves the name derived
	// from its own (docs/a2a.md#routing).
	Agents []string `yaml:"agents"`
	// Prefix names this backend's tools, prompts and resources on a
	// federated MCP route: prefix + separator + name. Default: the
	// backend name; "" passes names through unchanged.
	Prefix *string `yaml:"prefix"`
	// HTTP chooses the HTTP version spoken to the backend
	// (docs/proxy.md#http-versions-to-backends).
	HTTP *BackendHTTPConfig `yaml:"http"`
}

// BackendHTTPConfig is how the gateway speaks HTTP to a backend.
type BackendHTTPConfig struct {
	// Version is "http1", "http2" or "auto". Default: http1 for an
	// http:// address, auto for https://. http2 on an http:// address
	// is cleartext HTTP/2 with prior knowledge (h2c); on https:// it is
	// HTTP/2 negotiated by ALPN, with no HTTP/1.1 fallback. auto offers
	// h2 then http/1.1 in the TLS handshake: https:// only.
	Version string `yaml:"version"`
}

// Backend HTTP versions (BackendHTTPConfig.Version).
const (
	HTTPVersion1    = "http1"
	HTTPVersion2    = "http2"
	HTTPVersionAuto = "auto"
)

// CircuitBreaker caps a backend's concurrent requests and ejects it after
// consecutive failures (5xx, connect failures, resets), for an interval
// that doubles with each ejection up to MaxEjectionTime; after it one probe
// request decides whether the backend is back.
type CircuitBreaker struct {
	// MaxRequests caps requests in flight to the backend (default 1024).
	MaxRequests int `yaml:"maxRequests"`
	// ConsecutiveFailures ejects the backend (default 5).
	ConsecutiveFailures int `yaml:"consecutiveFailures"`
	// BaseEjectionTime is the first ejection's length (default 5s).
	BaseEjectionTime Duration `yaml:"baseEjectionTime"`
	// MaxEjectionTime bounds the doubling (default 60s).
	MaxEjectionTime Duration `yaml:"maxEjectionTime"`
}

// Backend types.
const (
	BackendMCPHTTP = "mcp-http"
	BackendHTTP    = "http"
)

// MCPBackend holds MCP specifics of a backend.
type MCPBackend struct {
	// Endpoint is the MCP endpoint path on the backend (default "/mcp").
	Endpoint string `yaml:"endpoint"`
	// Protocol is "http" (Streamable HTTP, default) or "sse" (legacy
	// HTTP+SSE transport).
	Protocol string `yaml:"protocol"`
	// Timeout bounds a whole exchange with this backend.
	Timeout Duration `yaml:"timeout"`
}

// Observability is the observability section. It is parsed fully here; the
// telemetry package enforces it.
type Observability struct {
	OpenTelemetry *OpenTelemetry `yaml:"opentelemetry"`
	Prometheus    *Prometheus    `yaml:"prometheus"`
	MCP           *MCPObs        `yaml:"mcp"`
}

// OpenTelemetry configures trace export.
type OpenTelemetry struct {
	Enabled  bool     `yaml:"enabled"`
	Endpoint string   `yaml:"endpoint"`
	Protocol string   `yaml:"protocol"`
	Tracing  *Tracing `yaml:"tracing"`
}

// Tracing configures spans.
type Tracing struct {
	Enabled      bool             `yaml:"enabled"`
	SamplingRate *float64         `yaml:"samplingRate"`
	Attributes   []TraceAttribute `yaml:"attributes"`
	// TrustIncomingTraceparent makes a caller's W3C traceparent the
	// parent of the gateway's span (default true: the seed's KAgent →
	// Gateway → MCP server trace is one trace). false starts a new trace
	// per request and links the caller's.
	TrustIncomingTraceparent *bool `yaml:"trustIncomingTraceparent"`
	// PolicySpans gives each authentication, authorization and rate-limit
	// policy a span of its own under the server span. Off (the default),
	// a request has one server span and one client span per upstream
	// attempt, and each policy's decision is an attribute of the server
	// span: every span costs the SDK several microseconds per request.
	PolicySpans bool `yaml:"policySpans"`
}

// TraceAttribute adds an attribute to every span. Value may reference
// ${jwt.<claim>} or ${mcp.tool}.
type TraceAttribute struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Prometheus configures the metrics endpoint.
type Prometheus struct {
	Enabled bool     `yaml:"enabled"`
	Port    int      `yaml:"port"`
	Path    string   `yaml:"path"`
	Metrics []string `yaml:"metrics"`
}

// MCPObs configures MCP-specific metrics.
type MCPObs struct {
	Enabled bool     `yaml:"enabled"`
	Metrics []string `yaml:"metrics"`
}

// Admin is the health, metrics and status listener. It has no
// authentication of its own: bind it to loopback or a pod-internal address
// (docs/operations.md).
type Admin struct {
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
	// Pprof serves Go's profiling endpoints under /debug/pprof/ (default
	// off: profiles and goroutine dumps reveal internals, and a CPU
	// profile costs CPU while it runs). Read once: changing it needs a
	// restart, like the port.
	Pprof bool `yaml:"pprof"`
}

// Server holds per-connection hardening limits. Every field has a default.
type Server struct {
	ReadHeaderTimeout Duration  `yaml:"readHeaderTimeout"` // default 10s
	IdleTimeout       Duration  `yaml:"idleTimeout"`       // default 120s
	MaxHeaderBytes    *ByteSize `yaml:"maxHeaderBytes"`    // default 64 KiB
	MaxHeaderCount    int       `yaml:"maxHeaderCount"`    // default 100 header field lines (Envoy's max_headers_count)
	MaxBodyBytes      *ByteSize `yaml:"maxBodyBytes"`      // default 4 MiB
	// MaxConcurrentStreams per HTTP/2 connection (default 250).
	MaxConcurrentStreams int `yaml:"maxConcurrentStreams"`
	// ShutdownGracePeriod bounds draining on SIGTERM (default 25s).
	ShutdownGracePeriod Duration `yaml:"shutdownGracePeriod"`

	// Overload protection (docs/proxy.md#overload).
	// MaxRequests caps requests in flight across the gateway, streams
	// included (default 10000); past it requests get a fast 503.
	MaxRequests int `yaml:"maxRequests"`
	// MaxStreams caps open streams (MCP GET listening streams, legacy SSE
	// streams, A2A streaming methods) across the gateway (default 5000).
	MaxStreams int `yaml:"maxStreams"`
	// MaxStreamsPerIdentity caps the streams one verified identity holds
	// open (default 100); past it the identity gets 429.
	MaxStreamsPerIdentity int `yaml:"maxStreamsPerIdentity"`
	// BodyReadTimeout bounds reading a request body (default 30s): a
	// client trickling its body cannot hold a slot for long.
	BodyReadTimeout Duration `yaml:"bodyReadTimeout"`
	// MaxBufferedBodyBytes caps the request bytes buffered across the
	// gateway at once (default 256 MiB); past it a request with a body
	// gets a fast 503. Without it the bound is maxRequests × maxBodyBytes.
	MaxBufferedBodyBytes *ByteSize `yaml:"maxBufferedBodyBytes"`
	// WriteTimeout bounds each write to a client (default 30s): a client
	// that stops reading is cut, a moving stream is not.
	WriteTimeout Duration `yaml:"writeTimeout"`

	// MCP sessions and idle streams (docs/operations.md#idle-sessions-and-streams).
	// MaxSessions caps the MCP sessions this replica tracks (default
	// 10000); when full, the least recently used idle session is closed to
	// make room, and if none is idle a new session gets 503.
	MaxSessions int `yaml:"maxSessions"`
	// MaxSessionsPerIdentity caps the live MCP sessions one verified
	// identity holds (default 100); past it its initialize gets 429.
	MaxSessionsPerIdentity int `yaml:"maxSessionsPerIdentity"`
	// SessionIdleTimeout closes an MCP session with no request in flight
	// and none for this long (default 30m): the gateway sends the backend
	// the DELETE the client never sent.
	SessionIdleTimeout Duration `yaml:"sessionIdleTimeout"`
	// StreamIdleTimeout ends a response (stream or not) that receives no
	// byte from the backend for this long (default 5m, Envoy's
	// stream_idle_timeout) on routes whose timeout policy sets no idle.
	StreamIdleTimeout Duration `yaml:"streamIdleTimeout"`

	// HeadersWithUnderscores is what happens to request header and
	// trailer names that contain "_" (Envoy's headers_with_underscores_action):
	// "drop" (default) removes them, "reject" answers 400, "allow" forwards
	// them. Whatever the value, a name that equals a header the gateway
	// owns once "_" is read as "-" is always removed: WSGI, CGI and PHP
	// backends fold the two together.
	HeadersWithUnderscores string `yaml:"headersWithUnderscores"`

	// SessionKeys seal the session ids of federated MCP routes
	// (docs/federation.md#key-rotation). Without it each process draws a
	// random key: sessions then survive neither a restart nor a move to
	// another replica.
	SessionKeys *SessionKeys `yaml:"sessionKeys"`
}

// SessionKeys names the file of AEAD keys that seal federated MCP session
// ids: one base64 (standard, padded) 32-byte key per line, '#' comments
// and blank lines ignored. The first key seals; every key opens.
type SessionKeys struct {
	File string `yaml:"file"`
}

// Values of Server.HeadersWithUnderscores.
const (
	HeadersWithUnderscoresAllow  = "allow"
	HeadersWithUnderscoresDrop   = "drop"
	HeadersWithUnderscoresReject = "reject"
)

// Logging configures log/slog output.
type Logging struct {
	Format string `yaml:"format"` // json (default) or text
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	// AccessLog writes one record per request (default true).
	AccessLog *bool `yaml:"accessLog"`
	// Audit writes the authorization and rate-limit decision records
	// (audit=true; default true).
	Audit *bool `yaml:"audit"`
}

// Duration is a time.Duration written as a Go duration string ("300s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes, written as an integer or with a unit suffix
// (KiB, MiB, GiB, KB, MB, GB).
type ByteSize int64

// ListenerTLS serves a bind over TLS (docs/tls.md). Files are read when the
// config is applied and re-read when they change; Validate does no I/O.
type ListenerTLS struct {
	// CertFile and KeyFile hold the server certificate chain and its
	// private key (PEM).
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ClientCA is a PEM bundle of the CAs client certificates must chain
	// to: the trust bundle of one SPIFFE trust domain (TrustDomain, see
	// Config.BindClientTrust). Required when ClientAuth is STRICT or
	// PERMISSIVE, unless TrustBundles is set instead.
	ClientCA string `yaml:"clientCA"`
	// TrustDomain is the bind's own SPIFFE trust domain: the domain of the
	// ClientCA bundle, and the one whose SVIDs name this cluster's
	// ServiceAccounts (principal system:serviceaccount:<ns>:<sa>). Other
	// domains' SVIDs keep their SPIFFE ID as principal. Default: see
	// Config.BindClientTrust.
	TrustDomain string `yaml:"trustDomain"`
	// TrustBundles are client CA bundles, one per SPIFFE trust domain,
	// instead of ClientCA. A certificate's SPIFFE ID is accepted only if it
	// chains to the bundle of the trust domain it names.
	TrustBundles []TrustBundle `yaml:"trustBundles"`
	// ClientAuth is STRICT (a verified client certificate is required),
	// PERMISSIVE (verified when presented) or NONE (not requested).
	// Default: STRICT when clientCA is set, NONE otherwise.
	ClientAuth string `yaml:"clientAuth"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `yaml:"minVersion"`
}

// TrustBundle is the CA bundle of one SPIFFE trust domain.
type TrustBundle struct {
	TrustDomain string `yaml:"trustDomain"`
	// CAFile is a PEM bundle of the domain's CAs.
	CAFile string `yaml:"caFile"`
}

// Client certificate modes (ListenerTLS.ClientAuth, MTLS.Mode).
const (
	ClientAuthStrict     = "STRICT"
	ClientAuthPermissive = "PERMISSIVE"
	ClientAuthNone       = "NONE"
)

// TLS versions (MinVersion fields).
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

// Security is the seed's top-level security section.
type Security struct {
	MTLS *MTLS `yaml:"mtls"`
}

// MTLS is the seed's security.mtls block (Step 10.1). When enabled it
// applies to every bind, as binds[].tls with certFile: serverCert,
// keyFile: serverKey, clientCA: certificateAuthority, clientAuth: mode and
// minVersion 1.2. A bind may not also have its own tls block.
type MTLS struct {
	Enabled bool `yaml:"enabled"`
	// Mode is STRICT (default) or PERMISSIVE.
	Mode                 string `yaml:"mode"`
	CertificateAuthority string `yaml:"certificateAuthority"`
	ServerCert           string `yaml:"serverCert"`
	ServerKey            string `yaml:"serverKey"`
	// TrustDomain and TrustBundles map to binds[].tls.trustDomain and
	// trustBundles (TrustBundles instead of CertificateAuthority).
	TrustDomain  string        `yaml:"trustDomain"`
	TrustBundles []TrustBundle `yaml:"trustBundles"`
}

// BindTLS returns the TLS settings in effect for b: its own tls block, or
// the one security.mtls implies when enabled, or nil (plain HTTP). The
// result must not be modified.
func (c *Config) BindTLS(b *Bind) *ListenerTLS {
	if b.TLS != nil {
		return b.TLS
	}
	if c.Security == nil || c.Security.MTLS == nil || !c.Security.MTLS.Enabled {
		return nil
	}
	m := c.Security.MTLS
	mode := m.Mode
	if mode == "" {
		mode = DefaultMTLSMode
	}
	return &ListenerTLS{
		CertFile:     m.ServerCert,
		KeyFile:      m.ServerKey,
		ClientCA:     m.CertificateAuthority,
		TrustDomain:  m.TrustDomain,
		TrustBundles: m.TrustBundles,
		ClientAuth:   mode,
		MinVersion:   DefaultTLSMinVersion,
	}
}

// ClientTrust is a bind's client-certificate trust, resolved: which CA
// bundle belongs to which SPIFFE trust domain.
type ClientTrust struct {
	// Bundles has one entry per trust domain. An entry with an empty
	// TrustDomain means the bind's clientCA cannot be attributed to one
	// domain (Validate refuses such a config).
	Bundles []TrustBundle
	// Local is the trust domain whose SVIDs name this cluster's
	// ServiceAccounts; "" when none does.
	Local string
}

// BindClientTrust returns the client-certificate trust of bind b, or nil
// when the bind does not verify client certificates. Never "any trust
// domain": every bundle belongs to exactly one domain.
//
//   - trustBundles: as written. The local domain is trustDomain, or the
//     only bundle's domain when there is one, else none.
//   - clientCA (certificateAuthority): one bundle, of trustDomain when
//     set; else of the one trust domain that the bind's clientCertificate
//     routes list in trustDomains, when they list exactly one; else, when
//     they list none, of DefaultTrustDomain. Routes listing several
//     domains make the single bundle ambiguous (TrustDomain "").
func (c *Config) BindClientTrust(b *Bind) *ClientTrust {
	t := c.BindTLS(b)
	if t == nil || t.ClientAuth == ClientAuthNone || t.ClientCA == "" && len(t.TrustBundles) == 0 {
		return nil
	}
	if len(t.TrustBundles) > 0 {
		ct := &ClientTrust{Bundles: t.TrustBundles, Local: t.TrustDomain}
		if ct.Local == "" && len(t.TrustBundles) == 1 {
			ct.Local = t.TrustBundles[0].TrustDomain
		}
		return ct
	}
	td := t.TrustDomain
	if td == "" {
		switch doms := RouteTrustDomains(b); len(doms) {
		case 0:
			td = DefaultTrustDomain
		case 1:
			td = doms[0]
		}
	}
	return &ClientTrust{Bundles: []TrustBundle{{TrustDomain: td, CAFile: t.ClientCA}}, Local: td}
}

// RouteTrustDomains lists, without duplicates and in order of appearance,
// the trust domains that the routes of b accepting client certificates
// name in authentication.trustDomains.
func RouteTrustDomains(b *Bind) []string {
	var out []string
	for li := range b.Listeners {
		for ri := range b.Listeners[li].Routes {
			a := b.Listeners[li].Routes[ri].Authentication
			if a == nil || !a.ClientCertificate {
				continue
			}
			for _, td := range a.TrustDomains {
				if !slices.Contains(out, td) {
					out = append(out, td)
				}
			}
		}
	}
	return out
}

// RouteAuthentication lists credentials a route accepts besides bearer
// tokens checked by jwt-authn.
type RouteAuthentication struct {
	// ClientCertificate accepts a verified client certificate whose only
	// URI SAN is a SPIFFE ID spiffe://<trust-domain>/ns/<ns>/sa/<sa> as
	// the principal system:serviceaccount:<ns>:<sa>.
	ClientCertificate bool `yaml:"clientCertificate"`
	// TrustDomains, when set, limits accepted SPIFFE IDs to these trust
	// domains; each must have a trust bundle on the bind. Unset: every
	// trust domain the bind has a bundle for (BindClientTrust).
	TrustDomains []string `yaml:"trustDomains"`
}

// BackendTLS configures TLS to an https:// backend.
type BackendTLS struct {
	// CAFile is a PEM bundle trusted for the backend's certificate instead
	// of the system roots.
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are a client certificate presented to the
	// backend; both or neither.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerName is the name verified in the backend's certificate and
	// sent as SNI (default: the address host).
	ServerName string `yaml:"serverName"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"minVersion"`
}
