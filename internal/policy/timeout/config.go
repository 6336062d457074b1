package timeout

import (
	_ "embed"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Type is the policy type name, and Block the key of its config block
// ({type: timeout, timeout: {request: 300s, idle: 60s}}).
const (
	Type  = "timeout"
	Block = "timeout"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the timeout block.
type Config struct {
	// Request bounds the whole exchange, streams included.
	Request config.Duration `yaml:"request"`
	// Idle bounds the time with no bytes on a response stream.
	Idle config.Duration `yaml:"idle"`
}

// SetDefaults does nothing: an unset bound is no bound (the server's
// streamIdleTimeout still applies), and Validate requires one of the two.
func (c *Config) SetDefaults() {}

// Validate checks the block.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	if c.Request < 0 {
		errs = append(errs, at.Errorf("request", "must not be negative"))
	}
	if c.Idle < 0 {
		errs = append(errs, at.Errorf("idle", "must not be negative"))
	}
	if c.Request == 0 && c.Idle == 0 {
		errs = append(errs, at.Errorf("", "at least one of request or idle must be set"))
	}
	return errs
}
