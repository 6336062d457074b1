package promtool_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

const (
	rulesFile     = "../../deploy/prometheus/agent-gateway-alerts.yaml"
	promRuleFile  = "../../deploy/prometheus/agent-gateway-prometheusrule.yaml"
	ruleTestsGlob = "../../deploy/prometheus/tests/*.yaml"
	dashboardFile = "../../deploy/grafana/agent-gateway-dashboard.json"
	metricsDoc    = "../../docs/metrics.md"
)

// promtool finds the promtool binary. In CI (CI=true) a missing promtool
// is a failure, never a skip.
func promtool(t *testing.T) string {
	return testbin.Need(t, "promtool", "apt package prometheus; scripts/deps.sh installs it")
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Rules    []rule `yaml:"rules"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func plainGroups(t *testing.T) []group {
	var f struct {
		Groups []group `yaml:"groups"`
	}
	readYAML(t, rulesFile, &f)
	if len(f.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	return f.Groups
}

func TestRulesCheck(t *testing.T) {
	pt := promtool(t)
	out := run(t, pt, "check", "rules", rulesFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	// The PrometheusRule's spec is a rule file too.
	var pr struct {
		Spec map[string]any `yaml:"spec"`
	}
	b, _ := os.ReadFile(promRuleFile)
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(f, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, pt, "check", "rules", f)
}

func TestRulesUnit(t *testing.T) {
	pt := promtool(t)
	files, err := filepath.Glob(ruleTestsGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule unit tests (%v)", err)
	}
	out := run(t, pt, append([]string{"test", "rules"}, files...)...)
	if strings.Contains(out, "FAILED") || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// Every alert has a unit test where it fires and one where it does not.
func TestRulesUnitCoverEveryAlert(t *testing.T) {
	files, _ := filepath.Glob(ruleTestsGlob)
	type tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		var v tf
		b, _ := os.ReadFile(f)
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range v.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	n := 0
	for _, g := range plainGroups(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !firing[r.Alert] {
				t.Errorf("%s: no unit test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no unit test where it stays quiet", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

func TestPrometheusRuleMatchesPlainRules(t *testing.T) {
	var plain map[string]any
	var pr struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       map[string]any `yaml:"spec"`
	}
	b, _ := os.ReadFile(rulesFile)
	if err := yaml.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(promRuleFile)
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata["name"] == nil {
		t.Errorf("not a PrometheusRule: %s %s %v", pr.APIVersion, pr.Kind, pr.Metadata)
	}
	if len(plain) != 1 || len(pr.Spec) != 1 {
		t.Errorf("extra top-level keys: plain %v, spec %v", keys(plain), keys(pr.Spec))
	}
	if !reflect.DeepEqual(plain["groups"], pr.Spec["groups"]) {
		t.Error("the PrometheusRule's spec.groups differ from agent-gateway-alerts.yaml's groups")
	}
}

func keys(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// The seed's two alerts (Step 8.4) and the others the issue asks for.
func TestExpectedAlerts(t *testing.T) {
	alerts := map[string]rule{}
	for _, g := range plainGroups(t) {
		for _, r := range g.Rules {
			if r.Alert != "" {
				if _, dup := alerts[r.Alert]; dup {
					t.Errorf("alert %s defined twice", r.Alert)
				}
				alerts[r.Alert] = r
			}
		}
	}
	want := []struct {
		name, exprHas, forDur string
	}{
		{"HighErrorRate", "rate(mcp_errors_total[5m])) > 0.1", "5m"},
		{"HighLatency", "histogram_quantile(0.95, sum without (instance, pod, kind, method) (rate(agent_request_duration_seconds_bucket[5m]))) > 10", "5m"},
		{"AgentGatewayAuthFailureSpike", `agentgateway_authn_decisions_total{result="failure"}`, ""},
		{"AgentGatewayRateLimitSurge", `agentgateway_ratelimit_decisions_total{decision="limited"}`, ""},
		{"AgentGatewayBackendDown", `connect_failure`, ""},
		{"AgentGatewayConfigReloadFailed", "agentgateway_config_last_reload_successful == 0", ""},
	}
	for _, w := range want {
		r, ok := alerts[w.name]
		if !ok {
			t.Errorf("missing alert %s", w.name)
			continue
		}
		if !strings.Contains(r.Expr, w.exprHas) {
			t.Errorf("%s: expr %q lacks %q", w.name, r.Expr, w.exprHas)
		}
		if w.forDur != "" && r.For != w.forDur {
			t.Errorf("%s: for %q, want %q", w.name, r.For, w.forDur)
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: needs a severity label and summary/description annotations", w.name)
		}
	}
	for _, n := range []string{"HighErrorRate", "HighLatency"} {
		if r := alerts[n]; r.Labels["severity"] != "warning" {
			t.Errorf("%s: severity %q, want the seed's warning", n, r.Labels["severity"])
		}
	}
}

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr         string      `json:"expr"`
		RefID        string      `json:"refId"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardImportable(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all required", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query is not a string: %s", v.Name, v.Query)
		}
		vars[v.Name] = q
		switch v.Type {
		case "datasource":
			if q != "prometheus" {
				t.Errorf("datasource variable %s: query %q, want prometheus", v.Name, q)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s: datasource %+v, want ${datasource}", v.Name, v.Datasource)
			}
		}
	}
	if _, ok := vars["datasource"]; !ok {
		t.Error("no ${datasource} variable")
	}
	for name, label := range map[string]string{"identity": "agent_identity", "route": "route", "tool": "tool_name"} {
		q, ok := vars[name]
		if !ok {
			t.Errorf("no $%s variable", name)
			continue
		}
		if !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ", "+label+")") {
			t.Errorf("$%s: query %q, want label_values(..., %s)", name, q, label)
		}
	}

	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || (p.GridPos.W == 0 && p.Type != "row") {
			t.Errorf("panel %q: no gridPos", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: target %+v needs an expr and a unique refId", p.Title, tg)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: target datasource %+v, want ${datasource}", p.Title, tg.Datasource)
			}
		}
	}
}

