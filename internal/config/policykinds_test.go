package config

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every block of Policy, its typed fields and the blocks of registered
// types, has exactly one entry in policyKinds, named by its YAML key, so
// a new block cannot be added without the type and block checks knowing
// it.
func TestPolicyKindsCoverEveryBlock(t *testing.T) {
	kinds := policyKinds()
	detected := func(p *Policy) []string {
		var got []string
		for _, k := range kinds {
			if k.set(p) {
				got = append(got, k.block)
			}
		}
		return got
	}
	pt := reflect.TypeFor[Policy]()
	blocks := 0
	for i := 0; i < pt.NumField(); i++ {
		f := pt.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Name == "Type" || !f.IsExported() || tag == "-" {
			continue
		}
		blocks++
		var p Policy
		reflect.ValueOf(&p).Elem().Field(i).Set(reflect.New(f.Type.Elem()))
		if got := detected(&p); len(got) != 1 || got[0] != tag {
			t.Errorf("block %s (yaml %q) is detected by policyKinds entries %v, want exactly [%s]", f.Name, tag, got, tag)
		}
	}
	reg := RegisteredPolicies()
	if len(reg) == 0 {
		t.Fatal("no registered policy types: policies_test.go imports policy/all")
	}
	for _, k := range reg {
		blocks++
		p := Policy{Spec: k.New()}
		if got := detected(&p); len(got) != 1 || got[0] != k.Block {
			t.Errorf("registered block %q is detected by policyKinds entries %v, want exactly [%s]", k.Block, got, k.Block)
		}
		if got := p.SpecBlock(); got != k.Block {
			t.Errorf("SpecBlock of a %s block = %q", k.Type, got)
		}
	}
	if blocks != len(kinds) {
		t.Errorf("Policy has %d blocks, policyKinds %d entries", blocks, len(kinds))
	}
}

func TestRouteKindAndAuthn(t *testing.T) {
	jwt := Policy{Type: PolicyJWTAuthn}
	mcpBackend := Backend{Type: BackendMCPHTTP}
	for _, c := range []struct {
		name            string
		r               Route
		mcp, authn, a2a bool
	}{
		{"http backend", Route{Backends: []Backend{{Type: BackendHTTP}}}, false, false, false},
		{"untyped backend", Route{Backends: []Backend{{}}}, false, false, false},
		{"mcp backend", Route{Backends: []Backend{{Type: BackendHTTP}, mcpBackend}}, true, false, false},
		{"jwt-authn", Route{Backends: []Backend{mcpBackend}, Policies: []Policy{{Type: "timeout"}, jwt}}, true, true, false},
		{"client certificate", Route{Authentication: &RouteAuthentication{ClientCertificate: true}}, false, true, false},
		{"authentication without client certificate", Route{Authentication: &RouteAuthentication{}}, false, false, false},
		{"a2a-authz", Route{Policies: []Policy{{Type: PolicyA2AAuthz}, jwt}}, false, true, true},
		{"agents", Route{Backends: []Backend{{Type: BackendHTTP, Agents: []string{"a"}}}}, false, false, true},
	} {
		if got := c.r.IsMCP(); got != c.mcp {
			t.Errorf("%s: IsMCP = %v", c.name, got)
		}
		if got := c.r.Authenticates(); got != c.authn {
			t.Errorf("%s: Authenticates = %v", c.name, got)
		}
		if got := c.r.IsA2A(); got != c.a2a {
			t.Errorf("%s: IsA2A = %v", c.name, got)
		}
	}
}

// A registered block is written back under its key (the admin /config
// marshals the config) and reads back the same.
func TestRegisteredBlockRoundTrip(t *testing.T) {
	src := policy("- type: timeout\n  timeout: {request: 300s, idle: 1m}\n")
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "timeout:\n") || !strings.Contains(string(out), "request: 5m0s") {
		t.Fatalf("the timeout block is missing:\n%s", out)
	}
	back, err := Parse("out.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, want := back.Binds[0].Listeners[0].Routes[0].Policies[0], c.Binds[0].Listeners[0].Routes[0].Policies[0]
	if got.Type != want.Type || !reflect.DeepEqual(got.Spec, want.Spec) || got.SpecBlock() != "timeout" {
		t.Errorf("read back %+v (spec %+v), want %+v (spec %+v)", got, got.Spec, want, want.Spec)
	}
}
