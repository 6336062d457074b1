package helm

// The chart against a real Kubernetes control plane (test/kubeenv:
// kube-apiserver v1.37.2 and etcd on loopback, built by `make kube`):
// server-side dry-run of everything it renders, a real `helm install` of
// the guide's values, the RBAC it grants, and the gateway running on the
// config it renders with the in-cluster environment of a pod, validating
// real ServiceAccount tokens.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/test/kubeenv"
)

const (
	agentsNS    = "agent-core-infra"
	weatherSA   = "ekspoc-v6-kagent-agent-sa"
	planningSA  = "planning-agent-sa"
	gatewaySA   = "system:serviceaccount:agent-gateway:agent-gateway"
	weatherUser = "system:serviceaccount:" + agentsNS + ":" + weatherSA
)

// TestKube runs every check that needs the API server on one cluster
// (starting one takes tens of seconds).
func TestKube(t *testing.T) {
	helmBin(t)
	// The gateway binary builds while the cluster starts.
	gw := buildGateway(t)
	c := kubeenv.Start(t, kubeenv.Options{})
	for _, ns := range []string{namespace, agentsNS, "observability"} {
		c.CreateNamespace(t, ns)
	}
	t.Run("ServerDryRun", func(t *testing.T) { testServerDryRun(t, c) })
	t.Run("HelmInstall", func(t *testing.T) { testHelmInstall(t, c) })
	for _, mode := range []string{"jwks", "tokenreview", "both"} {
		t.Run("InCluster/"+mode, func(t *testing.T) { testInCluster(t, c, gw(t), mode) })
	}
}

// buildGateway starts `go build` of the gateway and returns a function
// that waits for it.
func buildGateway(t *testing.T) func(testing.TB) string {
	dir := t.TempDir()
	bin := filepath.Join(dir, "agentgateway")
	var (
		once sync.WaitGroup
		err  error
		out  []byte
	)
	once.Add(1)
	go func() {
		defer once.Done()
		cmd := exec.Command("go", "build", "-o", bin, "github.com/agentgateway-go/agentgateway/cmd/agentgateway")
		cmd.Dir = root(t)
		out, err = cmd.CombinedOutput()
	}()
	t.Cleanup(once.Wait)
	return func(t testing.TB) string {
		once.Wait()
		if err != nil {
			t.Fatalf("building the gateway: %v\n%s", err, out)
		}
		return bin
	}
}

// resources maps the kinds the chart renders to their API resources.
var resources = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"v1/Namespace":                                    {schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	"v1/ServiceAccount":                               {schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
	"v1/ConfigMap":                                    {schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	"v1/Service":                                      {schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
	"v1/ResourceQuota":                                {schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}, true},
	"apps/v1/Deployment":                              {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true},
	"policy/v1/PodDisruptionBudget":                   {schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}, true},
	"autoscaling/v2/HorizontalPodAutoscaler":          {schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, true},
	"networking.k8s.io/v1/NetworkPolicy":              {schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, true},
	"rbac.authorization.k8s.io/v1/ClusterRole":        {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
}

func restConfig(c *kubeenv.Cluster) *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: c.AdminToken, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM}, Timeout: 30 * time.Second}
}

