package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodYAML = "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /mcp}}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\n"

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "binds:\n  - port: 8080\n    listenerz: []\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /mcp}}\n            policies:\n              - type: timeout\n                timeout: {request: soon}\n            backends: [{name: b, address: 'http://127.0.0.1:1'}]\n")
	good := writeFile(t, dir, "good.yaml", goodYAML)
	twoBackends := writeFile(t, dir, "two.yaml", "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /api}}\n            backends: [{name: a, address: 'http://127.0.0.1:1'}, {name: b, address: 'http://127.0.0.1:2'}]\n")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		contains []string
	}{
		{"no args", nil, nil, 2, []string{"Usage"}},
		{"unknown command", nil, []string{"frobnicate"}, 2, []string{"unknown command"}},
		{"help for an unknown command", nil, []string{"help", "frobnicate"}, 2, []string{"unknown command"}},
		{"validate needs a config", map[string]string{"AGENTGATEWAY_CONFIG": ""}, []string{"validate"}, 2, []string{"AGENTGATEWAY_CONFIG", "agentgateway validate --help"}},
		{"validate unknown flag", nil, []string{"validate", "--confg", good}, 2, []string{"flag provided but not defined: -confg", "agentgateway validate --help"}},
		{"validate stray argument", nil, []string{"validate", "-c", good, "extra"}, 2, []string{`unexpected argument "extra"`}},
		{"validate good", nil, []string{"validate", "--config", good}, 0, []string{"good.yaml: valid"}},
		{"validate -c", nil, []string{"validate", "-c", good}, 0, []string{"valid"}},
		{"validate from env", map[string]string{"AGENTGATEWAY_CONFIG": good}, []string{"validate"}, 0, []string{"valid"}},
		{"validate missing file", nil, []string{"validate", "-c", filepath.Join(dir, "nope.yaml")}, 1, []string{"no such file"}},
		{"validate reports every error with positions", nil, []string{"validate", "-c", bad}, 1, []string{
			"bad.yaml:3:5: binds[0].listenerz: unknown field",
			"bad.yaml:11:36: binds[0].listeners[0].routes[0].policies[0].timeout.request: invalid duration",
		}},
		{"validate the example ConfigMap", nil, []string{"validate", "-c", "../../examples/seed-configmap.yaml"}, 0, []string{
			"seed-configmap.yaml: valid",
		}},
		// run would refuse it: validate must not let CI through.
		{"validate exits 3 on what run refuses", nil, []string{"validate", "-c", twoBackends}, 3, []string{
			"only A2A routes", "refuses it",
		}},
		{"run refuses what it cannot route", nil, []string{"run", "-c", twoBackends}, 1, []string{
			"refusing to start", "only A2A routes",
		}},
		{"run needs a config", map[string]string{"AGENTGATEWAY_CONFIG": ""}, []string{"run"}, 2, []string{"no config"}},
		{"explain needs --sub", nil, []string{"explain", "-c", good, "--tool", "x"}, 2, []string{"--sub SUBJECT is required"}},
		{"explain needs one of --tool and --target", nil, []string{"explain", "-c", good, "--sub", "s"}, 2, []string{"exactly one of --tool and --target"}},
		{"explain without the policy", nil, []string{"explain", "-c", good, "--sub", "s", "--tool", "x"}, 1, []string{"no route has an mcp-authz policy"}},
		{"explain an invalid config", nil, []string{"explain", "-c", bad, "--sub", "s", "--tool", "x"}, 1, []string{"invalid"}},
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

// TestValidateOnePass: type errors do not hide semantic errors elsewhere
// in the file; all come in one run, sorted by line.
func TestValidateOnePass(t *testing.T) {
	code, out, errs := runCLI(t, nil, "validate", "-c", "testdata/seven.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		// decode errors
		`seven.yaml:4:5: binds[0].listenerz: unknown field`,
		`seven.yaml:12:36: binds[0].listeners[0].routes[0].policies[0].timeout.request: invalid duration "soon"`,
		`seven.yaml:14:35: binds[0].listeners[0].routes[0].policies[1].retry.attempts: expected an integer`,
		// semantic errors, in the same run
		`seven.yaml:9:36: binds[0].listeners[0].routes[0].match.path.prefix: prefix "mcp" must start with "/"`,
		`seven.yaml:15:43: binds[0].listeners[0].routes[0].backends[0].address:`,
		`seven.yaml:16:19: binds[0].listeners[0].routes[1].name: duplicate route name "tools"`,
		`seven.yaml:18:13: binds[0].listeners[0].routes[1].backends: at least one backend is required`,
		`seven.yaml:20:9: admin.port: port 70000 is out of range`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	// Sorted by line.
	var lines []int
	for _, m := range regexp.MustCompile(`seven\.yaml:(\d+):`).FindAllStringSubmatch(errs, -1) {
		var n int
		for _, c := range m[1] {
			n = n*10 + int(c-'0')
		}
		lines = append(lines, n)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Errorf("errors not sorted by line: %v", lines)
		}
	}
	golden(t, "validate-seven.txt", errs)
}

// TestValidateHelmTemplate: the output of `helm template` for the chart is
// a stream of manifests; validate finds the gateway config in its
// ConfigMap and reports positions in the whole file.
func TestValidateHelmTemplate(t *testing.T) {
	const fixture = "testdata/helm-template.yaml"
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Line 106 of the fixture is "      port: 9090" under admin: in the
	// ConfigMap, the 6th document.
	broken := strings.Replace(string(data), "    admin:\n      port: 9090\n", "    admin:\n      port: nine\n", 1)
	if broken == string(data) {
		t.Fatal("fixture changed: admin.port not found")
	}
	cm := strings.Index(string(data), "kind: ConfigMap")
	twoCMs := string(data) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata:\n  config.yaml: |\n    binds: []\n"
	noCM := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {other: x}\n"
	tests := []struct {
		name string
		file string
		code int
		want []string
	}{
		{"the chart's output", fixture, 0, []string{"helm-template.yaml: valid"}},
		{"an error inside the ConfigMap, at its line in the stream", writeFile(t, dir, "broken.yaml", broken), 1, []string{
			`broken.yaml:106:13: admin.port: expected an integer, got string "nine"`,
		}},
		{"two gateway ConfigMaps", writeFile(t, dir, "two.yaml", twoCMs), 1, []string{"2 ConfigMaps hold a gateway config"}},
		{"no gateway ConfigMap", writeFile(t, dir, "none.yaml", noCM), 1, []string{"multiple YAML documents and none is a ConfigMap"}},
	}
	if cm < 0 {
		t.Fatal("fixture has no ConfigMap")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, "validate", "-c", tt.file)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errs, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errs)
				}
			}
		})
	}
}

