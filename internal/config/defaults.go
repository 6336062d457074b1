package config

import (
	"strings"
	"time"
)

// Enumerated values.
const (
	MCPProtocolHTTP = "http" // Streamable HTTP
	MCPProtocolSSE  = "sse"  // legacy HTTP+SSE

	OTelProtocolGRPC = "grpc"
	OTelProtocolHTTP = "http"

	LogFormatJSON = "json"
	LogFormatText = "text"

	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"
)

// Defaults applied by SetDefaults. docs/config.md documents the same values.
const (
	DefaultBindAddress = "" // all interfaces
	DefaultBackendType = BackendHTTP

	DefaultMCPEndpoint = "/mcp"
	DefaultMCPProtocol = MCPProtocolHTTP

	DefaultReadHeaderTimeout    = Duration(10 * time.Second)
	DefaultIdleTimeout          = Duration(120 * time.Second)
	DefaultMaxHeaderBytes       = 64 * KiB
	DefaultMaxHeaderCount       = 100
	DefaultMaxBodyBytes         = 4 * MiB
	DefaultMaxConcurrentStreams = 250
	DefaultShutdownGracePeriod  = Duration(25 * time.Second)

	DefaultBreakerMaxRequests         = 1024
	DefaultBreakerConsecutiveFailures = 5
	DefaultBreakerBaseEjectionTime    = Duration(5 * time.Second)
	DefaultBreakerMaxEjectionTime     = Duration(60 * time.Second)

	DefaultMaxRequests           = 10000
	DefaultMaxStreams            = 5000
	DefaultMaxStreamsPerIdentity = 100
	DefaultBodyReadTimeout       = Duration(30 * time.Second)
	DefaultMaxBufferedBodyBytes  = 256 * MiB
	DefaultWriteTimeout          = Duration(30 * time.Second)

	DefaultMaxSessions            = 10000
	DefaultMaxSessionsPerIdentity = 100
	DefaultSessionIdleTimeout     = Duration(30 * time.Minute)
	DefaultStreamIdleTimeout      = Duration(5 * time.Minute)

	// Federated MCP routes (docs/federation.md).
	DefaultFederationSeparator     = "_"
	DefaultFederationSessionTTL    = Duration(24 * time.Hour)
	DefaultFederationFanOutTimeout = Duration(10 * time.Second)

	// DefaultHeadersWithUnderscores drops header names with "_", as nginx
	// does by default (underscores_in_headers off): behind a backend that
	// folds "_" into "-", such a header could pose as one the gateway or
	// another hop sets.
	DefaultHeadersWithUnderscores = HeadersWithUnderscoresDrop

	DefaultLogFormat = LogFormatJSON
	DefaultLogLevel  = LogLevelInfo

	DefaultAdminAddress   = ""
	DefaultAdminPort      = 9090
	DefaultPrometheusPath = "/metrics"

	DefaultSamplingRate = 1.0

	// TLS (docs/tls.md).
	DefaultTLSMinVersion = TLSVersion12
	DefaultMTLSMode      = ClientAuthStrict
	// DefaultTrustDomain is the SPIFFE trust domain of a bind's clientCA
	// when neither trustDomain nor the routes' trustDomains name one: the
	// Kubernetes (and Istio) default. See Config.BindClientTrust.
	DefaultTrustDomain = "cluster.local"
)

// Rate limiting (docs/ratelimit.md).
const (
	DefaultRateLimitFailureMode = FailureModeOpen
	DefaultRedisKeyPrefix       = "agentgateway:ratelimit:"
	DefaultRedisTimeout         = Duration(100 * time.Millisecond)

	// MaxRequestsPerMinute keeps the GCRA emission interval at 60µs or
	// more (Redis computes in microseconds).
	MaxRequestsPerMinute = 1_000_000
	MaxRateBurst         = 1_000_000
	MinRedisTimeout      = Duration(time.Millisecond)
	MaxRedisTimeout      = Duration(5 * time.Second)
)

// setRateLimitingDefaults fills the rateLimiting section when present; an
// absent section stays absent (local limits).
func setRateLimitingDefaults(rl *RateLimiting) {
	if rl == nil {
		return
	}
	orDefault(&rl.FailureMode, DefaultRateLimitFailureMode)
	if r := rl.Redis; r != nil {
		orDefault(&r.KeyPrefix, DefaultRedisKeyPrefix)
		orDefault(&r.Timeout, DefaultRedisTimeout)
	}
}

