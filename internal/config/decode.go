package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Limits of the decoder.
const (
	// MaxDecodedNodes caps the number of YAML nodes the decoder visits,
	// counting every expansion of an alias, so that a small file cannot
	// expand into a huge config ("billion laughs").
	MaxDecodedNodes = 100_000
	// MaxConfigBytes caps the size of a file read by Load.
	MaxConfigBytes = 8 << 20
)

// ConfigMap keys holding the gateway config, in order of preference.
const (
	ConfigMapKey         = "gateway.yaml"
	ConfigMapFallbackKey = "config.yaml"
)

// Load reads and decodes the config file at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("file is larger than %s", ByteSize(MaxConfigBytes))}}
	}
	return data, nil
}

// Parse strictly decodes a config. data is either a gateway.yaml document or
// a Kubernetes ConfigMap manifest (kind: ConfigMap) whose data."gateway.yaml"
// (or, when absent, data."config.yaml") holds the gateway.yaml text.
// filename is used in error messages only.
//
// On failure the error is an ErrorList holding every problem found, each
// positioned in the file as written (for a ConfigMap, in the outer file).
// Parse does not apply defaults and does not validate semantics; call
// SetDefaults and Validate.
func Parse(filename string, data []byte) (*Config, error) {
	cfg, errs := parse(filename, data)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parse decodes as much of data as it can. It returns the Config decoded so
// far (nil when the file could not be read as a config at all: a syntax
// error, no document, not a mapping) and every decode error. A field whose
// value failed to decode keeps its zero value.
func parse(filename string, data []byte) (*Config, ErrorList) {
	d := &decoder{file: filename, pos: map[string]Position{}, active: map[*yaml.Node]bool{}}
	root := d.readStream(data)
	if root == nil {
		return nil, d.errs
	}
	if cm, ok := d.configMapPayload(root, data); ok {
		if cm == nil {
			return nil, d.errs
		}
		root = d.readDocument([]byte(cm.Value))
		if root == nil {
			return nil, d.errs
		}
	}
	cfg := &Config{}
	if root.Kind != yaml.MappingNode && resolveAlias(root).Kind != yaml.MappingNode {
		d.errorf(root, "", "the config must be a mapping with a binds key, got %s", describe(root))
		return nil, d.errs
	}
	d.record("", nil, root)
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.src = &source{file: filename, pos: d.pos}
	if d.overBudget {
		// A config cut off by the node budget is not worth validating.
		return nil, d.errs
	}
	return cfg, d.errs
}

// Check is what `agentgateway validate` runs: it reads the file at path,
// decodes it, applies defaults and validates it, and returns every problem of
// both passes in one ErrorList sorted by line. A type error does not hide
// the semantic errors elsewhere in the file. Validation errors at, under or
// above a field that failed to decode are left out: the decode error already
// explains them (a duration that did not decode is zero, and "must be
// positive" would only repeat it).
//
// cfg is nil when the file could not be decoded at all; otherwise it is the
// defaulted config, which is only fit to run when err is nil.
func Check(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return check(path, data)
}

// check is Check on data already read.
func check(filename string, data []byte) (*Config, error) {
	cfg, errs := parse(filename, data)
	if cfg == nil {
		return nil, errs.err()
	}
	cfg.SetDefaults()
	var verrs ErrorList
	if err := cfg.Validate(); err != nil {
		verrs = err.(ErrorList)
	}
	for _, ve := range verrs {
		if !coveredBy(ve.Path, errs) {
			errs = append(errs, ve)
		}
	}
	return cfg, errs.err()
}

// coveredBy reports whether a validation error at path is explained by a
// decode error on the same field or one of its ancestors, or on a direct
// child of it (a policy whose timeout block failed to decode "has no
// timeout"). Errors further up (a route, a bind) stay: they are about
// something else.
func coveredBy(path string, decodeErrs ErrorList) bool {
	for _, de := range decodeErrs {
		if de.Path == "" {
			continue
		}
		if pathWithin(path, de.Path) || (path != "" && parentPath(de.Path) == path) {
			return true
		}
	}
	return false
}

// pathWithin reports whether path is base or a field or item under it.
func pathWithin(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	rest := path[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// decoder walks yaml.Node trees into Go values, collecting every error.
type decoder struct {
	file string
	errs ErrorList
	pos  map[string]Position

	// Position mapping for a config embedded in a ConfigMap: inner
	// line:col + (lineOff, colOff), or everything at fixed when the
	// embedding cannot be mapped line by line.
	lineOff, colOff int
	fixed           *Position

	nodes      int
	overBudget bool
	active     map[*yaml.Node]bool // alias targets being expanded
}

func (d *decoder) at(n *yaml.Node) Position {
	if d.fixed != nil {
		return *d.fixed
	}
	if n == nil || n.Line == 0 {
		return Position{}
	}
	return Position{Line: n.Line + d.lineOff, Col: n.Column + d.colOff}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	p := d.at(n)
	d.errs = append(d.errs, &FieldError{File: d.file, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// record remembers the position of the field at path: its value for a
// scalar, its key (or, for a sequence item, the item) for a container.
func (d *decoder) record(path string, key, val *yaml.Node) {
	if _, ok := d.pos[path]; ok {
		return
	}
	r := resolveAlias(val)
	n := val
	if key != nil && (r.Kind != yaml.ScalarNode || isNull(r)) {
		n = key
	}
	if p := d.at(n); p.Line > 0 {
		d.pos[path] = p
	}
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readStream reads the top-level file. A file with one document is that
// document. A file with several (the output of `helm template`, a
// kustomize build, a manifest bundle) must hold exactly one ConfigMap with
// the gateway config key; that ConfigMap is the document, and positions stay
// those of the whole file.
func (d *decoder) readStream(data []byte) *yaml.Node {
	docs := d.readDocuments(data)
	if docs == nil {
		return nil
	}
	if len(docs) == 1 {
		return docs[0].Content[0]
	}
	var found []*yaml.Node
	for _, doc := range docs {
		if isGatewayConfigMap(doc.Content[0]) {
			found = append(found, doc)
		}
	}
	switch len(found) {
	case 1:
		return found[0].Content[0]
	case 0:
		d.errorf(docs[1], "", "multiple YAML documents and none is a ConfigMap with data.%q or data.%q: a config file holds one gateway.yaml document, or a manifest stream (helm template output) with exactly one such ConfigMap", ConfigMapKey, ConfigMapFallbackKey)
	default:
		lines := make([]string, len(found))
		for i, f := range found {
			lines[i] = strconv.Itoa(d.at(f.Content[0]).Line)
		}
		d.errorf(found[1].Content[0], "", "%d ConfigMaps hold a gateway config (documents at lines %s): keep exactly one in the file passed to --config", len(found), strings.Join(lines, ", "))
	}
	return nil
}

// isGatewayConfigMap reports whether n is a ConfigMap manifest with a
// gateway config key in its data.
func isGatewayConfigMap(n *yaml.Node) bool {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return false
	}
	var kind, data *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "kind":
			kind = resolveAlias(n.Content[i+1])
		case "data":
			data = resolveAlias(n.Content[i+1])
		}
	}
	if kind == nil || kind.Value != "ConfigMap" || data == nil || data.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(data.Content); i += 2 {
		if k := data.Content[i].Value; k == ConfigMapKey || k == ConfigMapFallbackKey {
			return true
		}
	}
	return false
}

// readDocument parses exactly one YAML document and returns its content
// node, or nil after recording errors.
func (d *decoder) readDocument(data []byte) *yaml.Node {
	docs := d.readDocuments(data)
	if docs == nil {
		return nil
	}
	if len(docs) > 1 {
		d.errorf(docs[1], "", "multiple YAML documents: a config file must hold exactly one document (found another one here)")
		return nil
	}
	return docs[0].Content[0]
}

// readDocuments parses every non-empty YAML document in data and returns
// their document nodes (each with one content node; a document node is
// positioned at its "---"), or nil after recording errors. Empty documents (a
// leading or trailing "---") are skipped.
func (d *decoder) readDocuments(data []byte) []*yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*yaml.Node
	for {
		var doc yaml.Node
		err := safeDecode(dec, &doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err)
			return nil
		}
		if len(doc.Content) != 1 || isNull(doc.Content[0]) {
			continue
		}
		out = append(out, &doc)
	}
	if len(out) == 0 {
		d.errs = append(d.errs, d.fileError("no YAML document: the config is empty"))
		return nil
	}
	return out
}

func (d *decoder) fileError(msg string) *FieldError {
	e := &FieldError{File: d.file, Msg: msg}
	if d.fixed != nil {
		e.Line, e.Col = d.fixed.Line, d.fixed.Col
	}
	return e
}

// syntaxError converts a yaml.v3 parser error. The parser reports a line but
// no column.
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := d.fileError("invalid YAML: " + msg)
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		e.Msg = "invalid YAML: " + m[2]
		if d.fixed == nil {
			line, _ := strconv.Atoi(m[1])
			e.Line = line + d.lineOff
		}
	}
	d.errs = append(d.errs, e)
}