func TestValidateWarnings(t *testing.T) {
	const head = "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n"
	jwt := func(uri string) string {
		return head + "            match: {path: {prefix: /mcp}}\n            policies:\n              - type: jwt-authn\n                jwt: {issuer: 'https://i.example', audiences: [a], jwksUri: '" + uri + "'}\n            backends: [{name: b, type: mcp-http, address: 'http://127.0.0.1:1'}]\n"
	}
	a2a := func(target string) string {
		return head + "            match: {path: {prefix: /agents}}\n            policies:\n              - type: jwt-authn\n                jwt: {issuer: 'https://i.example', audiences: [a], jwksUri: 'https://i.example/jwks'}\n              - type: a2a-authz\n                a2a:\n                  rules:\n                    - {source: 's:*', target: '" + target + "', allowed: true}\n            backends: [{name: weather-agent-backend, address: 'http://127.0.0.1:1'}, {name: billing, address: 'http://127.0.0.1:2', agents: [billing-agent]}]\n"
	}
	dir := t.TempDir()
	tests := []struct {
		name   string
		config string
		want   string // "" means no warning
	}{
		{"http JWKS on another host", jwt("http://keys.example/jwks"), `t.yaml:10:77: binds[0].listeners[0].routes[0].policies[0].jwt.jwksUri: the JWKS is fetched over plain http from "keys.example"`},
		{"http JWKS on loopback", jwt("http://127.0.0.1:9999/jwks"), ""},
		{"http JWKS on localhost", jwt("http://localhost:9999/jwks"), ""},
		{"https JWKS", jwt("https://keys.example/jwks"), ""},
		{"a2a target no backend serves", a2a("wether-agent"), `t.yaml:14:47: binds[0].listeners[0].routes[0].policies[1].a2a.rules[0].target: no backend of this route serves agent "wether-agent" (it serves "weather-agent", "billing-agent")`},
		{"a2a glob no backend serves", a2a("pay-*"), `no backend of this route serves agent "pay-*"`},
		{"a2a derived name", a2a("weather-agent"), ""},
		{"a2a version alias", a2a("weather-agent-v6"), ""},
		{"a2a explicit agent", a2a("billing-agent"), ""},
		{"a2a glob that matches", a2a("bill*"), ""},
		{"a2a any", a2a("*"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, "t.yaml", tt.config)
			code, out, errs := runCLI(t, nil, "validate", "-c", p)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			got := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "warning: ") && !strings.Contains(l, "rate limits") {
					got += l + "\n"
				}
			}
			if tt.want == "" && got != "" {
				t.Errorf("unexpected warning:\n%s", got)
			}
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("warnings lack %q:\n%s", tt.want, got)
			}
		})
	}
}

