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
		{name: "mcp-only", args: []string{"--set", "a2a.enabled=false"}},
		{name: "servicemonitor", args: []string{"--set", "serviceMonitor.enabled=true"}, crds: true},
	}
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
			if len(objs) < 5 {
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
			if !c.crds && (has(objs, "monitoring.coreos.com/v1/ServiceMonitor") || has(objs, "monitoring.coreos.com/v1/PrometheusRule")) {
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
			if !reflect.DeepEqual(ports, map[string]int32{"http": 8080, "metrics": 9090}) {
				t.Errorf("Service ports %v, want http 8080 and metrics 9090 (Step 1.3)", ports)
			}
			if svc.Annotations["prometheus.io/scrape"] != "true" || svc.Annotations["prometheus.io/port"] != "9090" || svc.Annotations["prometheus.io/path"] != "/metrics" {
				t.Errorf("Service scrape annotations: %v", svc.Annotations)
			}

			sa := decodeStrict(t, find(t, objs, "v1/ServiceAccount")).(*corev1.ServiceAccount)
			if sa.Name != "agent-gateway" {
				t.Errorf("ServiceAccount %s, want agent-gateway", sa.Name)
			}
			if pod.Spec.ServiceAccountName != "agent-gateway" {
				t.Errorf("pod ServiceAccount %s", pod.Spec.ServiceAccountName)
			}
			checkRBAC(t, objs, "agent-gateway", "agent-gateway")

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
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Error("the ServiceAccount token is not mounted (JWKS and TokenReview need it)")
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

// checkRBAC: the ClusterRole has deploy/rbac's rules, and both bindings
// name the ServiceAccount.
func checkRBAC(t testing.TB, objs []object, ns, sa string) {
	t.Helper()
	var role *rbacv1.ClusterRole
	bindings := map[string]*rbacv1.ClusterRoleBinding{}
	for _, o := range objs {
		switch o.Kind() {
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			role = decodeStrict(t, o).(*rbacv1.ClusterRole)
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			b := decodeStrict(t, o).(*rbacv1.ClusterRoleBinding)
			bindings[b.RoleRef.Name] = b
		}
	}
	if role == nil {
		t.Fatal("no ClusterRole")
	}
	want := decodeFile(t, "deploy/rbac/clusterrole.yaml").(*rbacv1.ClusterRole)
	if !reflect.DeepEqual(role.Rules, want.Rules) {
		t.Errorf("ClusterRole rules %+v, want deploy/rbac's %+v", role.Rules, want.Rules)
	}
	for _, ref := range []string{role.Name, "system:service-account-issuer-discovery"} {
		b := bindings[ref]
		if b == nil {
			t.Errorf("no ClusterRoleBinding to %s", ref)
			continue
		}
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != ns {
			t.Errorf("binding %s subjects %+v", b.Name, b.Subjects)
		}
	}
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
	checkNetworkPolicy(t, np, d)
}

// checkNetworkPolicy: Step 10.4's rules, plus DNS and the API server.
func checkNetworkPolicy(t testing.TB, np *networkingv1.NetworkPolicy, d *appsv1.Deployment) {
	t.Helper()
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, which the pods lack", k, v)
		}
	}
	nsOf := func(peers []networkingv1.NetworkPolicyPeer) string {
		if len(peers) == 1 && peers[0].NamespaceSelector != nil {
			return peers[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
		}
		return ""
	}
	var in []string
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			in = append(in, nsOf(r.From)+":"+p.Port.String())
		}
	}
	var out []string
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			out = append(out, nsOf(r.To)+":"+string(*p.Protocol)+"/"+p.Port.String())
		}
	}
	for _, w := range []string{"agent-core-infra:http", "observability:metrics"} {
		if !slices.Contains(in, w) {
			t.Errorf("ingress %v lacks %s", in, w)
		}
	}
	for _, w := range []string{"agent-core-infra:TCP/8000", "observability:TCP/4317", "kube-system:UDP/53", ":TCP/443", ":TCP/6443", ":TCP/6379"} {
		if !slices.Contains(out, w) {
			t.Errorf("egress %v lacks %s", out, w)
		}
	}
}

// TestNotes: NOTES.txt prints the guide's test commands for this install.
// `helm install --dry-run` wants a cluster, so this renders NOTES.txt
// through a copy of the chart where a template tpl's it;
// kube_test.go also checks the NOTES of a real `helm install`.
func TestNotes(t *testing.T) {
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
	out := mustHelm(t, append([]string{"template", release, dir, "--namespace", namespace, "--show-only", "templates/notes-test.yaml"}, seedSetFlags(t)...)...)
	var doc struct{ Notes string }
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	checkNotes(t, doc.Notes)
}

func checkNotes(t testing.TB, notes string) {
	t.Helper()
	for _, w := range []string{
		"kubectl get pods -n agent-gateway -l app=agent-gateway",
		"kubectl auth can-i create tokenreviews --as=system:serviceaccount:agent-gateway:agent-gateway",
		"kubectl create token ekspoc-v6-kagent-agent-sa -n agent-core-infra --audience=agent-gateway",
		"http://agent-gateway.agent-gateway.svc.cluster.local:8080/mcp",
		"http://agent-gateway.agent-gateway.svc.cluster.local:9090/metrics",
		"kubectl port-forward -n agent-gateway svc/agent-gateway 9090:9090",
		"set redis.address",
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
