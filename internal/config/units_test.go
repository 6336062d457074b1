package config

import (
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every kind of YAML value a size or a duration can be written as, with
// what it decodes to: null, strings, bare integers (a size takes them as
// bytes, a duration only 0), floats, other scalars and non-scalars.
func TestDecodeUnits(t *testing.T) {
	tests := []struct {
		yaml         string
		size, durStr string // value or "error: ..."
	}{
		{`~`, "0", "0s"},
		{`"4MiB"`, "4MiB", `error: invalid duration "4MiB": want a Go duration such as "30s", "1m30s" or "250ms"`},
		{`"30s"`, `error: invalid size "30s": unknown unit "s" (valid: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`, "30s"},
		{`1024`, "1KiB", `error: invalid duration 1024: missing unit, write e.g. "1024s"`},
		{`0`, "0", "0s"},
		{`-1`, "error: must not be negative", "error: invalid duration -1: must not be negative"},
		{`0x10`, "16", `error: invalid duration 0x10: missing unit, write e.g. "0x10s"`},
		{`0b11`, "3", `error: invalid duration 0b11: missing unit, write e.g. "0b11s"`},
		{`9223372036854775808`, `error: invalid size "9223372036854775808": out of range`, `error: invalid duration 9223372036854775808: missing unit, write e.g. "9223372036854775808s"`},
		{`99999999999999999999`, `error: expected a size such as "4MiB", got number 99999999999999999999`, `error: invalid duration 99999999999999999999: missing unit, write e.g. "1.5s"`}, // YAML tags it !!float
		{`1.5`, `error: expected a size such as "4MiB", got number 1.5`, `error: invalid duration 1.5: missing unit, write e.g. "1.5s"`},
		{`true`, `error: expected a size such as "4MiB", got boolean true`, `error: expected a duration such as "30s", got boolean true`},
		{`[1]`, `error: expected a size such as "4MiB", got a list`, `error: expected a duration such as "30s", got a list`},
		{`{a: 1}`, `error: expected a size such as "4MiB", got a mapping`, `error: expected a duration such as "30s", got a mapping`},
	}
	show := func(v fmt.Stringer, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		return v.String()
	}
	for _, tc := range tests {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		n := doc.Content[0]
		if got := show(decodeByteSize(n)); got != tc.size {
			t.Errorf("size %s: %s, want %s", tc.yaml, got, tc.size)
		}
		if got := show(decodeDuration(n)); got != tc.durStr {
			t.Errorf("duration %s: %s, want %s", tc.yaml, got, tc.durStr)
		}
	}
}
