package identity

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseServiceAccount(t *testing.T) {
	tests := []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa", "agent-core-infra", "ekspoc-v6-kagent-agent-sa", true},
		{"system:serviceaccount:default:default", "default", "default", true},
		{"system:serviceaccount:ns:a.b-c", "ns", "a.b-c", true},
		{"system:serviceaccount:ns", "", "", false},
		{"system:serviceaccount::sa", "", "", false},
		{"system:serviceaccount:ns:", "", "", false},
		{"system:serviceaccount:ns:sa:extra", "", "", false},
		{"system:serviceaccount:NS:sa", "", "", false},
		{"system:serviceaccount:ns:SA", "", "", false},
		{"system:serviceaccount:-ns:sa", "", "", false},
		{"system:serviceaccount:ns:sa-", "", "", false},
		{"system:serviceaccount:ns:a..b", "", "", false},
		{"system:serviceaccount:" + strings.Repeat("a", 64) + ":sa", "", "", false},
		{"system:serviceaccount:ns:" + strings.Repeat("a", 254), "", "", false},
		{"System:ServiceAccount:ns:sa", "", "", false},
		{"user@example.com", "", "", false},
		{"", "", "", false},
		{"system:serviceaccount:ns:sa\n", "", "", false},
	}
	for _, tt := range tests {
		ns, name, ok := ParseServiceAccount(tt.in)
		if ns != tt.ns || name != tt.name || ok != tt.ok {
			t.Errorf("ParseServiceAccount(%q) = %q, %q, %v; want %q, %q, %v", tt.in, ns, name, ok, tt.ns, tt.name, tt.ok)
		}
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if p, ok := From(ctx); ok || p != nil {
		t.Fatalf("From(empty) = %v, %v", p, ok)
	}
	if With(ctx, nil) != ctx {
		t.Error("With(nil) changed the context")
	}
	want := &Principal{Subject: "s"}
	got, ok := From(With(ctx, want))
	if !ok || got != want {
		t.Fatalf("From(With(p)) = %v, %v", got, ok)
	}
	if want.IsServiceAccount() {
		t.Error("plain subject is not a service account")
	}
	var nilP *Principal
	if nilP.IsServiceAccount() {
		t.Error("nil principal")
	}
	if _, ok := nilP.Claim("sub"); ok {
		t.Error("nil principal has claims")
	}
}

func TestClaim(t *testing.T) {
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(`{
		"sub": "system:serviceaccount:ns:sa",
		"exp": 1700000000,
		"big": 12345678901234567890,
		"ok": true,
		"nothing": null,
		"groups": ["a", "b<c>"],
		"kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u"}},
		"kubernetes": {"io": {"namespace": "shadowed"}},
		"a.b": "exact wins",
		"a": {"b": "nested loses"}
	}`))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	p := &Principal{Claims: claims}
	tests := []struct {
		path, want string
		ok         bool
	}{
		{"sub", "system:serviceaccount:ns:sa", true},
		{"exp", "1700000000", true},
		{"big", "12345678901234567890", true},
		{"ok", "true", true},
		{"nothing", "null", true},
		{"groups", `["a","b<c>"]`, true},
		{"kubernetes.io.namespace", "ns", true},
		{"kubernetes.io.serviceaccount.name", "sa", true},
		{"kubernetes.io.serviceaccount", `{"name":"sa","uid":"u"}`, true},
		{"a.b", "exact wins", true},
		{"missing", "", false},
		{"sub.x", "", false},
		{"groups.0", "", false},
		{"", "", false},
		{".", "", false},
		{"kubernetes.io.", "", false},
	}
	for _, tt := range tests {
		got, ok := p.ClaimString(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClaimString(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClaimDepthBounded(t *testing.T) {
	// a.a.a.a... nested 40 deep: lookups stop at maxPathDepth.
	m := map[string]any{"v": "x"}
	path := "v"
	for range 40 {
		m = map[string]any{"a": m}
		path = "a." + path
	}
	p := &Principal{Claims: m}
	if _, ok := p.Claim(path); ok {
		t.Error("lookup deeper than maxPathDepth succeeded")
	}
	if v, ok := p.ClaimString(strings.Repeat("a.", 10) + "a"); !ok || !strings.HasPrefix(v, "{") {
		t.Errorf("shallow lookup = %q, %v", v, ok)
	}
}
