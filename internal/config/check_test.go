package config

import (
	"strings"
	"testing"
)

// TestCheckOnePass: decode errors do not stop validation of what decoded,
// and validation errors a decode error explains are left out.
func TestCheckOnePass(t *testing.T) {
	const head = "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"a type error and a semantic error elsewhere", head +
			"          - name: r\n            match: {path: {prefix: mcp}}\n            policies:\n              - {type: timeout, timeout: {request: soon}}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\nadmin: {port: 70000}\n", []string{
			`t.yaml:7:36: binds[0].listeners[0].routes[0].match.path.prefix: prefix "mcp" must start with "/"`,
			`t.yaml:9:52: binds[0].listeners[0].routes[0].policies[0].timeout.request: invalid duration "soon"`,
			`t.yaml:11:15: admin.port: port 70000 is out of range 1-65535`,
		}},
		{"a field that failed to decode is not also reported as missing", head +
			"          - name: r\n            match: {path: {prefix: /mcp}}\n            backends: {name: b}\n", []string{
			`t.yaml:8:23: binds[0].listeners[0].routes[0].backends: expected a list, got a mapping`,
		}},
		{"an unknown field and the problems of its siblings", head +
			"          - name: r\n            matchh: {path: {prefix: /mcp}}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\n", []string{
			`t.yaml:7:13: binds[0].listeners[0].routes[0].matchh: unknown field "matchh" (did you mean "match"?)`,
			`binds[0].listeners[0].routes[0].match.path.prefix:`,
		}},
		{"a syntax error stops at the parser", "binds: [\n", []string{
			`t.yaml:1: invalid YAML`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := check("t.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q in:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; n != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%s", n, len(tt.want), got)
			}
		})
	}
}

func TestCoveredBy(t *testing.T) {
	decode := ErrorList{{Path: "a.b[0].timeout.request"}, {Path: "x.y"}}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"a.b[0].timeout.request", true},   // the same field
		{"a.b[0].timeout.request.x", true}, // under it
		{"a.b[0].timeout", true},           // its direct parent
		{"a.b[0]", false},                  // further up: about something else
		{"a.b[0].timeout.requestx", false}, // a sibling that shares a prefix
		{"x.y[2]", true},
		{"", false},
	} {
		if got := coveredBy(tt.path, decode); got != tt.want {
			t.Errorf("coveredBy(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestParseManifestStream: a multi-document file is accepted when exactly
// one document is a ConfigMap holding the gateway config; positions are
// those of the whole file.
func TestParseManifestStream(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gw}\ndata:\n  gateway.yaml: |\n    binds:\n      - port: 8080\n        listeners: []\n"
	tests := []struct {
		name string
		yaml string
		want string // "" means no error
	}{
		{"service then configmap", "# Source: a\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n# Source: b\n" + cm, ""},
		{"leading separator and empty documents", "---\n---\n" + cm + "---\n", ""},
		{"error positioned in the stream", "kind: Service\n---\n" + strings.Replace(cm, "port: 8080", "port: x", 1),
			"t.yaml:9:15: binds[0].port: expected an integer"},
		{"configmap under another key is not the gateway's", "kind: Service\n---\nkind: ConfigMap\ndata: {other.yaml: x}\n",
			"none is a ConfigMap"},
		{"two gateway configmaps", cm + "---\n" + strings.Replace(cm, "gateway.yaml", "config.yaml", 1),
			"2 ConfigMaps hold a gateway config (documents at lines 1, 10)"},
		{"a plain config with a second document", "binds: []\n---\nbinds: []\n", "none is a ConfigMap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Binds) != 1 || c.Binds[0].Port != 8080 {
					t.Errorf("decoded %+v", c.Binds)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
