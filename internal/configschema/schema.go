// Package configschema generates the JSON Schema (draft 2020-12) of
// gateway.yaml from the config types in internal/config: one definition
// per struct, one property per yaml tag, descriptions taken from the doc
// comments of types.go, enums for the fields whose values form a fixed set
// and string patterns for durations and sizes.
//
// The schema is a help for editors and CI, not the authority: the strict
// decoder and Validate in internal/config decide what the gateway accepts.
// The schema is kept no stricter than they are (every config they accept
// passes it; schema_test.go checks the examples and docs) while catching
// what can be caught structurally: unknown fields, wrong types, values
// outside a fixed set and missing required fields.
//
// The committed copy is schema/config.schema.json; regenerate it with
// `go generate ./internal/configschema` (or `go test ./internal/configschema
// -update`).
package configschema

//go:generate go run ../../cmd/agentgateway schema -o ../../schema/config.schema.json

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"sort"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Draft is the JSON Schema dialect of the generated schema.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Schema is the subset of JSON Schema the generator writes. Field order is
// output order.
type Schema struct {
	Schema               string      `json:"$schema,omitempty"`
	ID                   string      `json:"$id,omitempty"`
	Ref                  string      `json:"$ref,omitempty"`
	Title                string      `json:"title,omitempty"`
	Description          string      `json:"description,omitempty"`
	Type                 any         `json:"type,omitempty"` // string or []string
	Enum                 []any       `json:"enum,omitempty"`
	Const                any         `json:"const,omitempty"`
	Pattern              string      `json:"pattern,omitempty"`
	Minimum              *float64    `json:"minimum,omitempty"`
	Maximum              *float64    `json:"maximum,omitempty"`
	Items                *Schema     `json:"items,omitempty"`
	Required             []string    `json:"required,omitempty"`
	Properties           *Properties `json:"properties,omitempty"`
	AdditionalProperties *Schema     `json:"additionalProperties,omitempty"`
	AnyOf                []*Schema   `json:"anyOf,omitempty"`
	AllOf                []*Schema   `json:"allOf,omitempty"`
	If                   *Schema     `json:"if,omitempty"`
	Then                 *Schema     `json:"then,omitempty"`
	Else                 *Schema     `json:"else,omitempty"`
	Defs                 *Properties `json:"$defs,omitempty"`

	// falseSchema marks the boolean schema false (additionalProperties:
	// false).
	falseSchema bool
}

// MarshalJSON writes the false schema as false.
func (s *Schema) MarshalJSON() ([]byte, error) {
	if s.falseSchema {
		return []byte("false"), nil
	}
	type plain Schema
	return marshal((*plain)(s))
}

// marshal is json.Marshal without HTML escaping: descriptions keep their
// "<name>" placeholders readable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Properties is an ordered name → schema map (struct field order for
// properties, sorted for $defs) so that the output is stable and reads in
// the order of the Go types.
type Properties struct {
	names []string
	m     map[string]*Schema
}

func (p *Properties) set(name string, s *Schema) {
	if p.m == nil {
		p.m = map[string]*Schema{}
	}
	if _, ok := p.m[name]; !ok {
		p.names = append(p.names, name)
	}
	p.m[name] = s
}

