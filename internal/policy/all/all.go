// Package all registers every policy this build can enforce. Importing it
// is what makes a policy type known and enforceable; a type with no
// package here is unknown to the config (Validate reports it with file,
// line and the valid types).
package all

import (
	_ "github.com/agentgateway-go/agentgateway/internal/policy/a2aauthz"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/jwt"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/mcpauthz"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/ratelimit"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/retry"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/timeout"
)
