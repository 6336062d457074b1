package ratelimit

import (
	_ "embed"
	"sort"
	"strconv"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/a2a"
	"github.com/agentgateway-go/agentgateway/internal/config"
)

// Type is the policy type name, and Block the key of its config block
// ({type: rate-limit, rateLimit: {descriptors: [...]}}).
const (
	Type  = "rate-limit"
	Block = "rateLimit"
)

//go:embed config.go
var configSource []byte // this file: the schema takes its descriptions from the doc comments

// Config is the rate-limit block.
type Config struct {
	// Descriptors are the limits: each one applies to the calls that match
	// it (docs/ratelimit.md).
	Descriptors []Descriptor `yaml:"descriptors"`
}

// Descriptor limits requests whose descriptor key has the given value.
// Key and Value are the one-entry short form of Match; a descriptor uses
// one form or the other (docs/ratelimit.md).
type Descriptor struct {
	// Key is tool-name, principal or method (short form of match).
	Key string `yaml:"key"`
	// Value is an exact value, or "*" (or empty) for one bucket per
	// distinct value (short form of match).
	Value string `yaml:"value"`
	// Match combines several entries: the limit applies to a call that
	// matches all of them, with one bucket per distinct combination of
	// the values of its "*" entries.
	Match []Entry `yaml:"match"`
	// RateLimit is the rate the matching calls may reach.
	RateLimit config.RateValue `yaml:"rateLimit"`
}

// Entry is one key of a rate-limit descriptor. Value is an exact value,
// or "*" (or empty) for one bucket per distinct value.
type Entry struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Descriptor keys.
const (
	KeyToolName  = "tool-name" // params.name of a tools/call
	KeyPrincipal = "principal" // the verified identity (subject)
	KeyMethod    = "method"    // the JSON-RPC method
	// KeyBackend is the backend a call on a federated MCP route goes to,
	// resolved from its tool, prompt or resource prefix.
	KeyBackend = "backend"
)

// Keys lists the valid descriptor keys.
var Keys = []string{KeyToolName, KeyPrincipal, KeyMethod, KeyBackend}

func isKey(k string) bool {
	return k == KeyToolName || k == KeyPrincipal || k == KeyMethod || k == KeyBackend
}

// entries returns d's entries: Match, or the one entry of Key and Value.
func (d *Descriptor) entries() []Entry {
	if len(d.Match) > 0 {
		return d.Match
	}
	return []Entry{{Key: d.Key, Value: d.Value}}
}

// ID is the canonical text of a descriptor's entries, sorted by key, with
// "" written as "*": e.g. principal="*",tool-name="execute_code". Two
// descriptors with the same ID limit the same calls.
func ID(entries []Entry) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		val := e.Value
		if val == "" {
			val = "*"
		}
		parts[i] = e.Key + "=" + strconv.Quote(val)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// HasRateLimits is true (config.RateLimiter).
func (c *Config) HasRateLimits() bool { return true }

// SetDefaults does nothing: a burst of 0 means requestsPerMinute, applied
// at run time.
func (c *Config) SetDefaults() {}

// SchemaRequired and SchemaEnums tell the schema generator what the Go
// types cannot (keys Type.Field of this package).
func (*Config) SchemaRequired() map[string][]string {
	return map[string][]string{"Config": {"descriptors"}}
}

// SchemaEnums: see SchemaRequired.
func (*Config) SchemaEnums() map[string][]string {
	return map[string][]string{"Descriptor.Key": Keys, "Entry.Key": Keys}
}

// Validate checks the block on its route.
func (c *Config) Validate(at config.PolicyAt) []*config.FieldError {
	var errs []*config.FieldError
	add := func(field, format string, args ...any) { errs = append(errs, at.Errorf(field, format, args...)) }
	idx := func(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }
	keys := strings.Join(Keys, ", ")
	if len(c.Descriptors) == 0 {
		add("descriptors", "at least one descriptor is required")
	}
	seen := map[string]int{}
	for i, d := range c.Descriptors {
		dp := idx("descriptors", i)
		entries := d.Match
		switch {
		case len(d.Match) > 0 && (d.Key != "" || d.Value != ""):
			add(dp+".match", "use either key/value or match, not both")
			entries = nil
		case d.Match != nil && len(d.Match) == 0:
			add(dp+".match", "match needs at least one entry")
		case d.Match == nil && d.Key == "":
			add(dp+".key", "key is required (%s), or a match list", keys)
		case d.Match == nil:
			if !isKey(d.Key) {
				add(dp+".key", "unknown descriptor key %q (valid: %s)", d.Key, keys)
			} else {
				entries = []Entry{{Key: d.Key, Value: d.Value}}
			}
		}
		valid := len(entries) > 0
		seenKeys := map[string]int{}
		for ei, e := range d.Match {
			ep := idx(dp+".match", ei)
			switch {
			case e.Key == "":
				add(ep+".key", "key is required (%s)", keys)
				valid = false
			case !isKey(e.Key):
				add(ep+".key", "unknown descriptor key %q (valid: %s)", e.Key, keys)
				valid = false
			default:
				if first, dup := seenKeys[e.Key]; dup {
					add(ep+".key", "key %q already appears in match[%d]", e.Key, first)
					valid = false
				}
				seenKeys[e.Key] = ei
			}
		}
		if valid {
			id := ID(entries)
			if first, dup := seen[id]; dup {
				add(dp, "descriptor %s is already limited by descriptors[%d]", id, first)
			} else {
				seen[id] = i
			}
		}
		r := d.RateLimit
		if r.RequestsPerMinute <= 0 {
			add(dp+".rateLimit.requestsPerMinute", "must be greater than 0")
		} else if r.RequestsPerMinute > config.MaxRequestsPerMinute {
			add(dp+".rateLimit.requestsPerMinute", "%d is more than the maximum %d", r.RequestsPerMinute, config.MaxRequestsPerMinute)
		}
		if r.Burst < 0 || r.Burst > config.MaxRateBurst {
			add(dp+".rateLimit.burst", "burst %d is out of range 0-%d (0: requestsPerMinute)", r.Burst, config.MaxRateBurst)
		}
	}
	if at.Route.IsA2A() {
		// Calls on an A2A route are counted under the canonical method
		// whatever spelling the client used, so "SendMessage" would never
		// match (docs/a2a.md#canonical-methods).
		check := func(field string, e Entry) {
			if e.Key != KeyMethod || e.Value == "" || e.Value == "*" || a2a.IsCanonical(e.Value) {
				return
			}
			if cm := a2a.CanonicalMethod(e.Value); cm != "" {
				add(field, "on an A2A route methods are counted under their canonical name: use %q for %q", cm, e.Value)
				return
			}
			add(field, "%q is not an A2A method (canonical names: %s)", e.Value, strings.Join(a2a.CanonicalMethods(), ", "))
		}
		for i, d := range c.Descriptors {
			dp := idx("descriptors", i)
			if len(d.Match) == 0 {
				check(dp+".value", Entry{Key: d.Key, Value: d.Value})
			}
			for j, e := range d.Match {
				check(idx(dp+".match", j)+".value", e)
			}
		}
	}
	return errs
}
