package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/markdown"
)

// TestDocsAndExamples runs every ```yaml block of the Markdown files under
// docs/ and examples/, and every examples/*.yaml file, through Parse,
// SetDefaults and Validate. Only fences whose info string is exactly "yaml"
// are checked; partial snippets use ```yaml-fragment (or any other info
// string, such as ```yaml title="..."), which this test skips.
func TestDocsAndExamples(t *testing.T) {
	checked := 0
	for _, root := range []string{"../../docs", "../../examples"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			switch filepath.Ext(path) {
			case ".md":
				for _, b := range markdown.Blocks(string(data), "yaml") {
					checked++
					name := path + ":" + strconv.Itoa(b.Line)
					t.Run(name, func(t *testing.T) { checkConfig(t, name, b.Text) })
				}
			case ".yaml", ".yml":
				// Gateway configs: the files directly under examples/, and
				// under examples/<feature>/ every file that starts with the
				// schema modeline (the others there are Kubernetes
				// manifests or Prometheus config).
				if root == "../../examples" && (filepath.Dir(path) == root || strings.HasPrefix(string(data), schemaModeline)) {
					checked++
					t.Run(path, func(t *testing.T) { checkConfig(t, path, string(data)) })
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 3 {
		t.Fatalf("only %d configs found under docs/ and examples/", checked)
	}
}

// schemaModeline is the first line of every feature example: editors
// with the YAML language server complete and check fields against it.
const schemaModeline = "# yaml-language-server: $schema=../../schema/config.schema.json\n"

// notGatewayExamples are the directories under examples/ that hold no
// gateway config (Kubernetes manifests, a Prometheus scrape job).
var notGatewayExamples = map[string]bool{"kagent": true, "prometheus": true}

// TestFeatureExamples requires every examples/<feature>/ to hold a
// gateway.yaml that starts with the schema modeline (TestDocsAndExamples
// validates it) and a README.md.
func TestFeatureExamples(t *testing.T) {
	entries, err := os.ReadDir("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	features := 0
	for _, e := range entries {
		if !e.IsDir() || notGatewayExamples[e.Name()] {
			continue
		}
		features++
		dir := filepath.Join("../../examples", e.Name())
		data, err := os.ReadFile(filepath.Join(dir, "gateway.yaml"))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if !strings.HasPrefix(string(data), schemaModeline) {
			t.Errorf("%s/gateway.yaml: the first line must be %q", dir, strings.TrimSpace(schemaModeline))
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	if features < 6 {
		t.Errorf("%d feature examples under examples/; want at least authz, ratelimit, a2a, mtls, redis and tracing", features)
	}
}

func checkConfig(t *testing.T, name, src string) {
	t.Helper()
	c, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate:\n%v", err)
	}
}
