package helm

// examples/kagent: the guide's Step 5.1 weather agent (a Helm template) and
// Step 7.1 planning agent, routed through the gateway. Checked against the
// seed's gateway config (examples/seed-configmap.yaml): endpoints, the
// ServiceAccounts its authorization rules name, the token audience it
// requires. Needs neither helm nor a cluster.

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	texttemplate "text/template"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

const (
	kagentGateway  = "http://agent-gateway.agent-gateway.svc.cluster.local:8080"
	kagentAudience = "agent-gateway"
)

// kagentValues are the agent-core-stack values kagent-agent.yaml uses.
// projectName ekspoc-v6-kagent gives the ServiceAccount the seed's
// mcp-authz rule names (docs/kubernetes.md#kagent).
func kagentValues(enabled bool) map[string]any {
	return map[string]any{"Values": map[string]any{
		"projectName": "ekspoc-v6-kagent",
		"namespace":   "agent-core-infra",
		"version":     "v6",
		"kagent":      map[string]any{"enabled": enabled},
	}}
}

// renderKagentAgent renders examples/kagent/kagent-agent.yaml with
// text/template (it uses no Helm functions).
func renderKagentAgent(t *testing.T, enabled bool) []object {
	t.Helper()
	src, err := os.ReadFile(path(t, "examples/kagent/kagent-agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := texttemplate.New("kagent-agent.yaml").Option("missingkey=error").Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, kagentValues(enabled)); err != nil {
		t.Fatal(err)
	}
	return split(t, out.String())
}

func readKagentFile(t *testing.T, name string) []object {
	t.Helper()
	b, err := os.ReadFile(path(t, "examples/kagent/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return split(t, string(b))
}

// seedGateway is the gateway config of examples/seed-configmap.yaml.
func seedGateway(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path(t, "examples/seed-configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm := decodeStrict(t, object{Source: "examples/seed-configmap.yaml", Raw: b}).(*corev1.ConfigMap)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["gateway.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// walk calls f on every map in v.
func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, e := range v {
			walk(e, f)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	}
}

// get follows keys through nested maps.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// seedRoute returns the seed's route whose path prefix is prefix.
func seedRoute(t *testing.T, cfg map[string]any, prefix string) map[string]any {
	t.Helper()
	var got map[string]any
	walk(cfg, func(m map[string]any) {
		if get(m, "match", "path", "prefix") == prefix {
			got = m
		}
	})
	if got == nil {
		t.Fatalf("seed config has no route for %s", prefix)
	}
	return got
}

// policy returns the route's policy of type typ.
func policy(t *testing.T, route map[string]any, typ string) map[string]any {
	t.Helper()
	ps, _ := route["policies"].([]any)
	for _, p := range ps {
		if m, _ := p.(map[string]any); m["type"] == typ {
			return m
		}
	}
	t.Fatalf("route %v has no %s policy", route["name"], typ)
	return nil
}

// checkAudience: the route's jwt-authn accepts the audience of the
// projected token the examples mount.
func checkAudience(t *testing.T, route map[string]any) {
	t.Helper()
	auds, _ := get(policy(t, route, "jwt-authn"), "jwt", "audiences").([]any)
	if !slices.Contains(auds, any(kagentAudience)) {
		t.Fatalf("seed route %v: jwt audiences %v, want %q", route["name"], auds, kagentAudience)
	}
}

// checkProjectedToken: the Agent mounts a projected ServiceAccount token
// whose audience is the gateway's (the default token is refused), and the
// volumes decode strictly as k8s.io/api types.
func checkProjectedToken(t *testing.T, agent object) {
	t.Helper()
	var dep struct {
		Volumes      []corev1.Volume      `json:"volumes"`
		VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
	}
	j, err := json.Marshal(get(agent.Map, "spec", "declarative", "deployment"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&dep); err != nil {
		t.Fatalf("%s: spec.declarative.deployment: %v", agent, err)
	}
	var vol string
	for _, v := range dep.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == kagentAudience {
				vol = v.Name
			}
		}
	}
	if vol == "" {
		t.Fatalf("%s mounts no projected ServiceAccount token with audience %q", agent, kagentAudience)
	}
	if !slices.ContainsFunc(dep.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vol }) {
		t.Fatalf("%s: volume %s is not mounted", agent, vol)
	}
}

// derivedVersion is the version suffix a derived backend name accepts.
var derivedVersion = regexp.MustCompile(`^-v[0-9]+(\.[0-9]+)*$`)

func username(sa object) string {
	return "system:serviceaccount:" + sa.Namespace() + ":" + sa.Name()
}

// TestKagentWeatherAgent: Step 5.1's template, rendered with the guide's
// values, sends tool calls to the gateway's /mcp as the ServiceAccount the
// seed's mcp-authz rule names.
func TestKagentWeatherAgent(t *testing.T) {
	if objs := renderKagentAgent(t, false); len(objs) != 0 {
		t.Fatalf("kagent.enabled=false renders %d objects, want 0", len(objs))
	}
	objs := renderKagentAgent(t, true)
	if len(objs) != 2 {
		t.Fatalf("%d objects, want ServiceAccount and Agent", len(objs))
	}
	sa := find(t, objs, "v1/ServiceAccount")
	decodeStrict(t, sa)
	agent := find(t, objs, "kagent.dev/v1alpha2/Agent")
	if agent.Name() != "weather-agent-v6" || agent.Namespace() != "agent-core-infra" {
		t.Errorf("Agent %s/%s, want agent-core-infra/weather-agent-v6", agent.Namespace(), agent.Name())
	}
	if got := get(agent.Map, "spec", "serviceAccountName"); got != sa.Name() || sa.Namespace() != agent.Namespace() {
		t.Errorf("Agent serviceAccountName %v, want %s in %s", got, sa.Name(), agent.Namespace())
	}

	tools, _ := get(agent.Map, "spec", "declarative", "tools").([]any)
	var endpoints []any
	for _, tool := range tools {
		endpoints = append(endpoints, get(tool, "mcpServer", "endpoint"))
	}
	if want := kagentGateway + "/mcp"; len(endpoints) != 1 || endpoints[0] != want {
		t.Errorf("MCP endpoints %v, want [%s]", endpoints, want)
	}
	checkProjectedToken(t, agent)

	route := seedRoute(t, seedGateway(t), "/mcp")
	checkAudience(t, route)
	rules, _ := get(policy(t, route, "mcp-authz"), "mcp", "rules").([]any)
	var principals []any
	for _, r := range rules {
		principals = append(principals, get(r, "principal"))
	}
	if !slices.Contains(principals, any(username(sa))) {
		t.Errorf("ServiceAccount %s is no mcp-authz principal of the seed %v", username(sa), principals)
	}
}

// TestKagentPlanningAgent: Step 7.1's planning agent calls the weather
// agent through the gateway's /agents/weather-agent-v6, as the source the
// seed's a2a-authz rule allows, and its Service is the seed's
// planning-agent-backend.
func TestKagentPlanningAgent(t *testing.T) {
	objs := readKagentFile(t, "planning-agent.yaml")
	if len(objs) != 3 {
		t.Fatalf("%d objects, want ServiceAccount, Agent and Service", len(objs))
	}
	sa := find(t, objs, "v1/ServiceAccount")
	decodeStrict(t, sa)
	svc := decodeStrict(t, find(t, objs, "v1/Service")).(*corev1.Service)
	agent := find(t, objs, "kagent.dev/v1alpha2/Agent")
	if got := get(agent.Map, "spec", "serviceAccountName"); got != sa.Name() || sa.Namespace() != agent.Namespace() {
		t.Errorf("Agent serviceAccountName %v, want %s in %s", got, sa.Name(), agent.Namespace())
	}

	const target = "weather-agent-v6"
	agents, _ := get(agent.Map, "spec", "declarative", "agents").([]any)
	var endpoints []any
	for _, a := range agents {
		endpoints = append(endpoints, get(a, "endpoint"))
		if p := get(a, "protocol"); p != "a2a" {
			t.Errorf("agent %v: protocol %v, want a2a", get(a, "name"), p)
		}
	}
	if want := kagentGateway + "/agents/" + target; len(endpoints) != 1 || endpoints[0] != want {
		t.Errorf("A2A endpoints %v, want [%s]", endpoints, want)
	}
	checkProjectedToken(t, agent)

	cfg := seedGateway(t)
	route := seedRoute(t, cfg, "/agents")
	checkAudience(t, route)
	const wantSource = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	if username(sa) != wantSource {
		t.Errorf("ServiceAccount %s, want %s", username(sa), wantSource)
	}
	rules, _ := get(policy(t, route, "a2a-authz"), "a2a", "rules").([]any)
	allowed := false
	for _, r := range rules {
		if get(r, "source") == username(sa) && get(r, "target") == target && get(r, "allowed") == true {
			allowed = true
		}
	}
	if !allowed {
		t.Errorf("no seed a2a-authz rule allows %s to call %s: %v", username(sa), target, rules)
	}

	// The backends: weather-agent-backend serves weather-agent-v6 by its
	// derived name (docs/a2a.md#routing), and planning-agent-backend is
	// this file's Service.
	backends := map[string]string{}
	bs, _ := route["backends"].([]any)
	for _, b := range bs {
		name, _ := get(b, "name").(string)
		addr, _ := get(b, "address").(string)
		backends[name] = addr
	}
	served := false
	for name := range backends {
		base, ok := strings.CutSuffix(name, "-backend")
		if ok && (target == base || derivedVersion.MatchString(strings.TrimPrefix(target, base))) {
			served = true
		}
	}
	if !served {
		t.Errorf("no seed backend serves %s by derived name: %v", target, backends)
	}
	u, err := url.Parse(backends["planning-agent-backend"])
	if err != nil {
		t.Fatalf("planning-agent-backend: %v", err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	if want := svc.Name + "." + svc.Namespace + ".svc.cluster.local"; host != want {
		t.Errorf("planning-agent-backend host %s, want the Service %s", host, want)
	}
	if len(svc.Spec.Ports) != 1 || port != "8080" || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("planning-agent-backend port %s, Service ports %v, want 8080", port, svc.Spec.Ports)
	}
}
