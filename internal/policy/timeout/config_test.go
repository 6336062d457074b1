package timeout

import (
	"slices"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

func TestConfigValidate(t *testing.T) {
	const at = "binds[0].listeners[0].routes[0].policies[0].timeout"
	d := func(x time.Duration) config.Duration { return config.Duration(x) }
	for _, tc := range []struct {
		name string
		c    Config
		want []string // "path: message"
	}{
		{"request", Config{Request: d(time.Second)}, nil},
		{"idle", Config{Idle: d(time.Second)}, nil},
		{"both", Config{Request: d(time.Minute), Idle: d(time.Second)}, nil},
		{"neither", Config{}, []string{at + ": at least one of request or idle must be set"}},
		{"negative", Config{Request: d(-1), Idle: d(-1)}, []string{
			at + ".request: must not be negative", at + ".idle: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range tc.c.Validate(config.PolicyAt{Path: at}) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The block decodes and validates through the config with positions,
// under its key, once the package has registered it.
func TestConfigThroughDecoder(t *testing.T) {
	src := `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /mcp}}
            policies:
              - type: timeout
                timeout: {request: 1s, idel: 5s}
            backends: [{name: b, address: 'http://127.0.0.1:1'}]
`
	_, err := config.Parse("t.yaml", []byte(src))
	want := `t.yaml:10:40: binds[0].listeners[0].routes[0].policies[0].timeout.idel: unknown field "idel" (did you mean "idle"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error:\n%v\nwant\n%s", err, want)
	}
}