// TestValidatePrint: the effective config has every default and no secret.
func TestValidatePrint(t *testing.T) {
	code, out, errs := runCLI(t, nil, "validate", "-c", "testdata/print.yaml", "--print")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, secret := range []string{"hunter2", "s3cr3t", "tok123"} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("output shows secret %q", secret)
		}
	}
	for _, want := range []string{
		"password: <redacted>",
		"readHeaderTimeout: 10s", // a default
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if !strings.Contains(errs, "print.yaml: valid") || strings.Contains(out, "valid\n") {
		t.Errorf("status belongs on stderr with --print:\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	golden(t, "validate-print.yaml", out)
	// A password file is named, never read.
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", "filesecret")
	src, err := os.ReadFile("testdata/print.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withFile := writeFile(t, dir, "file.yaml", strings.Replace(string(src), "password: hunter2", "passwordFile: "+pwFile, 1))
	code, out, errs = runCLI(t, nil, "validate", "-c", withFile, "--print")
	if code != 0 || !strings.Contains(out, "passwordFile: "+pwFile) || strings.Contains(out+errs, "filesecret") {
		t.Errorf("passwordFile: exit %d\n%s%s", code, out, errs)
	}
	// The printed config is itself a valid config.
	p := writeFile(t, t.TempDir(), "effective.yaml", strings.ReplaceAll(out, "<redacted>", "x"))
	if code, out, errs := runCLI(t, nil, "validate", "-c", p); code != 0 {
		t.Errorf("the effective config does not validate: exit %d\n%s%s", code, out, errs)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://user:pw@h:1/p", "http://user:REDACTED@h:1/p"},
		{"https://h/p?access_token=abc&x=1", "https://h/p?access_token=REDACTED&x=1"},
		{"https://h/p?x=1", "https://h/p?x=1"},
		{"/etc/file", "/etc/file"},
		{"redis:6379", "redis:6379"},
	} {
		if got := config.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestHelp: every command answers --help on stdout with exit 0, in --flag
// style, with none of the flag package's raw output.
func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "validate", "explain", "version", "demo", "token"} {
		for _, form := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				code, out, errs := runCLI(t, nil, form...)
				if code != 0 {
					t.Fatalf("exit %d\n%s%s", code, out, errs)
				}
				if errs != "" {
					t.Errorf("help wrote to stderr:\n%s", errs)
				}
				if !strings.HasPrefix(out, "Usage: agentgateway "+cmd) {
					t.Errorf("help does not start with its usage line:\n%s", out)
				}
				if strings.Contains(out, "Usage of") || strings.Contains(out, "-state-dir agentgateway") {
					t.Errorf("raw flag package output:\n%s", out)
				}
				// Flags are listed as --name; a single dash only for a
				// one-letter shorthand.
				if m := regexp.MustCompile(`(?m)^\s+-[a-z]{2,}`).FindString(out); m != "" {
					t.Errorf("single-dash long flag %q in:\n%s", m, out)
				}
			})
		}
	}
	code, out, _ := runCLI(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "explain") {
		t.Errorf("agentgateway --help: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "validate", "--help")
	if code != 0 || !strings.Contains(out, "-c, --config PATH") || !strings.Contains(out, "3  valid, but") {
		t.Errorf("validate --help lacks the flag list or the exit codes:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "948c6df0fdea177ed79c65491de6e6f2fcf4ddbf"},
		{Key: "vcs.time", Value: "2026-12-06T07:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name    string
		ldflags string
		bi      *debug.BuildInfo
		want    string
	}{
		{"plain go build", "", bi, "agentgateway dev-948c6df0fdea-dirty\n  revision: 948c6df0fdea177ed79c65491de6e6f2fcf4ddbf\n  date:     2026-12-06T07:00:00Z\n  modified: true\n  go:       go1.26.8\n"},
		{"release build", "v1.2.3", bi, "agentgateway v1.2.3\n  revision: 948c6df0fdea177ed79c65491de6e6f2fcf4ddbf\n  date:     2026-12-06T07:00:00Z\n  modified: true\n  go:       go1.26.8\n"},
		{"go install @version", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.11.0"}}, "agentgateway v0.11.0\n  revision: unknown (built without VCS information: -buildvcs=false, or not from a git checkout)\n  go:       go1.26.8\n"},
		{"no build info", "", nil, "agentgateway dev\n  revision: unknown (built without VCS information: -buildvcs=false, or not from a git checkout)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionText(tt.ldflags, tt.bi); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "agentgateway ") || !strings.Contains(out, "revision: ") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}

func TestExplain(t *testing.T) {
	const cfg = "testdata/explain.yaml"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"mcp allow by the first rule for the principal", []string{"--sub", "system:serviceaccount:ns:reader", "--tool", "get_forecast"}, []string{
			`ALLOW by rules[0] (testdata/explain.yaml:17:23)`, "=> allow",
		}},
		{"mcp allow by a later rule", []string{"--sub", "system:serviceaccount:ns:writer", "--tool", "store_plan"}, []string{
			`ALLOW by rules[2] (testdata/explain.yaml:21:23)`, "rules[1], rules[2] match the principal",
		}},
		{"mcp deny: rules for the principal, none for the tool", []string{"--sub", "system:serviceaccount:ns:reader", "--tool", "store_plan"}, []string{
			`DENY, no rule: rules[0] (testdata/explain.yaml:17:23), rules[1] (testdata/explain.yaml:19:23) match the principal, but none lists tool "store_plan"`, "=> deny",
		}},
		{"mcp deny: no rule for the principal", []string{"--sub", "system:serviceaccount:other:x", "--tool", "ping"}, []string{
			`DENY, no rule: no rule's principal matches "system:serviceaccount:other:x"`, "=> deny",
		}},
		{"a2a allow through a version alias's canonical name", []string{"--sub", "system:serviceaccount:ns:planner", "--target", "weather-agent"}, []string{
			`"weather-agent" is a name of agent "weather-agent-v6"`, `ALLOW by rules[0] (testdata/explain.yaml:38:23)`, "=> allow",
		}},
		{"a2a deny rule wins over an earlier allow", []string{"--sub", "system:serviceaccount:ns:intern", "--target", "billing-agent"}, []string{
			`DENY by rules[2] (testdata/explain.yaml:44:23)`, "=> deny",
		}},
		{"a2a no rule", []string{"--sub", "system:serviceaccount:x:y", "--target", "billing-agent"}, []string{
			`DENY, no rule: no rule matches source "system:serviceaccount:x:y" and agent "billing-agent"`,
		}},
		{"a2a unknown agent", []string{"--sub", "system:serviceaccount:ns:a", "--target", "nobody"}, []string{
			`no backend of this route serves agent "nobody"`,
		}},
		{"route filter", []string{"--sub", "system:serviceaccount:ns:a", "--target", "nobody", "--route", "agents"}, []string{`route "agents"`}},
	}
	var all strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, append([]string{"explain", "-c", cfg}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			all.WriteString("$ explain " + strings.Join(tt.args, " ") + "\n" + out)
		})
	}
	golden(t, "explain.txt", all.String())
}
