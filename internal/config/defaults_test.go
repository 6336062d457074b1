package config

import (
	"reflect"
	"testing"
	"time"
)

func TestSetDefaults(t *testing.T) {
	src := base + `            policies:
              - type: retry
                retry: {attempts: 3, retryOn: [reset]}
          - name: plain
            match: {path: {prefix: /plain}}
            backends: [{name: p, address: 'http://p'}]
observability:
  opentelemetry:
    tracing: {enabled: true}
  prometheus: {enabled: true}
`
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	s := c.Server
	if s.ReadHeaderTimeout.D() != 10*time.Second || s.IdleTimeout.D() != 120*time.Second ||
		*s.MaxHeaderBytes != 64*1024 || *s.MaxBodyBytes != 4*1024*1024 ||
		s.MaxConcurrentStreams != 250 || s.ShutdownGracePeriod.D() != 25*time.Second ||
		*s.MaxBufferedBodyBytes != 256*MiB {
		t.Errorf("server defaults: %+v", s)
	}
	if *c.Logging != (Logging{Format: "json", Level: "info"}) {
		t.Errorf("logging: %+v", c.Logging)
	}
	if *c.Admin != (Admin{Address: "", Port: 9090}) {
		t.Errorf("admin: %+v", c.Admin)
	}
	if p := c.Observability.Prometheus; p.Port != 9090 || p.Path != "/metrics" {
		t.Errorf("prometheus: %+v", p)
	}
	if r := c.Observability.OpenTelemetry.Tracing.SamplingRate; r == nil || *r != 1.0 {
		t.Errorf("samplingRate: %v", r)
	}
	routes := c.Binds[0].Listeners[0].Routes
	if c.Binds[0].Address != "" {
		t.Errorf("bind address %q", c.Binds[0].Address)
	}
	be := routes[0].Backends[0]
	if be.MCP == nil || be.MCP.Endpoint != "/mcp" || be.MCP.Protocol != "http" || be.MCP.Timeout != 0 {
		t.Errorf("mcp backend: %+v", be.MCP)
	}
	if pb := routes[1].Backends[0]; pb.Type != "http" || pb.MCP != nil {
		t.Errorf("plain backend: %+v", pb)
	}
	if *routes[0].MaxBodyBytes != DefaultMaxBodyBytes || routes[0].ForwardAuthorization {
		t.Errorf("route: %+v", routes[0])
	}
	// The retry block's defaults: TestDefaults in internal/policy/retry.

	// Idempotent.
	before := *c
	c.SetDefaults()
	if !reflect.DeepEqual(before, *c) {
		t.Error("SetDefaults is not idempotent")
	}
}

func TestSetDefaultsKeepsValues(t *testing.T) {
	src := base + `admin: {address: 127.0.0.1}
observability:
  prometheus: {port: 9300, path: /m}
server: {readHeaderTimeout: 1s, maxBodyBytes: 1KiB, maxConcurrentStreams: 7}
logging: {level: debug}
`
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Admin.Port != 9300 || c.Admin.Address != "127.0.0.1" {
		t.Errorf("admin takes the prometheus port: %+v", c.Admin)
	}
	if c.Observability.Prometheus.Path != "/m" {
		t.Errorf("prometheus path overridden")
	}
	if c.Server.ReadHeaderTimeout.D() != time.Second || *c.Server.MaxBodyBytes != KiB || c.Server.MaxConcurrentStreams != 7 || c.Server.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("server: %+v", c.Server)
	}
	if *c.Binds[0].Listeners[0].Routes[0].MaxBodyBytes != KiB {
		t.Errorf("route does not inherit server.maxBodyBytes")
	}
	if *c.Server.MaxBufferedBodyBytes != DefaultMaxBufferedBodyBytes {
		t.Errorf("maxBufferedBodyBytes = %d, want the default", *c.Server.MaxBufferedBodyBytes)
	}
	if c.Logging.Level != "debug" || c.Logging.Format != "json" {
		t.Errorf("logging: %+v", c.Logging)
	}

	// admin.port given: prometheus takes it.
	c2, err := Parse("t.yaml", []byte(base+"admin: {port: 9400}\nobservability:\n  prometheus: {enabled: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDefaults()
	if c2.Observability.Prometheus.Port != 9400 {
		t.Errorf("prometheus port %d", c2.Observability.Prometheus.Port)
	}

	var nilCfg *Config
	nilCfg.SetDefaults() // must not panic
}

// The default body budget always holds the largest body a route accepts.
func TestMaxBufferedBodyBytesDefault(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      ByteSize
	}{
		{"default", base, DefaultMaxBufferedBodyBytes},
		{"large server maxBodyBytes", base + "server: {maxBodyBytes: 300MiB}\n", 300 * MiB},
		{"large route maxBodyBytes", route("            maxBodyBytes: 512MiB\n" + mcpBackend), 512 * MiB},
		{"set", base + "server: {maxBufferedBodyBytes: 64MiB}\n", 64 * MiB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDefaults()
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := *c.Server.MaxBufferedBodyBytes; got != tt.want {
				t.Errorf("maxBufferedBodyBytes = %d, want %d", got, tt.want)
			}
		})
	}
}
