// Package all registers every policy this build can enforce. Importing it
// is what makes a policy type enforceable; a type with no package here is
// reported as "not enforced by this build".
package all

import (
	_ "github.com/agentgateway-go/agentgateway/internal/policy/a2aauthz"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/jwt"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/mcpauthz"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/ratelimit"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/retry"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/timeout"
)
