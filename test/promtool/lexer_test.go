package promtool_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// PromQL words that are never metric names when not followed by "(".
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "start": true, "end": true,
	// Aggregations, which may be followed by "by (...)" before "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// Keywords followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// metricNames returns the metric names a PromQL expression selects by
// name: identifiers outside strings, label matchers ({...}), ranges
// ([...]) and label lists (by/without/on/ignoring/group_x (...)), that
// are not followed by "(" (functions) and are not keywords. It expects an
// expression that parses; `promtool check rules` checks that separately.
func metricNames(e string) []string {
	set := map[string]bool{}
	skipString := func(i int) int {
		q := e[i]
		for i++; i < len(e); i++ {
			if e[i] == '\\' && q != '`' {
				i++
				continue
			}
			if e[i] == q {
				return i + 1
			}
		}
		return i
	}
	skipTo := func(i int, open, close byte) int { // i at open; returns index after the match
		depth := 0
		for i < len(e) {
			switch c := e[i]; {
			case c == '"' || c == '\'' || c == '`':
				i = skipString(i)
				continue
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	nextNonSpace := func(i int) int {
		for i < len(e) && (e[i] == ' ' || e[i] == '\t' || e[i] == '\n' || e[i] == '\r') {
			i++
		}
		return i
	}
	for i := 0; i < len(e); {
		c := e[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '{':
			i = skipTo(i, '{', '}')
		case c == '[':
			i = skipTo(i, '[', ']')
		case c == '#': // comment to end of line
			for i < len(e) && e[i] != '\n' {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(e) && (isIdent(e[i]) || e[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(e) && isIdent(e[j]) {
				j++
			}
			word := e[i:j]
			lower := strings.ToLower(word) // PromQL keywords are case-insensitive
			k := nextNonSpace(j)
			switch {
			case labelListKeywords[lower]:
				if k < len(e) && e[k] == '(' {
					j = skipTo(k, '(', ')')
				}
			case k < len(e) && e[k] == '(':
				// a function or aggregation call
			case promqlKeywords[lower]:
			default:
				set[word] = true
			}
			i = j
		default:
			i++
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`rate(agent_requests_total[5m])`, []string{"agent_requests_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(agent_request_duration_seconds_bucket{route=~"mcp|a2a"}[5m])))`, []string{"agent_request_duration_seconds_bucket"}},
		{`sum without (instance, pod) (rate(mcp_errors_total[5m])) > 0.1`, []string{"mcp_errors_total"}},
		{`sum by (route) (a_total{x="by (y) z"}) / on (route) group_left (foo) b_total offset 5m`, []string{"a_total", "b_total"}},
		{`a and on (job, instance) b or c unless d`, []string{"a", "b", "c", "d"}},
		{`topk(5, sum(rate(x_total[5m:1m])) by (le))`, []string{"x_total"}},
		{`count_values("v", build_info) * 1e3 + 0x1F - Inf`, []string{"build_info"}},
		{`time() - max(last_seconds)`, []string{"last_seconds"}},
		{`label_replace(up, "dst", "$1", "src", "(.*)")`, []string{"up"}},
		{`{__name__="hidden"}`, []string{}},
		{"sum by (r) (rate(a_total[5m])) > 1\nand\nb_total", []string{"a_total", "b_total"}},
		{`x:recorded:rate5m @ end()`, []string{"x:recorded:rate5m"}},
		{`sum(rate(a_total[5m])) bool > 1`, []string{"a_total"}},
		{`SUM BY (le) (a_total) AND ON (x) b_total`, []string{"a_total", "b_total"}},
	}
	for _, tc := range cases {
		if got := metricNames(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("metricNames(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}
