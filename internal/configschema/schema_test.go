package configschema

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/markdown"

	"github.com/google/jsonschema-go/jsonschema"
	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

var update = flag.Bool("update", false, "rewrite schema/config.schema.json from the config types")

const committed = "../../schema/config.schema.json"

// TestCommittedSchemaIsCurrent fails when schema/config.schema.json no
// longer matches the config types. Regenerate with
//
//	go test ./internal/configschema -run TestCommittedSchemaIsCurrent -update
//
// or `go generate ./internal/configschema`.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	got, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: the config types changed. Regenerate it:\n\tgo test ./internal/configschema -run TestCommittedSchemaIsCurrent -update", committed)
	}
}

// resolved compiles the committed schema with a real JSON Schema
// (2020-12) implementation; Resolve also checks the schema itself.
func resolved(t *testing.T) *jsonschema.Resolved {
	t.Helper()
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema is not a JSON Schema: %v", err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve schema: %v", err)
	}
	return rs
}

// instance converts YAML to the JSON value an editor's schema check sees.
func instance(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("to JSON: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExamplesPassSchema checks that every config the gateway accepts in
// the repository also passes the schema: examples/**/*.yaml that are
// gateway configs or ConfigMaps holding one (the ConfigMap itself and the
// embedded config), and the ```yaml blocks of docs/ and examples/ that
// the docs test (internal/config) runs through Validate, and the valid
// configs among internal/config/testdata/golden.
func TestExamplesPassSchema(t *testing.T) {
	rs := resolved(t)
	checked := 0
	check := func(name, src string) {
		t.Helper()
		checked++
		t.Run(name, func(t *testing.T) {
			if err := rs.Validate(instance(t, src)); err != nil {
				t.Fatalf("schema refuses a config the gateway accepts:\n%v", err)
			}
		})
	}
	for _, root := range []string{"../../docs", "../../examples", "../config/testdata/golden"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			switch filepath.Ext(path) {
			case ".md":
				for _, b := range markdown.Blocks(string(data), "yaml") {
					check(path+":"+strconv.Itoa(b.Line), b.Text)
				}
			case ".yaml", ".yml":
				// Only gateway configs: Kubernetes manifests of other
				// kinds (examples/kagent, examples/prometheus) and
				// multi-document files are not.
				c, err := config.Parse(path, data)
				if err != nil {
					return nil
				}
				c.SetDefaults()
				if c.Validate() != nil {
					return nil
				}
				check(path, string(data))
				if inner := configMapPayload(t, data); inner != "" {
					check(path+":data", inner)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d configs found", checked)
	}
}

func configMapPayload(t *testing.T, data []byte) string {
	var cm struct {
		Kind string            `yaml:"kind"`
		Data map[string]string `yaml:"data"`
	}
	if yaml.Unmarshal(data, &cm) != nil || cm.Kind != "ConfigMap" {
		return ""
	}
	if s, ok := cm.Data[config.ConfigMapKey]; ok {
		return s
	}
	return cm.Data[config.ConfigMapFallbackKey]
}

// TestSchemaRefusesMistakes checks that the schema catches the mistakes it
// is meant to catch, each with a message naming the offending part.
func TestSchemaRefusesMistakes(t *testing.T) {
	rs := resolved(t)
	const base = `
binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /mcp}}
            backends:
              - {name: b, address: "http://127.0.0.1:9000", type: mcp-http}
`
	if err := rs.Validate(instance(t, base)); err != nil {
		t.Fatalf("base config refused: %v", err)
	}
	route := "            "
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", base + "bindz: []\n", "bindz"},
		{"port as string", strings.Replace(base, "port: 8080", `port: "8080"`, 1), "type"},
		{"unknown backend type", strings.Replace(base, "type: mcp-http", "type: grpc", 1), "enum"},
		{"missing prefix", strings.Replace(base, "prefix: /mcp", "prefx: /mcp", 1), "prefx"},
		{"policy type unknown", base + route + "policies: [{type: jwt}]\n", "enum"},
		{"policy without its block", base + route + "policies: [{type: jwt-authn}]\n", "jwt"},
		{"policy with another type's block", base + route + "policies: [{type: timeout, timeout: {request: 5s}, retry: {attempts: 2, retryOn: [5xx]}}]\n", "retry"},
		{"duration without unit", base + "server: {idleTimeout: 30}\n", "idleTimeout"},
		{"duration garbage", base + "server: {idleTimeout: soon}\n", "pattern"},
		{"size with unknown unit", base + "server: {maxBodyBytes: 4mb}\n", "pattern"},
		{"negative size", base + "server: {maxBodyBytes: -1}\n", "minimum"},
		{"failureMode", base + "rateLimiting: {failureMode: maybe}\n", "enum"},
		{"headersWithUnderscores", base + "server: {headersWithUnderscores: keep}\n", "enum"},
		{"clientAuth", strings.Replace(base, "    listeners:", "    tls: {certFile: c, keyFile: k, clientAuth: strict}\n    listeners:", 1), "enum"},
		{"TLS 1.1", strings.Replace(base, "    listeners:", "    tls: {certFile: c, keyFile: k, minVersion: \"1.1\"}\n    listeners:", 1), "enum"},
		{"bool as string", base + "logging: {accessLog: \"yes\"}\n", "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rs.Validate(instance(t, tc.yaml))
			if err == nil {
				t.Fatal("schema accepts it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			// The gateway refuses it too: the schema must never be
			// stricter than the decoder and Validate.
			c, perr := config.Parse("t.yaml", []byte(tc.yaml))
			if perr == nil {
				c.SetDefaults()
				perr = c.Validate()
			}
			if perr == nil {
				t.Errorf("the gateway accepts what the schema refuses")
			}
		})
	}
}

// TestSchemaAcceptsDecoderForms checks spellings the decoder accepts that a
// naive schema would refuse.
func TestSchemaAcceptsDecoderForms(t *testing.T) {
	rs := resolved(t)
	for _, tc := range []struct{ name, yaml string }{
		{"minVersion unquoted", "minVersion: 1.3"},
		{"minVersion quoted", `minVersion: "1.2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := `
binds:
  - port: 8443
    tls: {certFile: c, keyFile: k, ` + tc.yaml + `}
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /}}
            backends: [{name: b, address: "http://127.0.0.1:9000"}]
server:
  idleTimeout: 0
  readHeaderTimeout: 1m30s
  maxBodyBytes: 4MiB
  maxHeaderBytes: 65536
  maxBufferedBodyBytes: "256 MiB"
`
			if err := rs.Validate(instance(t, src)); err != nil {
				t.Fatalf("schema refuses: %v", err)
			}
			c, err := config.Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatalf("decoder refuses: %v", err)
			}
			c.SetDefaults()
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate refuses: %v", err)
			}
		})
	}
}

// TestDurationAndSizePatterns ties the patterns to the parsers.
func TestDurationAndSizePatterns(t *testing.T) {
	rs := resolved(t)
	for _, tc := range []struct {
		def, val string
	}{
		{"Duration", "30s"}, {"Duration", "1m30s"}, {"Duration", "250ms"}, {"Duration", "1.5h"},
		{"Duration", "0"}, {"Duration", "10µs"}, {"Duration", "30"}, {"Duration", "-1s"},
		{"Duration", "s"}, {"Duration", "1d"}, {"Duration", ""},
		{"ByteSize", "4MiB"}, {"ByteSize", "64 KiB"}, {"ByteSize", "10MB"}, {"ByteSize", "4194304"},
		{"ByteSize", "4mb"}, {"ByteSize", "-1"}, {"ByteSize", "1.5MiB"}, {"ByteSize", "MiB"},
	} {
		var perr error
		if tc.def == "Duration" {
			_, perr = config.ParseDuration(tc.val)
		} else {
			_, perr = config.ParseByteSize(tc.val)
		}
		src := "binds: []\nserver: {readHeaderTimeout: " + strconv.Quote(tc.val) + "}\n"
		if tc.def == "ByteSize" {
			src = "binds: []\nserver: {maxBodyBytes: " + strconv.Quote(tc.val) + "}\n"
		}
		serr := rs.Validate(instance(t, src))
		if (perr == nil) != (serr == nil) {
			t.Errorf("%s %q: parser error %v, schema error %v", tc.def, tc.val, perr, serr)
		}
	}
}