// The panels the seed (Step 4.4) and the issue ask for, by title and by a
// fragment of their query.
func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	byTitle := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		var exprs []string
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
		byTitle[p.Title] = strings.Join(exprs, "\n")
	}
	want := []struct{ title, has string }{
		{"Agent Requests Total", "sum by (agent_identity) (rate(agent_requests_total{"},
		{"Tool Invocations", "rate(tool_invocations_total{"},
		{"Request Duration", "histogram_quantile(0.95, sum by (le) (rate(agent_request_duration_seconds_bucket{"},
		{"MCP Errors", "sum by (error_type) (rate(mcp_errors_total{"},
		{"A2A calls by source → target", "sum by (source, target) (rate(a2a_calls_total"},
		{"Authorization denials", `agentgateway_authz_decisions_total{decision="denied"`},
		{"Rate-limited calls", `agentgateway_ratelimit_decisions_total{decision="limited"`},
		{"Request duration p50 / p95 / p99 by route", "histogram_quantile(0.99,"},
		{"Request duration p50 / p95 / p99 by route", "histogram_quantile(0.5,"},
		{"Upstream errors", `agentgateway_upstream_attempts_total{result!="ok"`},
		{"Upstream retries", "agentgateway_upstream_retries_total"},
		{"Active streams", "agentgateway_active_streams"},
		{"Config reloads", "agentgateway_config_reloads_total"},
	}
	for _, w := range want {
		e, ok := byTitle[w.title]
		if !ok {
			t.Errorf("no panel %q", w.title)
			continue
		}
		if !strings.Contains(e, w.has) {
			t.Errorf("panel %q: %q lacks %q", w.title, e, w.has)
		}
	}
}

