package mcp

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzLookup: the walkers never panic, ValidJSON accepts only what
// encoding/json accepts, and whatever Lookup and String report without an
// error is what a Go decoder (encoding/json, which matches member names
// case-insensitively and lets the last duplicate win) reads from the same
// bytes: the member's exact value, its absence, and its decoded string.
func FuzzLookup(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","uri":"file:///x"}`,
		`{"name":"a","Name":"b"}`,
		`{"name":"a","name":"b"}`,
		`{"nam\u0065":"\ud800x","uri":1}`,
		`{"NAME":"k","ur\u0131":"i"}`,
		"{\"name\":\"\xff\"}",
		`{"name":{"name":[1,{"uri":"n"}]} , "uri" : "\u00e9" }`,
		`{"name":"a"} x`, `[1,2,{"a":3}]`, `{"a":`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := ValidJSON(b)
		if valid && !json.Valid(b) {
			t.Fatalf("ValidJSON accepts what encoding/json refuses: %q", b)
		}
		_ = Elements(b, 0, func(int, int) bool { return true })
		_ = Members(b, 0, func(Member) bool { return true })
		got, err := Lookup(b, 0, "name", "uri")
		if err != nil || !valid {
			return
		}
		var v struct {
			Name *json.RawMessage `json:"name"`
			URI  *json.RawMessage `json:"uri"`
		}
		if json.Unmarshal(b, &v) != nil {
			return // an array or scalar: nothing a decoder reads as members
		}
		for i, want := range []*json.RawMessage{v.Name, v.URI} {
			m := got[i]
			if !m.Present() {
				if want != nil && string(*want) != "null" {
					t.Fatalf("%q: Lookup finds no member %d, encoding/json reads %s", b, i, *want)
				}
				continue
			}
			val := b[m.Start:m.End]
			if want == nil && string(val) != "null" || want != nil && !bytes.Equal(*want, val) {
				t.Fatalf("%q: Lookup reads member %d as %s, encoding/json as %s", b, i, val, deref(want))
			}
			s, ok := String(b, m)
			if !ok {
				continue
			}
			var ds string
			if err := json.Unmarshal(val, &ds); err != nil || ds != s {
				t.Fatalf("%q: String reads %q, encoding/json %q (%v)", val, s, ds, err)
			}
		}
	})
}

func deref(m *json.RawMessage) string {
	if m == nil {
		return "<absent>"
	}
	return string(*m)
}

// FuzzReadList: the list walker shared by the mcp-authz filters and
// telemetry reads a list result as a Go client does: the array it finds is
// the one encoding/json decodes, and every item name it trusts (ok) is the
// name encoding/json decodes from that item.
func FuzzReadList(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b","Name":"c"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":[{"name":"x"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"p"}],"resources":[{"uri":"file:///r"}],"ttlMs":5}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///{x}"}],"cacheScope":"public"}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"x"}}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[1,"a",null,{"name":1},{"name":"\ud800"}]},"Result":{}}`,
		"{\"result\":{\"tools\":[{\"name\":\"\xff\"}]}}",
		`{"jsonrpc":"2.0","method":"x","result":{"tools":[{"name":"a"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !ValidJSON(msg) {
			return
		}
		_ = ListNames(msg, ListTools)
		r, ok, err := ReadList(msg, Lists[:]...)
		if err != nil || !ok {
			return
		}
		var v struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if json.Unmarshal(msg, &v) != nil {
			t.Fatalf("%q: ReadList found lists in what encoding/json cannot decode", msg)
		}
		for _, l := range Lists {
			a := r.Arrays[l]
			if !a.Present() {
				continue
			}
			// result decodes into a map, which matches keys exactly; the
			// case variants ReadList refuses would show as other keys.
			if want := v.Result[l.Array()]; !bytes.Equal(want, msg[a.Start:a.End]) {
				t.Fatalf("%q: ReadList reads %s as %s, encoding/json as %s", msg, l.Array(), msg[a.Start:a.End], want)
			}
			_ = r.Items(msg, l, func(s, e int, name string, ok bool) bool {
				if !ok {
					return true
				}
				var it struct {
					Name        *json.RawMessage `json:"name"`
					URI         *json.RawMessage `json:"uri"`
					URITemplate *json.RawMessage `json:"uriTemplate"`
				}
				if err := json.Unmarshal(msg[s:e], &it); err != nil {
					t.Fatalf("%q: item %s trusted but does not decode: %v", msg, msg[s:e], err)
				}
				raw := map[string]*json.RawMessage{"name": it.Name, "uri": it.URI, "uriTemplate": it.URITemplate}[l.Field()]
				var got string
				if raw == nil || json.Unmarshal(*raw, &got) != nil || got != name {
					t.Fatalf("%q: item name %q, encoding/json reads %s", msg[s:e], name, deref(raw))
				}
				return true
			})
		}
	})
}
