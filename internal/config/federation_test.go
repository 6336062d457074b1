package config

import (
	"strings"
	"testing"
)

// fedRoute is a route over the given backends (flow mappings) and mcp block.
func fedRoute(mcpBlock string, backends ...string) string {
	s := "            backends:\n"
	for _, b := range backends {
		s += "              - " + b + "\n"
	}
	if mcpBlock != "" {
		s = "            mcp: " + mcpBlock + "\n" + s
	}
	return route(s)
}

func TestValidateFederation(t *testing.T) {
	w := "{name: weather, type: mcp-http, address: 'http://w:1'}"
	c := "{name: cal, type: mcp-http, address: 'http://c:1'}"
	valid := map[string]string{
		"two backends":          fedRoute("", w, c),
		"one empty prefix":      fedRoute("", w, "{name: x, type: mcp-http, address: 'http://x:1', prefix: ''}"),
		"one backend, explicit": fedRoute("{federation: true, separator: '.', failureMode: failOpen, sessionTTL: 1h, fanOutTimeout: 2s}", w),
		"a and ab do not collide": fedRoute("", "{name: a, type: mcp-http, address: 'http://a:1'}",
			"{name: ab, type: mcp-http, address: 'http://b:1'}"),
		"keys": fedRoute("", w, c) + "server:\n  sessionKeys: {file: /etc/keys}\n",
	}
	for name, src := range valid {
		t.Run(name, func(t *testing.T) {
			if p := problems("t.yaml", src); p != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}
	rp := "binds[0].listeners[0].routes[0]"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"prefix collision", fedRoute("", "{name: a, type: mcp-http, address: 'http://a:1'}", "{name: b, type: mcp-http, address: 'http://b:1', prefix: a_b}"),
			[]string{`t.yaml:12:74: ` + rp + `.backends[1].prefix: prefix "a_b" collides with backends[0]'s "a": with separator "_" a name such as "a_b_x" could belong to either`}},
		{"same prefix twice", fedRoute("", w, "{name: w2, type: mcp-http, address: 'http://x:1', prefix: weather}"),
			[]string{rp + `.backends[1].prefix: prefix "weather" collides with backends[0]'s "weather"`}},
		{"two empty prefixes", fedRoute("", "{name: a, type: mcp-http, address: 'http://a:1', prefix: ''}", "{name: b, type: mcp-http, address: 'http://b:1', prefix: ''}"),
			[]string{rp + `.backends[1].prefix: only one backend of a federated route may have the empty prefix (backends[0] has it too)`}},
		{"bad separator and mode", fedRoute("{separator: '/', failureMode: sometimes}", w, c),
			[]string{rp + `.mcp.separator: separator "/" must be 1-8 of [A-Za-z0-9._-]`, rp + `.mcp.failureMode: unknown failure mode "sometimes"`}},
		{"name does not fit", fedRoute("", w, "{name: 'my backend', type: mcp-http, address: 'http://x:1'}"),
			[]string{rp + `.backends[1].name: prefix "my backend" must be 1-64 of [A-Za-z0-9._-]`}},
		{"legacy sse", fedRoute("", w, "{name: old, type: mcp-http, address: 'http://x:1', mcp: {protocol: sse}}"),
			[]string{rp + `.backends[1].mcp.protocol: legacy HTTP+SSE backends cannot be federated`}},
		{"prefix on a passthrough route", fedRoute("", "{name: a, type: mcp-http, address: 'http://a:1', prefix: x}"),
			[]string{rp + `.backends[0].prefix: prefix is for federated MCP routes`}},
		{"mcp block on an http route", fedRoute("{failureMode: failOpen}", "{name: a, address: 'http://a:1'}"),
			[]string{rp + `.mcp: mcp options are for MCP routes`}},
		{"keys without file", fedRoute("", w, c) + "server:\n  sessionKeys: {}\n",
			[]string{`server.sessionKeys.file: file is required`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems("t.yaml", tt.src)
			i := 0
			for _, line := range got {
				if i < len(tt.want) && strings.Contains(line, tt.want[i]) {
					i++
				}
			}
			if i != len(tt.want) {
				t.Errorf("want, in order:\n%s\ngot:\n%s", strings.Join(tt.want, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}

func TestFederationWarnings(t *testing.T) {
	w := "{name: weather, type: mcp-http, address: 'http://w:1'}"
	c := "{name: cal, type: mcp-http, address: 'http://c:1'}"
	for _, tt := range []struct {
		name, src, want string
	}{
		{"no keys", fedRoute("", w, c), "sessions are sealed with a per-process random key"},
		{"no keys, replicas", fedRoute("", w, c) + "rateLimiting: {replicas: 3}\n", "each of the 3 replicas seals sessions with its own random key"},
		{"keys", fedRoute("", w, c) + "server:\n  sessionKeys: {file: /k}\n", ""},
		{"passthrough", fedRoute("", w), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			cfg.SetDefaults()
			var got []string
			for _, fe := range cfg.Warnings() {
				if strings.Contains(fe.Error(), "sessionKeys") {
					got = append(got, fe.Error())
				}
			}
			if tt.want == "" && len(got) > 0 || tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)) {
				t.Fatalf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFederationDefaults(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(fedRoute("", "{name: weather, type: mcp-http, address: 'http://w:1'}", "{name: cal, type: mcp-http, address: 'http://c:1', prefix: c}")))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	r := cfg.Binds[0].Listeners[0].Routes[0]
	if !r.IsFederated() || r.MCP == nil || *r.MCP.Separator != "_" || r.MCP.FailureMode != FailClosed || r.MCP.SessionTTL != DefaultFederationSessionTTL ||
		r.MCP.FanOutTimeout != DefaultFederationFanOutTimeout || *r.Backends[0].Prefix != "weather" || *r.Backends[1].Prefix != "c" {
		t.Fatalf("defaults: %+v %+v", r.MCP, r.Backends)
	}
	one, _ := Parse("t.yaml", []byte(base))
	one.SetDefaults()
	if r := one.Binds[0].Listeners[0].Routes[0]; r.IsFederated() || r.MCP != nil {
		t.Fatal("a one-backend route became federated")
	}
}
