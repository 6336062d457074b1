package policy_test

// TestPolicyTypesFollowTypeOrder compares the types that policy packages
// define: importing policy/all registers them for the whole test binary,
// the internal tests of package policy included.
import _ "github.com/agentgateway-go/agentgateway/internal/policy/all"
