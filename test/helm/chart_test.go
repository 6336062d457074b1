package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/agentgateway-go/agentgateway/internal/gateway"
	// Registers the policies `agentgateway run` enforces, for Problems.
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

// renderCase is one way of installing the chart.
type renderCase struct {
	name string
	args []string
	// crds: renders Prometheus Operator objects.
	crds bool
}

func renderCases(t testing.TB) []renderCase {
	return []renderCase{
		{name: "default"},
		{name: "seed-argocd", args: []string{"-f", "test/helm/testdata/seed-argocd-values.yaml"}},
		{name: "seed-set", args: seedSetFlags(t)},
		{name: "existing-configmap", args: []string{"-f", "test/helm/testdata/seed-argocd-values.yaml", "--set", "existingConfigMap=agent-gateway-config"}},
		{name: "production", args: []string{"-f", "test/helm/testdata/production-values.yaml"}},
		{name: "inline-config", args: []string{"-f", "test/helm/testdata/inline-config-values.yaml"}},
		{name: "tokenreview", args: []string{"--set", "security.jwt.validation=tokenreview"}},
		{name: "both", args: []string{"--set", "security.jwt.validation=both"}},
		{name: "mcp-only", args: []string{"--set", "a2a.enabled=false"}},
		{name: "servicemonitor", args: []string{"--set", "serviceMonitor.enabled=true"}, crds: true},
		{name: "podmonitor", args: []string{"--set", "podMonitor.enabled=true"}, crds: true},
		{name: "federation", args: []string{"-f", "test/helm/testdata/federation-values.yaml"}},
	}
}

// TestFederationSessionKeys: with federation.sessionKeys.secretName the
// Secret is mounted read-only, readable by the pod's group only, and the
// generated config points server.sessionKeys.file at it, so that every
// replica opens every federated session; without it nothing is mounted
// and the config names no key file. The route's mcp options and the
// backends' prefixes reach the config.
func TestFederationSessionKeys(t *testing.T) {
	const file = "/etc/agentgateway-session-keys/session-keys"
	t.Run("with a Secret", func(t *testing.T) {
		objs := split(t, template(t, "-f", "test/helm/testdata/federation-values.yaml"))
		d := deploymentOf(t, objs)
		var vol *corev1.Volume
		for i, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == "session-keys" {
				vol = &d.Spec.Template.Spec.Volumes[i]
			}
		}
		if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "agentgateway-session-keys" {
			t.Fatalf("no session-keys volume from the Secret: %+v", d.Spec.Template.Spec.Volumes)
		}
		if m := vol.Secret.DefaultMode; m == nil || *m != 0o440 {
			t.Errorf("session-keys mode %v, want 0440", m)
		}
		if len(vol.Secret.Items) != 1 || vol.Secret.Items[0].Key != "session-keys" || vol.Secret.Items[0].Path != "session-keys" {
			t.Errorf("session-keys items %+v", vol.Secret.Items)
		}
		mounted := false
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.Name == "session-keys" {
				mounted = m.MountPath == filepath.Dir(file) && m.ReadOnly
			}
		}
		if !mounted {
			t.Errorf("session-keys not mounted read-only at %s: %+v", filepath.Dir(file), d.Spec.Template.Spec.Containers[0].VolumeMounts)
		}
		cfg := configMapOf(t, objs).Data["gateway.yaml"]
		for _, want := range []string{"sessionKeys:\n    file: " + file + "\n", "failureMode: failOpen", "prefix: calendar", "weather_*"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("gateway.yaml lacks %q:\n%s", want, cfg)
			}
		}
	})
	t.Run("NOTES", func(t *testing.T) {
		const warn = "set federation.sessionKeys.secretName"
		if notes := renderNotes(t, "-f", "test/helm/testdata/federation-values.yaml"); strings.Contains(notes, warn) {
			t.Errorf("NOTES warn although the keys come from a Secret:\n%s", notes)
		}
		if notes := renderNotes(t, "-f", "test/helm/testdata/federation-values.yaml", "--set", "federation.sessionKeys.secretName="); !strings.Contains(notes, warn) {
			t.Errorf("NOTES do not warn about per-replica session keys on a federated route with 2 replicas:\n%s", notes)
		}
		if notes := renderNotes(t, "-f", "test/helm/testdata/federation-values.yaml", "--set", "federation.sessionKeys.secretName=", "--set", "replicaCount=1"); strings.Contains(notes, warn) {
			t.Errorf("NOTES warn with one replica:\n%s", notes)
		}
	})
	t.Run("without", func(t *testing.T) {
		objs := split(t, template(t))
		for _, v := range deploymentOf(t, objs).Spec.Template.Spec.Volumes {
			if v.Name == "session-keys" {
				t.Errorf("session-keys volume without a Secret")
			}
		}
		if cfg := configMapOf(t, objs).Data["gateway.yaml"]; strings.Contains(cfg, "sessionKeys") || strings.Contains(cfg, "\n      mcp:\n") {
			t.Errorf("default gateway.yaml has federation settings:\n%s", cfg)
		}
	})
}

