package retry

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// parse decodes a config whose one route has the given retry block.
func parse(t *testing.T, block string) (*config.Config, error) {
	t.Helper()
	src := `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /mcp}}
            policies:
              - type: retry
                retry: ` + block + `
            backends: [{name: b, address: 'http://127.0.0.1:1'}]
`
	return config.Parse("t.yaml", []byte(src))
}

func TestDefaults(t *testing.T) {
	c, err := parse(t, "{attempts: 3, retryOn: [5xx]}")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	rp := c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config)
	if *rp.Backoff != (Backoff{BaseInterval: config.Duration(25 * time.Millisecond), MaxInterval: config.Duration(250 * time.Millisecond)}) {
		t.Errorf("backoff: %+v", rp.Backoff)
	}
	if *rp.Budget != (Budget{Percent: 20, MinConcurrent: 3}) || rp.Attempts != 3 || rp.PerTryTimeout != 0 || rp.RetryNonIdempotent {
		t.Errorf("retry: %+v", rp)
	}

	// attempts 0 stays 0 and is a validation error.
	c, err = parse(t, "{retryOn: [5xx]}")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if c.Binds[0].Listeners[0].Routes[0].Policies[0].Spec.(*Config).Attempts != 0 || c.Validate() == nil {
		t.Error("attempts must not be defaulted")
	}
}

func TestConfigValidate(t *testing.T) {
	const at = "p.retry"
	d := func(x time.Duration) config.Duration { return config.Duration(x) }
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{"minimal", Config{Attempts: 1, RetryOn: []string{On5xx}}, nil},
		{"full", Config{Attempts: 10, RetryOn: Conditions, Backoff: &Backoff{d(time.Second), d(time.Second)}, Budget: &Budget{100, 0}}, nil},
		{"missing", Config{}, []string{
			"p.retry.attempts: attempts is required (1-10, counting the first try)",
			"p.retry.retryOn: at least one condition is required (valid: 5xx, reset, connect-failure)"}},
		{"bad", Config{Attempts: 11, PerTryTimeout: -1, RetryOn: []string{"5xx", "gateway-error", "5xx"},
			Backoff: &Backoff{d(2 * time.Second), d(time.Second)}, Budget: &Budget{0, -1}}, []string{
			"p.retry.attempts: attempts 11 is out of range 1-10 (counting the first try)",
			"p.retry.perTryTimeout: must not be negative",
			`p.retry.retryOn[1]: unknown retry condition "gateway-error" (valid: 5xx, reset, connect-failure)`,
			`p.retry.retryOn[2]: duplicate retry condition "5xx" (first at retryOn[0])`,
			"p.retry.backoff.maxInterval: maxInterval 1s must be at least baseInterval 2s",
			"p.retry.budget.percent: percent 0 is out of range (0, 100]",
			"p.retry.budget.minConcurrent: must not be negative"}},
		{"backoff without base", Config{Attempts: 2, RetryOn: []string{OnReset}, Backoff: &Backoff{MaxInterval: d(time.Second)}}, []string{
			"p.retry.backoff.baseInterval: must be greater than 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range tc.c.Validate(config.PolicyAt{Path: at}) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}