// testServerDryRun: every object of every render is accepted by the API
// server (dryRun=All, fieldValidation=Strict), admission included.
func testServerDryRun(t *testing.T, c *kubeenv.Cluster) {
	rc := restConfig(c)
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	renders := map[string][]object{}
	for _, rcase := range renderCases(t) {
		if rcase.crds {
			continue // Prometheus Operator kinds: no CRDs in this cluster
		}
		renders[rcase.name] = split(t, template(t, rcase.args...))
	}
	for _, f := range []string{"deploy/kubernetes/00-namespace.yaml", "deploy/kubernetes/agent-gateway.yaml", "deploy/rbac/clusterrole.yaml", "deploy/rbac/clusterrolebinding.yaml"} {
		b, err := os.ReadFile(path(t, f))
		if err != nil {
			t.Fatal(err)
		}
		renders[f] = split(t, string(b))
	}
	for name, objs := range renders {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			for _, o := range objs {
				if strings.HasPrefix(o.Kind(), "monitoring.coreos.com/") {
					t.Errorf("%s rendered without being asked for", o)
					continue
				}
				j, err := json.Marshal(o.Map)
				if err != nil {
					t.Fatal(err)
				}
				u := &unstructured.Unstructured{}
				if err := u.UnmarshalJSON(j); err != nil {
					t.Fatal(err)
				}
				m, ok := resources[o.Kind()]
				if !ok {
					t.Fatalf("%s: kind unknown to this test; add it to resources", o)
				}
				var ri dynamic.ResourceInterface = dyn.Resource(m.gvr)
				if m.namespaced {
					ns := u.GetNamespace()
					if ns == "" {
						ns = namespace
					}
					ri = dyn.Resource(m.gvr).Namespace(ns)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = ri.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
				cancel()
				if apierrors.IsAlreadyExists(err) {
					continue // the namespaces the test created
				}
				if err != nil {
					t.Errorf("server-side dry-run of %s (%s): %v", o, o.Source, err)
				}
			}
		})
	}
}