func TestLint(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-f", "test/helm/testdata/seed-argocd-values.yaml"},
		seedSetFlags(t),
		{"-f", "test/helm/testdata/production-values.yaml"},
	} {
		out := mustHelm(t, append([]string{"lint", "--strict", chartRel}, args...)...)
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint %v:\n%s", args, out)
		}
	}
}

// TestGolden compares every render with testdata/golden/<case>.yaml
// (-update rewrites them).
func TestGolden(t *testing.T) {
	cases := map[string]bool{}
	for _, c := range renderCases(t) {
		cases[c.name+".yaml"] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	for _, f := range files {
		if !cases[filepath.Base(f)] {
			t.Errorf("%s belongs to no render case; delete it", f)
		}
	}
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out := template(t, c.args...)
			golden := filepath.Join("testdata", "golden", c.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run `go test ./test/helm -run TestGolden -update`)", err)
			}
			if string(want) != out {
				t.Errorf("render differs from %s (run `go test ./test/helm -run TestGolden -update` and review the diff):\n%s", golden, firstDiff(string(want), out))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  golden:   %q\n  rendered: %q", i+1, x, y)
		}
	}
	return ""
}

// strictDecoder decodes with the k8s.io/api types and rejects unknown and
// duplicate fields, like `kubectl apply --validate=strict`.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeStrict decodes o into its k8s.io/api type, or, for the Prometheus
// Operator kinds, into the subset of their schema the chart uses.
func decodeStrict(t testing.TB, o object) runtime.Object {
	t.Helper()
	switch o.Kind() {
	case "monitoring.coreos.com/v1/ServiceMonitor":
		var sm serviceMonitor
		strictJSON(t, o, &sm)
		return nil
	case "monitoring.coreos.com/v1/PodMonitor":
		var pm podMonitor
		strictJSON(t, o, &pm)
		return nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		var pr prometheusRule
		strictJSON(t, o, &pr)
		return nil
	}
	obj, _, err := strictDecoder.Decode(o.Raw, nil, nil)
	if err != nil {
		t.Fatalf("%s (%s) does not decode strictly: %v", o, o.Source, err)
	}
	return obj
}

func strictJSON(t testing.TB, o object, into any) {
	t.Helper()
	j, err := json.Marshal(o.Map)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s (%s): %v", o, o.Source, err)
	}
}

