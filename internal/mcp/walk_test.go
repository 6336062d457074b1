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