// safeDecode guards against panics inside the YAML parser on hostile input.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return dec.Decode(n)
}

// configMapPayload recognises a ConfigMap manifest. ok reports whether root
// is a ConfigMap; the returned node is nil when it is one but holds no
// usable config (errors recorded). On success the decoder's position mapping
// is set up for the embedded document.
func (d *decoder) configMapPayload(root *yaml.Node, raw []byte) (payload *yaml.Node, ok bool) {
	if root.Kind != yaml.MappingNode {
		return nil, false
	}
	kindKey, kindVal := d.lookup(root, "kind", "")
	if kindKey == nil {
		return nil, false
	}
	kv := resolveAlias(kindVal)
	if kv.Kind != yaml.ScalarNode || kv.Value != "ConfigMap" {
		d.errorf(kindVal, "kind", "unsupported kind %s: expected a gateway.yaml document or a Kubernetes ConfigMap", describe(kv))
		return nil, true
	}
	dataKey, dataVal := d.lookup(root, "data", "")
	if dataKey == nil {
		d.errorf(kindKey, "data", "ConfigMap has no data: want data.%q holding the gateway config", ConfigMapKey)
		return nil, true
	}
	dv := resolveAlias(dataVal)
	if dv.Kind != yaml.MappingNode {
		d.errorf(dataVal, "data", "expected a mapping, got %s", describe(dv))
		return nil, true
	}
	name := ConfigMapKey
	k, v := d.lookup(dv, name, "data")
	if k == nil {
		name = ConfigMapFallbackKey
		k, v = d.lookup(dv, name, "data")
	}
	if k == nil {
		d.errorf(dataKey, "data", "ConfigMap has neither data.%q nor data.%q", ConfigMapKey, ConfigMapFallbackKey)
		return nil, true
	}
	path := fmt.Sprintf("data.%q", name)
	v = resolveAlias(v)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		d.errorf(v, path, "expected a string (a literal block: `%s: |`), got %s", name, describe(v))
		return nil, true
	}
	if len(d.errs) > 0 { // duplicate keys found by lookup
		return nil, true
	}
	d.embed(k, v, raw)
	return v, true
}

