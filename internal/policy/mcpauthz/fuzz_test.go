package mcpauthz

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgateway-go/agentgateway/internal/glob"

	sdkjsonrpc "github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// fuzzRules grants exact names only, so the test can check permissions
// with a plain list, independently of the glob code.
var (
	fuzzTools     = []string{"get_weather_data", "execute_code"}
	fuzzPrompts   = []string{"summarize"}
	fuzzResources = []string{"demo://docs/readme"}
)

func fuzzRuleSet() rules {
	return compileRules([]Rule{{
		Principal: weatherSA, AllowedTools: fuzzTools, AllowedPrompts: fuzzPrompts, AllowedResources: fuzzResources,
	}})
}

// sdkDecode decodes params as the go-sdk server does: its case-sensitive
// JSON decoder (segmentio/encoding with DontMatchCaseInsensitiveStructFields).
func sdkDecode(params []byte, v any) error {
	dec := segjson.NewDecoder(bytes.NewReader(params))
	dec.DontMatchCaseInsensitiveStructFields()
	return dec.Decode(v)
}

// backendViews returns the (method, params) a backend would act on for
// one message, as seen by the go-sdk (jsonrpc.DecodeMessage) and by Go's
// encoding/json, which folds case in member names (a stand-in for lenient
// servers). A view whose decoder fails is left out: that backend would
// refuse the message.
func backendViews(raw []byte) [][2]string {
	var out [][2]string
	if msg, err := sdkjsonrpc.DecodeMessage(raw); err == nil {
		if req, ok := msg.(*sdkjsonrpc.Request); ok {
			out = append(out, [2]string{"sdk:" + req.Method, string(req.Params)})
		}
	}
	var lenient struct {
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(raw, &lenient) == nil && lenient.Method != nil {
		out = append(out, [2]string{"std:" + *lenient.Method, string(lenient.Params)})
	}
	return out
}

// FuzzAuthorize checks that whatever the body, when authorization allows
// it, every backend view of every message names the same method the
// gateway authorized, and that a tool, prompt or resource the backend
// would act on is the one the gateway saw and is permitted.
func FuzzAuthorize(f *testing.F) {
	for _, s := range []string{
		call("get_weather_data"), call("execute_code"), call("delete_everything"),
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data","Name":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data"},"Params":{"name":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"get_weather_data"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"execute_code"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"summarize"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"demo://docs/readme"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"summarize"}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
		`[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]`,
		`{"jsonrpc":"2.0","id":"x","result":{"method":"tools/call"}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
	} {
		f.Add([]byte(s))
	}
	rs := fuzzRuleSet()
	ms := rs.matching(weatherSA, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		parsed, err := mcp.ParseBody(body)
		if err != nil {
			return // refused at the edge: nothing reaches the backend
		}
		d := authorizeBody(weatherSA, ms, parsed)
		if !d.allow {
			return
		}
		var raws []json.RawMessage
		if parsed.Batch {
			if json.Unmarshal(body, &raws) != nil {
				return
			}
		} else {
			raws = []json.RawMessage{body}
		}
		for i, raw := range raws {
			var gw *mcp.Message
			if i < len(parsed.Messages) {
				gw = parsed.Messages[i]
			}
			for _, v := range backendViews(raw) {
				who, method := v[0][:4], v[0][4:]
				if gw == nil || method != gw.Method {
					t.Fatalf("%s backend acts on method %q, gateway authorized %+v\nbody: %s", who, method, gw, body)
				}
				if parsed.Batch && !batchable(gw) {
					t.Fatalf("batch with %q allowed: %s", method, body)
				}
				params := []byte(v[1])
				switch method {
				case "tools/call":
					checkTarget(t, who, body, params, gw.Name, fuzzTools, func(b []byte, dec func([]byte, any) error) (string, error) {
						var p sdk.CallToolParamsRaw
						err := dec(b, &p)
						return p.Name, err
					})
				case "prompts/get":
					checkTarget(t, who, body, params, gw.Name, fuzzPrompts, func(b []byte, dec func([]byte, any) error) (string, error) {
						var p sdk.GetPromptParams
						err := dec(b, &p)
						return p.Name, err
					})
				case "resources/read", "resources/subscribe", "resources/unsubscribe":
					checkTarget(t, who, body, params, gw.Name, fuzzResources, func(b []byte, dec func([]byte, any) error) (string, error) {
						var p sdk.ReadResourceParams
						err := dec(b, &p)
						return p.URI, err
					})
				}
			}
		}
	})
}

func checkTarget(t *testing.T, who string, body, params []byte, gwName string, allowed []string, name func([]byte, func([]byte, any) error) (string, error)) {
	t.Helper()
	dec := sdkDecode
	if who == "std:" {
		dec = json.Unmarshal
	}
	got, err := name(params, dec)
	if err != nil {
		return // the backend refuses the params
	}
	if got != gwName {
		t.Fatalf("%s backend acts on %q, gateway authorized %q\nbody: %s", who, got, gwName, body)
	}
	if !slices.Contains(allowed, got) {
		t.Fatalf("%q allowed but not permitted\nbody: %s", got, body)
	}
}

// FuzzGlob checks the matcher's fast paths (exact, prefix, match-all)
// against the reference translation of the same glob to a regexp.
func FuzzGlob(f *testing.F) {
	f.Add("system:serviceaccount:ns:*", "system:serviceaccount:ns:a", byte(':'))
	f.Add("file:///docs/**", "file:///docs/a/b", byte('/'))
	f.Add("get_*", "get_x", byte(0))
	f.Add("**", "a:b", byte(':'))
	f.Fuzz(func(t *testing.T, pattern, value string, sep byte) {
		if sep != glob.SepPrincipal && sep != glob.SepResource {
			sep = glob.SepNone
		}
		if strings.Contains(pattern, "***") || pattern == "" || !utf8.ValidString(pattern) {
			return // refused by config validation
		}
		got := glob.MustCompile([]string{pattern}, sep).Match(value)
		want := regexp.MustCompile(glob.Regexp(pattern, sep)).MatchString(value)
		if got != want {
			t.Fatalf("pattern %q sep %q value %q: matcher %v, regexp %v", pattern, sep, value, got, want)
		}
	})
}

// FuzzFilterAnyList: the filter of every stream the client reads never
// lets through a list item a rule denies, as a Go client decoding the
// output would read it (encoding/json, which matches member names
// case-insensitively), and whatever it returns without error is valid
// JSON. Items whose name or URI contains "x" are denied.
func FuzzFilterAnyList(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"x"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"px"}],"resources":[{"uri":"file:///x"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///{x}"}]}}`,
		`[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}},{"jsonrpc":"2.0","method":"notifications/progress"}]`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":[{"name":"x"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","Name":"x"}]}}`,
	} {
		f.Add([]byte(s))
	}
	allow := func(_ mcp.List, v string) bool { return !strings.Contains(v, "x") }
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, _, err := filterAnyList(msg, allow)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of %q: %q", msg, out)
		}
		type item struct {
			Name        string `json:"name"`
			URI         string `json:"uri"`
			URITemplate string `json:"uriTemplate"`
		}
		type message struct {
			Method string          `json:"method"`
			Error  json.RawMessage `json:"error"`
			Result struct {
				Tools             []item `json:"tools"`
				Prompts           []item `json:"prompts"`
				Resources         []item `json:"resources"`
				ResourceTemplates []item `json:"resourceTemplates"`
			} `json:"result"`
		}
		var msgs []message
		if trimmed := bytes.TrimSpace(out); len(trimmed) > 0 && trimmed[0] == '[' {
			if json.Unmarshal(out, &msgs) != nil {
				return // not a batch of objects: nothing a client reads as lists
			}
		} else {
			var m message
			if json.Unmarshal(out, &m) != nil {
				return
			}
			msgs = []message{m}
		}
		for _, m := range msgs {
			if m.Method != "" {
				continue // a server request or notification, not a list result
			}
			for _, l := range [][]item{m.Result.Tools, m.Result.Prompts, m.Result.Resources, m.Result.ResourceTemplates} {
				for _, it := range l {
					for _, v := range []string{it.Name, it.URI, it.URITemplate} {
						if strings.Contains(v, "x") {
							t.Fatalf("a denied item passed the filter:\nin:  %s\nout: %s", msg, out)
						}
					}
				}
			}
		}
	})
}
