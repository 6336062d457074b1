// Package config holds the YAML configuration types of the gateway, a strict
// decoder that reports every problem with file, line, column and field path,
// defaults and pure validation. Nothing here performs I/O beyond reading the
// config file; runtime objects are built from these types by internal/gateway
// and the policy packages.
package config

import (
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
}

// Match selects requests for a route.
type Match struct {
	Path PathMatch `yaml:"path"`
}

// PathMatch matches on a path prefix, on segment boundaries.
type PathMatch struct {
	Prefix string `yaml:"prefix"`
}

// Policy is one entry of a route's policy list. Type selects which of the
// typed blocks must be present; exactly that one may be set.
type Policy struct {
	Type      string           `yaml:"type"`
	JWT       *JWTPolicy       `yaml:"jwt"`
	MCP       *MCPAuthzPolicy  `yaml:"mcp"`
	RateLimit *RateLimitPolicy `yaml:"rateLimit"`
	Timeout   *TimeoutPolicy   `yaml:"timeout"`
	Retry     *RetryPolicy     `yaml:"retry"`
	A2A       *A2AAuthzPolicy  `yaml:"a2a"`
}

// Policy type names.
const (
	PolicyJWTAuthn  = "jwt-authn"
	PolicyMCPAuthz  = "mcp-authz"
	PolicyRateLimit = "rate-limit"
	PolicyTimeout   = "timeout"
	PolicyRetry     = "retry"
	PolicyA2AAuthz  = "a2a-authz"
)

// JWTPolicy is the jwt-authn block.
type JWTPolicy struct {
	Issuer         string        `yaml:"issuer"`
	Audiences      []string      `yaml:"audiences"`
	JWKSURI        string        `yaml:"jwksUri"`
	ClaimToHeaders []ClaimHeader `yaml:"claimToHeaders"`
	// ClockSkew is the leeway applied to exp, nbf and iat (default 60s;
	// 0 allowed, at most 10m).
	ClockSkew *Duration `yaml:"clockSkew"`
	// MaxTokenBytes bounds the bearer token (default 16 KiB).
	MaxTokenBytes *ByteSize `yaml:"maxTokenBytes"`
	// JWKS tunes how jwksUri is fetched and cached.
	JWKS *JWKSOptions `yaml:"jwks"`
}

// JWKSOptions tunes fetching and caching of a JWKS. Zero durations take
// their defaults.
type JWKSOptions struct {
	// RefreshInterval is the refresh period when the JWKS response has no
	// Cache-Control max-age (default 5m).
	RefreshInterval Duration `yaml:"refreshInterval"`
	// MinRefreshInterval is the least time between two fetches triggered
	// by tokens with an unknown kid (default 30s).
	MinRefreshInterval Duration `yaml:"minRefreshInterval"`
	// MaxStale is how long the last good key set keeps being used while
	// fetches fail (default 24h).
	MaxStale Duration `yaml:"maxStale"`
	// Timeout bounds one fetch (default 5s).
	Timeout Duration `yaml:"timeout"`
	// CAFile is a PEM bundle trusted for an https jwksUri instead of the
	// system roots. Default: the in-cluster ServiceAccount CA when jwksUri
	// is the Kubernetes API server and the file exists.
	CAFile string `yaml:"caFile"`
	// BearerTokenFile is read before each fetch and sent as
	// "Authorization: Bearer". Default: the in-cluster ServiceAccount token
	// when jwksUri is the Kubernetes API server and the file exists.
	BearerTokenFile string `yaml:"bearerTokenFile"`
}

// ClaimHeader copies a verified claim into a request header for the backend.
type ClaimHeader struct {
	Claim  string `yaml:"claim"`
	Header string `yaml:"header"`
}

// MCPAuthzPolicy is the mcp-authz block.
type MCPAuthzPolicy struct {
	Rules []MCPRule `yaml:"rules"`
}

// MCPRule grants a principal a set of tools.
type MCPRule struct {
	Principal    string     `yaml:"principal"`
	AllowedTools []string   `yaml:"allowedTools"`
	RateLimit    *RateValue `yaml:"rateLimit"`
}