// lookup finds key in mapping m, reporting duplicates of it.
func (d *decoder) lookup(m *yaml.Node, key, path string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		if kn.Kind != yaml.ScalarNode || kn.Value != key {
			continue
		}
		if k != nil {
			d.errorf(kn, joinField(path, key), "duplicate key %q (first at line %d)", key, d.at(k).Line)
			continue
		}
		k, v = kn, m.Content[i+1]
	}
	return k, v
}

// embed sets the position mapping for the document held in the scalar v
// (key k). A literal block scalar maps line by line: inner line 1 is the line
// after the "|" indicator and inner columns are shifted by the block's
// indentation. Any other scalar style maps every position to the key.
func (d *decoder) embed(k, v *yaml.Node, raw []byte) {
	kp := d.at(k)
	d.fixed = &kp
	if v.Style&yaml.LiteralStyle == 0 || v.Line < 1 {
		return
	}
	lines := strings.Split(string(raw), "\n")
	if v.Line > len(lines) {
		return
	}
	hdr := strings.TrimRight(lines[v.Line-1], "\r")
	c := v.Column - 1
	if c < 0 || c >= len(hdr) || hdr[c] != '|' {
		return
	}
	indent := -1
	for _, ch := range hdr[c+1:] {
		if ch >= '1' && ch <= '9' {
			indent = k.Column - 1 + int(ch-'0')
			break
		}
		if ch != '+' && ch != '-' {
			break
		}
	}
	inner := strings.Split(v.Value, "\n")
	first := -1
	for i, l := range inner {
		if strings.TrimSpace(l) != "" {
			first = i
			break
		}
	}
	if first < 0 || v.Line+first >= len(lines) {
		return
	}
	outer := strings.TrimRight(lines[v.Line+first], "\r")
	if indent < 0 {
		indent = len(outer) - len(strings.TrimLeft(outer, " "))
	}
	if indent > len(outer) || outer[indent:] != inner[first] {
		return // not the layout we expect: fall back to the key
	}
	d.fixed = nil
	d.lineOff = v.Line
	d.colOff = indent
}

