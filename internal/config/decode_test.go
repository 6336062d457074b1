package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readExample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces the n-th (1-based) occurrence of old in s.
func edit(t testing.TB, s, old, new string, n int) string {
	t.Helper()
	idx := -1
	for i := 0; i < n; i++ {
		j := strings.Index(s[idx+1:], old)
		if j < 0 {
			t.Fatalf("occurrence %d of %q not found", i+1, old)
		}
		idx += 1 + j
	}
	return s[:idx] + new + s[idx+len(old):]
}

// posOf returns the 1-based line and column of the first occurrence of needle.
func posOf(t testing.TB, s, needle string) (int, int) {
	t.Helper()
	i := strings.Index(s, needle)
	if i < 0 {
		t.Fatalf("%q not found", needle)
	}
	line := strings.Count(s[:i], "\n") + 1
	col := i - strings.LastIndex(s[:i], "\n")
	return line, col
}

// problems runs Parse and, when it succeeds, SetDefaults and Validate, and
// returns the error lines.
func problems(file, src string) []string {
	c, err := Parse(file, []byte(src))
	if err == nil {
		c.SetDefaults()
		err = c.Validate()
	}
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDecodeErrors(t *testing.T) {
	gw := readExample(t, "gateway.yaml")
	cm := readExample(t, "seed-configmap.yaml")
	const badDur = `invalid duration "300x": want a Go duration such as "30s", "1m30s" or "250ms"`

	tests := []struct {
		name string
		file string
		src  string
		want []string // exact error lines, in order
	}{
		{
			name: "bad duration exact path",
			file: "gateway.yaml",
			src:  edit(t, gw, "request: 300s", "request: 300x", 1),
			want: []string{"gateway.yaml:53:28: binds[0].listeners[0].routes[0].policies[3].timeout.request: " + badDur},
		},
		{
			name: "bad duration in ConfigMap points into outer file",
			file: "seed-configmap.yaml",
			src:  edit(t, cm, "request: 300s", "request: 300x", 1),
			want: []string{"seed-configmap.yaml:61:32: binds[0].listeners[0].routes[0].policies[3].timeout.request: " + badDur},
		},
		{
			name: "duration without unit",
			file: "g.yaml",
			src:  edit(t, gw, "request: 300s", "request: 300", 1),
			want: []string{`g.yaml:53:28: binds[0].listeners[0].routes[0].policies[3].timeout.request: invalid duration 300: missing unit, write e.g. "300s"`},
		},
		{
			name: "negative duration",
			file: "g.yaml",
			src:  edit(t, gw, "idle: 60s", "idle: -60s", 1),
			want: []string{`g.yaml:54:25: binds[0].listeners[0].routes[0].policies[3].timeout.idle: invalid duration "-60s": must not be negative`},
		},
		{
			name: "unknown field at depth with suggestion",
			file: "g.yaml",
			src:  edit(t, gw, "perTryTimeout: 30s", "perTryTimeot: 30s", 1),
			want: []string{`g.yaml:60:19: binds[0].listeners[0].routes[0].policies[4].retry.perTryTimeot: unknown field "perTryTimeot" (did you mean "perTryTimeout"?)`},
		},
		{
			name: "unknown field case mismatch",
			file: "g.yaml",
			src:  edit(t, gw, "jwksUri:", "jwksURI:", 2),
			want: []string{`g.yaml:92:19: binds[0].listeners[1].routes[0].policies[0].jwt.jwksURI: unknown field "jwksURI" (did you mean "jwksUri"?)`},
		},
		{
			name: "unknown field in ConfigMap",
			file: "cm.yaml",
			src:  edit(t, cm, "perTryTimeout: 30s", "perTryTimeot: 30s", 1),
			want: []string{`cm.yaml:68:23: binds[0].listeners[0].routes[0].policies[4].retry.perTryTimeot: unknown field "perTryTimeot" (did you mean "perTryTimeout"?)`},
		},
		{
			name: "multiple errors in one pass, sorted by position",
			file: "g.yaml",
			src: edit(t, edit(t, edit(t, gw,
				"perTryTimeout: 30s", "perTryTimeout: soon", 1),
				"port: 8080", "port: eighty", 1),
				"requestsPerMinute: 100", "requestsPerMinute: [100]", 1),
			want: []string{
				`g.yaml:4:11: binds[0].port: expected an integer, got string "eighty"`,
				`g.yaml:39:44: binds[0].listeners[0].routes[0].policies[1].mcp.rules[0].rateLimit.requestsPerMinute: expected an integer, got a list`,
				`g.yaml:60:34: binds[0].listeners[0].routes[0].policies[4].retry.perTryTimeout: invalid duration "soon": want a Go duration such as "30s", "1m30s" or "250ms"`,
			},
		},
		{
			name: "unknown policy type",
			file: "g.yaml",
			src:  edit(t, gw, "- type: rate-limit", "- type: ratelimit", 1),
			want: []string{`g.yaml:42:23: binds[0].listeners[0].routes[0].policies[2].type: unknown policy type "ratelimit" (valid: timeout, jwt-authn, a2a-authz, mcp-authz, rate-limit, retry)`},
		},
		{
			name: "wrong kind: mapping where list expected",
			file: "t.yaml",
			src:  "binds:\n  port: 8080\n",
			want: []string{"t.yaml:2:3: binds: expected a list, got a mapping"},
		},
		{
			name: "wrong kind: list where mapping expected",
			file: "t.yaml",
			src:  "binds: []\nserver:\n  - a\n",
			want: []string{"t.yaml:3:3: server: expected a mapping, got a list"},
		},
		{
			name: "quoted int, bad bool, bad float",
			file: "t.yaml",
			src:  "binds:\n  - port: \"8080\"\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            forwardAuthorization: yes\nobservability:\n  opentelemetry:\n    tracing:\n      samplingRate: high\n",
			want: []string{
				`t.yaml:2:11: binds[0].port: expected an integer, got string "8080"`,
				`t.yaml:7:35: binds[0].listeners[0].routes[0].forwardAuthorization: expected true or false, got string "yes"`,
				`t.yaml:11:21: observability.opentelemetry.tracing.samplingRate: expected a number, got string "high"`,
			},
		},
		{
			name: "int overflow and NaN",
			file: "t.yaml",
			src:  "binds:\n  - port: 99999999999999999999\nobservability:\n  opentelemetry:\n    tracing:\n      samplingRate: .nan\n",
			want: []string{
				`t.yaml:2:11: binds[0].port: expected an integer, got number 99999999999999999999`,
				`t.yaml:6:21: observability.opentelemetry.tracing.samplingRate: invalid number .nan: must be a finite number`,
			},
		},
		{
			name: "duplicate key",
			file: "t.yaml",
			src:  "binds: []\nlogging:\n  level: info\n  level: debug\n",
			want: []string{`t.yaml:4:3: logging.level: duplicate key "level" (first at line 3)`},
		},
		{
			name: "byte sizes",
			file: "t.yaml",
			src:  "server:\n  maxBodyBytes: 4mb\n  maxHeaderBytes: -1\nbinds:\n  - listeners:\n      - routes:\n          - maxBodyBytes: 1.5MiB\n",
			want: []string{
				`t.yaml:2:17: server.maxBodyBytes: invalid size "4mb": unknown unit "mb" (valid: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
				`t.yaml:3:19: server.maxHeaderBytes: must not be negative`,
				`t.yaml:7:27: binds[0].listeners[0].routes[0].maxBodyBytes: invalid size "1.5MiB": unknown unit ".5MiB" (valid: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
			},
		},
		{
			name: "multiple documents",
			file: "t.yaml",
			src:  "binds: []\n---\nbinds: []\n",
			want: []string{`t.yaml:2:1: multiple YAML documents and none is a ConfigMap with data."gateway.yaml" or data."config.yaml": a config file holds one gateway.yaml document, or a manifest stream (helm template output) with exactly one such ConfigMap`},
		},
		{
			name: "empty file",
			file: "t.yaml",
			src:  "# nothing here\n",
			want: []string{"t.yaml: no YAML document: the config is empty"},
		},
		{
			name: "top level not a mapping",
			file: "t.yaml",
			src:  "- a\n",
			want: []string{"t.yaml:1:1: the config must be a mapping with a binds key, got a list"},
		},
		{
			name: "syntax error has a line",
			file: "t.yaml",
			src:  "binds:\n  - port: 1\n    listeners: [a,\n",
			want: []string{"t.yaml:3: invalid YAML: did not find expected node content"},
		},
		{
			name: "syntax error inside ConfigMap is offset",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  gateway.yaml: |\n    binds:\n      - port: 1\n        listeners: [a,\n",
			want: []string{"cm.yaml:6: invalid YAML: did not find expected node content"},
		},
		{
			name: "ConfigMap without gateway.yaml",
			file: "cm.yaml",
			src:  "apiVersion: v1\nkind: ConfigMap\ndata:\n  other.yaml: |\n    binds: []\n",
			want: []string{`cm.yaml:3:1: data: ConfigMap has neither data."gateway.yaml" nor data."config.yaml"`},
		},
		{
			name: "ConfigMap without data",
			file: "cm.yaml",
			src:  "apiVersion: v1\nkind: ConfigMap\n",
			want: []string{`cm.yaml:2:1: data: ConfigMap has no data: want data."gateway.yaml" holding the gateway config`},
		},
		{
			name: "ConfigMap with gateway.yaml as a mapping",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  gateway.yaml:\n    binds: []\n",
			want: []string{"cm.yaml:4:5: data.\"gateway.yaml\": expected a string (a literal block: `gateway.yaml: |`), got a mapping"},
		},
		{
			name: "ConfigMap config.yaml fallback, quoted string maps to the key",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  config.yaml: \"binds: []\\nbogus: 1\\n\"\n",
			want: []string{`cm.yaml:3:3: bogus: unknown field "bogus"; valid fields: binds, observability, admin, server, logging, security, rateLimiting`},
		},
		{
			name: "ConfigMap with chomping indicator",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  gateway.yaml: |-\n\n      binds: []\n      bogus: 1\n",
			want: []string{`cm.yaml:6:7: bogus: unknown field "bogus"; valid fields: binds, observability, admin, server, logging, security, rateLimiting`},
		},
		{
			name: "ConfigMap with indentation indicator",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  gateway.yaml: |2\n      # indented more than the block\n    binds: []\n    bogus: 1\n",
			want: []string{`cm.yaml:6:5: bogus: unknown field "bogus"; valid fields: binds, observability, admin, server, logging, security, rateLimiting`},
		},
		{
			name: "other kinds are rejected",
			file: "d.yaml",
			src:  "apiVersion: apps/v1\nkind: Deployment\n",
			want: []string{`d.yaml:2:7: kind: unsupported kind string "Deployment": expected a gateway.yaml document or a Kubernetes ConfigMap`},
		},
		{
			name: "multiple documents in ConfigMap payload",
			file: "cm.yaml",
			src:  "kind: ConfigMap\ndata:\n  gateway.yaml: |\n    binds: []\n    ---\n    binds: []\n",
			want: []string{"cm.yaml:5:5: multiple YAML documents: a config file must hold exactly one document (found another one here)"},
		},
		{
			name: "merge key cycle",
			file: "t.yaml",
			src:  "binds: []\nlogging: &a\n  <<: *a\n",
			want: []string{"t.yaml:3:7: logging: invalid merge of alias *a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file, []byte(tc.src))
			got := problems(tc.file, tc.src)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if err != nil {
				var el ErrorList
				if !errors.As(err, &el) {
					t.Fatalf("Parse error is %T, want ErrorList", err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("errors.As(*FieldError) failed")
				}
			}
		})
	}
}

func TestDurationAndSizeValues(t *testing.T) {
	src := `binds: []
server:
  readHeaderTimeout: 1m30s
  idleTimeout: 0
  shutdownGracePeriod: "250ms"
  maxHeaderBytes: 64KiB
  maxBodyBytes: 10 MB
logging:
  format: text
`
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.ReadHeaderTimeout.D() != 90*time.Second || s.IdleTimeout != 0 || s.ShutdownGracePeriod.D() != 250*time.Millisecond {
		t.Errorf("durations: %+v", s)
	}
	if *s.MaxHeaderBytes != 64*1024 || *s.MaxBodyBytes != 10_000_000 {
		t.Errorf("sizes: %v %v", *s.MaxHeaderBytes, *s.MaxBodyBytes)
	}
	for in, want := range map[string]ByteSize{"0": 0, "512KB": 512000, "1GiB": 1 << 30, "4MiB": 4 << 20, "7": 7, "2 TiB": 2 << 40} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "4mib", "99999999999TiB", "1 0"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
	for b, want := range map[ByteSize]string{4 * MiB: "4MiB", 64 * KiB: "64KiB", 10 * MB: "10MB", 1000: "1KB", 1023: "1023", 0: "0"} {
		if b.String() != want {
			t.Errorf("%d.String() = %q, want %q", int64(b), b.String(), want)
		}
	}
}

func TestAliasesAndMerge(t *testing.T) {
	src := `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: a
            match: {path: {prefix: /a}}
            policies:
              - &jwt
                type: jwt-authn
                jwt:
                  issuer: https://issuer
                  audiences: &aud [gw]
                  jwksUri: https://issuer/jwks
            backends:
              - &be
                name: b
                address: http://b:80
          - name: c
            match: {path: {prefix: /c}}
            policies:
              - *jwt
              - <<: *jwt
                type: jwt-authn
            backends:
              - <<: *be
                name: other
`
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Binds[0].Listeners[0].Routes
	// The jwt block is jwt.Config, which this package cannot name.
	field := func(p Policy, name string) any {
		if p.Spec == nil {
			return nil
		}
		return reflect.ValueOf(p.Spec).Elem().FieldByName(name).Interface()
	}
	if auds, _ := field(r[1].Policies[0], "Audiences").([]string); len(auds) != 1 || auds[0] != "gw" || field(r[1].Policies[1], "Issuer") != "https://issuer" {
		t.Errorf("alias not expanded: %+v", r[1].Policies)
	}
	if r[1].Backends[0].Name != "other" || r[1].Backends[0].Address != "http://b:80" {
		t.Errorf("merge: %+v", r[1].Backends[0])
	}
	// Validation sees the duplicate policy type produced by the alias.
	c.SetDefaults()
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), `binds[0].listeners[0].routes[1].policies[1].type: policy type "jwt-authn" appears more than once`) {
		t.Errorf("Validate = %v", err)
	}
}

func TestAliasExpansionIsBounded(t *testing.T) {
	// Billion laughs through merge keys: each level merges ten copies of the
	// previous one.
	var b strings.Builder
	b.WriteString("binds:\n  - port: 1\n    listeners:\n      - &l0 {name: x}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "      - &l%d {<<: [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}\n")
	}
	start := time.Now()
	_, err := Parse("laughs.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "config too large") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}

	// Plain aliases reused many times.
	b.Reset()
	b.WriteString("binds:\n  - port: 1\n    listeners:\n      - name: x\n        routes:\n          - name: r\n            policies:\n              - type: mcp-authz\n                mcp:\n                  rules:\n")
	b.WriteString("                    - {principal: p, allowedTools: &t [")
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("a")
	}
	b.WriteString("]}\n")
	for i := 0; i < 1500; i++ {
		b.WriteString("                    - {allowedTools: *t}\n")
	}
	_, err = Parse("many.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "config too large") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigMapEqualsPlain(t *testing.T) {
	plain, err := Parse("gateway.yaml", []byte(readExample(t, "gateway.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := Parse("seed-configmap.yaml", []byte(readExample(t, "seed-configmap.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	plain.src, cm.src = nil, nil
	if !reflect.DeepEqual(plain, cm) {
		t.Error("ConfigMap and plain example decode differently")
	}
}

func TestPositionIndex(t *testing.T) {
	src := readExample(t, "seed-configmap.yaml")
	c, err := Parse("cm.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	check := func(path, needle string) {
		t.Helper()
		line, col := posOf(t, src, needle)
		p, ok := c.Position(path)
		if !ok || p.Line != line || p.Col != col {
			t.Errorf("Position(%s) = %v, %v; want %d:%d", path, p, ok, line, col)
		}
	}
	check("binds[0].port", "8080")
	check("binds[0].listeners[1]", "name: a2a-listener")
	check("binds[0].listeners[0].routes[0].policies[3].timeout", "timeout:\n                      request: 300s")
	check("binds[0].listeners[0].routes[0].policies[3].timeout.request", "300s\n                      idle")
	check("observability.prometheus.port", "9090")
	// Unwritten fields fall back to their nearest ancestor.
	check("binds[0].listeners[0].routes[0].policies[3].timeout.bogus", "timeout:\n                      request: 300s")
	if c.SourceFile() != "cm.yaml" {
		t.Errorf("SourceFile = %q", c.SourceFile())
	}
	fe := c.Errorf("binds[0].port", "policy %s is not enforced", "x")
	if got := fe.Error(); got != `cm.yaml:12:15: binds[0].port: policy x is not enforced` {
		t.Errorf("Errorf = %q", got)
	}
	var nilCfg *Config
	if _, ok := nilCfg.Position("x"); ok {
		t.Error("nil config has positions")
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("../../examples/seed-configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Binds[0].Port != 8080 {
		t.Errorf("port %d", c.Binds[0].Port)
	}
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing = %v", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "f", Line: 1, Col: 2, Path: "a.b", Msg: "m"}, "f:1:2: a.b: m"},
		{FieldError{File: "f", Line: 1, Msg: "m"}, "f:1: m"},
		{FieldError{Path: "a", Msg: "m"}, "a: m"},
		{FieldError{File: "f", Msg: "m"}, "f: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q want %q", got, tc.want)
		}
	}
}

func TestMergeKeysAreCharged(t *testing.T) {
	var b strings.Builder
	b.WriteString("binds:\n  - port: 1\n    listeners:\n      - &l0 {")
	for i := 0; i < 2000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: v", i)
	}
	b.WriteString("}\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "      - &l%d {<<: [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]}\n", i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err := Parse("merge.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "config too large") {
		t.Fatalf("err = %.300v", err)
	}
}

func TestTrailingEmptyDocument(t *testing.T) {
	for _, src := range []string{"---\n" + base, base + "---\n", base + "---\n# end\n"} {
		if _, err := Parse("t.yaml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src[len(src)-10:], err)
		}
	}
}
