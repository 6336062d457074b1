package mcp

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		obj  string
		want []string
		err  bool
		vals []string
	}{
		{`{"a":1,"b":"x"}`, []string{"a", "b"}, false, []string{"1", `"x"`}},
		{` { "b" : [1,{"a":2}] , "c":null } `, []string{"a", "b"}, false, []string{"", `[1,{"a":2}]`}},
		{`{"\u0061":true}`, []string{"a"}, false, []string{"true"}},
		{`{"a":1,"A":2}`, []string{"a"}, true, nil},
		{`{"a":1,"a":2}`, []string{"a"}, true, nil},
		{`{"s":"}\"{"}`, []string{"s"}, false, []string{`"}\"{"`}},
		{`{"name":1,"\u004eame":2}`, []string{"name"}, true, nil},
		{`{}`, []string{"a"}, false, []string{""}},
	}
	for _, tt := range tests {
		got, err := Lookup([]byte(tt.obj), 0, tt.want...)
		if (err != nil) != tt.err {
			t.Errorf("%s: err = %v", tt.obj, err)
			continue
		}
		for i, v := range tt.vals {
			s := ""
			if got[i].Present() {
				s = tt.obj[got[i].Start:got[i].End]
			}
			if s != v {
				t.Errorf("%s: %s = %q, want %q", tt.obj, tt.want[i], s, v)
			}
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1`, `[1]`, `{"a":1,}`, `{"a" 1}`, `{"a":"x}`} {
		if _, err := Lookup([]byte(bad), 0, "a"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestEqualFold(t *testing.T) {
	words := []string{"name", "Name", "NAME", "nAmE", "params", "param\u017f", "PARAM\u017f", "paramS", "params ", "nam", "",
		"\u212aey", "key", "KEY", "k\u212a", "uri", "URI", "ur\u0131", "\u00e9", "\u00c9", "e\u0301", "method", "METHOD", "m\u00e9thod"}
	for _, a := range words {
		for _, b := range words {
			if got, want := equalFold([]byte(a), b), strings.EqualFold(a, b); got != want {
				t.Errorf("equalFold(%q, %q) = %v, strings.EqualFold = %v", a, b, got, want)
			}
		}
	}
}

// TestListNames: the names the shared list walker trusts, which telemetry
// learns and the mcp-authz filter matches. An item whose name a Go client
// could read differently (a case variant, a duplicate, invalid UTF-8) has
// no trusted name, and a result under a case variant is no result.
func TestListNames(t *testing.T) {
	tests := []struct {
		msg  string
		l    List
		want []string
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b","x":{"name":"c"}}]}}`, ListTools, []string{"a", "b"}},
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","Name":"b"},{"name":"c"},{"name":"d","name":"e"}]}}`, ListTools, []string{"c"}},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\xff\"},{\"name\":\"\\u0061\"}]}}", ListTools, []string{"a"}},
		{`{"jsonrpc":"2.0","id":1,"Result":{"Tools":[{"name":"x"}]}}`, ListTools, nil},
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}],"Tools":[]}}`, ListTools, nil},
		{`{"jsonrpc":"2.0","method":"x","result":{"tools":[{"name":"x"}]}}`, ListTools, nil},
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}`, ListTools, nil},
		{`{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///a","name":"n"},{"name":"m"}]}}`, ListResources, []string{"file:///a"}},
		{`{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///{p}"}]}}`, ListResourceTemplates, []string{"file:///{p}"}},
	}
	for _, tt := range tests {
		got := ListNames([]byte(tt.msg), tt.l)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: got %q, want %q", tt.msg, got, tt.want)
		}
	}
}
