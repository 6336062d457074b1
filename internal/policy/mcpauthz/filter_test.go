package mcpauthz

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/glob"
	"github.com/agentgateway-go/agentgateway/internal/mcp"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func allowSet(names ...string) func(string) bool {
	return func(v string) bool {
		for _, n := range names {
			if v == n {
				return true
			}
		}
		return false
	}
}

func TestFilterResult(t *testing.T) {
	tools := mcp.ListTools
	tests := []struct {
		name    string
		in      string
		want    string // "" = unchanged
		wantErr bool
	}{
		{"drops forbidden tools, keeps the rest byte for byte",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[ {"name":"a", "x":[1,2]} , {"name":"b"},{"name":"c","d":"}{"}],"nextCursor":"n"}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a", "x":[1,2]},{"name":"c","d":"}{"}],"nextCursor":"n"}}`, false},
		{"everything allowed", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"}]}}`, "", false},
		{"nothing allowed", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"x"},{"name":"y"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, false},
		{"escaped name", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"\u0061"},{"name":"\u0062x"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"\u0061"}]}}`, false},
		{"item without name dropped", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"title":"a"},{"name":"a"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"}]}}`, false},
		{"item with Name dropped", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a","Name":"evil"},{"name":"c"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"c"}]}}`, false},
		{"too deep to walk", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a","x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}]}}`, "", true},
		{"item with numeric name dropped", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":1},"a",null]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, false},
		{"error response", `{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}`, "", false},
		{"result without tools", `{"jsonrpc":"2.0","id":3,"result":{}}`, "", false},
		{"tools null", `{"jsonrpc":"2.0","id":3,"result":{"tools":null}}`, "", false},
		{"a server request", `{"jsonrpc":"2.0","id":3,"method":"roots/list","params":{"tools":[{"name":"x"}]}}`, "", false},
		{"duplicate result", `{"jsonrpc":"2.0","id":3,"result":{"tools":[]},"result":{"tools":[{"name":"x"}]}}`, "", true},
		{"Result variant", `{"jsonrpc":"2.0","id":3,"result":{"tools":[]},"Result":{"tools":[{"name":"x"}]}}`, "", true},
		{"Tools variant", `{"jsonrpc":"2.0","id":3,"result":{"tools":[],"TOOLS":[{"name":"x"}]}}`, "", true},
		{"tools not an array", `{"jsonrpc":"2.0","id":3,"result":{"tools":{"name":"x"}}}`, "", true},
		{"invalid JSON", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"x"}]}`, "", true},
		{"not an object", `[{"jsonrpc":"2.0"}]`, "", true},
		{"public cache scope becomes private", `{"jsonrpc":"2.0","id":3,"result":{"ttlMs":1000,"cacheScope":"public","tools":[{"name":"a"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"ttlMs":1000,"cacheScope":"private","tools":[{"name":"a"}]}}`, false},
		{"private cache scope kept", `{"jsonrpc":"2.0","id":3,"result":{"ttlMs":1000,"cacheScope":"private","tools":[{"name":"a"}]}}`, "", false},
		{"absent cache scope with ttl becomes private", `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"},{"name":"b"}],"ttlMs":5}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"cacheScope":"private","tools":[{"name":"a"}],"ttlMs":5}}`, false},
		{"CacheScope variant", `{"jsonrpc":"2.0","id":3,"result":{"tools":[],"cacheScope":"private","CacheScope":"public"}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := filterResult([]byte(tt.in), tools, allowSet("a", "c"))
			if tt.wantErr {
				if !errors.Is(err, errUnfilterable) {
					t.Fatalf("err = %v, want errUnfilterable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
				if changed {
					t.Error("changed = true")
				}
			}
			if string(out) != want {
				t.Errorf("got  %s\nwant %s", out, want)
			}
			if !json.Valid(out) {
				t.Error("output is not valid JSON")
			}
		})
	}
}

// TestFilterResultInvalidUTF8: a name with invalid UTF-8 is one a client
// may decode differently (encoding/json reads "a\xff" as "a\uFFFD"), so its
// item is dropped even where a wildcard would allow the raw bytes.
func TestFilterResultInvalidUTF8(t *testing.T) {
	m := glob.MustCompile([]string{"a*"}, glob.SepNone)
	in := "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"a\xff\"},{\"name\":\"ab\"}]}}"
	out, _, err := filterResult([]byte(in), mcp.ListTools, m.Match)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"ab"}]}}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestFilterResultURIs(t *testing.T) {
	in := `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///docs/a","name":"a"},{"uri":"file:///docs/../x","name":"b"},{"uri":"file:///etc/passwd","name":"c"}]}}`
	m := glob.MustCompile([]string{"file:///docs/**"}, glob.SepResource)
	out, _, err := filterResult([]byte(in), mcp.ListResources, m.Match)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///docs/a","name":"a"}]}}`; string(out) != want {
		t.Errorf("got %s", out)
	}
}