// The fields of monitoring.coreos.com/v1 the chart renders.
type (
	crdMeta struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	serviceMonitor struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Metadata   crdMeta `json:"metadata"`
		Spec       struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Endpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	podMonitor struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Metadata   crdMeta `json:"metadata"`
		Spec       struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			PodMetricsEndpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	prometheusRule struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Metadata   crdMeta `json:"metadata"`
		Spec       struct {
			Groups []struct {
				Name     string `json:"name"`
				Interval string `json:"interval,omitempty"`
				Rules    []struct {
					Alert       string            `json:"alert,omitempty"`
					Record      string            `json:"record,omitempty"`
					Expr        any               `json:"expr"`
					For         string            `json:"for,omitempty"`
					Labels      map[string]string `json:"labels,omitempty"`
					Annotations map[string]string `json:"annotations,omitempty"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
)

// TestStrictDecodeAndConfig decodes every rendered object strictly, and
// runs the gateway.yaml the chart renders through the gateway's own
// loader: it must be valid and enforceable by `agentgateway run`.
func TestStrictDecodeAndConfig(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			objs := split(t, template(t, c.args...))
			// At least NetworkPolicy, ServiceAccount, Service, Deployment
			// (existingConfigMap and jwks: no ConfigMap, no RBAC).
			if len(objs) < 4 {
				t.Fatalf("only %d objects rendered", len(objs))
			}
			seen := map[string]bool{}
			for _, o := range objs {
				if seen[o.String()] {
					t.Errorf("%s rendered twice", o)
				}
				seen[o.String()] = true
				decodeStrict(t, o)
				if o.Namespace() != "" && o.Namespace() != namespace {
					t.Errorf("%s in namespace %q", o, o.Namespace())
				}
			}
			if !c.crds && (has(objs, "monitoring.coreos.com/v1/ServiceMonitor") || has(objs, "monitoring.coreos.com/v1/PodMonitor") || has(objs, "monitoring.coreos.com/v1/PrometheusRule")) {
				t.Error("Prometheus Operator objects rendered without being asked for")
			}
			cm := configMapOf(t, objs)
			if cm == nil {
				if !strings.Contains(c.name, "existing") {
					t.Fatal("no config ConfigMap rendered")
				}
				return
			}
			checkGatewayConfig(t, cm.Data["gateway.yaml"])
		})
	}
}

// configMapOf returns the gateway's config ConfigMap, nil when none.
func configMapOf(t testing.TB, objs []object) *corev1.ConfigMap {
	t.Helper()
	for _, o := range objs {
		if o.Kind() == "v1/ConfigMap" && strings.HasSuffix(o.Name(), "-config") {
			return decodeStrict(t, o).(*corev1.ConfigMap)
		}
	}
	return nil
}

// checkGatewayConfig validates src as `agentgateway validate` does.
func checkGatewayConfig(t testing.TB, src string) {
	t.Helper()
	if src == "" {
		t.Fatal("empty gateway.yaml")
	}
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(p)
	if err != nil {
		t.Fatalf("the rendered gateway.yaml is invalid: %v\n%s", err, src)
	}
	for _, pr := range gateway.Problems(cfg) {
		t.Errorf("agentgateway run would refuse the rendered config: %s", pr)
	}
}

func deploymentOf(t testing.TB, objs []object) *appsv1.Deployment {
	t.Helper()
	return decodeStrict(t, find(t, objs, "apps/v1/Deployment")).(*appsv1.Deployment)
}

// TestSeedValues: the guide's Step 1 values, both forms, give what the
// rest of the guide relies on.
func TestSeedValues(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"argocd", []string{"-f", "test/helm/testdata/seed-argocd-values.yaml"}},
		{"set", seedSetFlags(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := split(t, template(t, c.args...))
			d := deploymentOf(t, objs)
			if d.Name != "agent-gateway" || d.Namespace != "agent-gateway" {
				t.Errorf("Deployment %s/%s, want agent-gateway/agent-gateway (Step 3.3 restarts it by that name)", d.Namespace, d.Name)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("replicas %v, want 2", d.Spec.Replicas)
			}
			pod := d.Spec.Template
			if pod.Labels["app"] != "agent-gateway" {
				t.Errorf("pod label app=%q: the guide's scrape config, NetworkPolicy and `kubectl logs -l app=agent-gateway` select app=agent-gateway", pod.Labels["app"])
			}
			checkPod(t, d)
			if len(pod.Spec.TopologySpreadConstraints) == 0 || pod.Spec.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
				t.Errorf("2 replicas are not spread over zones: %+v", pod.Spec.TopologySpreadConstraints)
			}
			ctr := pod.Spec.Containers[0]
			if c.name == "argocd" {
				if got := ctr.Resources.Limits.Cpu().String(); got != "2" {
					t.Errorf("cpu limit %s, want 2000m", got)
				}
				if got := ctr.Resources.Limits.Memory().String(); got != "4Gi" {
					t.Errorf("memory limit %s, want 4Gi", got)
				}
				if got := ctr.Resources.Requests.Cpu().String(); got != "500m" {
					t.Errorf("cpu request %s", got)
				}
			}

			svc := decodeStrict(t, find(t, objs, "v1/Service")).(*corev1.Service)
			if svc.Name != "agent-gateway" || svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service %s type %s", svc.Name, svc.Spec.Type)
			}
			ports := map[string]int32{}
			for _, p := range svc.Spec.Ports {
				ports[p.Name] = p.Port
				if p.TargetPort.StrVal != p.Name {
					t.Errorf("Service port %s targets %s", p.Name, p.TargetPort.String())
				}
			}
			// The ArgoCD values ask for service.metricsPort: 9090 and get
			// Step 1.3's `8080/TCP,9090/TCP`; the --set flags do not, and
			// the admin port (unauthenticated /metrics) stays off the
			// Service. Prometheus scrapes the pods either way (Step 4.1).
			wantPorts := map[string]int32{"http": 8080}
			if c.name == "argocd" {
				wantPorts["metrics"] = 9090
			}
			if !reflect.DeepEqual(ports, wantPorts) {
				t.Errorf("Service ports %v, want %v", ports, wantPorts)
			}
			if len(svc.Annotations) != 0 {
				t.Errorf("Service annotations %v: the scrape target is the pod", svc.Annotations)
			}
			if a := pod.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9090" || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("pod scrape annotations: %v", a)
			}

			sa := decodeStrict(t, find(t, objs, "v1/ServiceAccount")).(*corev1.ServiceAccount)
			if sa.Name != "agent-gateway" {
				t.Errorf("ServiceAccount %s, want agent-gateway", sa.Name)
			}
			if pod.Spec.ServiceAccountName != "agent-gateway" {
				t.Errorf("pod ServiceAccount %s", pod.Spec.ServiceAccountName)
			}
			// The guide's jwt-authn is validation jwks on the in-cluster
			// JWKS: no RBAC at all, the token mounted for the JWKS call.
			checkAuthnGrants(t, objs, false, true)
			if np := find(t, objs, "networking.k8s.io/v1/NetworkPolicy"); np.Name() != "agent-gateway-policy" {
				t.Errorf("NetworkPolicy %s", np.Name())
			}

			// The generated config exports traces to the guide's Jaeger and
			// serves metrics on 9090.
			var cfg map[string]any
			cm := configMapOf(t, objs)
			if err := yaml.Unmarshal([]byte(cm.Data["gateway.yaml"]), &cfg); err != nil {
				t.Fatal(err)
			}
			obs, _ := cfg["observability"].(map[string]any)
			otel, _ := obs["opentelemetry"].(map[string]any)
			prom, _ := obs["prometheus"].(map[string]any)
			if otel["endpoint"] != "http://jaeger-collector.observability.svc.cluster.local:4317" || otel["protocol"] != "grpc" || otel["enabled"] != true {
				t.Errorf("opentelemetry: %v", otel)
			}
			if prom["port"] != 9090 || prom["path"] != "/metrics" || prom["enabled"] != true {
				t.Errorf("prometheus: %v", prom)
			}
			for _, w := range []string{"jwt-authn", "mcp-authz", "a2a-authz", "prefix: /agents", "https://kubernetes.default.svc/openid/v1/jwks",
				"system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa", "system:serviceaccount:agent-core-infra:planning-agent-sa"} {
				if !strings.Contains(cm.Data["gateway.yaml"], w) {
					t.Errorf("generated gateway.yaml lacks %q", w)
				}
			}
			if cm.Name != "agent-gateway-config" {
				t.Errorf("config ConfigMap %s, want agent-gateway-config (the name Step 3 updates)", cm.Name)
			}
		})
	}
}

// checkPod checks probes, security context, drain and mounts.
func checkPod(t testing.TB, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.StrVal != "metrics" {
		t.Errorf("liveness probe: %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.StrVal != "metrics" {
		t.Errorf("readiness probe: %+v", c.ReadinessProbe)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] == 0 || ports["http"] == 0 {
		t.Errorf("container ports %v", ports)
	}
	psc, sc := spec.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Fatal("no securityContext")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Errorf("pod runs as root: %+v", psc)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities: %+v", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp: %+v", sc.SeccompProfile)
	}
	if spec.AutomountServiceAccountToken == nil {
		t.Error("automountServiceAccountToken left to the ServiceAccount's default")
	}
	// Drain: preStop sleep, then SIGTERM and the gateway's grace period;
	// the pod must not be killed before both are over.
	grace := int64(25)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop drain")
	}
	pre := c.Lifecycle.PreStop.Sleep.Seconds
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= pre+grace {
		t.Errorf("terminationGracePeriodSeconds %v, want more than preStop %ds + shutdownGracePeriod %ds", spec.TerminationGracePeriodSeconds, pre, grace)
	}
	// The config is a directory mount (subPath mounts never see updates).
	var found bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/agentgateway" {
			found = true
			if m.SubPath != "" {
				t.Error("config mounted with subPath: ConfigMap updates would never reach the pod")
			}
		}
	}
	if !found {
		t.Error("config not mounted at /etc/agentgateway")
	}
	for _, v := range spec.Volumes {
		if v.Name == "config" && (v.ConfigMap == nil || v.ConfigMap.Items[0].Path != "gateway.yaml") {
			t.Errorf("config volume: %+v", v)
		}
	}
}

// checkAuthnGrants checks what the chart grants the gateway for its
// validation mode: with tokenReview exactly one ClusterRole, allowing
// tokenreviews create and nothing else, bound to the gateway's
// ServiceAccount only; without, no ClusterRole and no ClusterRoleBinding.
// The pods mount the ServiceAccount token iff automount; the
// ServiceAccount object never asks for it.
func checkAuthnGrants(t testing.TB, objs []object, tokenReview, automount bool) {
	t.Helper()
	var roles []*rbacv1.ClusterRole
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o.Kind() {
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			roles = append(roles, decodeStrict(t, o).(*rbacv1.ClusterRole))
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			bindings = append(bindings, decodeStrict(t, o).(*rbacv1.ClusterRoleBinding))
		case "rbac.authorization.k8s.io/v1/Role", "rbac.authorization.k8s.io/v1/RoleBinding":
			t.Errorf("%s rendered", o)
		}
	}
	if !tokenReview {
		if len(roles) != 0 || len(bindings) != 0 {
			t.Errorf("%d ClusterRoles and %d ClusterRoleBindings for a mode that calls no API (want none)", len(roles), len(bindings))
		}
	} else {
		want := []rbacv1.PolicyRule{{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}}
		if len(roles) != 1 || !reflect.DeepEqual(roles[0].Rules, want) {
			t.Fatalf("ClusterRoles %+v, want one with rules %+v", roles, want)
		}
		if roles[0].Name != "agent-gateway-token-reviewer" {
			t.Errorf("ClusterRole %s, want Step 2.1's agent-gateway-token-reviewer", roles[0].Name)
		}
		if len(bindings) != 1 || bindings[0].RoleRef.Name != roles[0].Name {
			t.Fatalf("ClusterRoleBindings %+v, want one to %s", bindings, roles[0].Name)
		}
		if s := bindings[0].Subjects; len(s) != 1 || s[0].Kind != "ServiceAccount" || s[0].Name != "agent-gateway" || s[0].Namespace != namespace {
			t.Errorf("binding subjects %+v", s)
		}
	}
	d := deploymentOf(t, objs)
	if a := d.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a != automount {
		t.Errorf("pod automountServiceAccountToken %v, want %v", a, automount)
	}
	if has(objs, "v1/ServiceAccount") {
		sa := decodeStrict(t, find(t, objs, "v1/ServiceAccount")).(*corev1.ServiceAccount)
		if a := sa.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("ServiceAccount automountServiceAccountToken %v, want false", a)
		}
	}
}

// TestLeastPrivilegeByMode: the RBAC verbs and the token mount follow the
// validation mode, whether the chart generates the config or reads it from
// `config` (issue #19, finding 8).
func TestLeastPrivilegeByMode(t *testing.T) {
	const external = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
	for _, c := range []struct {
		name                   string
		args                   []string
		tokenReview, automount bool
		apiEgress              bool
	}{
		// The in-cluster JWKS is read with the pod's token.
		{"jwks", nil, false, true, true},
		{"tokenreview", []string{"--set", "security.jwt.validation=tokenreview"}, true, true, true},
		{"both", []string{"--set", "security.jwt.validation=both"}, true, true, true},
		// Keys from an external issuer: no token, no API server.
		{"jwks external issuer", []string{"--set", "security.jwt.issuer=" + external, "--set", "security.jwt.jwksUri=" + external + "/keys"}, false, false, false},
		{"jwks external, discovery", []string{"--set", "security.jwt.issuer=" + external, "--set", "security.jwt.jwksUri="}, false, false, false},
		{"jwks, token forced off", []string{"--set", "serviceAccount.automountToken=false"}, false, false, true},
		{"tokenreview, existing ConfigMap", []string{"--set", "existingConfigMap=cm", "--set", "security.jwt.validation=tokenreview"}, true, true, true},
		{"no jwt-authn", []string{"--set", "security.jwt.enabled=false", "--set", "security.mcp.enabled=false"}, false, false, false},
		// `config` is read: its jwt-authn says both.
		{"inline config both", []string{"-f", "test/helm/testdata/inline-config-values.yaml"}, true, true, true},
		{"inline config jwks", []string{"-f", "test/helm/testdata/inline-config-values.yaml", "--set", "config.binds[0].listeners[0].routes[0].policies[0].jwt.validation=jwks"}, false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := split(t, template(t, c.args...))
			checkAuthnGrants(t, objs, c.tokenReview, c.automount)
			np := decodeStrict(t, find(t, objs, "networking.k8s.io/v1/NetworkPolicy")).(*networkingv1.NetworkPolicy)
			if got := slices.Contains(egressOf(np), "any:TCP/443"); got != c.apiEgress {
				t.Errorf("egress to the API server: %v, want %v (%v)", got, c.apiEgress, egressOf(np))
			}
		})
	}
	// The issuer-discovery binding, where asked for, binds only that
	// built-in role (non-resource GETs), and only when the JWKS is the
	// API server's.
	objs := split(t, template(t, "--set", "rbac.issuerDiscovery=true"))
	b := decodeStrict(t, find(t, objs, "rbac.authorization.k8s.io/v1/ClusterRoleBinding")).(*rbacv1.ClusterRoleBinding)
	if b.RoleRef.Name != "system:service-account-issuer-discovery" || has(objs, "rbac.authorization.k8s.io/v1/ClusterRole") {
		t.Errorf("issuerDiscovery: binding to %s", b.RoleRef.Name)
	}
	if b := bindingsTo(split(t, template(t, "--set", "rbac.issuerDiscovery=true", "--set", "security.jwt.validation=tokenreview")), "system:service-account-issuer-discovery"); len(b) != 0 {
		t.Errorf("issuer-discovery binding %v rendered for validation tokenreview (no JWKS)", b)
	}
	if has(split(t, template(t, "--set", "rbac.create=false", "--set", "security.jwt.validation=both")), "rbac.authorization.k8s.io/v1/ClusterRole") {
		t.Error("rbac.create=false rendered a ClusterRole")
	}
}

func bindingsTo(objs []object, role string) []string {
	var out []string
	for _, o := range objs {
		if o.Kind() == "rbac.authorization.k8s.io/v1/ClusterRoleBinding" {
			if ref, _ := o.Map["roleRef"].(map[string]any); ref["name"] == role {
				out = append(out, o.Name())
			}
		}
	}
	return out
}

func decodeFile(t testing.TB, rel string) runtime.Object {
	t.Helper()
	b, err := os.ReadFile(path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := strictDecoder.Decode(b, nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return obj
}

// TestProductionValues: the optional objects and options.
func TestProductionValues(t *testing.T) {
	objs := split(t, template(t, "-f", "test/helm/testdata/production-values.yaml"))
	d := deploymentOf(t, objs)
	checkPod(t, d)
	if d.Spec.Replicas != nil {
		t.Error("replicas set while the HPA owns them")
	}
	spec := d.Spec.Template.Spec
	if got := spec.Containers[0].Image; got != "registry.example.com/platform/agentgateway@sha256:0000000000000000000000000000000000000000000000000000000000000000" {
		t.Errorf("image %s", got)
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" || d.Spec.Template.Annotations["example.com/team"] != "platform" {
		t.Errorf("pod annotations %v", d.Spec.Template.Annotations)
	}
	if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 || spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
		t.Error("nodeSelector, tolerations or affinity lost")
	}
	mounts := map[string]string{}
	for _, m := range spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	if mounts["mtls-certs"] != "/etc/certs" || vols["mtls-certs"].Secret == nil || vols["mtls-certs"].Secret.SecretName != "agent-gateway-tls" {
		t.Errorf("mTLS secret not mounted at /etc/certs: %v", mounts)
	}
	if mounts["redis-password"] == "" || vols["redis-password"].Secret == nil {
		t.Error("Redis password secret not mounted")
	}
	cfg := configMapOf(t, objs).Data["gateway.yaml"]
	for _, w := range []string{"certificateAuthority: /etc/certs/ca.crt", "serverCert: /etc/certs/tls.crt", "serverKey: /etc/certs/tls.key", "mode: STRICT",
		"address: redis.agent-gateway.svc.cluster.local:6379", "passwordFile: /etc/agentgateway-redis/password", "failureMode: closed", "validation: both"} {
		if !strings.Contains(cfg, w) {
			t.Errorf("gateway.yaml lacks %q:\n%s", w, cfg)
		}
	}

	pdb := decodeStrict(t, find(t, objs, "policy/v1/PodDisruptionBudget")).(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable %v", pdb.Spec.MinAvailable)
	}
	hpa := decodeStrict(t, find(t, objs, "autoscaling/v2/HorizontalPodAutoscaler")).(*autoscalingv2.HorizontalPodAutoscaler)
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 10 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 || hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA %+v, want Step 10.3's min 2, max 10, CPU 70%%", hpa.Spec)
	}
	rq := decodeStrict(t, find(t, objs, "v1/ResourceQuota")).(*corev1.ResourceQuota)
	if rq.Spec.Hard.Name("requests.cpu", "").String() != "4" || rq.Spec.Hard.Name("limits.memory", "").String() != "16Gi" {
		t.Errorf("ResourceQuota %v", rq.Spec.Hard)
	}

	np := decodeStrict(t, find(t, objs, "networking.k8s.io/v1/NetworkPolicy")).(*networkingv1.NetworkPolicy)
	checkNetworkPolicy(t, np, d, []string{"ns=agent-core-infra:http", "ns=observability:metrics"}, []string{
		"ns=agent-core-infra:TCP/8000", "ns=agent-core-infra:TCP/8080",
		"ns=observability:TCP/4317", "ns=observability:TCP/4318",
		"ns=kube-system,pods=k8s-app=kube-dns:UDP/53", "ns=kube-system,pods=k8s-app=kube-dns:TCP/53",
		"cidr=10.0.0.0/8:TCP/443", "cidr=10.0.0.0/8:TCP/6443",
		// Derived from redis.address redis.agent-gateway.svc.cluster.local:6379.
		"ns=agent-gateway:TCP/6379",
	})
	checkAuthnGrants(t, objs, true, true) // validation both
}

// peerOf describes a NetworkPolicy peer list: "any" (no peers), or
// "ns=<namespace>[,pods=k=v]" and "cidr=<cidr>" joined by "|".
func peerOf(peers []networkingv1.NetworkPolicyPeer) string {
	if len(peers) == 0 {
		return "any"
	}
	var out []string
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			out = append(out, "cidr="+p.IPBlock.CIDR)
		case p.NamespaceSelector != nil:
			s := "ns=" + p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			if p.PodSelector != nil {
				for k, v := range p.PodSelector.MatchLabels {
					s += ",pods=" + k + "=" + v
				}
			}
			out = append(out, s)
		default:
			out = append(out, "pods-in-own-namespace")
		}
	}
	return strings.Join(out, "|")
}

// egressOf lists the egress rules as "<peers>:<proto>/<port>".
func egressOf(np *networkingv1.NetworkPolicy) []string {
	var out []string
	for _, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			out = append(out, peerOf(r.To)+":all-ports")
		}
		for _, p := range r.Ports {
			out = append(out, peerOf(r.To)+":"+string(*p.Protocol)+"/"+p.Port.String())
		}
	}
	return out
}

func ingressOf(np *networkingv1.NetworkPolicy) []string {
	var out []string
	for _, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			out = append(out, peerOf(r.From)+":all-ports")
		}
		for _, p := range r.Ports {
			out = append(out, peerOf(r.From)+":"+p.Port.String())
		}
	}
	return out
}

// checkNetworkPolicy: the policy selects the gateway's pods, and its rules
// are exactly wantIn and wantOut.
func checkNetworkPolicy(t testing.TB, np *networkingv1.NetworkPolicy, d *appsv1.Deployment, wantIn, wantOut []string) {
	t.Helper()
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, which the pods lack", k, v)
		}
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	if got := ingressOf(np); !slices.Equal(got, wantIn) {
		t.Errorf("ingress\n  got  %q\n  want %q", got, wantIn)
	}
	if got := egressOf(np); !slices.Equal(got, wantOut) {
		t.Errorf("egress\n  got  %q\n  want %q", got, wantOut)
	}
}

// TestNetworkPolicy: on by default, egress only to what the values name
// (issue #19, finding 8).
func TestNetworkPolicy(t *testing.T) {
	in := []string{"ns=agent-core-infra:http", "ns=observability:metrics"}
	backends := []string{"ns=agent-core-infra:TCP/8000", "ns=agent-core-infra:TCP/8080"}
	otel := []string{"ns=observability:TCP/4317", "ns=observability:TCP/4318"}
	dns := []string{"ns=kube-system,pods=k8s-app=kube-dns:UDP/53", "ns=kube-system,pods=k8s-app=kube-dns:TCP/53"}
	api := []string{"any:TCP/443", "any:TCP/6443"}
	cat := func(l ...[]string) []string { return slices.Concat(l...) }
	for _, c := range []struct {
		name string
		args []string
		out  []string
	}{
		{"default", nil, cat(backends, dns, api)},
		{"seed --set", seedSetFlags(t), cat(backends, otel, dns, api)},
		{"api server cidrs", []string{"--set", "networkPolicy.apiServer.cidrs={10.0.0.0/16,10.1.0.0/16}"},
			cat(backends, dns, []string{"cidr=10.0.0.0/16|cidr=10.1.0.0/16:TCP/443", "cidr=10.0.0.0/16|cidr=10.1.0.0/16:TCP/6443"})},
		{"api server forced off", []string{"--set", "networkPolicy.apiServer.enabled=false"}, cat(backends, dns)},
		{"external jwks", []string{"--set", "security.jwt.issuer=https://issuer.example.com", "--set", "security.jwt.jwksUri=https://issuer.example.com/keys",
			"--set", "networkPolicy.jwks.cidrs={203.0.113.0/24}"}, cat(backends, dns, []string{"cidr=203.0.113.0/24:TCP/443"})},
		{"node-local dns", []string{"--set", "networkPolicy.dns.cidrs={169.254.20.10/32}"},
			cat(backends, []string{"ns=kube-system,pods=k8s-app=kube-dns|cidr=169.254.20.10/32:UDP/53", "ns=kube-system,pods=k8s-app=kube-dns|cidr=169.254.20.10/32:TCP/53"}, api)},
		{"redis in another namespace", []string{"--set", "redis.address=redis-master.data.svc.cluster.local:6380"}, cat(backends, dns, api, []string{"ns=data:TCP/6380"})},
		{"redis in the release namespace", []string{"--set", "redis.address=redis:6379"}, cat(backends, dns, api, []string{"ns=agent-gateway:TCP/6379"})},
		{"redis by IP", []string{"--set", "redis.address=10.2.3.4:6379"}, cat(backends, dns, api, []string{"cidr=10.2.3.4/32:TCP/6379"})},
		{"redis explicit", []string{"--set", "redis.address=cache.example.com:6379", "--set", "networkPolicy.redis.cidrs={10.9.0.0/24}"}, cat(backends, dns, api, []string{"cidr=10.9.0.0/24:TCP/6379"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := split(t, template(t, c.args...))
			np := decodeStrict(t, find(t, objs, "networking.k8s.io/v1/NetworkPolicy")).(*networkingv1.NetworkPolicy)
			checkNetworkPolicy(t, np, deploymentOf(t, objs), in, c.out)
		})
	}
	// A Redis name the chart cannot place fails the render, with the fix.
	_, err := runHelm(t, "template", release, chartRel, "--set", "redis.address=cache.example.com:6379")
	if err == nil || !strings.Contains(err.Error(), "set networkPolicy.redis.cidrs") {
		t.Errorf("unplaceable redis.address: %v", err)
	}
	if has(split(t, template(t, "--set", "networkPolicy.enabled=false")), "networking.k8s.io/v1/NetworkPolicy") {
		t.Error("networkPolicy.enabled=false still renders one")
	}
}

// TestMetricsExposure: the admin port (unauthenticated /metrics with
// caller identities) is scraped through the pods and is on a Service only
// when asked for (issue #19, finding 8).
func TestMetricsExposure(t *testing.T) {
	services := func(objs []object) map[string]*corev1.Service {
		m := map[string]*corev1.Service{}
		for _, o := range objs {
			if o.Kind() == "v1/Service" {
				m[o.Name()] = decodeStrict(t, o).(*corev1.Service)
			}
		}
		return m
	}
	portNames := func(s *corev1.Service) []string {
		var out []string
		for _, p := range s.Spec.Ports {
			out = append(out, p.Name)
		}
		return out
	}
	// Default: one Service, http only; the pods carry the scrape
	// annotations.
	objs := split(t, template(t))
	svcs := services(objs)
	if len(svcs) != 1 || !slices.Equal(portNames(svcs["agent-gateway"]), []string{"http"}) {
		t.Errorf("default Services: %v", svcs)
	}
	if a := deploymentOf(t, objs).Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9090" {
		t.Errorf("pod annotations %v", a)
	}

	// metricsService: a separate headless Service with the admin port only.
	svcs = services(split(t, template(t, "--set", "metricsService.enabled=true")))
	m := svcs["agent-gateway-metrics"]
	if m == nil || m.Spec.ClusterIP != "None" || !slices.Equal(portNames(m), []string{"metrics"}) || m.Labels["app.kubernetes.io/component"] != "metrics" {
		t.Fatalf("metrics Service: %+v", m)
	}
	if !slices.Equal(portNames(svcs["agent-gateway"]), []string{"http"}) {
		t.Error("metricsService also published the admin port on the main Service")
	}

	// serviceMonitor: selects the metrics Service only (not the main one,
	// even when that publishes the port too: no double scrape).
	objs = split(t, template(t, "--set", "serviceMonitor.enabled=true", "--set", "service.metricsPort=9090"))
	var sm serviceMonitor
	strictJSON(t, find(t, objs, "monitoring.coreos.com/v1/ServiceMonitor"), &sm)
	for name, s := range services(objs) {
		sel := true
		for k, v := range sm.Spec.Selector.MatchLabels {
			sel = sel && s.Labels[k] == v
		}
		if sel != (name == "agent-gateway-metrics") {
			t.Errorf("ServiceMonitor selects Service %s: %v", name, sel)
		}
	}

	// podMonitor: the pods' admin port, no Service needed.
	objs = split(t, template(t, "--set", "podMonitor.enabled=true"))
	var pm podMonitor
	strictJSON(t, find(t, objs, "monitoring.coreos.com/v1/PodMonitor"), &pm)
	d := deploymentOf(t, objs)
	for k, v := range pm.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("PodMonitor selects %s=%s, which the pods lack", k, v)
		}
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != "metrics" || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
		t.Errorf("PodMonitor endpoints %+v", pm.Spec.PodMetricsEndpoints)
	}
	if len(services(objs)) != 1 {
		t.Error("podMonitor rendered a Service")
	}
}

// TestNotes: NOTES.txt prints the guide's test commands for this install.
// `helm install --dry-run` wants a cluster, so this renders NOTES.txt
// through a copy of the chart where a template tpl's it;
// kube_test.go also checks the NOTES of a real `helm install`.
func TestNotes(t *testing.T) {
	notes := renderNotes(t, seedSetFlags(t)...)
	checkNotes(t, notes)
	if strings.Contains(notes, "federation.sessionKeys") {
		t.Errorf("NOTES warn about federation session keys on a one-backend route:\n%s", notes)
	}
}

// renderNotes renders NOTES.txt with the chart values args.
func renderNotes(t testing.TB, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agentgateway")
	copyDir(t, path(t, chartRel), dir)
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.copy"), notes, 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := "notes: |\n{{ tpl (.Files.Get \"notes.copy\") . | indent 2 }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes-test.yaml"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustHelm(t, append([]string{"template", release, dir, "--namespace", namespace, "--show-only", "templates/notes-test.yaml"}, args...)...)
	var doc struct{ Notes string }
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Notes
}

func checkNotes(t testing.TB, notes string) {
	t.Helper()
	for _, w := range []string{
		"kubectl get pods -n agent-gateway -l app=agent-gateway",
		"The configured validation needs no RBAC, and the chart grants none",
		"kubectl create token ekspoc-v6-kagent-agent-sa -n agent-core-infra --audience=agent-gateway",
		"http://agent-gateway.agent-gateway.svc.cluster.local:8080/mcp",
		"port 9090 of each pod (/metrics); not published on the Service",
		"kubectl port-forward -n agent-gateway deploy/agent-gateway 9090:9090",
		"curl http://localhost:9090/metrics",
		"set redis.address",
		"set networkPolicy.apiServer.cidrs",
		"set image.digest",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("NOTES lack %q:\n%s", w, notes)
		}
	}
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRenderErrors: misconfigurations fail at render time with a message.
func TestRenderErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "security.mtls.enabled=true"}, "security.mtls.secretName is required"},
		{[]string{"--set", "serviceAccount.create=false"}, "serviceAccount.name is required"},
		{[]string{"--set", "observability.opentelemetry.enabled=true"}, "observability.opentelemetry.endpoint is required"},
		{[]string{"--set", "mcp.enabled=false", "--set", "a2a.enabled=false"}, "give a config or existingConfigMap"},
	} {
		_, err := runHelm(t, append([]string{"template", release, chartRel}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
}

// TestTopologySpread: one replica is not spread; explicit constraints win.
func TestTopologySpread(t *testing.T) {
	d := deploymentOf(t, split(t, template(t)))
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) != 0 {
		t.Error("a single replica has spread constraints")
	}
	d = deploymentOf(t, split(t, template(t, "--set", "replicaCount=3", "--set", "topologySpreadConstraints[0].maxSkew=2",
		"--set", "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname", "--set", "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule")))
	if tsc := d.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].MaxSkew != 2 {
		t.Errorf("explicit constraints: %+v", tsc)
	}
}
