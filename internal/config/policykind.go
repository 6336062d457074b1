package config

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// PolicySpec is the config block of a policy type that its own package
// defines and registers (RegisterPolicy, through policy.Define), the way a Caddy module or a
// CoreDNS plugin owns its config: the type, its defaults and its
// validation sit next to the code that enforces them. The decoder fills
// it strictly, with the same positions and field paths as the rest of the
// file, into Policy.Spec.
type PolicySpec interface {
	// SetDefaults fills the unset fields that have a default. Config's
	// SetDefaults calls it.
	SetDefaults()
	// Validate checks the block and returns every problem, made with
	// at.Errorf; it performs no I/O and may run before or after
	// SetDefaults. Config's Validate positions the problems in the file.
	Validate(at PolicyAt) []*FieldError
}

// PolicyWarner is implemented by a PolicySpec that can tell problems that
// do not make the config invalid but that an operator should know about
// (Config.Warnings; `agentgateway validate` prints them). Made like
// Validate's problems, with at.Errorf.
type PolicyWarner interface {
	Warnings(at PolicyAt) []*FieldError
}

// RateLimiter is implemented by a PolicySpec that can keep rate-limit
// counters: Config.Warnings says when they are kept in one process's
// memory (no rateLimiting.redis).
type RateLimiter interface {
	HasRateLimits() bool
}

// HeaderSetter is implemented by a PolicySpec whose policy sets request
// headers for the backend (jwt-authn's claimToHeaders). The edge removes
// client-sent copies of them from every request on the route, so that a
// backend never reads a value the caller chose.
type HeaderSetter interface {
	SetsHeaders() []string
}

// PolicyAt is what a PolicySpec's Validate may look at: the route the
// policy is on and where its block is.
type PolicyAt struct {
	// Route is the route holding the policy, as written (or defaulted).
	Route *Route
	// Path is the field path of the block, e.g.
	// binds[0].listeners[0].routes[0].policies[1].timeout.
	Path string
}

// Errorf returns a problem at field (a path relative to the block, such as
// "request" or "rules[2].principal"; "" for the block itself). Validate
// adds the file position.
func (a PolicyAt) Errorf(field, format string, args ...any) *FieldError {
	p := a.Path
	if field != "" {
		p = joinField(p, field)
	}
	return &FieldError{Path: p, Msg: fmt.Sprintf(format, args...)}
}

// TypeErrorf returns a problem at the policy's type field: for rules that
// are about the policy's place on the route rather than its block ("needs
// jwt-authn on the same route").
func (a PolicyAt) TypeErrorf(format string, args ...any) *FieldError {
	return &FieldError{Path: parentPath(a.Path) + ".type", Msg: fmt.Sprintf(format, args...)}
}

// PolicyKind registers a policy type's config with the decoder, the
// validator and the schema generator (internal/configschema). Policy
// packages call it through policy.Define, from init.
type PolicyKind struct {
	// Type is the value of the policy's type field ("timeout").
	Type string
	// Block is the YAML key of its block ("timeout").
	Block string
	// Order is the type's chain position (policy.Order): PolicyTypes lists
	// types by it.
	Order int
	// New returns a new zero block, a pointer to a struct whose fields
	// carry yaml tags (decoded like the rest of the config: Duration,
	// ByteSize and the strict rules apply).
	New func() PolicySpec
	// Source is the Go source of the file that declares the block's types.
	// The schema generator takes field descriptions from its doc comments
	// (embed it: //go:embed config.go).
	Source []byte
}

var (
	kindsMu    sync.RWMutex
	registered []PolicyKind
)

// RegisterPolicy adds a policy type. It panics on a missing field, a
// duplicate type or block, or a block that is already a field of Policy:
// those are programming errors.
func RegisterPolicy(k PolicyKind) {
	if k.Type == "" || k.Block == "" || k.New == nil {
		panic(fmt.Sprintf("config: RegisterPolicy(%q): Type, Block and New are required", k.Type))
	}
	if t := reflect.TypeOf(k.New()); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: RegisterPolicy(%q): New must return a pointer to a struct", k.Type))
	}
	if _, clash := fieldsOf(reflect.TypeFor[Policy]()).index[k.Block]; clash {
		panic(fmt.Sprintf("config: RegisterPolicy(%q): block %q is a field of Policy", k.Type, k.Block))
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	for _, o := range registered {
		if o.Type == k.Type || o.Block == k.Block {
			panic(fmt.Sprintf("config: RegisterPolicy(%q): type or block %q already registered", k.Type, k.Block))
		}
	}
	registered = append(registered, k)
}

// RegisteredPolicies returns the policy types registered with
// RegisterPolicy, in chain order (by name at the same position).
func RegisteredPolicies() []PolicyKind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := slices.Clone(registered)
	// Types at the same position (the two authorization policies) are
	// listed by name, not by the order their packages happened to
	// register in.
	slices.SortFunc(out, func(a, b PolicyKind) int { return cmp.Or(a.Order-b.Order, strings.Compare(a.Type, b.Type)) })
	return out
}

// registeredBlock returns the registered kind whose block is named block.
func registeredBlock(block string) (PolicyKind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	for _, k := range registered {
		if k.Block == block {
			return k, true
		}
	}
	return PolicyKind{}, false
}

// kindOfSpec returns the registered kind whose block type is spec's.
func kindOfSpec(spec PolicySpec) (PolicyKind, bool) {
	t := reflect.TypeOf(spec)
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	for _, k := range registered {
		if reflect.TypeOf(k.New()) == t {
			return k, true
		}
	}
	return PolicyKind{}, false
}

// SpecBlock returns the YAML key of p.Spec's block ("" when Spec is nil or
// of no registered type). Writers of configs (validate --print, the admin
// /config) put Spec under it.
func (p *Policy) SpecBlock() string {
	if p.Spec == nil {
		return ""
	}
	k, _ := kindOfSpec(p.Spec)
	return k.Block
}

// specOf returns the registered block named block written in p: Spec or
// one of the blocks that Validate refuses beside it.
func (p *Policy) specOf(block string) PolicySpec {
	for _, s := range append([]PolicySpec{p.Spec}, p.otherSpecs...) {
		if s == nil {
			continue
		}
		if k, _ := kindOfSpec(s); k.Block == block {
			return s
		}
	}
	return nil
}

// registeredKind is the validator's table entry of a registered type.
func registeredKind(k PolicyKind) policyKind {
	return policyKind{
		typ:   k.Type,
		block: k.Block,
		set:   func(p *Policy) bool { return p.specOf(k.Block) != nil },
		check: func(v *validator, r *Route, p *Policy, pp string) {
			for _, e := range p.specOf(k.Block).Validate(PolicyAt{Route: r, Path: pp + "." + k.Block}) {
				v.add(e.Path, "%s", e.Msg)
			}
		},
	}
}

// policyKinds returns the table of every policy type, the registered
// ones, in chain order (RegisteredPolicies).
func policyKinds() []policyKind {
	reg := RegisteredPolicies()
	out := make([]policyKind, len(reg))
	for i, k := range reg {
		out[i] = registeredKind(k)
	}
	return out
}

// MarshalYAML writes the policy as a file holds it: Spec under the key
// SpecBlock names, after the fields of Policy (the admin /config).
func (p Policy) MarshalYAML() (any, error) {
	type plain Policy // without this method
	var n yaml.Node
	if err := n.Encode(plain(p)); err != nil {
		return nil, err
	}
	if p.Spec != nil {
		var s yaml.Node
		if err := s.Encode(p.Spec); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p.SpecBlock()}, &s)
	}
	return &n, nil
}