// MarshalJSON writes the properties in insertion order.
func (p *Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range p.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshal(n)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(p.m[n])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DurationPattern matches what config.ParseDuration accepts: a
// non-negative Go duration ("30s", "1m30s", "250ms", "0").
const DurationPattern = `^\s*\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`

// ByteSizePattern matches what config.ParseByteSize accepts: an integer
// with an optional unit ("4194304", "4MiB", "64 KiB").
const ByteSizePattern = `^\s*[0-9]+ *(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$`

// enums lists the fields (Type.Field of internal/config) whose values form
// a fixed set. The empty string, which Validate reads as "the default", is
// left out: an editor should offer the real values.
//
// It is a function because the policy types are known only once their
// packages have registered them.
func enums() map[string][]any {
	return map[string][]any{
		"Policy.Type":                   strs(config.PolicyTypes()...),
		"Backend.Type":                  strs(config.BackendMCPHTTP, config.BackendHTTP),
		"MCPBackend.Protocol":           strs(config.MCPProtocolHTTP, config.MCPProtocolSSE),
		"BackendHTTPConfig.Version":     strs(config.HTTPVersion1, config.HTTPVersion2, config.HTTPVersionAuto),
		"ListenerTLS.ClientAuth":        strs(config.ClientAuthStrict, config.ClientAuthPermissive, config.ClientAuthNone),
		"MTLS.Mode":                     strs(config.ClientAuthStrict, config.ClientAuthPermissive),
		"ListenerTLS.MinVersion":        tlsVersions,
		"BackendTLS.MinVersion":         tlsVersions,
		"RateLimiting.FailureMode":      strs(config.FailureModeOpen, config.FailureModeClosed),
		"Server.HeadersWithUnderscores": strs(config.HeadersWithUnderscoresAllow, config.HeadersWithUnderscoresDrop, config.HeadersWithUnderscoresReject),
		"Logging.Format":                strs(config.LogFormatJSON, config.LogFormatText),
		"Logging.Level":                 strs(config.LogLevelDebug, config.LogLevelInfo, config.LogLevelWarn, config.LogLevelError),
		"OpenTelemetry.Protocol":        strs(config.OTelProtocolGRPC, config.OTelProtocolHTTP),
		"PushNotifications.Schemes":     strs("http", "https"),
	}
}

// tlsVersions also lists the numbers: YAML reads an unquoted 1.2 as a
// float, and the decoder takes any scalar as a string.
var tlsVersions = []any{config.TLSVersion12, config.TLSVersion13, 1.2, 1.3}

// required lists the fields Validate requires unconditionally.
var required = map[string][]string{
	"Config":         {"binds"},
	"Bind":           {"port", "listeners"},
	"Listener":       {"name", "routes"},
	"Route":          {"name", "match", "backends"},
	"Match":          {"path"},
	"PathMatch":      {"prefix"},
	"Backend":        {"name", "address"},
	"Policy":         {"type"},
	"TraceAttribute": {"key"},
	"ListenerTLS":    {"certFile", "keyFile"},
	"TrustBundle":    {"trustDomain", "caFile"},
	"RedisStore":     {"address"},
	"RateValue":      {"requestsPerMinute"},
}

// blockOf returns the block of policy type typ.
func blockOf(typ string) (string, bool) {
	for _, k := range config.RegisteredPolicies() {
		if k.Type == typ {
			return k.Block, true
		}
	}
	return "", false
}

func strs(v ...string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	byteSizeType = reflect.TypeFor[config.ByteSize]()
)

type generator struct {
	docs     *docs
	defs     Properties
	used     map[string]bool // enum and required keys consumed
	enums    map[string][]any
	required map[string][]string
	// names are the $defs names of the types of registered policy blocks
	// (config.RegisteredPolicies), which live outside internal/config:
	// "<Type>Policy" for the block ("TimeoutPolicy" for timeout.Config),
	// "<Type><GoType>" for the types it uses ("RetryBackoff").
	names map[reflect.Type]string
}

// defName returns the $defs name of struct type t (and the prefix of its
// Type.Field keys in enums, required and the doc comments).
func (g *generator) defName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	if t.PkgPath() != configPkg {
		// A type of a policy package that no registered block uses.
		panic("configschema: no $defs name for " + t.String())
	}
	return t.Name()
}

var configPkg = reflect.TypeFor[config.Config]().PkgPath()

