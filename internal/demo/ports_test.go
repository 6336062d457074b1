package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// TestDemoBindsLoopback: the demo prints tokens and its admin port has no
// authentication, so neither listener may bind every interface.
func TestDemoBindsLoopback(t *testing.T) {
	src := Config(ConfigOptions{Port: 8080, AdminPort: 9090, MCPURL: "http://127.0.0.1:1", AgentURL: "http://127.0.0.1:2",
		JWKSURI: "http://127.0.0.1:3/jwks", Enforced: policy.Enforced})
	cfg, err := config.Parse("demo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	for _, b := range cfg.Binds {
		if ip := net.ParseIP(b.Address); ip == nil || !ip.IsLoopback() {
			t.Errorf("bind %d address %q is not loopback", b.Port, b.Address)
		}
	}
	if ip := net.ParseIP(cfg.Admin.Address); ip == nil || !ip.IsLoopback() {
		t.Errorf("admin address %q is not loopback", cfg.Admin.Address)
	}
}

// TestDemoPortInUse: a taken port fails before anything starts, with the
// make variable or flag that picks another one.
func TestDemoPortInUse(t *testing.T) {
	tests := []struct {
		name      string
		taken     string // which port is taken: gateway or admin
		wantParts []string
	}{
		{"gateway port", "gateway", []string{"is in use", "make demo PORT=", "--port"}},
		{"admin port", "admin", []string{"is in use", "make demo ADMIN_PORT=", "--admin-port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			taken := ln.Addr().(*net.TCPAddr).Port
			port, admin := taken, gatewaytest.FreePort(t)
			if tc.taken == "admin" {
				port, admin = gatewaytest.FreePort(t), taken
			}
			err = Run(context.Background(), Options{Port: port, AdminPort: admin, StateDir: filepath.Join(t.TempDir(), "state"), Stdout: io.Discard, Stderr: io.Discard})
			if err == nil {
				t.Fatal("demo started on a taken port")
			}
			for _, w := range append(tc.wantParts, fmt.Sprintf("port %d", taken)) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
