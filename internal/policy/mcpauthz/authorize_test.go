package mcpauthz

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/glob"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

const (
	weatherSA = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"
	otherSA   = "system:serviceaccount:agent-core-infra:planner-sa"
	readerSA  = "system:serviceaccount:docs:reader"
	nobody    = "system:serviceaccount:other-ns:nobody"
)

var seedTools = []string{
	"get_weather_data", "generate_analysis_code", "execute_code",
	"store_user_preferences", "get_activity_preferences", "store_activity_plan",
}

func testRules() rules {
	return compileRules([]Rule{
		{Principal: weatherSA, AllowedTools: append(append([]string(nil), seedTools...), "r\u00e9sum\u00e9"), RateLimit: &config.RateValue{RequestsPerMinute: 100}},
		{Principal: "system:serviceaccount:agent-core-infra:*", AllowedTools: []string{"get_weather_data"}},
		{Principal: readerSA, AllowedResources: []string{"file:///docs/*", "db://reports/**"}, AllowedPrompts: []string{"summarize_*"}},
	})
}

func authorizeJSON(t testing.TB, rs rules, subject, body string) decision {
	t.Helper()
	b, err := mcp.ParseBody([]byte(body))
	var pe *mcp.ParseError
	if errors.As(err, &pe) && pe.Code == mcp.CodeInvalidRequest {
		// Refused by the edge's parser before any policy runs (member
		// names in another letter case, for example).
		return decision{err: &policy.Error{Status: 400, Code: pe.Code, Message: pe.Message}, reason: "refused by the parser: " + pe.Message}
	}
	if err != nil {
		t.Fatalf("ParseBody(%s): %v", body, err)
	}
	ms := rs.matching(subject, nil)
	if len(ms) == 0 {
		t.Fatalf("no rule matches %s", subject)
	}
	return authorizeBody(subject, ms, b)
}