// RateValue is a request rate.
type RateValue struct {
	RequestsPerMinute int `yaml:"requestsPerMinute"`
}

// RateLimitPolicy is the rate-limit block.
type RateLimitPolicy struct {
	Descriptors []RateDescriptor `yaml:"descriptors"`
}

// RateDescriptor limits requests whose descriptor key has the given value.
type RateDescriptor struct {
	Key       string    `yaml:"key"`
	Value     string    `yaml:"value"`
	RateLimit RateValue `yaml:"rateLimit"`
}

// TimeoutPolicy is the timeout block.
type TimeoutPolicy struct {
	// Request bounds the whole exchange, streams included.
	Request Duration `yaml:"request"`
	// Idle bounds the time with no bytes on a response stream.
	Idle Duration `yaml:"idle"`
}

// RetryPolicy is the retry block.
type RetryPolicy struct {
	Attempts      int      `yaml:"attempts"`
	PerTryTimeout Duration `yaml:"perTryTimeout"`
	RetryOn       []string `yaml:"retryOn"`
	Backoff       *Backoff `yaml:"backoff"`
	// RetryNonIdempotent lets tools/call and A2A message/send be retried
	// after the request may have reached the backend (reset, 5xx). Off by
	// default: a retried tool call can run a side effect twice.
	RetryNonIdempotent bool `yaml:"retryNonIdempotent"`
	// Budget caps concurrent retries as a share of active requests.
	Budget *RetryBudget `yaml:"budget"`
}

// Retry conditions.
const (
	RetryOn5xx            = "5xx"
	RetryOnReset          = "reset"
	RetryOnConnectFailure = "connect-failure"
)

// Backoff is exponential backoff with full jitter.
type Backoff struct {
	BaseInterval Duration `yaml:"baseInterval"`
	MaxInterval  Duration `yaml:"maxInterval"`
}

// RetryBudget mirrors Envoy's retry budget.
type RetryBudget struct {
	// Percent of active requests that may be retries (default 20).
	Percent float64 `yaml:"percent"`
	// MinConcurrent retries always allowed (default 3).
	MinConcurrent int `yaml:"minConcurrent"`
}

// A2AAuthzPolicy is the a2a-authz block.
type A2AAuthzPolicy struct {
	Rules []A2ARule `yaml:"rules"`
}

// A2ARule allows (or denies) a source identity calling a target agent.
type A2ARule struct {
	Source  string `yaml:"source"`
	Target  string `yaml:"target"`
	Allowed bool   `yaml:"allowed"`
}

// Backend is an upstream service.
type Backend struct {
	Name string `yaml:"name"`
	// Type is "mcp-http" for MCP servers, "http" (default) otherwise.
	Type    string      `yaml:"type"`
	Address string      `yaml:"address"`
	MCP     *MCPBackend `yaml:"mcp"`
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

// Admin is the health and metrics listener.
type Admin struct {
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
}

// Server holds per-connection hardening limits. Every field has a default.
type Server struct {
	ReadHeaderTimeout Duration  `yaml:"readHeaderTimeout"` // default 10s
	IdleTimeout       Duration  `yaml:"idleTimeout"`       // default 120s
	MaxHeaderBytes    *ByteSize `yaml:"maxHeaderBytes"`    // default 64 KiB
	MaxBodyBytes      *ByteSize `yaml:"maxBodyBytes"`      // default 4 MiB
	// MaxConcurrentStreams per HTTP/2 connection (default 250).
	MaxConcurrentStreams int `yaml:"maxConcurrentStreams"`
	// ShutdownGracePeriod bounds draining on SIGTERM (default 25s).
	ShutdownGracePeriod Duration `yaml:"shutdownGracePeriod"`
}

// Logging configures log/slog output.
type Logging struct {
	Format string `yaml:"format"` // json (default) or text
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// Duration is a time.Duration written as a Go duration string ("300s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes, written as an integer or with a unit suffix
// (KiB, MiB, GiB, KB, MB, GB).
type ByteSize int64