// count charges one node against MaxDecodedNodes.
func (d *decoder) count(n *yaml.Node) bool {
	if d.overBudget {
		return false
	}
	d.nodes++
	if d.nodes > MaxDecodedNodes {
		d.overBudget = true
		d.errorf(n, "", "config too large: more than %d YAML nodes after expanding aliases", MaxDecodedNodes)
		return false
	}
	return true
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// decode decodes n into v, expanding aliases.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.count(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			d.errorf(n, path, "unknown alias *%s", n.Value)
			return
		}
		if d.active[t] {
			d.errorf(n, path, "alias *%s refers to a node that contains it", n.Value)
			return
		}
		d.active[t] = true
		defer delete(d.active, t)
		d.decode(t, v, path)
		return
	}
	if n.Kind == yaml.DocumentNode {
		d.errorf(n, path, "unexpected document node")
		return
	}
	d.decodeValue(n, v, path)
}

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	switch v.Type() {
	case durationType:
		x, err := decodeDuration(n)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetInt(int64(x))
		return
	case byteSizeType:
		x, err := decodeByteSize(n)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetInt(int64(x))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeValue(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if isNull(n) {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if d.overBudget {
				return
			}
			ip := joinIndex(path, i)
			d.record(ip, nil, item)
			d.decode(item, s.Index(i), ip)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, got %s", describe(n))
			return
		}
		if isNull(n) {
			v.SetString("")
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if isNull(n) {
			v.SetInt(0)
			return
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "expected an integer, got %s", describe(n))
			return
		}
		x, err := parseYAMLInt(n.Value)
		if err == nil && v.OverflowInt(x) {
			err = errors.New("out of range")
		}
		if err != nil {
			d.errorf(n, path, "invalid integer %s: %v", n.Value, err)
			return
		}
		v.SetInt(x)
	case reflect.Float32, reflect.Float64:
		if isNull(n) {
			v.SetFloat(0)
			return
		}
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			d.errorf(n, path, "expected a number, got %s", describe(n))
			return
		}
		x, err := parseYAMLFloat(n.Value)
		if err != nil {
			d.errorf(n, path, "invalid number %s: %v", n.Value, err)
			return
		}
		v.SetFloat(x)
	case reflect.Bool:
		if isNull(n) {
			v.SetBool(false)
			return
		}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
			switch strings.ToLower(n.Value) {
			case "true":
				v.SetBool(true)
				return
			case "false":
				v.SetBool(false)
				return
			}
		}
		d.errorf(n, path, "expected true or false, got %s", describe(n))
	default:
		d.errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

type pair struct {
	key, val *yaml.Node
	merged   bool
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	info := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for _, p := range d.pairs(n, path, false) {
		if d.overBudget {
			return
		}
		name := p.key.Value
		fp := joinField(path, name)
		if prev, dup := seen[name]; dup {
			if !p.merged {
				d.errorf(p.key, fp, "duplicate key %q (first at line %d)", name, d.at(prev).Line)
			}
			continue
		}
		seen[name] = p.key
		idx, ok := info.index[name]
		if !ok && v.Type() == policyType {
			if k, reg := registeredBlock(name); reg {
				d.record(fp, p.key, p.val)
				d.decodeSpec(p.val, v.Addr().Interface().(*Policy), k, fp)
				continue
			}
			info = policyFieldsWithRegistered(info)
		}
		if !ok {
			d.errorf(p.key, fp, "unknown field %q%s", name, info.suggest(name))
			continue
		}
		d.record(fp, p.key, p.val)
		d.decode(p.val, v.Field(idx), fp)
	}
}

