package retry

import (
	_ "embed"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Type is the policy type name, and Block the key of its config block
// ({type: retry, retry: {attempts: 3, retryOn: [5xx]}}).
const (
	Type  = "retry"
	Block = "retry"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the retry block.
type Config struct {
	// Attempts is the total number of tries, the first included (1-10;
	// required: 1 disables retrying).
	Attempts int `yaml:"attempts"`
	// PerTryTimeout bounds the time to response headers of each attempt of
	// an idempotent exchange.
	PerTryTimeout config.Duration `yaml:"perTryTimeout"`
	// RetryOn lists the failures that are retried: 5xx, reset,
	// connect-failure.
	RetryOn []string `yaml:"retryOn"`
	// Backoff is the wait between attempts (default 25ms base, 250ms cap).
	Backoff *Backoff `yaml:"backoff"`
	// RetryNonIdempotent lets tools/call and A2A message/send be retried
	// after the request may have reached the backend (reset, 5xx). Off by
	// default: a retried tool call can run a side effect twice.
	RetryNonIdempotent bool `yaml:"retryNonIdempotent"`
	// Budget caps concurrent retries as a share of active requests.
	Budget *Budget `yaml:"budget"`
}

// Backoff is exponential backoff with full jitter.
type Backoff struct {
	// BaseInterval is the base of the exponential backoff.
	BaseInterval config.Duration `yaml:"baseInterval"`
	// MaxInterval caps the backoff (at least baseInterval).
	MaxInterval config.Duration `yaml:"maxInterval"`
}

// Budget mirrors Envoy's retry budget.
type Budget struct {
	// Percent of active requests that may be retries (default 20).
	Percent float64 `yaml:"percent"`
	// MinConcurrent retries always allowed (default 3).
	MinConcurrent int `yaml:"minConcurrent"`
}

// Retry conditions (Config.RetryOn).
const (
	On5xx            = "5xx"
	OnReset          = "reset"
	OnConnectFailure = "connect-failure"
)

// Conditions lists the valid retryOn values.
var Conditions = []string{On5xx, OnReset, OnConnectFailure}

// Defaults (Envoy's) and limits.
const (
	DefaultBaseInterval        = config.Duration(25 * time.Millisecond)
	DefaultMaxInterval         = config.Duration(250 * time.Millisecond)
	DefaultBudgetPercent       = 20.0
	DefaultBudgetMinConcurrent = 3

	MinAttempts = 1
	MaxAttempts = 10
)

// SetDefaults fills an absent backoff and budget. Attempts and retryOn
// have no default: Validate requires them.
func (c *Config) SetDefaults() {
	if c.Backoff == nil {
		c.Backoff = &Backoff{BaseInterval: DefaultBaseInterval, MaxInterval: DefaultMaxInterval}
	}
	if c.Budget == nil {
		c.Budget = &Budget{Percent: DefaultBudgetPercent, MinConcurrent: DefaultBudgetMinConcurrent}
	}
}

// Validate checks the block. A backoff or budget that is written is
// taken as written: an omitted field is an error, not a default.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	add := func(field, format string, args ...any) { errs = append(errs, at.Errorf(field, format, args...)) }
	switch {
	case c.Attempts == 0:
		add("attempts", "attempts is required (%d-%d, counting the first try)", MinAttempts, MaxAttempts)
	case c.Attempts < MinAttempts || c.Attempts > MaxAttempts:
		add("attempts", "attempts %d is out of range %d-%d (counting the first try)", c.Attempts, MinAttempts, MaxAttempts)
	}
	if c.PerTryTimeout < 0 {
		add("perTryTimeout", "must not be negative")
	}
	valid := strings.Join(Conditions, ", ")
	if len(c.RetryOn) == 0 {
		add("retryOn", "at least one condition is required (valid: %s)", valid)
	}
	seen := map[string]int{}
	for i, cond := range c.RetryOn {
		field := "retryOn[" + strconv.Itoa(i) + "]"
		if !slices.Contains(Conditions, cond) {
			add(field, "unknown retry condition %q (valid: %s)", cond, valid)
		} else if first, dup := seen[cond]; dup {
			add(field, "duplicate retry condition %q (first at retryOn[%d])", cond, first)
		} else {
			seen[cond] = i
		}
	}
	if b := c.Backoff; b != nil {
		if b.BaseInterval <= 0 {
			add("backoff.baseInterval", "must be greater than 0")
		} else if b.MaxInterval < b.BaseInterval {
			add("backoff.maxInterval", "maxInterval %s must be at least baseInterval %s", b.MaxInterval, b.BaseInterval)
		}
	}
	if b := c.Budget; b != nil {
		if !(b.Percent > 0 && b.Percent <= 100) {
			add("budget.percent", "percent %v is out of range (0, 100]", b.Percent)
		}
		if b.MinConcurrent < 0 {
			add("budget.minConcurrent", "must not be negative")
		}
	}
	return errs
}

// SchemaRequired and SchemaEnums tell the schema generator what the Go
// types cannot (internal/configschema, keys Type.Field of this package).
func (*Config) SchemaRequired() map[string][]string {
	return map[string][]string{"Config": {"attempts", "retryOn"}}
}

// SchemaEnums: see SchemaRequired.
func (*Config) SchemaEnums() map[string][]string {
	return map[string][]string{"Config.RetryOn": Conditions}
}