// testHelmInstall installs the chart with the guide's --set flags (Step
// 1.3) into the cluster, checks its NOTES, then checks what the chart's
// RBAC lets the gateway's ServiceAccount do: with a SubjectAccessReview,
// and with a real token of that ServiceAccount creating a TokenReview.
func testHelmInstall(t *testing.T, c *kubeenv.Cluster) {
	kc := c.Kubeconfig(t, "", c.AdminToken)
	out := helmInstall(t, c)
	_, notes, ok := strings.Cut(out, "NOTES:\n")
	if !ok || !strings.Contains(out, "STATUS: deployed") {
		t.Fatalf("helm install:\n%s", out)
	}
	checkNotes(t, notes)
	out = mustHelm(t, "get", "manifest", release, "--namespace", namespace, "--kubeconfig", kc)
	if !strings.Contains(out, "kind: Deployment") {
		t.Fatalf("helm get manifest:\n%s", out)
	}

	// docs/kubernetes.md, Configuration: switch to Step 3's ConfigMap.
	mustHelm(t, "upgrade", release, chartRel, "--namespace", namespace, "--kubeconfig", kc, "--reuse-values", "--set", "existingConfigMap=agent-gateway-config")
	// kubectl apply -f agent-gateway/config.yaml (Step 3.2).
	seedCM := decodeFile(t, "examples/seed-configmap.yaml").(*corev1.ConfigMap)
	st, body, err := c.Do(context.Background(), http.MethodPost, "/api/v1/namespaces/agent-gateway/configmaps", c.AdminToken, seedCM)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("creating Step 3's ConfigMap: %d %v %s", st, err, body)
	}
	st, body, err = c.Do(context.Background(), http.MethodGet, "/apis/apps/v1/namespaces/agent-gateway/deployments/agent-gateway", c.AdminToken, nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("GET deployment: %d %v", st, err)
	}
	var dep struct {
		Spec struct {
			Replicas int `json:"replicas"`
			Template struct {
				Spec struct {
					Volumes []struct {
						Name      string `json:"name"`
						ConfigMap *struct {
							Name string `json:"name"`
						} `json:"configMap"`
					} `json:"volumes"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(body, &dep)
	if v := dep.Spec.Template.Spec.Volumes; dep.Spec.Replicas != 2 || len(v) == 0 || v[0].ConfigMap == nil || v[0].ConfigMap.Name != "agent-gateway-config" {
		t.Errorf("after the upgrade: replicas %d, volumes %+v", dep.Spec.Replicas, v)
	}

	// The guide's values are validation jwks: the chart grants nothing,
	// and Kubernetes' own default binding lets every ServiceAccount read
	// the JWKS.
	for _, v := range []string{"create tokenreviews", "get serviceaccounts", "list serviceaccounts"} {
		verb, res, _ := strings.Cut(v, " ")
		if sarAllowed(t, c, gatewaySA, verb, groupOf(res), res) {
			t.Errorf("validation jwks: the gateway may %s", v)
		}
	}
	if !nonResourceAllowed(t, c, gatewaySA, "/openid/v1/jwks") {
		t.Error("the gateway may not read /openid/v1/jwks")
	}

	// Step 9.1's check, as a SubjectAccessReview, once the mode needs it;
	// never serviceaccounts, which the gateway does not read.
	setValidation(t, c, "tokenreview")
	for _, v := range []string{"get serviceaccounts", "list serviceaccounts"} {
		verb, res, _ := strings.Cut(v, " ")
		if sarAllowed(t, c, gatewaySA, verb, groupOf(res), res) {
			t.Errorf("validation tokenreview: the gateway may %s", v)
		}
	}

	// The gateway's own token (what the pod mounts) creates a TokenReview
	// of an agent's token.
	ensureServiceAccount(t, c, agentsNS, weatherSA)
	gwTok := c.Token(t, namespace, "agent-gateway", nil, 3600)
	agentTok := c.Token(t, agentsNS, weatherSA, []string{"agent-gateway"}, 3600)
	st, body, err = c.Do(context.Background(), http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", gwTok, map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"spec": map[string]any{"token": agentTok, "audiences": []string{"agent-gateway"}},
	})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("TokenReview with the gateway's token: %d %v %s", st, err, body)
	}
	var tr struct {
		Status struct {
			Authenticated bool `json:"authenticated"`
			User          struct {
				Username string `json:"username"`
			} `json:"user"`
		} `json:"status"`
	}
	_ = json.Unmarshal(body, &tr)
	if !tr.Status.Authenticated || tr.Status.User.Username != weatherUser {
		t.Errorf("TokenReview status %s", body)
	}
	// Without the chart's binding, a ServiceAccount may not.
	c.CreateServiceAccount(t, namespace, "not-the-gateway")
	other := c.Token(t, namespace, "not-the-gateway", nil, 3600)
	st, body, _ = c.Do(context.Background(), http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", other, map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": agentTok},
	})
	if st != http.StatusForbidden {
		t.Errorf("an unbound ServiceAccount created a TokenReview: %d %s", st, body)
	}
}

// setValidation upgrades the release to security.jwt.validation=mode and
// waits until the gateway's RBAC matches it: tokenreviews create for
// tokenreview and both, nothing for jwks.
func setValidation(t *testing.T, c *kubeenv.Cluster, mode string) {
	t.Helper()
	helmInstall(t, c)
	kc := c.Kubeconfig(t, "", c.AdminToken)
	mustHelm(t, "upgrade", release, chartRel, "--namespace", namespace, "--kubeconfig", kc, "--reuse-values", "--set", "security.jwt.validation="+mode)
	if mode == "jwks" {
		deadline := time.Now().Add(30 * time.Second)
		for sarAllowed(t, c, gatewaySA, "create", "authentication.k8s.io", "tokenreviews") {
			if time.Now().After(deadline) {
				t.Fatal("validation jwks: the gateway may still create tokenreviews")
			}
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	c.WaitAllowed(t, gatewaySA, "create", "authentication.k8s.io", "tokenreviews")
}

func groupOf(resource string) string {
	if resource == "tokenreviews" {
		return "authentication.k8s.io"
	}
	return ""
}

// sarAllowed asks once whether user may verb group/resource.
func sarAllowed(t *testing.T, c *kubeenv.Cluster, user, verb, group, resource string) bool {
	t.Helper()
	ns := strings.Split(user, ":")[2]
	st, body, err := c.Do(context.Background(), http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", c.AdminToken, map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
		"spec": map[string]any{"user": user, "groups": []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:" + ns},
			"resourceAttributes": map[string]any{"verb": verb, "group": group, "resource": resource}},
	})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("SubjectAccessReview: %d %v %s", st, err, body)
	}
	var out struct {
		Status struct {
			Allowed bool `json:"allowed"`
		} `json:"status"`
	}
	_ = json.Unmarshal(body, &out)
	return out.Status.Allowed
}

var installed = map[*kubeenv.Cluster]string{}

// helmInstall installs the chart once per cluster with the guide's --set
// flags and returns helm's output.
func helmInstall(t *testing.T, c *kubeenv.Cluster) string {
	t.Helper()
	if out, ok := installed[c]; ok {
		return out
	}
	kc := c.Kubeconfig(t, "", c.AdminToken)
	out := mustHelm(t, append([]string{"install", release, chartRel, "--namespace", namespace, "--kubeconfig", kc}, seedSetFlags(t)...)...)
	installed[c] = out
	return out
}

func nonResourceAllowed(t *testing.T, c *kubeenv.Cluster, user, p string) bool {
	t.Helper()
	ns := strings.Split(user, ":")[2]
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body, err := c.Do(context.Background(), http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", c.AdminToken, map[string]any{
			"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
			"spec": map[string]any{"user": user, "groups": []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:" + ns},
				"nonResourceAttributes": map[string]any{"path": p, "verb": "get"}},
		})
		if err != nil || st != http.StatusCreated {
			t.Fatalf("SubjectAccessReview: %d %v %s", st, err, body)
		}
		var out struct {
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		}
		_ = json.Unmarshal(body, &out)
		if out.Status.Allowed || time.Now().After(deadline) {
			return out.Status.Allowed
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podFiles writes what Kubernetes mounts in every pod at
// /var/run/secrets/kubernetes.io/serviceaccount: the gateway's token, the
// cluster CA and the namespace.
func podFiles(t *testing.T, c *kubeenv.Cluster) string {
	dir := filepath.Join(t.TempDir(), "serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"token":     []byte(c.Token(t, namespace, "agent-gateway", nil, 3600)),
		"ca.crt":    c.CAPEM,
		"namespace": []byte(namespace),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// canUnshare reports whether this process may make a user and mount
// namespace, to put the pod files at their real, hard-coded path.
// AGENTGATEWAY_TEST_NO_USERNS=1 forces the fallback.
func canUnshare() bool {
	if os.Getenv("AGENTGATEWAY_TEST_NO_USERNS") == "1" {
		return false
	}
	return exec.Command("unshare", "--user", "--map-root-user", "--mount", "true").Run() == nil
}

// testInCluster renders the chart (the guide's values, with loopback
// ports and backend) and runs the gateway on the rendered gateway.yaml
// with the in-cluster environment: KUBERNETES_SERVICE_HOST/PORT and the
// ServiceAccount files at /var/run/secrets/kubernetes.io/serviceaccount
// (in a private mount namespace). Agents then call a tool with real
// ServiceAccount tokens.
func testInCluster(t *testing.T, c *kubeenv.Cluster, gw, mode string) {
	backend := startBackend(t)
	agent := startAgent(t)
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	apiPort := strings.TrimPrefix(c.URL, "https://127.0.0.1:")
	values := map[string]any{
		"gateway":       map[string]any{"port": port},
		"observability": map[string]any{"opentelemetry": map[string]any{"enabled": false}, "prometheus": map[string]any{"port": admin}},
		"security": map[string]any{"jwt": map[string]any{
			"validation": mode,
			// The in-cluster API server: $KUBERNETES_SERVICE_HOST.
			"jwksUri": fmt.Sprintf("https://127.0.0.1:%s/openid/v1/jwks", apiPort),
		}},
		"mcp": map[string]any{"backends": []any{map[string]any{
			"name": "agent-core-mcp-backend", "type": "mcp-http", "address": backend,
			"mcp": map[string]any{"endpoint": "/mcp", "protocol": "http", "timeout": "300s"},
		}}},
		"a2a": map[string]any{"backends": []any{map[string]any{"name": "weather-agent-backend", "address": agent}}},
	}
	vf := filepath.Join(t.TempDir(), "values.yaml")
	vb, _ := yaml.Marshal(values)
	if err := os.WriteFile(vf, vb, 0o600); err != nil {
		t.Fatal(err)
	}
	cm := configMapOf(t, split(t, template(t, "-f", "test/helm/testdata/seed-argocd-values.yaml", "-f", vf)))
	cfgSrc := cm.Data["gateway.yaml"]
	setValidation(t, c, mode) // the ServiceAccount and the RBAC of this mode
	sa := podFiles(t, c)

	var cmd *exec.Cmd
	cfgDir := t.TempDir()
	inPod := canUnshare()
	if inPod {
		cmd = exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-euc", `
mount -t tmpfs tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$1"/* /run/secrets/kubernetes.io/serviceaccount/
exec "$2" run --config "$3"`, "sh", sa, gw, filepath.Join(cfgDir, "gateway.yaml"))
	} else {
		// No user namespaces here: point the gateway at the same files
		// explicitly (the default paths are hard-coded in
		// internal/policy/jwt and client-go's rest.InClusterConfig).
		t.Logf("no user namespaces: the pod files are passed explicitly instead of at /var/run/secrets")
		cfgSrc = explicitPodFiles(t, cfgSrc, sa, c.URL)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "gateway.yaml"), []byte(cfgSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	if cmd == nil {
		cmd = exec.Command(gw, "run", "--config", filepath.Join(cfgDir, "gateway.yaml"))
	}
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT="+apiPort)
	var logs gatewaytest.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s\nconfig:\n%s", logs.String(), cfgSrc)
		}
	})
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), done, &logs)
	if inPod {
		// The gateway found the pod's files by itself.
		if !strings.Contains(logs.String(), "/var/run/secrets/kubernetes.io/serviceaccount/token") {
			t.Errorf("the gateway does not use the in-cluster token:\n%s", logs.String())
		}
	}
	gwURL := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)

	ensureServiceAccount(t, c, agentsNS, weatherSA)
	ensureServiceAccount(t, c, agentsNS, planningSA)

	// The guide's weather agent calls its tool; the gateway passes on its
	// identity.
	tok := c.Token(t, agentsNS, weatherSA, []string{"agent-gateway"}, 3600)
	if got := callTool(t, gwURL, tok, "get_weather_data"); got != weatherUser {
		t.Errorf("backend saw identity %q, want %q", got, weatherUser)
	}
	// No token, a token for another audience: 401. A ServiceAccount
	// without an mcp-authz rule: not allowed the tool.
	if st := postInit(t, gwURL, ""); st != http.StatusUnauthorized {
		t.Errorf("no token: %d", st)
	}
	if st := postInit(t, gwURL, c.Token(t, agentsNS, weatherSA, []string{"someone-else"}, 3600)); st != http.StatusUnauthorized {
		t.Errorf("token for another audience: %d", st)
	}
	if st := postToolCall(t, gwURL, c.Token(t, agentsNS, planningSA, []string{"agent-gateway"}, 3600), "get_weather_data"); st != http.StatusForbidden {
		t.Errorf("planning agent calling get_weather_data: %d, want 403", st)
	}
	// Step 7.3: the planning agent calls the weather agent (A2A); the
	// weather agent may not call the planning agent.
	planTok := c.Token(t, agentsNS, planningSA, []string{"agent-gateway"}, 3600)
	a2aURL := fmt.Sprintf("http://127.0.0.1:%d/agents/weather-agent-v6", port)
	if st, body := postBody(t, a2aURL, planTok, `{"task": "Get weather forecast for Tampa, FL this weekend"}`); st != http.StatusOK ||
		!strings.Contains(body, "system:serviceaccount:agent-core-infra:planning-agent-sa -> weather-agent-v6") {
		t.Errorf("planning agent -> weather agent: %d %s", st, body)
	}
	if st, body := postBody(t, fmt.Sprintf("http://127.0.0.1:%d/agents/planning-agent", port), tok, `{"task": "plan"}`); st != http.StatusForbidden {
		t.Errorf("weather agent -> planning agent: %d %s, want 403", st, body)
	}
	if mode != "jwks" {
		// TokenReview sees deleted ServiceAccounts at once.
		c.DeleteServiceAccount(t, agentsNS, planningSA)
		tok := c.Token(t, agentsNS, weatherSA, []string{"agent-gateway"}, 3600)
		c.DeleteServiceAccount(t, agentsNS, weatherSA)
		if st := postInit(t, gwURL, tok); st != http.StatusUnauthorized {
			t.Errorf("token of a deleted ServiceAccount: %d", st)
		}
	}
}

func ensureServiceAccount(t *testing.T, c *kubeenv.Cluster, ns, name string) {
	t.Helper()
	st, body, err := c.Do(context.Background(), http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts", c.AdminToken, map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name},
	})
	if err != nil || (st != http.StatusCreated && st != http.StatusConflict) {
		t.Fatalf("creating ServiceAccount %s/%s: %d %v %s", ns, name, st, err, body)
	}
}

// explicitPodFiles sets jwks.caFile/bearerTokenFile and
// tokenReview.apiServer/caFile/tokenFile on every jwt-authn policy.
func explicitPodFiles(t *testing.T, src, sa, apiServer string) string {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg["binds"].([]any) {
		for _, l := range b.(map[string]any)["listeners"].([]any) {
			for _, r := range l.(map[string]any)["routes"].([]any) {
				for _, p := range r.(map[string]any)["policies"].([]any) {
					p := p.(map[string]any)
					if p["type"] != "jwt-authn" {
						continue
					}
					j := p["jwt"].(map[string]any)
					if j["validation"] != "tokenreview" {
						j["jwks"] = map[string]any{"caFile": filepath.Join(sa, "ca.crt"), "bearerTokenFile": filepath.Join(sa, "token")}
					}
					if j["validation"] == "tokenreview" || j["validation"] == "both" {
						j["tokenReview"] = map[string]any{"apiServer": apiServer, "caFile": filepath.Join(sa, "ca.crt"), "tokenFile": filepath.Join(sa, "token")}
					}
				}
			}
		}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitReady(t *testing.T, url string, done <-chan struct{}, logs *gatewaytest.LogBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("gateway exited:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("gateway not ready:\n%s", logs.String())
}

// startBackend is an MCP server whose get_weather_data tool returns the
// x-agent-identity header it received.
func startBackend(t *testing.T) string {
	srv := mcp.NewServer(&mcp.Implementation{Name: "helm-test-backend", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "get_weather_data", Description: "returns the caller identity"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			id := ""
			if req.Extra != nil {
				id = req.Extra.Header.Get("X-Agent-Identity")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: id}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// startAgent is an A2A agent that answers with the caller and target the
// gateway announced.
func startAgent(t *testing.T) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"seen\": %q}\n", r.Header.Get("X-Source-Agent")+" -> "+r.Header.Get("X-Target-Agent"))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// callTool calls tool through the gateway with a go-sdk client and
// returns its text.
func callTool(t *testing.T, url, tok, tool string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := mcp.NewClient(&mcp.Implementation{Name: "helm-test-agent", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{tok, tr}}}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool})
	if err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("%s: %v %+v", tool, err, res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func post(t *testing.T, url, tok, body string) int {
	t.Helper()
	st, _ := postBody(t, url, tok, body)
	return st
}

func postBody(t *testing.T, url, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func postInit(t *testing.T, url, tok string) int {
	return post(t, url, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
}

func postToolCall(t *testing.T, url, tok, tool string) int {
	return post(t, url, tok, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+tool+`","arguments":{"city":"Tampa, FL"}}}`)
}
