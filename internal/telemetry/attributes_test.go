package telemetry

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/identity"
)

const saSubject = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"

func kvMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		if kv.Value.Type() != attribute.STRING {
			panic("non-string attribute " + string(kv.Key))
		}
		m[string(kv.Key)] = kv.Value.AsString()
	}
	return m
}

func principal() *identity.Principal {
	return &identity.Principal{
		Subject: saSubject,
		Issuer:  "https://kubernetes.default.svc",
		Method:  identity.MethodJWT,
		Claims: map[string]any{
			"sub":                               saSubject,
			"iss":                               "https://kubernetes.default.svc",
			"aud":                               []any{"agent-gateway"},
			"exp":                               json.Number("1767225600"),
			"team":                              "platform",
			"admin":                             true,
			"kubernetes.io":                     map[string]any{"namespace": "agent-core-infra", "serviceaccount": map[string]any{"name": "ekspoc-v6-kagent-agent-sa"}},
			"https://example.com/claims/tenant": "acme",
		},
	}
}

// The seed's Step 3.1 attributes, read from the seed's own YAML.
func TestSeedAttributes(t *testing.T) {
	b, err := os.ReadFile("testdata/seed-observability.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Observability config.Observability `yaml:"observability"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	otel := doc.Observability.OpenTelemetry
	a, err := CompileAttributes(otel.Tracing.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	got := kvMap(a.Eval(Vars{Principal: principal(), MCPTool: "browser_navigate"}))
	want := map[string]string{"agent.identity": saSubject, "tool.name": "browser_navigate", "gateway.version": "0.11"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// An A2A call has no tool, an anonymous one no subject: left off.
	got = kvMap(a.Eval(Vars{A2AMethod: "message/send"}))
	if len(got) != 1 || got["gateway.version"] != "0.11" {
		t.Errorf("unset variables: %v", got)
	}
	o := TracingOptionsFromConfig(otel, "0.11.0")
	if !o.Enabled || o.Endpoint != "http://jaeger-collector.observability.svc.cluster.local:4317" || o.Protocol != "grpc" || o.SamplingRate != 1 {
		t.Errorf("options %+v", o)
	}
}

func TestEvalVariables(t *testing.T) {
	vars := Vars{
		Principal:     principal(),
		MCPTool:       "browser_navigate",
		MCPMethod:     "tools/call",
		MCPSessionID:  "sess-1",
		A2AMethod:     "message/send",
		A2ATarget:     "planner",
		A2ASource:     "system:serviceaccount:agents:caller",
		Route:         "mcp",
		Backend:       "agent-core",
		RequestMethod: "POST",
		RequestPath:   "/mcp?access_token=secret",
	}
	for _, tc := range []struct{ tmpl, want string }{
		{"${jwt.sub}", saSubject},
		{"${jwt.iss}", "https://kubernetes.default.svc"},
		{"${jwt.team}", "platform"},
		{"${jwt.kubernetes.io.namespace}", "agent-core-infra"},
		{"${jwt.kubernetes.io.serviceaccount.name}", "ekspoc-v6-kagent-agent-sa"},
		{"${jwt.https://example.com/claims/tenant}", "acme"},
		{"${mcp.tool}", "browser_navigate"},
		{"${mcp.method}", "tools/call"},
		{"${mcp.session_id}", "sess-1"},
		{"${a2a.method}", "message/send"},
		{"${a2a.target}", "planner"},
		{"${a2a.source}", "system:serviceaccount:agents:caller"},
		{"${route}", "mcp"},
		{"${backend}", "agent-core"},
		{"${request.method}", "POST"},
		{"${request.path}", "/mcp"}, // never the query
		{"agent-${jwt.sub}", "agent-" + saSubject},
		{"${route}/${backend}:${mcp.tool}!", "mcp/agent-core:browser_navigate!"},
		{"cost $$5 ${mcp.tool}", "cost $5 browser_navigate"},
		{"$${route}", "${route}"},
		{"0.11", "0.11"},
		{"ünïcode ${route}", "ünïcode mcp"},
		// Not strings, missing: empty, so the attribute is left off.
		{"${jwt.exp}", ""},
		{"${jwt.admin}", ""},
		{"${jwt.aud}", ""},
		{"${jwt.missing}", ""},
		{"${jwt.kubernetes.io}", ""},
		// A literal around an unset variable stays.
		{"x${jwt.missing}", "x"},
	} {
		a, err := CompileAttributes([]config.TraceAttribute{{Key: "k", Value: tc.tmpl}})
		if err != nil {
			t.Errorf("%q: %v", tc.tmpl, err)
			continue
		}
		got := a.Eval(vars)
		if tc.want == "" {
			if len(got) != 0 {
				t.Errorf("%q: got %v, want no attribute", tc.tmpl, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Key != "k" || got[0].Value.AsString() != tc.want {
			t.Errorf("%q: got %v, want %q", tc.tmpl, got, tc.want)
		}
	}
	// Every variable is unset in the zero Vars (and nil Principal is fine).
	for _, v := range Variables() {
		name := strings.Replace(v, "<claim>", "team", 1)
		a, err := CompileAttributes([]config.TraceAttribute{{Key: "k", Value: "${" + name + "}"}})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := a.Eval(Vars{}); len(got) != 0 {
			t.Errorf("%s: zero Vars gave %v", v, got)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		list []config.TraceAttribute
		err  string
	}{
		{[]config.TraceAttribute{{Key: "k", Value: "${jwt.raw}"}}, "tokens are never"},
		{[]config.TraceAttribute{{Key: "k", Value: "${jwt.token}"}}, "tokens are never"},
		{[]config.TraceAttribute{{Key: "k", Value: "${headers.authorization}"}}, "never span attributes"},
		{[]config.TraceAttribute{{Key: "k", Value: "${request.headers.authorization}"}}, "never span attributes"},
		{[]config.TraceAttribute{{Key: "k", Value: "${request.query.access_token}"}}, "never span attributes"},
		{[]config.TraceAttribute{{Key: "k", Value: "${mcp.arguments.url}"}}, "never span attributes"},
		{[]config.TraceAttribute{{Key: "k", Value: "${mcp.tools}"}}, "unknown variable ${mcp.tools}"},
		{[]config.TraceAttribute{{Key: "k", Value: "${env.HOME}"}}, "unknown variable"},
		{[]config.TraceAttribute{{Key: "k", Value: "${jwt.}"}}, "malformed claim"},
		{[]config.TraceAttribute{{Key: "k", Value: "${jwt..x}"}}, "malformed claim"},
		{[]config.TraceAttribute{{Key: "k", Value: "${}"}}, "empty"},
		{[]config.TraceAttribute{{Key: "k", Value: "${ jwt.sub }"}}, "invalid character"},
		{[]config.TraceAttribute{{Key: "k", Value: "${jwt.sub"}}, "unterminated"},
		{[]config.TraceAttribute{{Key: "k", Value: "$jwt.sub"}}, "lone '$'"},
		{[]config.TraceAttribute{{Key: "k", Value: "5$"}}, "lone '$'"},
		{[]config.TraceAttribute{{Key: "k", Value: "${a${b}}"}}, "invalid character"},
		{[]config.TraceAttribute{{Key: "", Value: "x"}}, "empty"},
		{[]config.TraceAttribute{{Key: " k", Value: "x"}}, "space"},
		{[]config.TraceAttribute{{Key: "k\n", Value: "x"}}, "space"},
		{[]config.TraceAttribute{{Key: "k\x00", Value: "x"}}, "control"},
		{[]config.TraceAttribute{{Key: "k", Value: "\xff"}}, "UTF-8"},
		{[]config.TraceAttribute{{Key: "k", Value: "a"}, {Key: "k", Value: "b"}}, "duplicate"},
		{[]config.TraceAttribute{{Key: "k", Value: strings.Repeat("x", maxTemplateLen+1)}}, "longer"},
		{[]config.TraceAttribute{{Key: "k", Value: strings.Repeat("${route}", maxVarsPerValue+1)}}, "more than"},
		{make([]config.TraceAttribute, maxAttributes+1), "at most"},
	} {
		a, err := CompileAttributes(tc.list)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: got %v, %v; want error containing %q", tc.list[0], a, err, tc.err)
		}
	}
}

func TestEvalEdges(t *testing.T) {
	var nilAttrs *Attributes
	if nilAttrs.Eval(Vars{}) != nil || nilAttrs.Len() != 0 || nilAttrs.Append(nil, &Vars{}) != nil {
		t.Error("nil Attributes")
	}
	a, err := CompileAttributes(nil)
	if err != nil || a.Eval(Vars{Route: "r"}) != nil {
		t.Errorf("empty list: %v %v", a, err)
	}
	// A static empty value never appears.
	a, err = CompileAttributes([]config.TraceAttribute{{Key: "empty", Value: ""}, {Key: "v", Value: "1"}})
	if err != nil || a.Len() != 1 {
		t.Fatalf("%v %v", a.Len(), err)
	}
	// Order is the configuration's.
	a, err = CompileAttributes([]config.TraceAttribute{{Key: "b", Value: "${route}"}, {Key: "a", Value: "x"}, {Key: "c", Value: "${backend}"}})
	if err != nil {
		t.Fatal(err)
	}
	got := a.Eval(Vars{Route: "r", Backend: "be"})
	if len(got) != 3 || got[0].Key != "b" || got[1].Key != "a" || got[2].Key != "c" {
		t.Errorf("order: %v", got)
	}
	// Append reuses dst.
	dst := make([]attribute.KeyValue, 0, 8)
	out := a.Append(dst, &Vars{Route: "r"})
	if len(out) != 2 || &out[:1][0] != &dst[:1][0] {
		t.Errorf("Append: %v", out)
	}
}

func BenchmarkEval(b *testing.B) {
	a, err := CompileAttributes([]config.TraceAttribute{
		{Key: "agent.identity", Value: "${jwt.sub}"},
		{Key: "tool.name", Value: "${mcp.tool}"},
		{Key: "gateway.version", Value: "0.11"},
		{Key: "route.backend", Value: "${route}/${backend}"},
	})
	if err != nil {
		b.Fatal(err)
	}
	v := Vars{Principal: principal(), MCPTool: "browser_navigate", Route: "mcp", Backend: "core"}
	dst := make([]attribute.KeyValue, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst = a.Append(dst[:0], &v)
	}
}

// reference expands a template with every variable unset, independently
// of the parser: "$$" is "$", "${...}" is nothing.
var refRE = regexp.MustCompile(`\$\$|\$\{[^}]*\}`)

func reference(s string) string {
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		return ""
	})
}

func FuzzCompileAttributes(f *testing.F) {
	for _, s := range []string{
		"${jwt.sub}", "${mcp.tool}", "0.11", "agent-${jwt.sub}", "$$", "$${route}", "${", "${}", "$", "${jwt.}",
		"${jwt.kubernetes.io.namespace}", "${jwt.raw}", "${headers.authorization}", "${route}${backend}", "}${route}{",
		"${jwt.https://example.com/claims/tenant}", "a$$$${route}", "${request.path}", "\xff${route}",
	} {
		f.Add("k", s)
	}
	f.Add("", "x")
	f.Add("k\x00", "x")
	vars := Vars{
		Principal: principal(), MCPTool: "T", MCPMethod: "M", MCPSessionID: "S", A2AMethod: "AM", A2ATarget: "AT",
		A2ASource: "AS", Route: "R", Backend: "B", RequestMethod: "RM", RequestPath: "/p?q",
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		a, err := CompileAttributes([]config.TraceAttribute{{Key: key, Value: value}})
		if err != nil {
			if a != nil {
				t.Fatal("error with a result")
			}
			return
		}
		// Compiling only accepts well-formed templates: the reference
		// expansion with nothing set must equal Eval with nothing set.
		want := reference(value)
		got := a.Eval(Vars{})
		switch {
		case want == "" && len(got) != 0:
			t.Fatalf("%q: got %v, want nothing", value, got)
		case want != "" && (len(got) != 1 || got[0].Value.AsString() != want || string(got[0].Key) != key):
			t.Fatalf("%q: got %v, want %q", value, got, want)
		}
		// With variables set: no panic, at most one attribute, never the
		// query string.
		got = a.Eval(vars)
		if len(got) > 1 {
			t.Fatalf("%q: %v", value, got)
		}
		if len(got) == 1 && !strings.Contains(value, "?q") && strings.Contains(got[0].Value.AsString(), "?q") {
			t.Fatalf("%q: query string leaked: %v", value, got)
		}
		// A value without "$" is static and exact.
		if !strings.Contains(value, "$") && value != "" && (len(got) != 1 || got[0].Value.AsString() != value) {
			t.Fatalf("%q: static value changed: %v", value, got)
		}
	})
}
