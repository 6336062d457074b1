package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("binds:\n  - port: 8080\n    listenerz: []\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /mcp}}\n            policies:\n              - type: timeout\n                timeout: {request: soon}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /mcp}}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoBackends := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(twoBackends, []byte("binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /api}}\n            backends: [{name: a, address: 'http://127.0.0.1:1'}, {name: b, address: 'http://127.0.0.1:2'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		contains []string
	}{
		{"no args", nil, nil, 2, []string{"Usage"}},
		{"version", nil, []string{"version"}, 0, []string{"agentgateway "}},
		{"unknown command", nil, []string{"frobnicate"}, 2, []string{"unknown command"}},
		{"validate needs a config", map[string]string{"AGENTGATEWAY_CONFIG": ""}, []string{"validate"}, 2, []string{"AGENTGATEWAY_CONFIG"}},
		{"validate good", nil, []string{"validate", "--config", good}, 0, []string{"valid"}},
		{"validate -c", nil, []string{"validate", "-c", good}, 0, []string{"valid"}},
		{"validate from env", map[string]string{"AGENTGATEWAY_CONFIG": good}, []string{"validate"}, 0, []string{"valid"}},
		{"validate reports every error with positions", nil, []string{"validate", "-c", bad}, 1, []string{
			"bad.yaml:3:5: binds[0].listenerz: unknown field",
			"bad.yaml:11:36: binds[0].listeners[0].routes[0].policies[0].timeout.request: invalid duration",
		}},
		// Every policy of the user guide is enforced: the seed validates
		// with only the single-replica rate-limit warning.
		{"validate the seed ConfigMap", nil, []string{"validate", "-c", "../../examples/seed-configmap.yaml"}, 0, []string{
			"seed-configmap.yaml: valid",
		}},
		{"validate reports what run refuses", nil, []string{"validate", "-c", twoBackends}, 0, []string{
			"only A2A routes", "will refuse it",
		}},
		{"run refuses what it cannot route", nil, []string{"run", "-c", twoBackends}, 1, []string{
			"refusing to start", "only A2A routes",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tt.env, tt.args...)
			all := out + errs
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, all)
			}
			for _, c := range tt.contains {
				if !strings.Contains(all, c) {
					t.Errorf("output lacks %q:\n%s", c, all)
				}
			}
		})
	}
}