func call(name string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":` + jsonString(name) + `,"arguments":{}}}`
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestAuthorize(t *testing.T) {
	rs := testRules()
	const (
		allow = 0
		deny  = http.StatusForbidden
		bad   = http.StatusBadRequest
	)
	tests := []struct {
		name    string
		subject string
		body    string
		want    int // 0 = allow, else HTTP status
		code    int // JSON-RPC code when denied
		rule    int // deciding rule when allowed (-1: don't check)
		list    listKind
	}{
		// tools/call
		{"seed tool", weatherSA, call("get_weather_data"), allow, 0, 0, 0},
		{"seed tool execute_code", weatherSA, call("execute_code"), allow, 0, 0, 0},
		{"tool not granted", weatherSA, call("delete_everything"), deny, policy.CodeForbidden, 0, 0},
		{"namespace glob", otherSA, call("get_weather_data"), allow, 0, 1, 0},
		{"namespace glob, other tool", otherSA, call("execute_code"), deny, policy.CodeForbidden, 0, 0},
		{"trailing space", weatherSA, call("execute_code "), deny, policy.CodeForbidden, 0, 0},
		{"trailing NUL", weatherSA, call("execute_code\x00"), deny, policy.CodeForbidden, 0, 0},
		{"leading space", weatherSA, call(" execute_code"), deny, policy.CodeForbidden, 0, 0},
		{"upper case", weatherSA, call("Execute_Code"), deny, policy.CodeForbidden, 0, 0},
		{"cyrillic a", otherSA, call("get_we\u0430ther_data"), deny, policy.CodeForbidden, 0, 0},
		{"cyrillic e", weatherSA, call("\u0435xecute_code"), deny, policy.CodeForbidden, 0, 0},
		{"full-width", weatherSA, call("\uff45xecute_code"), deny, policy.CodeForbidden, 0, 0},
		{"zero-width space", weatherSA, call("execute\u200b_code"), deny, policy.CodeForbidden, 0, 0},
		{"zero-width joiner", weatherSA, call("execute_code\u200d"), deny, policy.CodeForbidden, 0, 0},
		{"NFC allowed", weatherSA, call("r\u00e9sum\u00e9"), allow, 0, 0, 0},
		{"NFD refused", weatherSA, call("re\u0301sume\u0301"), deny, policy.CodeForbidden, 0, 0},
		{"escaped name is the same name", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute\u005fcode"}}`, allow, 0, 0, 0},
		{"Name beside name", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data","Name":"delete_everything"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"NAME beside name", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"delete_everything","name":"get_weather_data"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"Method beside method", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"delete_everything"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"long-s params", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data"},"param\u017f":{"name":"delete_everything"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"escaped long-s params", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data"},"param\u017F":{"name":"x"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"Tools/Call", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"Tools/Call","params":{"name":"execute_code"}}`, deny, policy.CodeForbidden, 0, 0},
		{"tools/call as notification", weatherSA, `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"execute_code"}}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"unknown method", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"tools/delete","params":{"name":"execute_code"}}`, deny, policy.CodeForbidden, 0, 0},
		{"server method from client", weatherSA, `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}}`, deny, policy.CodeForbidden, 0, 0},

		// session methods, lists, notifications, responses
		{"initialize", nobodyWithRule, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`, allow, 0, 3, 0},
		{"ping", readerSA, `{"jsonrpc":"2.0","id":"p","method":"ping"}`, allow, 0, 2, 0},
		{"logging/setLevel", weatherSA, `{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}`, allow, 0, 0, 0},
		{"server/discover", weatherSA, `{"jsonrpc":"2.0","id":2,"method":"server/discover"}`, allow, 0, 0, 0},
		{"tools/list", readerSA, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, allow, 0, 2, listTools},
		{"tools/list as notification", weatherSA, `{"jsonrpc":"2.0","method":"tools/list"}`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"notifications/initialized", weatherSA, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, allow, 0, 0, 0},
		{"notifications/cancelled", weatherSA, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, allow, 0, 0, 0},
		{"unknown notification", weatherSA, `{"jsonrpc":"2.0","method":"notifications/tools/call"}`, deny, policy.CodeForbidden, 0, 0},
		{"response to a server request", weatherSA, `{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}`, allow, 0, 0, 0},
		{"error response", weatherSA, `{"jsonrpc":"2.0","id":"srv-1","error":{"code":-1,"message":"no"}}`, allow, 0, 0, 0},
		{"tasks/get with tools", weatherSA, `{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"t"}}`, allow, 0, 0, 0},
		{"tasks/get without tools", readerSA, `{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"t"}}`, deny, policy.CodeForbidden, 0, 0},

		// resources
		{"resources/list without resources", weatherSA, `{"jsonrpc":"2.0","id":4,"method":"resources/list"}`, deny, policy.CodeForbidden, 0, 0},
		{"resources/list", readerSA, `{"jsonrpc":"2.0","id":4,"method":"resources/list"}`, allow, 0, 2, listResources},
		{"resources/templates/list", readerSA, `{"jsonrpc":"2.0","id":4,"method":"resources/templates/list"}`, allow, 0, 2, listTemplates},
		{"resources/read", readerSA, read("file:///docs/a.md"), allow, 0, 2, 0},
		{"resources/read deeper than *", readerSA, read("file:///docs/sub/a.md"), deny, policy.CodeForbidden, 0, 0},
		{"resources/read **", readerSA, read("db://reports/2024/q1"), allow, 0, 2, 0},
		{"resources/read dot-dot", readerSA, read("file:///docs/../etc/passwd"), deny, policy.CodeForbidden, 0, 0},
		{"resources/read dot-dot under **", readerSA, read("db://reports/../../etc"), deny, policy.CodeForbidden, 0, 0},
		{"resources/read encoded dot", readerSA, read("file:///docs/%2E%2E"), deny, policy.CodeForbidden, 0, 0},
		{"resources/read encoded slash", readerSA, read("file:///docs/a%2fb"), deny, policy.CodeForbidden, 0, 0},
		{"resources/read backslash", readerSA, read(`file:///docs/..\x`), deny, policy.CodeForbidden, 0, 0},
		{"resources/read by tool user", weatherSA, read("file:///docs/a.md"), deny, policy.CodeForbidden, 0, 0},
		{"resources/subscribe", readerSA, `{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///docs/a.md"}}`, allow, 0, 2, 0},
		{"resources/unsubscribe other", readerSA, `{"jsonrpc":"2.0","id":5,"method":"resources/unsubscribe","params":{"uri":"file:///etc/passwd"}}`, deny, policy.CodeForbidden, 0, 0},
		{"URI beside uri", readerSA, `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"file:///docs/a.md","URI":"file:///etc/passwd"}}`, bad, mcp.CodeInvalidRequest, 0, 0},

		// prompts and completion
		{"prompts/list without prompts", weatherSA, `{"jsonrpc":"2.0","id":6,"method":"prompts/list"}`, deny, policy.CodeForbidden, 0, 0},
		{"prompts/list", readerSA, `{"jsonrpc":"2.0","id":6,"method":"prompts/list"}`, allow, 0, 2, listPrompts},
		{"prompts/get", readerSA, `{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"summarize_week"}}`, allow, 0, 2, 0},
		{"prompts/get other", readerSA, `{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"leak_secrets"}}`, deny, policy.CodeForbidden, 0, 0},
		{"completion prompt", readerSA, complete(`{"type":"ref/prompt","name":"summarize_x"}`), allow, 0, 2, 0},
		{"completion other prompt", readerSA, complete(`{"type":"ref/prompt","name":"other"}`), deny, policy.CodeForbidden, 0, 0},
		{"completion resource template", readerSA, complete(`{"type":"ref/resource","uri":"file:///docs/{name}"}`), allow, 0, 2, 0},
		{"completion bad type", readerSA, complete(`{"type":"ref/tool","name":"summarize_x"}`), bad, mcp.CodeInvalidParams, 0, 0},
		{"completion Name", readerSA, complete(`{"type":"ref/prompt","name":"summarize_x","Name":"other"}`), bad, mcp.CodeInvalidParams, 0, 0},
		{"completion no ref", readerSA, `{"jsonrpc":"2.0","id":7,"method":"completion/complete","params":{}}`, bad, mcp.CodeInvalidParams, 0, 0},

		// subscriptions/listen
		{"listen", weatherSA, `{"jsonrpc":"2.0","id":8,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`, allow, 0, 0, 0},
		{"listen allowed resource", readerSA, listen(`["file:///docs/a.md"]`), allow, 0, 2, 0},
		{"listen forbidden resource", readerSA, listen(`["file:///docs/a.md","file:///etc/shadow"]`), deny, policy.CodeForbidden, 0, 0},
		{"listen non-string", readerSA, listen(`[1]`), bad, mcp.CodeInvalidParams, 0, 0},
		{"listen by tool user", weatherSA, listen(`["file:///docs/a.md"]`), deny, policy.CodeForbidden, 0, 0},

		// batches (2025-03-26)
		{"batch of ping and notification", weatherSA, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`, allow, 0, 0, 0},
		{"batch of responses", weatherSA, `[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]`, allow, 0, 0, 0},
		{"batch mixing allowed and forbidden tools", weatherSA, `[` + call("get_weather_data") + `,` + call("delete_everything") + `]`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"batch of allowed tools", weatherSA, `[` + call("get_weather_data") + `,` + call("execute_code") + `]`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"batch with tools/list", weatherSA, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"batch with initialize", weatherSA, `[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}]`, bad, mcp.CodeInvalidRequest, 0, 0},
		{"batch with unknown notification", weatherSA, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/evil"}]`, deny, policy.CodeForbidden, 0, 0},
		{"batch with ambiguous ping", weatherSA, `[{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"x"}}]`, bad, mcp.CodeInvalidRequest, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rs
			if tt.subject == nobodyWithRule {
				rs = append(rs, compileRules([]Rule{{Principal: "**", AllowedPrompts: []string{"x"}}})[0])
				rs[3].index = 3
			}
			d := authorizeJSON(t, rs, tt.subject, tt.body)
			if tt.want == allow {
				if !d.allow {
					t.Fatalf("denied: %v (%s)", d.err, d.reason)
				}
				if tt.rule >= 0 && (d.rule == nil || d.rule.index != tt.rule) {
					t.Errorf("deciding rule = %+v, want %d", d.rule, tt.rule)
				}
				if d.list != tt.list {
					t.Errorf("list = %v, want %v", d.list, tt.list)
				}
				return
			}
			if d.allow {
				t.Fatalf("allowed, want %d", tt.want)
			}
			if d.err.Status != tt.want || d.err.RPCCode() != tt.code {
				t.Errorf("got %d/%d %q, want %d/%d", d.err.Status, d.err.RPCCode(), d.err.Message, tt.want, tt.code)
			}
			if d.reason == "" {
				t.Error("deny without a reason")
			}
		})
	}
}

