package config_test

// The tests of this package decode whole configs, with every policy type
// in them. The types whose packages define their own config
// (config.RegisterPolicy) must be registered for that: importing
// policy/all here registers them for the whole test binary, the internal
// tests of package config included.
import _ "github.com/agentgateway-go/agentgateway/internal/policy/all"