// exported returns every series name the gateway's registry can expose:
// the descriptors' names, with _bucket/_sum/_count for histograms and
// _sum/_count for summaries.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A child in every vector, so Gather reports every family's type.
	m.ObserveRequest(&telemetry.Request{Route: "r", Backend: "b", Kind: "mcp", Method: "tools/call", Status: 500, Duration: time.Second,
		Identity: "i", Tool: "t", ToolKnown: true, ErrorType: "upstream_error", Discovery: true})
	m.ObserveRequest(&telemetry.Request{Route: "r", Kind: "a2a", Method: "message/send", Status: 200, Source: "s", Target: "t", Decision: "allowed"})
	m.AuthnDecision("r", "success")
	m.AuthzDecision("r", "mcp", "allowed")
	m.RateLimitDecision("r", "allowed")
	m.UpstreamAttempt("r", "b", "ok")
	m.UpstreamRetry("r", "b")
	m.StreamOpened("r")
	m.BreakerState("r", "b", 1)
	m.FederationFailure("r", "b")
	m.Shed("r", "requests")
	m.SessionsChanged("r", 1)
	m.SessionClosed("r", "idle")
	m.ConfigReload(true)

	ch := make(chan *prometheus.Desc, 256)
	go func() { m.Registry().Describe(ch); close(ch) }()
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if mm := nameRE.FindStringSubmatch(d.String()); mm != nil {
			names[mm[1]] = true
		}
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType().String()
	}
	out := map[string]bool{}
	for n := range names {
		out[n] = true
		switch types[n] {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			out[n+"_bucket"], out[n+"_sum"], out[n+"_count"] = true, true, true
		case "SUMMARY":
			out[n+"_sum"], out[n+"_count"] = true, true
		case "":
			t.Errorf("%s: described but never gathered; the test cannot tell its type", n)
		}
	}
	for _, must := range []string{"agent_requests_total", "agent_request_duration_seconds_bucket", "go_goroutines", "process_cpu_seconds_total"} {
		if !out[must] {
			t.Fatalf("exported set lacks %s: %v", must, out)
		}
	}
	return out
}

// grafanaVars replaces Grafana's template variables with values that keep
// an expression valid PromQL.
var (
	grafanaIntervalRE = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)
	grafanaVarRE      = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?`)
	labelValuesRE     = regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
)

func expandGrafana(e string) string {
	e = grafanaIntervalRE.ReplaceAllString(e, "5m")
	return grafanaVarRE.ReplaceAllString(e, ".*")
}

type promExpr struct{ where, expr string }

func allExprs(t *testing.T) []promExpr {
	var out []promExpr
	d := readDashboard(t)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		_ = json.Unmarshal(v.Query, &q)
		mm := labelValuesRE.FindStringSubmatch(q)
		if mm == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q)
			continue
		}
		out = append(out, promExpr{"dashboard variable $" + v.Name, expandGrafana(mm[1])})
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			out = append(out, promExpr{fmt.Sprintf("dashboard panel %q %s", p.Title, tg.RefID), expandGrafana(tg.Expr)})
		}
	}
	for _, g := range plainGroups(t) {
		for _, r := range g.Rules {
			out = append(out, promExpr{"rule " + r.Alert + r.Record, r.Expr})
		}
	}
	return out
}

// Every PromQL expression in the dashboard and the rules parses (promtool
// check rules parses each as a recording rule) and names only metrics
// that the gateway exports.
func TestPromQLParsesAndNamesExportedMetrics(t *testing.T) {
	pt := promtool(t)
	exprs := allExprs(t)
	exp := exported(t)

	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var recs []rec
	for i, e := range exprs {
		recs = append(recs, rec{fmt.Sprintf("check:expr_%d", i), e.expr})
		names := metricNames(e.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", e.where, e.expr)
		}
		for _, n := range names {
			if !exp[n] {
				t.Errorf("%s: %q names %s, which the gateway does not export", e.where, e.expr, n)
			}
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "check", "rules": recs}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "exprs.yaml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, pt, "check", "rules", f)
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(recs))) {
		t.Errorf("promtool check rules on %d expressions: %s", len(recs), out)
	}
}

// A metric the gateway does not export makes the check fail: the check
// is not vacuous.
func TestUnknownMetricIsCaught(t *testing.T) {
	exp := exported(t)
	for _, e := range []string{`rate(agent_request_total[5m])`, `agent_requests_total_bucket`, `sum by (le) (rate(mcp_errors_total_bucket[5m]))`} {
		bad := false
		for _, n := range metricNames(e) {
			if !exp[n] {
				bad = true
			}
		}
		if !bad {
			t.Errorf("%q passed the exported-metric check", e)
		}
	}
}

// Every metric the gateway itself defines (not go_/process_/promhttp_) is
// documented in docs/metrics.md.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for n := range exported(t) {
		if strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") || strings.HasPrefix(n, "promhttp_") ||
			strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") {
			continue
		}
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/metrics.md does not document `%s`", n)
		}
	}
}
