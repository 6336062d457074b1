package config

import (
	"reflect"
	"strings"
	"testing"
)

// Every block of Policy has exactly one entry in policyKinds, named by its
// YAML key, so a new block cannot be added without the type and block
// checks knowing it.
func TestPolicyKindsCoverEveryBlock(t *testing.T) {
	pt := reflect.TypeFor[Policy]()
	blocks := 0
	for i := 0; i < pt.NumField(); i++ {
		f := pt.Field(i)
		if f.Name == "Type" {
			continue
		}
		blocks++
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		var p Policy
		reflect.ValueOf(&p).Elem().Field(i).Set(reflect.New(f.Type.Elem()))
		var got []string
		for _, k := range policyKinds {
			if k.set(&p) {
				got = append(got, k.block)
			}
		}
		if len(got) != 1 || got[0] != tag {
			t.Errorf("block %s (yaml %q) is detected by policyKinds entries %v, want exactly [%s]", f.Name, tag, got, tag)
		}
	}
	if blocks != len(policyKinds) {
		t.Errorf("Policy has %d blocks, policyKinds %d entries", blocks, len(policyKinds))
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
		{"jwt-authn", Route{Backends: []Backend{mcpBackend}, Policies: []Policy{{Type: PolicyTimeout}, jwt}}, true, true, false},
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