const nobodyWithRule = "anyone"

func read(uri string) string {
	return `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":` + jsonString(uri) + `}}`
}

func complete(ref string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"completion/complete","params":{"ref":` + ref + `,"argument":{"name":"a","value":"b"}}}`
}

func listen(uris string) string {
	return `{"jsonrpc":"2.0","id":8,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":` + uris + `}}}`
}

func TestDenyMessageNamesToolAndIdentity(t *testing.T) {
	d := authorizeJSON(t, testRules(), weatherSA, call("get_we\u0430ther_data"))
	if d.allow {
		t.Fatal("allowed")
	}
	want := `tool "get_we\u0430ther_data" is not allowed for "` + weatherSA + `"`
	if d.err.Message != want {
		t.Errorf("message = %s\nwant      %s", d.err.Message, want)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern string
		sep     byte
		yes, no []string
	}{
		{"system:serviceaccount:agent-core-infra:*", glob.SepPrincipal,
			[]string{"system:serviceaccount:agent-core-infra:a", "system:serviceaccount:agent-core-infra:"},
			[]string{"system:serviceaccount:agent-core-infra:a:b", "system:serviceaccount:agent-core-infra", "system:serviceaccount:agent-core-infrax:a", "System:serviceaccount:agent-core-infra:a"}},
		{"system:serviceaccount:*:weather", glob.SepPrincipal,
			[]string{"system:serviceaccount:ns:weather"},
			[]string{"system:serviceaccount:a:b:weather", "system:serviceaccount:ns:weather2"}},
		{"system:serviceaccount:**", glob.SepPrincipal,
			[]string{"system:serviceaccount:a:b", "system:serviceaccount:"},
			[]string{"system:serviceaccoun", "user:system:serviceaccount:a"}},
		{"**", glob.SepPrincipal, []string{"", "a:b:c", "\n"}, nil},
		{"*", glob.SepPrincipal, []string{"alice", ""}, []string{"a:b"}},
		{"*", glob.SepNone, []string{"anything", "a:b/c", ""}, nil},
		{"get_*", glob.SepNone, []string{"get_", "get_weather_data", "get_a:b/c\n"}, []string{"Get_x", "xget_y", "get"}},
		{"*_data", glob.SepNone, []string{"get_weather_data"}, []string{"get_weather_data "}},
		{"a*b*c", glob.SepNone, []string{"abc", "aXbYc", "abbbc"}, []string{"ab", "acb"}},
		{"file:///docs/*", glob.SepResource, []string{"file:///docs/a.md", "file:///docs/"}, []string{"file:///docs/a/b", "file:///docs"}},
		{"file:///docs/**", glob.SepResource, []string{"file:///docs/a/b/c"}, []string{"file:///doc/a"}},
		{"a.b+c(d)[e]?", glob.SepNone, []string{"a.b+c(d)[e]?"}, []string{"aXb+c(d)[e]?", "a.b+c(d)e"}},
		{"exact", glob.SepNone, []string{"exact"}, []string{"Exact", "exact ", "exac"}},
	}
	for _, tt := range tests {
		m := glob.MustCompile([]string{tt.pattern}, tt.sep)
		for _, v := range tt.yes {
			if !m.Match(v) {
				t.Errorf("%q should match %q", tt.pattern, v)
			}
		}
		for _, v := range tt.no {
			if m.Match(v) {
				t.Errorf("%q should not match %q", tt.pattern, v)
			}
		}
	}
	if !glob.MustCompile(nil, glob.SepNone).Empty() || glob.MustCompile([]string{"x"}, glob.SepNone).Empty() {
		t.Error("empty()")
	}
}

func TestUnsafeURI(t *testing.T) {
	for _, u := range []string{"file:///a/../b", "file:///a/./b", "x://..", "a/%2e%2E/b", "a%2Fb", "a%5cb", "a%00", "a%252e", "a\\b", "a\x00", "a\nb", "a/..?x", "a/b/..#f"} {
		if unsafeURI(u) == "" {
			t.Errorf("%q accepted", u)
		}
	}
	for _, u := range []string{"file:///docs/a.md", "db://x/y?z=1", "file:///a/...", "file:///a/.b", "%41", "a%"} {
		if r := unsafeURI(u); r != "" {
			t.Errorf("%q refused: %s", u, r)
		}
	}
}