// exported writes a policy type or package name in Go's exported style:
// "a2a-authz" → "A2aAuthz", "retry" → "Retry".
func exported(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// nameTypes names the struct types of package pkg that t is or uses
// prefix + their Go name.
func (g *generator) nameTypes(t reflect.Type, pkg, prefix string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != pkg {
		return
	}
	if _, done := g.names[t]; done {
		return
	}
	g.names[t] = prefix + t.Name()
	for i := 0; i < t.NumField(); i++ {
		g.nameTypes(t.Field(i).Type, pkg, prefix)
	}
}

// addRegistered reads the registered policy blocks: their $defs names,
// the doc comments of their sources, and what a block tells the schema
// that its Go types cannot (optional methods of the block, keys
// Type.Field of its package):
//
//	SchemaRequired() map[string][]string // type → required yaml fields
//	SchemaEnums() map[string][]string    // Type.Field → its values
func (g *generator) addRegistered() error {
	for _, k := range config.RegisteredPolicies() {
		t := reflect.TypeOf(k.New()).Elem()
		prefix := exported(k.Type) // "a2a-authz" → "A2aAuthz"
		root := prefix + "Policy"
		if _, clash := g.docs.types[root]; clash {
			return fmt.Errorf("configschema: policy %s: $defs name %s is already a config type", k.Type, root)
		}
		g.nameTypes(t, t.PkgPath(), prefix)
		g.names[t] = root
		d, err := parseDocs(k.Source)
		if err != nil {
			return fmt.Errorf("configschema: policy %s: %w", k.Type, err)
		}
		if _, ok := d.types[t.Name()]; !ok {
			return fmt.Errorf("configschema: policy %s: its Source does not declare %s", k.Type, t.Name())
		}
		rename := func(goName string) string {
			if goName == t.Name() {
				return root
			}
			return prefix + goName
		}
		for n, doc := range d.types {
			// "Config is the timeout block." reads "TimeoutPolicy is ...".
			g.docs.types[rename(n)] = fieldDoc(n, rename(n), doc)
		}
		for key, doc := range d.fields {
			typ, field, _ := strings.Cut(key, ".")
			g.docs.fields[rename(typ)+"."+field] = doc
		}
		spec := k.New()
		if h, ok := spec.(interface{ SchemaRequired() map[string][]string }); ok {
			for typ, fields := range h.SchemaRequired() {
				g.required[rename(typ)] = fields
			}
		}
		if h, ok := spec.(interface{ SchemaEnums() map[string][]string }); ok {
			for key, vals := range h.SchemaEnums() {
				typ, field, _ := strings.Cut(key, ".")
				g.enums[rename(typ)+"."+field] = strs(vals...)
			}
		}
	}
	return nil
}

// Generate returns the schema as indented JSON followed by a newline.
func Generate() ([]byte, error) {
	d, err := parseDocs(config.TypesSource)
	if err != nil {
		return nil, err
	}
	g := &generator{docs: d, used: map[string]bool{}, enums: enums(), required: maps.Clone(required), names: map[reflect.Type]string{}}
	if err := g.addRegistered(); err != nil {
		return nil, err
	}
	g.defs.set("Duration", &Schema{
		Description: "A non-negative Go duration: \"30s\", \"1m30s\", \"250ms\" (0 or \"0\" for the default where one exists).",
		Type:        []string{"string", "integer"},
		Pattern:     DurationPattern,
		Minimum:     ptr(0), Maximum: ptr(0),
	})
	g.defs.set("ByteSize", &Schema{
		Description: "A size in bytes: an integer, or an integer with a unit (B, KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024), e.g. \"4MiB\".",
		Type:        []string{"string", "integer"},
		Pattern:     ByteSizePattern,
		Minimum:     ptr(0),
	})
	root := g.typeSchema(reflect.TypeFor[config.Config]())
	if err := g.checkUsed(); err != nil {
		return nil, err
	}
	g.defs.set("ConfigMap", configMapSchema())
	sort.Strings(g.defs.names)
	out := &Schema{
		Schema:      Draft,
		Title:       "agentgateway config (gateway.yaml)",
		Description: "Configuration of the Agent Gateway: a gateway.yaml document, or a Kubernetes ConfigMap whose data.\"gateway.yaml\" (or data.\"config.yaml\") holds one. Generated from internal/config by `agentgateway schema`; docs/config.md documents every field. `agentgateway validate` checks what a schema cannot (cross-field rules, URLs, globs).",
		If:          &Schema{Type: "object", Required: []string{"kind"}},
		Then:        &Schema{Ref: "#/$defs/ConfigMap"},
		Else:        root,
		Defs:        &g.defs,
	}
	b, err := marshal(out)
	if err != nil {
		return nil, err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "", "  "); err != nil {
		return nil, err
	}
	ind.WriteByte('\n')
	return ind.Bytes(), nil
}

func ptr(f float64) *float64 { return &f }

// configMapSchema describes the ConfigMap form the decoder accepts. The
// embedded config is a string; the schema cannot check inside it.
func configMapSchema() *Schema {
	var data Properties
	text := &Schema{Type: "string", Description: "The gateway config (a literal block: `gateway.yaml: |`)."}
	data.set(config.ConfigMapKey, text)
	data.set(config.ConfigMapFallbackKey, text)
	var props Properties
	props.set("apiVersion", &Schema{Const: "v1"})
	props.set("kind", &Schema{Const: "ConfigMap"})
	props.set("metadata", &Schema{Type: "object"})
	props.set("data", &Schema{
		Type:       "object",
		Properties: &data,
		AnyOf:      []*Schema{{Required: []string{config.ConfigMapKey}}, {Required: []string{config.ConfigMapFallbackKey}}},
	})
	return &Schema{
		Description: "A Kubernetes ConfigMap holding the gateway config in data.\"gateway.yaml\" (preferred) or data.\"config.yaml\".",
		Type:        "object",
		Required:    []string{"kind", "data"},
		Properties:  &props,
	}
}

// typeSchema returns the schema of a field of type t: a $ref for structs
// (defined once in $defs), inline otherwise.
func (g *generator) typeSchema(t reflect.Type) *Schema {
	switch t {
	case durationType:
		return &Schema{Ref: "#/$defs/Duration"}
	case byteSizeType:
		return &Schema{Ref: "#/$defs/ByteSize"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		name := g.defName(t)
		if _, ok := g.defs.m[name]; !ok {
			g.defs.set(name, nil) // reserve: recursive types terminate
			g.defs.set(name, g.structSchema(t))
		}
		return &Schema{Ref: "#/$defs/" + name}
	case reflect.Slice:
		return &Schema{Type: "array", Items: g.typeSchema(t.Elem())}
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Schema{Type: "integer"}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	}
	panic(fmt.Sprintf("configschema: no schema for %s", t))
}

func (g *generator) structSchema(t reflect.Type) *Schema {
	defName := g.defName(t)
	s := &Schema{
		Description:          g.docs.types[defName],
		Type:                 "object",
		Properties:           &Properties{},
		AdditionalProperties: &Schema{falseSchema: true},
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		// Same naming rule as the decoder (config.fieldsOf).
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := defName + "." + f.Name
		fs := g.typeSchema(f.Type)
		if vals, ok := g.enums[key]; ok {
			g.used["enum "+key] = true
			target := fs
			if fs.Type == "array" {
				target = fs.Items
			}
			if target.Type == "string" && !allStrings(vals) {
				target.Type = nil // tlsVersions: the enum says it all
			}
			target.Enum = vals
		}
		// Beside a $ref too (allowed in 2020-12): editors then show the
		// field's own description rather than its type's.
		if desc := g.docs.fields[key]; desc != "" {
			fs.Description = fieldDoc(f.Name, name, desc)
		}
		s.Properties.set(name, fs)
	}
	if t == reflect.TypeFor[config.Policy]() {
		// The blocks of registered policy types, which are no fields of
		// config.Policy: the decoder reads them by their key.
		for _, k := range config.RegisteredPolicies() {
			s.Properties.set(k.Block, g.typeSchema(reflect.TypeOf(k.New())))
		}
		s.AllOf = policyRules(s)
	}
	if req, ok := g.required[defName]; ok {
		g.used["required "+defName] = true
		for _, r := range req {
			if _, ok := s.Properties.m[r]; !ok {
				panic(fmt.Sprintf("configschema: required field %s.%s does not exist", defName, r))
			}
		}
		s.Required = req
	}
	return s
}

// policyRules ties each policy type to its block, as Validate does: the
// type's block is required and the other types' blocks are refused.
func policyRules(s *Schema) []*Schema {
	var out []*Schema
	types := config.PolicyTypes()
	for _, typ := range types {
		block, ok := blockOf(typ)
		if !ok {
			panic("configschema: no block for policy type " + typ)
		}
		if _, ok := s.Properties.m[block]; !ok {
			panic("configschema: policy block " + block + " is not a field of Policy")
		}
		var typeProp, others Properties
		typeProp.set("type", &Schema{Const: typ})
		for _, t := range types {
			if b, _ := blockOf(t); b != block {
				others.set(b, &Schema{falseSchema: true})
			}
		}
		out = append(out, &Schema{
			If:   &Schema{Required: []string{"type"}, Properties: &typeProp},
			Then: &Schema{Required: []string{block}, Properties: &others},
		})
	}
	return out
}

func allStrings(v []any) bool {
	for _, x := range v {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}

// checkUsed fails when an enum or required entry names a field that no
// longer exists, so that a rename cannot silently drop a check.
func (g *generator) checkUsed() error {
	var missing []string
	for k := range g.enums {
		if !g.used["enum "+k] {
			missing = append(missing, "enum "+k)
		}
	}
	for k := range g.required {
		if !g.used["required "+k] {
			missing = append(missing, "required "+k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("configschema: entries name no config field: %s", strings.Join(missing, ", "))
	}
	return nil
}

// fieldDoc rewrites a doc comment that starts with the Go field name to
// start with the yaml name, as a reader of gateway.yaml knows it.
func fieldDoc(goName, yamlName, doc string) string {
	if rest, ok := strings.CutPrefix(doc, goName+" "); ok {
		return yamlName + " " + rest
	}
	return doc
}

// docs holds the doc comments of types.go: per type and per Type.Field.
type docs struct {
	types  map[string]string
	fields map[string]string
}

func parseDocs(src []byte) (*docs, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "types.go", src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("configschema: parse config types: %w", err)
	}
	d := &docs{types: map[string]string{}, fields: map[string]string{}}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil && len(gd.Specs) == 1 {
				doc = gd.Doc
			}
			d.types[ts.Name.Name] = clean(doc)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, fld := range st.Fields.List {
				text := clean(fld.Doc)
				if c := clean(fld.Comment); c != "" {
					text = strings.TrimSpace(text + " " + c)
				}
				for _, n := range fld.Names {
					if text != "" {
						d.fields[ts.Name.Name+"."+n.Name] = text
					}
				}
			}
		}
	}
	return d, nil
}

// clean joins a comment group into one line of prose.
func clean(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	return strings.Join(strings.Fields(cg.Text()), " ")
}
