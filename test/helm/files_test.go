package helm

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// TestChartFilesFresh: the chart's files/ hold exactly the current
// deploy/grafana/*.json and deploy/prometheus/agent-gateway-alerts.yaml
// (Helm cannot read files outside the chart; `make chart-files` copies
// them).
func TestChartFilesFresh(t *testing.T) {
	pairs := map[string]string{} // chart copy -> source
	srcs, _ := filepath.Glob(path(t, "deploy/grafana/*.json"))
	for _, s := range srcs {
		pairs[path(t, chartRel+"/files/dashboards/"+filepath.Base(s))] = s
	}
	if s := path(t, "deploy/prometheus/agent-gateway-alerts.yaml"); exists(s) {
		pairs[path(t, chartRel+"/files/agent-gateway-alerts.yaml")] = s
	}
	copies, _ := filepath.Glob(path(t, chartRel+"/files/dashboards/*.json"))
	if a := path(t, chartRel+"/files/agent-gateway-alerts.yaml"); exists(a) {
		copies = append(copies, a)
	}
	for _, c := range copies {
		if _, ok := pairs[c]; !ok {
			t.Errorf("%s has no source any more; run `make chart-files`", c)
		}
	}
	for c, s := range pairs {
		want, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not a current copy of %s; run `make chart-files`", c, s)
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestDashboardAndAlerts renders the Grafana dashboard ConfigMap and the
// PrometheusRule from the chart's copies when they exist, and otherwise
// checks that asking for them fails with the way to fix it.
func TestDashboardAndAlerts(t *testing.T) {
	dashboards, _ := filepath.Glob(path(t, chartRel+"/files/dashboards/*.json"))
	args := []string{"template", release, chartRel, "--namespace", namespace, "--set", "grafanaDashboard.enabled=true"}
	if len(dashboards) == 0 {
		if _, err := runHelm(t, args...); err == nil || !strings.Contains(err.Error(), "make helm") {
			t.Errorf("grafanaDashboard.enabled without dashboards: %v", err)
		}
	} else {
		objs := split(t, mustHelm(t, append(args, "--set", "grafanaDashboard.namespace=observability")...))
		var cm *corev1.ConfigMap
		for _, o := range objs {
			if o.Kind() == "v1/ConfigMap" && strings.HasSuffix(o.Name(), "-dashboards") {
				cm = decodeStrict(t, o).(*corev1.ConfigMap)
			}
		}
		if cm == nil {
			t.Fatal("no dashboard ConfigMap")
		}
		if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "observability" {
			t.Errorf("dashboard ConfigMap labels %v namespace %s", cm.Labels, cm.Namespace)
		}
		for _, d := range dashboards {
			want, _ := os.ReadFile(d)
			if got := cm.Data[filepath.Base(d)]; got != strings.TrimRight(string(want), "\n") {
				t.Errorf("dashboard %s not carried verbatim", filepath.Base(d))
			}
		}
	}

	alerts := path(t, chartRel+"/files/agent-gateway-alerts.yaml")
	args = []string{"template", release, chartRel, "--namespace", namespace, "--set", "prometheusRule.enabled=true"}
	if !exists(alerts) {
		if _, err := runHelm(t, args...); err == nil || !strings.Contains(err.Error(), "make helm") {
			t.Errorf("prometheusRule.enabled without alerts: %v", err)
		}
		return
	}
	objs := split(t, mustHelm(t, args...))
	pr := find(t, objs, "monitoring.coreos.com/v1/PrometheusRule")
	decodeStrict(t, pr)
	var src struct {
		Groups []any `yaml:"groups"`
	}
	b, _ := os.ReadFile(alerts)
	if err := yaml.Unmarshal(b, &src); err != nil {
		t.Fatal(err)
	}
	spec, _ := pr.Map["spec"].(map[string]any)
	if groups, _ := spec["groups"].([]any); len(groups) != len(src.Groups) || len(groups) == 0 {
		t.Errorf("PrometheusRule has %d groups, the alerts file %d", len(groups), len(src.Groups))
	}
}

// TestManifestsFresh: deploy/kubernetes/agent-gateway.yaml is what `make
// manifests` renders now.
func TestManifestsFresh(t *testing.T) {
	out := template(t, "-f", chartRel+"/ci/kubernetes-manifests-values.yaml")
	got, err := os.ReadFile(path(t, "deploy/kubernetes/agent-gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != out {
		t.Errorf("deploy/kubernetes/agent-gateway.yaml is stale; run `make manifests`:\n%s", firstDiff(string(got), out))
	}
	// Plain kubectl users get the same objects as the guide's Helm users.
	objs := split(t, string(got))
	for _, o := range objs {
		decodeStrict(t, o)
	}
	// The guide's values are validation jwks: no RBAC (deploy/rbac holds
	// Step 2's ClusterRole for those who switch to TokenReview).
	checkAuthnGrants(t, objs, false, true)
	checkPod(t, deploymentOf(t, objs))
	find(t, objs, "policy/v1/PodDisruptionBudget")
	ns := decodeFile(t, "deploy/kubernetes/00-namespace.yaml").(*corev1.Namespace)
	if ns.Name != namespace {
		t.Errorf("namespace %s", ns.Name)
	}
	// The Makefile renders with the same arguments as this test.
	mk, _ := os.ReadFile(path(t, "Makefile"))
	if !bytes.Contains(mk, []byte("template agent-gateway $(CHART) --namespace agent-gateway")) ||
		!bytes.Contains(mk, []byte("-f $(CHART)/ci/kubernetes-manifests-values.yaml")) {
		t.Error("the Makefile's manifests target no longer renders like this test")
	}
}

// TestArgoCDApplication: deploy/argocd's Application is the guide's, with
// its values verbatim, pointing at this chart.
func TestArgoCDApplication(t *testing.T) {
	b, err := os.ReadFile(path(t, "deploy/argocd/agent-gateway-application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name, Namespace string
		}
		Spec struct {
			Source struct {
				RepoURL        string `yaml:"repoURL"`
				Path           string `yaml:"path"`
				TargetRevision string `yaml:"targetRevision"`
				Helm           struct {
					ReleaseName string `yaml:"releaseName"`
					Values      string `yaml:"values"`
				} `yaml:"helm"`
			} `yaml:"source"`
			Destination struct {
				Server, Namespace string
			} `yaml:"destination"`
			SyncPolicy struct {
				SyncOptions []string `yaml:"syncOptions"`
			} `yaml:"syncPolicy"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &app); err != nil {
		t.Fatal(err)
	}
	if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" || app.Metadata.Name != "agent-gateway" || app.Metadata.Namespace != "argocd" {
		t.Errorf("not the guide's Application: %+v", app.Metadata)
	}
	src := app.Spec.Source
	if src.Path != chartRel || !strings.Contains(src.RepoURL, "agentgateway-go/agentgateway") || src.Helm.ReleaseName != release {
		t.Errorf("source %+v does not point at this chart", src)
	}
	if app.Spec.Destination.Namespace != namespace || !slices.Contains(app.Spec.SyncPolicy.SyncOptions, "CreateNamespace=true") {
		t.Errorf("destination %+v", app.Spec.Destination)
	}
	// The values block is the guide's, byte for byte but for trailing
	// blanks (the guide indents its empty lines).
	trim := regexp.MustCompile(`(?m)[ \t]+$`)
	want := string(readTestdata(t, "seed-argocd-values.yaml"))
	if got := trim.ReplaceAllString(src.Helm.Values, ""); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("values differ from the guide's (testdata/seed-argocd-values.yaml):\n%s", firstDiff(want, got))
	}
}

// TestPrometheusExample: the scrape job selects the chart's pods by the
// guide's label and scrapes only the metrics port, at the metrics path.
func TestPrometheusExample(t *testing.T) {
	cm := decodeFile(t, "examples/prometheus/agent-gateway-scrape.yaml").(*corev1.ConfigMap)
	var jobs []struct {
		JobName     string `yaml:"job_name"`
		MetricsPath string `yaml:"metrics_path"`
		SDConfigs   []struct {
			Role       string `yaml:"role"`
			Namespaces struct {
				Names []string `yaml:"names"`
			} `yaml:"namespaces"`
		} `yaml:"kubernetes_sd_configs"`
		Relabel []struct {
			SourceLabels []string `yaml:"source_labels"`
			Action       string   `yaml:"action"`
			Regex        string   `yaml:"regex"`
			TargetLabel  string   `yaml:"target_label"`
		} `yaml:"relabel_configs"`
		ScrapeInterval string `yaml:"scrape_interval"`
	}
	dec := yaml.NewDecoder(strings.NewReader(cm.Data["agent-gateway-scrape.yml"]))
	dec.KnownFields(true)
	if err := dec.Decode(&jobs); err != nil || len(jobs) != 1 {
		t.Fatalf("scrape config: %v (%d jobs)", err, len(jobs))
	}
	j := jobs[0]
	objs := split(t, template(t, "-f", "test/helm/testdata/seed-argocd-values.yaml"))
	d := deploymentOf(t, objs)
	if j.SDConfigs[0].Role != "pod" || !slices.Equal(j.SDConfigs[0].Namespaces.Names, []string{d.Namespace}) {
		t.Errorf("service discovery %+v", j.SDConfigs)
	}
	labels := map[string]string{}
	for k, v := range d.Spec.Template.Labels {
		labels["__meta_kubernetes_pod_label_"+k] = v
	}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "metrics" {
			labels["__meta_kubernetes_pod_container_port_name"] = "metrics"
		}
	}
	keeps := 0
	for _, r := range j.Relabel {
		if r.Action != "keep" {
			continue
		}
		keeps++
		if !regexp.MustCompile("^(?:" + r.Regex + ")$").MatchString(labels[r.SourceLabels[0]]) {
			t.Errorf("keep %s=~%s drops the gateway's metrics port", r.SourceLabels[0], r.Regex)
		}
		if r.SourceLabels[0] == "__meta_kubernetes_pod_container_port_name" && regexp.MustCompile("^(?:"+r.Regex+")$").MatchString("http") {
			t.Error("the job would scrape the traffic port")
		}
	}
	if keeps != 2 {
		t.Errorf("%d keep rules, want the app label and the port name", keeps)
	}
	if j.MetricsPath != "/metrics" {
		t.Errorf("metrics_path %s", j.MetricsPath)
	}
}

// TestDockerfile: multi-stage, static, non-root, minimal, and the
// ENTRYPOINT the chart relies on (it sets no command or args).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(path(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	if strings.Count(df, "\nFROM ") < 2 {
		t.Error("not multi-stage")
	}
	for _, w := range []string{
		"CGO_ENABLED=0",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		`ENTRYPOINT ["/usr/local/bin/agentgateway", "run", "--config", "/etc/agentgateway/gateway.yaml"]`,
	} {
		if !strings.Contains(df, w) {
			t.Errorf("Dockerfile lacks %q", w)
		}
	}
	d := deploymentOf(t, split(t, template(t)))
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Command) != 0 || len(c.Args) != 0 {
		t.Errorf("the chart overrides the image's ENTRYPOINT: %v %v", c.Command, c.Args)
	}
	if u := d.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != 65532 {
		t.Errorf("pod user %v, want the image's 65532", u)
	}
	di, err := os.ReadFile(path(t, ".dockerignore"))
	if err != nil || !strings.Contains(string(di), "!internal/") {
		t.Errorf(".dockerignore: %v", err)
	}
}