func newListFilter(allow ...string) *listFilter {
	set := allowSet(allow...)
	return &listFilter{list: mcp.ListTools, allow: func(_ mcp.List, v string) bool { return set(v) }, id: json.RawMessage(`7`)}
}

func TestListFilterJSON(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a"},{"name":"b"}]}}`
	res := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
	res.Header.Set("Content-Type", "application/json")
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	if err := newListFilter("a").hook(res); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	want := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a"}]}}`
	if string(got) != want {
		t.Errorf("body %s", got)
	}
	if res.ContentLength != int64(len(want)) || res.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("Content-Length %d / %q", res.ContentLength, res.Header.Get("Content-Length"))
	}

	for name, mod := range map[string]func(*http.Response){
		"gzip":       func(r *http.Response) { r.Header.Set("Content-Encoding", "gzip") },
		"text/plain": func(r *http.Response) { r.Header.Set("Content-Type", "text/plain") },
		"too large":  func(r *http.Response) { r.ContentLength = MaxListResponseBytes + 1 },
		"ambiguous": func(r *http.Response) {
			r.Body = io.NopCloser(strings.NewReader(`{"jsonrpc":"2.0","id":7,"result":{"tools":[]},"result":{"tools":[{"name":"b"}]}}`))
		},
	} {
		res := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: -1}
		res.Header.Set("Content-Type", "application/json")
		mod(res)
		err := newListFilter("a").hook(res)
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
			t.Errorf("%s: err = %v, want 502", name, err)
		}
	}

	// Errors and non-2xx pass untouched.
	res = &http.Response{StatusCode: 404, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("nope"))}
	res.Header.Set("Content-Type", "text/plain")
	if err := newListFilter().hook(res); err != nil {
		t.Fatal(err)
	}
}

func TestListFilterSSE(t *testing.T) {
	stream := ": keepalive\n\n" +
		"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		"id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"roots/list\"}\n\n" +
		"event: message\nid: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\n" +
		"data: \"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\n\n"
	res := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(stream))}
	res.Header.Set("Content-Type", "text/event-stream")
	if err := newListFilter("a").hook(res); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := ": keepalive\n\n" +
		"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		"id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"roots/list\"}\n\n" +
		"id: 3\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\ndata: \"result\":{\"tools\":[{\"name\":\"a\"}]}}\n\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// An ambiguous result is replaced by an error answering the request.
	bad := "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]},\"Result\":{\"tools\":[{\"name\":\"b\"}]}}\n\n"
	res = &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(bad))}
	res.Header.Set("Content-Type", "text/event-stream")
	if err := newListFilter("a").hook(res); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	if bytes.Contains(got, []byte(`"b"`)) || !bytes.Contains(got, []byte(`"id":7`)) || !bytes.Contains(got, []byte(`-32000`)) {
		t.Errorf("got %s", got)
	}
}
