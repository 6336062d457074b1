// Package helm tests the Helm chart (deploy/helm/agentgateway), the
// manifests rendered from it (deploy/kubernetes), the ArgoCD Application
// and the Prometheus example: with a real Helm (v3.22.0, built from the
// module proxy by scripts/helm-bin.sh into .cache/helm/bin) and, in
// kube_test.go, a real kube-apiserver (test/kubeenv).
//
// When helm is missing the tests skip, except in CI (CI=true), where they
// fail. `go test ./test/helm -update` rewrites the golden files.
package helm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	chartRel  = "deploy/helm/agentgateway"
	release   = "agent-gateway" // the guide's releaseName
	namespace = "agent-gateway" // the guide's destination namespace
)

var (
	rootOnce sync.Once
	rootDir  string
)

// root is the main module's root directory.
func root(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/agentgateway-go/agentgateway\n")) {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		t.Fatal("main module root not found")
	}
	return rootDir
}

func path(t testing.TB, rel string) string { return filepath.Join(root(t), filepath.FromSlash(rel)) }

// helmBin returns the helm built by scripts/helm-bin.sh ($HELM_BIN_DIR,
// else .cache/helm/bin). Missing: skip, or fail in CI.
func helmBin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HELM_BIN_DIR")
	if dir == "" {
		dir = path(t, ".cache/helm/bin")
	}
	return testbin.Executable(t, filepath.Join(dir, "helm"), "build it with `make helm` (scripts/helm-bin.sh)")
}

var (
	helmEnvOnce sync.Once
	helmEnvDir  string
)

// runHelm runs helm with args in an isolated environment (no kubeconfig,
// no user config or cache) from the module root, and returns stdout.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := helmBin(t)
	helmEnvOnce.Do(func() {
		d, err := os.MkdirTemp("", "helm-test-env")
		if err == nil {
			helmEnvDir = d
		}
	})
	if helmEnvDir == "" {
		t.Fatal("no temp dir for helm")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root(t)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + helmEnvDir,
		"HELM_CACHE_HOME=" + filepath.Join(helmEnvDir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(helmEnvDir, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmEnvDir, "data"),
		"KUBECONFIG=" + filepath.Join(helmEnvDir, "no-kubeconfig"),
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

func mustHelm(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// template renders the chart as release agent-gateway in namespace
// agent-gateway with extra args (-f, --set).
func template(t testing.TB, args ...string) string {
	t.Helper()
	return mustHelm(t, append([]string{"template", release, chartRel, "--namespace", namespace}, args...)...)
}

// object is one rendered document.
type object struct {
	Source string // the template it came from ("# Source: ...")
	Raw    []byte
	Map    map[string]any
}

func (o object) Kind() string        { s, _ := o.Map["apiVersion"].(string); return s + "/" + o.str("kind") }
func (o object) str(k string) string { s, _ := o.Map[k].(string); return s }
func (o object) Name() string {
	m, _ := o.Map["metadata"].(map[string]any)
	s, _ := m["name"].(string)
	return s
}
func (o object) Namespace() string {
	m, _ := o.Map["metadata"].(map[string]any)
	s, _ := m["namespace"].(string)
	return s
}
func (o object) String() string { return o.Kind() + " " + o.Name() }

// split parses helm output into its objects.
func split(t testing.TB, out string) []object {
	t.Helper()
	var objs []object
	for _, doc := range strings.Split("\n"+out, "\n---") {
		src := ""
		for _, l := range strings.Split(doc, "\n") {
			if s, ok := strings.CutPrefix(l, "# Source: "); ok {
				src = s
			}
		}
		var m map[string]any
		dec := yaml.NewDecoder(strings.NewReader(doc))
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			continue
		} else if err != nil {
			t.Fatalf("rendered document from %s is not YAML: %v\n%s", src, err, doc)
		}
		if m == nil {
			continue
		}
		objs = append(objs, object{Source: src, Raw: []byte(doc), Map: m})
	}
	return objs
}

// find returns the one object of kind ("apps/v1/Deployment") or fails.
func find(t testing.TB, objs []object, kind string) object {
	t.Helper()
	var got []object
	for _, o := range objs {
		if o.Kind() == kind {
			got = append(got, o)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(got), kind)
	}
	return got[0]
}

func has(objs []object, kind string) bool {
	for _, o := range objs {
		if o.Kind() == kind {
			return true
		}
	}
	return false
}

// readTestdata reads test/helm/testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedSetFlags returns the guide's `helm install --set` flags (Step 1.3,
// Option B), as helm args.
func seedSetFlags(t testing.TB) []string {
	t.Helper()
	var args []string
	for _, l := range strings.Split(string(readTestdata(t, "seed-set-flags.txt")), "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "\\"))
		if v, ok := strings.CutPrefix(l, "--set "); ok {
			args = append(args, "--set", v)
		}
	}
	if len(args) != 16 {
		t.Fatalf("%d --set flags in testdata/seed-set-flags.txt, want 8", len(args)/2)
	}
	return args
}
