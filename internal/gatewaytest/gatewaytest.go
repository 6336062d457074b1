// Package gatewaytest is the harness the gateway's tests share: signing
// keys and a loopback JWKS issuer (keys.go), a log sink the gateway's
// goroutines write to while the test reads it (LogBuffer), free loopback
// ports (FreePort), and a config applied to an in-process gateway (Start).
//
// It imports neither the gateway nor any policy, so that their own
// (internal) tests can use it; Start takes the gateway as an interface.
package gatewaytest

import (
	"context"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Config parses src as a config file named test.yaml, sets its defaults
// and validates it, failing the test on any error.
func Config(t testing.TB, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return cfg
}

// Gateway is the in-process gateway Start drives (*gateway.Gateway).
type Gateway interface {
	Apply(ctx context.Context, cfg *config.Config) error
	Shutdown(grace time.Duration) error
}

// Start applies the config src (Config) to g and shuts g down when the
// test ends.
func Start(t testing.TB, g Gateway, src string) {
	t.Helper()
	cfg := Config(t, src)
	if err := g.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(2 * time.Second) })
}
