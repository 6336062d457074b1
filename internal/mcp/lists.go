package mcp

import (
	"errors"
	"fmt"
)

// List is an MCP list method whose result items the gateway reads: the
// mcp-authz filters drop the items a caller may not see, on every channel
// a result can travel (POST responses, GET streams, resumed streams, the
// legacy SSE stream), and telemetry learns tool names from tools/list.
// Both read results with ReadList and ListResult.Items, so what telemetry
// counts as listed is what the filter read.
type List int

// The list methods, in the order of Lists.
const (
	ListTools List = iota
	ListResources
	ListResourceTemplates
	ListPrompts
)

// Lists are all list methods.
var Lists = [...]List{ListTools, ListResources, ListResourceTemplates, ListPrompts}

var listInfo = [...]struct {
	method, array, field string
	uri                  bool
}{
	ListTools:             {"tools/list", "tools", "name", false},
	ListResources:         {"resources/list", "resources", "uri", true},
	ListResourceTemplates: {"resources/templates/list", "resourceTemplates", "uriTemplate", true},
	ListPrompts:           {"prompts/list", "prompts", "name", false},
}

// Method is the JSON-RPC method that asks for the list.
func (l List) Method() string { return listInfo[l].method }

// Array is the member of the result that holds the items.
func (l List) Array() string { return listInfo[l].array }

// Field is the member of an item that names it.
func (l List) Field() string { return listInfo[l].field }

// URI reports whether items are named by a resource URI (or URI template).
func (l List) URI() bool { return listInfo[l].uri }

// ListResult locates the lists one JSON-RPC message carries, as ReadList
// found them; spans index the message ReadList read.
type ListResult struct {
	// Result is the result object.
	Result Member
	// Arrays holds, per List, the array of items; Start is -1 when the
	// list was not asked for, is absent, or is null.
	Arrays [len(Lists)]Member
	// CacheScope and TTL are the 2026-07-28 cache hints of the result
	// (cacheScope, ttlMs); Start is -1 when absent.
	CacheScope, TTL Member
}

// ErrNotArray is returned by ReadList for a list member that is neither
// an array nor null.
var ErrNotArray = errors.New("list member is not an array")

// ReadList reads msg, one JSON object that ValidJSON accepts, as a
// JSON-RPC message that may carry the results of the list methods ls. ok
// is false when it carries none: a request or notification (it has a
// method), an error response, a result that is not an object, or a
// result without any of the arrays (or with them null).
//
// Backends are not held to ParseBody's rules, so ReadList refuses, with an
// *AmbiguousError, a message that a client could read differently from
// the gateway: a duplicate or case-folded result, method, array, or
// cache-hint member (see Lookup). An array member that is not an array is
// ErrNotArray.
func ReadList(msg []byte, ls ...List) (r ListResult, ok bool, err error) {
	for k := range r.Arrays {
		r.Arrays[k].Start = -1
	}
	i := SkipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '{' {
		return r, false, nil
	}
	top, err := Lookup(msg, i, "result", "method")
	if err != nil {
		return r, false, err
	}
	res := top[0]
	if top[1].Present() || !res.Present() || msg[res.Start] != '{' {
		return r, false, nil
	}
	r.Result = res
	want := make([]string, 0, MaxLookup)
	want = append(want, "cacheScope", "ttlMs")
	for _, l := range ls {
		want = append(want, l.Array())
	}
	in, err := Lookup(msg, res.Start, want...)
	if err != nil {
		return r, false, err
	}
	r.CacheScope, r.TTL = in[0], in[1]
	for k, l := range ls {
		a := in[2+k]
		if !a.Present() || string(msg[a.Start:a.End]) == "null" {
			continue
		}
		if msg[a.Start] != '[' {
			return r, false, fmt.Errorf("%w: result.%s", ErrNotArray, l.Array())
		}
		r.Arrays[l] = a
		ok = true
	}
	return r, ok, nil
}

// Items calls fn for every item of list l in msg, in order, until fn
// returns false: the item's span and its name, the l.Field() member, with
// ok=false when the item is not an object or the name is missing, not a
// string, duplicated, case-ambiguous (a client decoding with
// encoding/json could read another name) or not valid UTF-8.
func (r *ListResult) Items(msg []byte, l List, fn func(start, end int, name string, ok bool) bool) error {
	a := r.Arrays[l]
	if !a.Present() {
		return nil
	}
	return Elements(msg, a.Start, func(s, e int) bool {
		if msg[s] != '{' {
			return fn(s, e, "", false)
		}
		f, err := Lookup(msg, s, l.Field())
		if err != nil {
			return fn(s, e, "", false)
		}
		name, ok := String(msg, f[0])
		return fn(s, e, name, ok)
	})
}

// ListNames returns the names of the items of list l in msg, one
// JSON-RPC message, as Items reads them (items without a name it can
// trust are left out); nil when msg is not valid JSON or carries no such
// list.
func ListNames(msg []byte, l List) []string {
	if !ValidJSON(msg) {
		return nil
	}
	r, ok, err := ReadList(msg, l)
	if err != nil || !ok {
		return nil
	}
	var names []string
	_ = r.Items(msg, l, func(_, _ int, name string, ok bool) bool {
		if ok {
			names = append(names, name)
		}
		return true
	})
	return names
}
