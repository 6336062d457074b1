package policy

import (
	"slices"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// The config's table of policy types (config.PolicyTypes, in chain order)
// and TypeOrder are kept in two packages, both filled by Define: they must
// name the same types, in the same order.
func TestPolicyTypesFollowTypeOrder(t *testing.T) {
	types := config.PolicyTypes()
	if len(types) == 0 {
		t.Fatal("no policy types: all_test.go imports policy/all")
	}
	if len(types) != len(TypeOrder) {
		t.Fatalf("config.PolicyTypes has %d types, TypeOrder %d: %v", len(types), len(TypeOrder), types)
	}
	for _, typ := range types {
		if _, ok := TypeOrder[typ]; !ok {
			t.Errorf("policy type %q is valid in config but has no position in TypeOrder", typ)
		}
	}
	if !slices.IsSortedFunc(types, func(a, b string) int { return int(TypeOrder[a] - TypeOrder[b]) }) {
		t.Errorf("config.PolicyTypes %v is not in chain order (TypeOrder %v)", types, TypeOrder)
	}
}
