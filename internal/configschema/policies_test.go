package configschema_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/configschema"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all" // registers every policy type, as the binary does
)

// TestRegisteredPoliciesHaveSchemaAndDocs fails for a policy type that
// its package registers without a schema or without docs: the generated
// schema must describe its block and every field of it (doc comments in
// the registered Source), and docs/config.md must list the type in the
// policies table and document every field in the type's own section.
func TestRegisteredPoliciesHaveSchemaAndDocs(t *testing.T) {
	reg := config.RegisteredPolicies()
	if len(reg) == 0 {
		t.Fatal("no registered policy types")
	}
	out, err := configschema.Generate()
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Ref         string             `json:"$ref"`
		Description string             `json:"description"`
		Properties  map[string]*schema `json:"properties"`
	}
	var root struct {
		Defs map[string]*schema `json:"$defs"`
	}
	if err := json.Unmarshal(out, &root); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := string(md)
	for _, k := range reg {
		t.Run(k.Type, func(t *testing.T) {
			// Schema: Policy.<block> refers to a described definition
			// whose every field is described.
			prop := root.Defs["Policy"].Properties[k.Block]
			if prop == nil || !strings.HasPrefix(prop.Ref, "#/$defs/") {
				t.Fatalf("schema: Policy has no property %q referring to a definition", k.Block)
			}
			def := root.Defs[strings.TrimPrefix(prop.Ref, "#/$defs/")]
			if def == nil || def.Description == "" {
				t.Fatalf("schema: %s is missing or has no description (doc comment in the registered Source)", prop.Ref)
			}
			fields := yamlFields(reflect.TypeOf(k.New()).Elem())
			for _, f := range fields {
				if p := def.Properties[f]; p == nil || p.Description == "" {
					t.Errorf("schema: %s.%s has no description (doc comment in the registered Source)", prop.Ref, f)
				}
			}
			// Docs: a row in the policies table and a section with a
			// table row per field.
			if !strings.Contains(docs, "| `"+k.Type+"` | `"+k.Block+"` |") {
				t.Errorf("docs/config.md: the policies table has no row | `%s` | `%s` |", k.Type, k.Block)
			}
			heading := "#### " + k.Type + " (`" + k.Block + "`)\n"
			i := strings.Index(docs, heading)
			if i < 0 {
				t.Fatalf("docs/config.md: no section %q", strings.TrimSpace(heading))
			}
			section := docs[i+len(heading):]
			if j := strings.Index(section, "\n#"); j >= 0 {
				section = section[:j]
			}
			for _, f := range fields {
				if !strings.Contains(section, "\n| `"+f+"` |") && !strings.Contains(section, "\n| `"+f+".") {
					t.Errorf("docs/config.md section %q documents no field `%s` (a table row | `%s` | ...)", strings.TrimSpace(heading), f, f)
				}
			}
		})
	}
}

// yamlFields lists the yaml names of t's fields, as the decoder reads them.
func yamlFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, name)
	}
	return out
}
