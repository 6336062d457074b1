package mcpauthz

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
)

// BenchmarkAuthorize measures one authorization decision for a tools/call:
// matching the principal's rules, the strict member checks and the tool
// lookup, on an already parsed body (the edge parses once for every
// policy). The "+ratelimit" case adds the in-process GCRA check.
func BenchmarkAuthorize(b *testing.B) {
	rs := testRules()
	body := []byte(`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"execute_code","arguments":{"python_code":"print(sum(range(10)))"}}}`)
	parsed, err := mcp.ParseBody(body)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("exact rule", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf [4]*rule
			ms := rs.matching(weatherSA, buf[:0])
			if d := authorizeBody(weatherSA, ms, parsed); !d.allow {
				b.Fatal("denied")
			}
		}
	})
	glob, _ := mcp.ParseBody([]byte(call("get_weather_data")))
	b.Run("glob rule", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf [4]*rule
			ms := rs.matching(otherSA, buf[:0])
			if d := authorizeBody(otherSA, ms, glob); !d.allow {
				b.Fatal("denied")
			}
		}
	})
	denied, _ := mcp.ParseBody([]byte(call("delete_everything")))
	b.Run("deny", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf [4]*rule
			ms := rs.matching(weatherSA, buf[:0])
			if d := authorizeBody(weatherSA, ms, denied); d.allow {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("exact rule+ratelimit", func(b *testing.B) {
		b.ReportAllocs()
		l := sharedstate.NewLocalStore(gcra.NewLocal(0))
		ctx := context.Background()
		for b.Loop() {
			var buf [4]*rule
			ms := rs.matching(weatherSA, buf[:0])
			d := authorizeBody(weatherSA, ms, parsed)
			if !d.allow {
				b.Fatal("denied")
			}
			// A limit high enough never to trip: the cost of the check.
			if _, err := l.Allow(ctx, "mcp-authz:r:0:"+weatherSA, gcra.Limit{PerMinute: 1 << 30}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFilterToolsList measures filtering a tools/list result of 200
// tools with input schemas, half of them denied: the validation of the
// whole response and the walk of every item.
func BenchmarkFilterToolsList(b *testing.B) {
	msg := benchToolsList(200)
	allow := func(v string) bool { return v[len(v)-1]%2 == 0 }
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := filterResult(msg, mcp.ListTools, allow); err != nil || !changed {
			b.Fatal(err, changed)
		}
	}
}

func benchToolsList(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"jsonrpc":"2.0","id":7,"result":{"tools":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":"tool_%d","title":"Tool %d","description":"Does thing number %d, with \"quotes\" and \u00e9.","inputSchema":{"type":"object","properties":{"a":{"type":"string","enum":["x","y"]},"b":{"type":"integer","minimum":0}},"required":["a"]}}`, i, i, i)
	}
	sb.WriteString(`],"nextCursor":"c"}}`)
	return []byte(sb.String())
}