// SetDefaults fills every unset field that has a default (see the Default*
// constants). It is idempotent and never overrides a value that was set.
// Fields whose zero value is meaningful to Validate (retry.attempts,
// retry.retryOn, opentelemetry.protocol) have no default.
func (c *Config) SetDefaults() {
	if c == nil {
		return
	}
	if c.Server == nil {
		c.Server = &Server{}
	}
	s := c.Server
	orDefault(&s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&s.IdleTimeout, DefaultIdleTimeout)
	if s.MaxHeaderBytes == nil {
		v := DefaultMaxHeaderBytes
		s.MaxHeaderBytes = &v
	}
	orDefault(&s.MaxHeaderCount, DefaultMaxHeaderCount)
	orDefault(&s.HeadersWithUnderscores, DefaultHeadersWithUnderscores)
	if s.MaxBodyBytes == nil {
		v := DefaultMaxBodyBytes
		s.MaxBodyBytes = &v
	}
	orDefault(&s.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	orDefault(&s.ShutdownGracePeriod, DefaultShutdownGracePeriod)
	orDefault(&s.MaxRequests, DefaultMaxRequests)
	orDefault(&s.MaxStreams, DefaultMaxStreams)
	orDefault(&s.MaxStreamsPerIdentity, DefaultMaxStreamsPerIdentity)
	orDefault(&s.BodyReadTimeout, DefaultBodyReadTimeout)
	orDefault(&s.WriteTimeout, DefaultWriteTimeout)
	orDefault(&s.MaxSessions, DefaultMaxSessions)
	orDefault(&s.MaxSessionsPerIdentity, DefaultMaxSessionsPerIdentity)
	orDefault(&s.SessionIdleTimeout, DefaultSessionIdleTimeout)
	orDefault(&s.StreamIdleTimeout, DefaultStreamIdleTimeout)

	if c.Logging == nil {
		c.Logging = &Logging{}
	}
	orDefault(&c.Logging.Format, DefaultLogFormat)
	orDefault(&c.Logging.Level, DefaultLogLevel)

	setRateLimitingDefaults(c.RateLimiting)

	var prom *Prometheus
	if c.Observability != nil {
		prom = c.Observability.Prometheus
		if otel := c.Observability.OpenTelemetry; otel != nil && otel.Tracing != nil && otel.Tracing.SamplingRate == nil {
			r := DefaultSamplingRate
			otel.Tracing.SamplingRate = &r
		}
	}
	if c.Admin == nil {
		c.Admin = &Admin{Address: DefaultAdminAddress}
	}
	if c.Admin.Port == 0 {
		c.Admin.Port = DefaultAdminPort
		if prom != nil && prom.Port != 0 {
			c.Admin.Port = prom.Port
		}
	}
	if prom != nil {
		orDefault(&prom.Port, c.Admin.Port)
		orDefault(&prom.Path, DefaultPrometheusPath)
	}

	// Routes inherit server.maxBodyBytes; an invalid server value (reported
	// by Validate) is not propagated.
	routeBody := *s.MaxBodyBytes
	if routeBody <= 0 {
		routeBody = DefaultMaxBodyBytes
	}
	if c.Security != nil && c.Security.MTLS != nil && c.Security.MTLS.Mode == "" {
		c.Security.MTLS.Mode = DefaultMTLSMode
	}
	for bi := range c.Binds {
		b := &c.Binds[bi]
		setListenerTLSDefaults(b.TLS)
		for li := range b.Listeners {
			l := &b.Listeners[li]
			for ri := range l.Routes {
				setRouteDefaults(&l.Routes[ri], routeBody)
			}
		}
	}
	if s.MaxBufferedBodyBytes == nil {
		// The default budget always holds the largest body a route
		// accepts, so raising maxBodyBytes alone never makes a body
		// impossible to buffer.
		v := max(DefaultMaxBufferedBodyBytes, routeBody)
		for _, b := range c.Binds {
			for _, l := range b.Listeners {
				for _, r := range l.Routes {
					if r.MaxBodyBytes != nil {
						v = max(v, *r.MaxBodyBytes)
					}
				}
			}
		}
		s.MaxBufferedBodyBytes = &v
	}
}

func setRouteDefaults(r *Route, maxBody ByteSize) {
	if r.IsFederated() {
		if r.MCP == nil {
			r.MCP = &RouteMCP{}
		}
		m := r.MCP
		if m.Federation == nil {
			t := true
			m.Federation = &t
		}
		if m.Separator == nil {
			s := DefaultFederationSeparator
			m.Separator = &s
		}
		if m.FailureMode == "" {
			m.FailureMode = FailClosed
		}
		if m.SessionTTL == 0 {
			m.SessionTTL = DefaultFederationSessionTTL
		}
		if m.FanOutTimeout == 0 {
			m.FanOutTimeout = DefaultFederationFanOutTimeout
		}
		for i := range r.Backends {
			if r.Backends[i].Prefix == nil {
				p := r.Backends[i].Name
				r.Backends[i].Prefix = &p
			}
		}
	}
	if r.IsA2A() {
		if r.A2A == nil {
			r.A2A = &RouteA2A{}
		}
		if r.A2A.PushNotifications == nil {
			r.A2A.PushNotifications = &PushNotifications{}
		}
		pn := r.A2A.PushNotifications
		if pn.Check == nil {
			t := true
			pn.Check = &t
		}
		if len(pn.Schemes) == 0 {
			pn.Schemes = []string{"https", "http"}
		}
	}
	if r.Match.Path.CaseSensitive == nil {
		t := true
		r.Match.Path.CaseSensitive = &t
	}
	if r.MaxBodyBytes == nil {
		v := maxBody
		r.MaxBodyBytes = &v
	}
	for i := range r.Backends {
		be := &r.Backends[i]
		orDefault(&be.Type, DefaultBackendType)
		if be.CircuitBreaker == nil {
			be.CircuitBreaker = &CircuitBreaker{}
		}
		cb := be.CircuitBreaker
		orDefault(&cb.MaxRequests, DefaultBreakerMaxRequests)
		orDefault(&cb.ConsecutiveFailures, DefaultBreakerConsecutiveFailures)
		orDefault(&cb.BaseEjectionTime, DefaultBreakerBaseEjectionTime)
		orDefault(&cb.MaxEjectionTime, DefaultBreakerMaxEjectionTime)
		if be.Type == BackendMCPHTTP && be.MCP == nil {
			be.MCP = &MCPBackend{}
		}
		if be.TLS != nil && be.TLS.MinVersion == "" {
			be.TLS.MinVersion = DefaultTLSMinVersion
		}
		setBackendHTTPDefaults(be)
		if be.MCP != nil {
			orDefault(&be.MCP.Endpoint, DefaultMCPEndpoint)
			orDefault(&be.MCP.Protocol, DefaultMCPProtocol)
		}
	}
	for i := range r.Policies {
		for _, spec := range append([]PolicySpec{r.Policies[i].Spec}, r.Policies[i].otherSpecs...) {
			if spec != nil {
				spec.SetDefaults()
			}
		}
	}
}

// setListenerTLSDefaults: minVersion 1.2; clientAuth STRICT when a client
// CA or trust bundles are given (asking for a CA and then not checking
// would be a surprise), NONE otherwise. The trust domain of clientCA
// depends on the routes and is resolved by Config.BindClientTrust, not
// written here.
func setListenerTLSDefaults(t *ListenerTLS) {
	if t == nil {
		return
	}
	orDefault(&t.MinVersion, DefaultTLSMinVersion)
	if t.ClientAuth == "" {
		t.ClientAuth = ClientAuthNone
		if t.ClientCA != "" || len(t.TrustBundles) > 0 {
			t.ClientAuth = ClientAuthStrict
		}
	}
}

// orDefault sets *field to def when it is unset (the zero value).
func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// setBackendHTTPDefaults fills http.version from the address scheme:
// http1 for http://, since cleartext has no way to learn what the
// backend speaks and HTTP/1.1 is what every server understands; auto
// for https://, where ALPN lets the backend choose and HTTP/2 is used
// only when the backend offers it. An address that does not parse is
// left for Validate to report.
func setBackendHTTPDefaults(be *Backend) {
	if be.HTTP == nil {
		be.HTTP = &BackendHTTPConfig{}
	}
	if be.HTTP.Version != "" {
		return
	}
	switch {
	case strings.HasPrefix(strings.ToLower(be.Address), "https://"):
		be.HTTP.Version = HTTPVersionAuto
	case strings.HasPrefix(strings.ToLower(be.Address), "http://"):
		be.HTTP.Version = HTTPVersion1
	}
}