var policyType = reflect.TypeFor[Policy]()

// decodeSpec decodes the block of a registered policy type into a new
// spec of that type, stored in p.Spec (or, when p already has one, among
// the blocks Validate refuses). A null block is left unset, like a nil
// pointer field.
func (d *decoder) decodeSpec(n *yaml.Node, p *Policy, k PolicyKind, path string) {
	if isNull(resolveAlias(n)) {
		return
	}
	spec := k.New()
	d.decode(n, reflect.ValueOf(spec).Elem(), path)
	if p.Spec == nil {
		p.Spec = spec
	} else {
		p.otherSpecs = append(p.otherSpecs, spec)
	}
}

// policyFieldsWithRegistered adds the registered blocks to the names
// that an unknown field in a policy is compared with.
func policyFieldsWithRegistered(info *structInfo) *structInfo {
	out := &structInfo{index: info.index, names: slices.Clone(info.names)}
	for _, k := range RegisteredPolicies() {
		out.names = append(out.names, k.Block)
	}
	return out
}

// pairs flattens a mapping's key/value pairs: explicit keys first, then keys
// brought in by merge keys ("<<: *anchor"), which explicit keys override.
func (d *decoder) pairs(n *yaml.Node, path string, merged bool) []pair {
	var explicit, fromMerge []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			fromMerge = append(fromMerge, d.merge(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(k, path, "mapping keys must be strings, got %s", describe(k))
			continue
		}
		// Keys brought in by a merge are charged too: a chain of merges
		// must not build an unbounded key list.
		if merged && !d.count(k) {
			return nil
		}
		explicit = append(explicit, pair{key: k, val: v, merged: merged})
	}
	return append(explicit, fromMerge...)
}

func (d *decoder) merge(v *yaml.Node, path string) []pair {
	var out []pair
	var one func(m *yaml.Node, top bool)
	one = func(m *yaml.Node, top bool) {
		if !d.count(m) {
			return
		}
		if m.Kind == yaml.AliasNode {
			t := m.Alias
			if t == nil || d.active[t] {
				d.errorf(m, path, "invalid merge of alias *%s", m.Value)
				return
			}
			d.active[t] = true
			defer delete(d.active, t)
			m = t
		}
		switch {
		case m.Kind == yaml.MappingNode:
			out = append(out, d.pairs(m, path, true)...)
		case m.Kind == yaml.SequenceNode && top:
			for _, item := range m.Content {
				one(item, false)
			}
		default:
			d.errorf(m, path, "merge key << expects a mapping or a list of mappings, got %s", describe(m))
		}
	}
	one(v, true)
	return out
}

type structInfo struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type -> *structInfo

func fieldsOf(t reflect.Type) *structInfo {
	if v, ok := fieldCache.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		info.index[name] = i
		info.names = append(info.names, name)
	}
	fieldCache.Store(t, info)
	return info
}

// suggest returns a hint naming the closest valid field, or listing them.
func (s *structInfo) suggest(name string) string {
	best, bestD := "", math.MaxInt
	for _, f := range s.names {
		if strings.EqualFold(f, name) {
			return fmt.Sprintf(" (did you mean %q?)", f)
		}
		if dd := editDistance(strings.ToLower(name), strings.ToLower(f)); dd < bestD {
			best, bestD = f, dd
		}
	}
	if best != "" && bestD <= 2 && bestD < len(name) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return "; valid fields: " + strings.Join(s.names, ", ")
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind and value for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "alias *" + n.Value
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		val := n.Value
		if len(val) > 40 {
			val = val[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int":
			return "integer " + val
		case "!!float":
			return "number " + val
		case "!!bool":
			return "boolean " + val
		case "!!str":
			return "string " + strconv.Quote(val)
		default:
			return n.ShortTag() + " " + strconv.Quote(val)
		}
	}
	return "an unknown node"
}

// parseYAMLFloat parses a finite YAML number.
func parseYAMLFloat(s string) (float64, error) {
	t := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	switch strings.TrimLeft(t, "+-") {
	case ".inf", ".nan":
		return 0, errors.New("must be a finite number")
	}
	if x, err := parseYAMLInt(s); err == nil {
		return float64(x), nil
	}
	x, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, errors.New("not a finite number")
	}
	return x, nil
}
