package a2a

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/glob"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

func TestClassify(t *testing.T) {
	call := func(m string) string { return `{"jsonrpc":"2.0","id":1,"method":"` + m + `","params":{}}` }
	deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	tests := []struct {
		name, httpMethod, rest, body string
		want                         string // canonical method; "" when refused
		code                         int    // JSON-RPC code of the refusal
		id                           string // echoed id of the refusal
		jsonrpc                      bool   // refusal rendered as JSON-RPC
	}{
		// JSON-RPC binding: the 0.3 and 1.0 names of one operation are
		// one canonical method.
		{name: "0.3 send", httpMethod: "POST", body: call("message/send"), want: "message/send"},
		{name: "1.0 send", httpMethod: "POST", rest: "/", body: call("SendMessage"), want: "message/send"},
		{name: "0.3 stream", httpMethod: "POST", rest: "/", body: call("message/stream"), want: "message/stream"},
		{name: "1.0 stream", httpMethod: "POST", body: call("SendStreamingMessage"), want: "message/stream"},
		{name: "0.3 get", httpMethod: "POST", body: call("tasks/get"), want: "tasks/get"},
		{name: "1.0 get", httpMethod: "POST", body: call("GetTask"), want: "tasks/get"},
		{name: "1.0 list", httpMethod: "POST", body: call("ListTasks"), want: "tasks/list"},
		{name: "0.3 cancel", httpMethod: "POST", body: call("tasks/cancel"), want: "tasks/cancel"},
		{name: "1.0 cancel", httpMethod: "POST", body: call("CancelTask"), want: "tasks/cancel"},
		{name: "0.3 resubscribe", httpMethod: "POST", body: call("tasks/resubscribe"), want: "tasks/resubscribe"},
		{name: "1.0 subscribe", httpMethod: "POST", body: call("SubscribeToTask"), want: "tasks/resubscribe"},
		{name: "0.3 push set", httpMethod: "POST", body: call("tasks/pushNotificationConfig/set"), want: "tasks/pushNotificationConfig/set"},
		{name: "1.0 push create", httpMethod: "POST", body: call("CreateTaskPushNotificationConfig"), want: "tasks/pushNotificationConfig/set"},
		{name: "1.0 push get", httpMethod: "POST", body: call("GetTaskPushNotificationConfig"), want: "tasks/pushNotificationConfig/get"},
		{name: "1.0 push list (binding spelling)", httpMethod: "POST", body: call("ListTaskPushNotificationConfig"), want: "tasks/pushNotificationConfig/list"},
		{name: "1.0 push list (proto spelling)", httpMethod: "POST", body: call("ListTaskPushNotificationConfigs"), want: "tasks/pushNotificationConfig/list"},
		{name: "1.0 push delete", httpMethod: "POST", body: call("DeleteTaskPushNotificationConfig"), want: "tasks/pushNotificationConfig/delete"},
		{name: "1.0 draft push", httpMethod: "POST", body: call("CreatePushNotificationConfig"), want: "tasks/pushNotificationConfig/set"},
		{name: "0.3 extended card", httpMethod: "POST", body: call("agent/getAuthenticatedExtendedCard"), want: "agent/getAuthenticatedExtendedCard"},
		{name: "1.0 extended card", httpMethod: "POST", body: call("GetExtendedAgentCard"), want: "agent/getAuthenticatedExtendedCard"},
		{name: "notification", httpMethod: "POST", body: `{"jsonrpc":"2.0","method":"SendMessage"}`, want: "message/send"},
		// The seed's body is not JSON-RPC: a plain message to the agent.
		{name: "seed task body", httpMethod: "POST", body: `{"task": "Get weather forecast for Tampa, FL this weekend"}`, want: "message/send"},
		{name: "empty object", httpMethod: "POST", body: `{}`, want: "message/send"},
		// HTTP+JSON binding: 1.0 paths, and 0.3's /v1 prefix.
		{name: "rest 1.0 send", httpMethod: "POST", rest: "/message:send", body: `{"message":{}}`, want: "message/send"},
		{name: "rest 0.3 send", httpMethod: "POST", rest: "/v1/message:send", body: `{"message":{}}`, want: "message/send"},
		{name: "rest send no body", httpMethod: "POST", rest: "/message:send", want: "message/send"},
		{name: "rest 1.0 stream", httpMethod: "POST", rest: "/message:stream", want: "message/stream"},
		{name: "rest 1.0 get", httpMethod: "GET", rest: "/tasks/abc", want: "tasks/get"},
		{name: "rest 1.0 list", httpMethod: "GET", rest: "/tasks", want: "tasks/list"},
		{name: "rest 1.0 cancel", httpMethod: "POST", rest: "/tasks/abc:cancel", want: "tasks/cancel"},
		{name: "rest 1.0 subscribe post", httpMethod: "POST", rest: "/tasks/abc:subscribe", want: "tasks/resubscribe"},
		{name: "rest 0.3 subscribe get", httpMethod: "GET", rest: "/v1/tasks/abc:subscribe", want: "tasks/resubscribe"},
		{name: "rest 1.0 push create", httpMethod: "POST", rest: "/tasks/abc/pushNotificationConfigs", body: `{"url":"https://x"}`, want: "tasks/pushNotificationConfig/set"},
		{name: "rest 1.0 push get", httpMethod: "GET", rest: "/tasks/abc/pushNotificationConfigs/c1", want: "tasks/pushNotificationConfig/get"},
		{name: "rest 1.0 push list", httpMethod: "GET", rest: "/tasks/abc/pushNotificationConfigs", want: "tasks/pushNotificationConfig/list"},
		{name: "rest 1.0 push delete", httpMethod: "DELETE", rest: "/tasks/abc/pushNotificationConfigs/c1", want: "tasks/pushNotificationConfig/delete"},
		{name: "rest push look-alike", httpMethod: "GET", rest: "/tasks/abc/pushNotificationConfigsX", want: MethodUnknown},
		{name: "rest 1.0 extended card", httpMethod: "GET", rest: "/extendedAgentCard", want: "agent/getAuthenticatedExtendedCard"},
		{name: "rest 0.3 card", httpMethod: "GET", rest: "/v1/card", want: "agent/getAuthenticatedExtendedCard"},
		{name: "rest wrong verb", httpMethod: "GET", rest: "/message:send", want: MethodUnknown},
		// An HTTP+JSON interface below the agent's root (a 1.0 card's
		// supportedInterfaces URL .../a2a/rest).
		{name: "rest below root send", httpMethod: "POST", rest: "/a2a/rest/message:send", body: `{"message":{}}`, want: "message/send"},
		{name: "rest below root stream", httpMethod: "POST", rest: "/a2a/rest/message:stream", body: `{"message":{}}`, want: "message/stream"},
		{name: "rest below root subscribe", httpMethod: "GET", rest: "/a2a/rest/tasks/t1:subscribe", want: "tasks/resubscribe"},
		{name: "rest below root push delete", httpMethod: "DELETE", rest: "/a2a/rest/tasks/t1/pushNotificationConfigs/c", want: "tasks/pushNotificationConfig/delete"},
		{name: "rest task without id", httpMethod: "GET", rest: "/tasks/", want: MethodUnknown},
		{name: "plain JSON below root", httpMethod: "POST", rest: "/a2a/v1", body: `{"task":"x"}`, want: "message/send"},
		{name: "json-rpc below root", httpMethod: "POST", rest: "/a2a/v1", body: call("SendStreamingMessage"), want: "message/stream"},
		{name: "card", httpMethod: "GET", rest: CardPath, want: MethodCard},
		{name: "legacy card", httpMethod: "GET", rest: LegacyCardPath, want: MethodCard},
		{name: "post without body", httpMethod: "POST", want: MethodUnknown},

		// Refused: what two parsers could read differently.
		{name: "duplicate method", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":7,"method":"message/send","method":"message/stream"}`, code: -32600, id: "7", jsonrpc: true},
		{name: "duplicate key in plain body", httpMethod: "POST", body: `{"task":"a","task":"b"}`, code: -32600, jsonrpc: true},
		{name: "duplicate key in params", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":"x","method":"message/send","params":{"m":1,"m":2}}`, code: -32600, id: `"x"`, jsonrpc: true},
		{name: "deep nesting", httpMethod: "POST", body: deep, code: -32600, jsonrpc: true},
		{name: "deep nesting in params", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":3,"method":"message/send","params":` + deep + `}`, code: -32600, jsonrpc: true}, // too deep to read the id
		{name: "method in other case", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":4,"method":"message/send","Method":"message/stream"}`, code: -32600, id: "4", jsonrpc: true},
		{name: "method only in other case", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":5,"METHOD":"message/stream"}`, code: -32600, id: "5", jsonrpc: true},
		{name: "jsonrpc-like without jsonrpc", httpMethod: "POST", body: `{"id":6,"method":"message/stream"}`, code: -32600, id: "6", jsonrpc: true},
		{name: "folded key (long s)", httpMethod: "POST", body: `{"id":6,"method":"message/send","jſonrpc":"2.0"}`, code: -32600, id: "6", jsonrpc: true},
		{name: "trailing value", httpMethod: "POST", body: call("message/send") + call("message/stream"), code: -32600, id: "1", jsonrpc: true},
		{name: "not JSON", httpMethod: "POST", body: `task=weather`, code: -32700, jsonrpc: true},
		{name: "batch", httpMethod: "POST", body: "[" + call("message/send") + "]", code: -32600, jsonrpc: true},
		{name: "array", httpMethod: "POST", body: `[1]`, code: -32600, jsonrpc: true},
		{name: "string", httpMethod: "POST", body: `"hi"`, code: -32600, jsonrpc: true},
		{name: "response", httpMethod: "POST", body: `{"jsonrpc":"2.0","id":8,"result":{}}`, code: -32600, id: "8", jsonrpc: true},
		{name: "unknown method", httpMethod: "POST", body: call("message/Stream"), code: -32601, id: "1", jsonrpc: true},
		{name: "mcp method", httpMethod: "POST", body: call("initialize"), code: -32601, id: "1", jsonrpc: true},
		{name: "json-rpc on a rest path", httpMethod: "POST", rest: "/v1/message:send", body: call("message/stream"), code: -32600, id: "1", jsonrpc: true},
		{name: "rest body duplicate key", httpMethod: "POST", rest: "/message:send", body: `{"message":{},"message":{}}`, code: -32600},
		{name: "rest body not JSON", httpMethod: "POST", rest: "/message:stream", body: `x`, code: -32700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Classify(tt.httpMethod, tt.rest, []byte(tt.body))
			if tt.want != "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.Method != tt.want {
					t.Fatalf("Method = %q, want %q", req.Method, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %q, want a refusal", req.Method)
			}
			if err.Code != tt.code || string(err.ID) != tt.id || err.JSONRPC != tt.jsonrpc {
				t.Fatalf("refusal = {code %d, id %s, jsonrpc %v, %q}, want {code %d, id %s, jsonrpc %v}", err.Code, err.ID, err.JSONRPC, err.Message, tt.code, tt.id, tt.jsonrpc)
			}
		})
	}
}

func TestCanonicalMethods(t *testing.T) {
	for _, m := range []string{"message/stream", "tasks/resubscribe", "SendStreamingMessage", "SubscribeToTask"} {
		if !Streaming(m) {
			t.Errorf("Streaming(%q) = false", m)
		}
	}
	if Streaming("message/send") || Streaming("SendMessage") || Streaming("unknown") {
		t.Error("send is not streaming")
	}
	if Version("message/send") != V03 || Version("SendMessage") != V10 || Version("tools/call") != "" {
		t.Error("Version")
	}
	for _, c := range CanonicalMethods() {
		if !IsCanonical(c) || CanonicalMethod(c) != c {
			t.Errorf("%q is not canonical", c)
		}
	}
	for name, info := range methods {
		if !IsCanonical(info.canonical) {
			t.Errorf("%q maps to %q, which is not canonical", name, info.canonical)
		}
	}
	if IsCanonical("SendMessage") || IsCanonical("") || IsCanonical(MethodUnknown) {
		t.Error("IsCanonical accepts a non-canonical name")
	}
}

func TestDirectory(t *testing.T) {
	// The seed's a2a route, plus an explicit backend and a versioned one.
	d := NewDirectory([]Backend{
		{Name: "weather-agent-backend"},
		{Name: "planning-agent-backend"},
		{Name: "legacy", Agents: []string{"billing", "invoices"}},
		{Name: "weather-agent-v7-backend"},
		{Name: "search"},
		{Name: "billing-agent-backend"},
		{Name: "pinned", Agents: []string{"billing-agent-v2"}},
	}, []string{"billing-agent", "*", "b*"})
	tests := []struct {
		target    string
		want      int // -1: not found
		canonical string
	}{
		{"weather-agent-v6", 0, "weather-agent"}, // the seed's Step 7 target is an alias
		{"weather-agent", 0, "weather-agent"},
		{"weather-agent-v6.1", 0, "weather-agent"},
		{"weather-agent-v7", 3, "weather-agent-v7"}, // the longer derived name wins
		{"weather-agent-v7-v1", 3, "weather-agent-v7"},
		{"weather-agent-v7.1", 0, "weather-agent"},
		{"planning-agent", 1, "planning-agent"},
		{"billing", 2, "billing"},
		{"invoices", 2, "invoices"}, // explicit names are distinct agents
		{"legacy", -1, ""},          // explicit agents replace the derived name
		{"search", 4, "search"},
		{"search-v2", 4, "search"},
		// The aliases: every one is billing-agent.
		{"billing-agent", 5, "billing-agent"},
		{"billing-agent-v1", 5, "billing-agent"},
		{"billing-agent-v99", 5, "billing-agent"},
		{"billing-agent-v0.0", 5, "billing-agent"},
		{"billing-agent-v2", 6, "billing-agent-v2"}, // listed explicitly elsewhere: its own agent
		{"weather-agent-evil", -1, ""},              // only a version suffix extends a name
		{"weather-agent-v", -1, ""},
		{"weather-agent-v6.", -1, ""},
		{"weather-agent-vx", -1, ""},
		{"Weather-Agent-v6", -1, ""}, // exact bytes, no case folding
		{"weather-agent-backend", -1, ""},
		{"%77eather-agent-v6", -1, ""},
		{"..", -1, ""},
		{"", -1, ""},
	}
	for _, tt := range tests {
		got, canonical, ok := d.Resolve(tt.target)
		if !ok {
			got = -1
		}
		if got != tt.want || canonical != tt.canonical {
			t.Errorf("Resolve(%q) = %d, %q; want %d, %q", tt.target, got, canonical, tt.want, tt.canonical)
		}
		if ok {
			// Resolving the canonical name is a fixed point.
			if i2, c2, ok2 := d.Resolve(canonical); !ok2 || i2 != got || c2 != canonical {
				t.Errorf("Resolve(%q) = %d, %q, %v; not a fixed point", canonical, i2, c2, ok2)
			}
		}
	}
	for i, want := range []string{"weather-agent", "planning-agent", "billing,invoices", "weather-agent-v7", "search", "billing-agent", "billing-agent-v2"} {
		if got := strings.Join(d.Names(i), ","); got != want {
			t.Errorf("Names(%d) = %q, want %q", i, got, want)
		}
	}
	// An unvalidated collision: the explicit name keeps the agent, and the
	// derived backend serves nothing rather than aliases of another agent.
	d = NewDirectory([]Backend{{Name: "x", Agents: []string{"pay"}}, {Name: "pay-backend"}, {Name: "pay"}}, nil)
	if i, c, ok := d.Resolve("pay-v1"); ok {
		t.Errorf("Resolve(pay-v1) = %d, %q; want unknown", i, c)
	}
	if len(d.Names(1)) != 0 || len(d.Names(2)) != 0 {
		t.Errorf("shadowed backends list %v, %v", d.Names(1), d.Names(2))
	}
}

// TestDirectoryRuleNames: the one exact name the rules use for a derived
// agent is its canonical name (the seed's weather-agent-v6); two names, or
// none, leave the derived name canonical.
func TestDirectoryRuleNames(t *testing.T) {
	bs := []Backend{{Name: "weather-agent-backend"}, {Name: "planning-agent-backend"}, {Name: "geo", Agents: []string{"geo-route-planner"}}}
	tests := []struct {
		name    string
		targets []string
		want    map[string]string // requested → canonical
	}{
		{"seed", []string{"weather-agent-v6", "*", "planning-agent", "geo-route-planner"}, map[string]string{
			"weather-agent": "weather-agent-v6", "weather-agent-v6": "weather-agent-v6", "weather-agent-v1": "weather-agent-v6", "weather-agent-v0.0": "weather-agent-v6",
			"planning-agent-v2": "planning-agent", "geo-route-planner": "geo-route-planner",
		}},
		{"same name twice", []string{"weather-agent-v6", "weather-agent-v6"}, map[string]string{"weather-agent": "weather-agent-v6"}},
		{"two names", []string{"weather-agent-v6", "weather-agent-v7"}, map[string]string{"weather-agent-v6": "weather-agent", "weather-agent-v7": "weather-agent"}},
		{"globs name nothing", []string{"weather-agent-v*", "*"}, map[string]string{"weather-agent-v6": "weather-agent"}},
		{"unknown and explicit names name nothing", []string{"nope", "geo-route-planner"}, map[string]string{"weather-agent-v6": "weather-agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDirectory(bs, tt.targets)
			for in, want := range tt.want {
				i, c, ok := d.Resolve(in)
				if !ok || c != want {
					t.Errorf("Resolve(%q) = %q, %v; want %q", in, c, ok, want)
				}
				if i2, c2, _ := d.Resolve(c); i2 != i || c2 != c {
					t.Errorf("Resolve(%q) is not a fixed point", c)
				}
			}
			if got := d.Names(0); len(got) != 1 || got[0] != tt.want[firstKey(tt.want)] {
				t.Errorf("Names(weather) = %v", got)
			}
		})
	}
	// A glob that matches the derived name but not the rule-chosen
	// canonical name is refused like one that matches only aliases.
	d := NewDirectory(bs, []string{"weather-agent-v6"})
	for pattern, bad := range map[string]bool{"weather-agent*": false, "weather-agent-v6*": false, "weather-agent-v7*": true, "*agent": true, "weather-*": false} {
		m := glob.MustCompile([]string{pattern}, glob.SepNone)
		if agent, got := d.AliasOnlyMatch(pattern, m.Match); got != bad || (bad && agent != "weather-agent-v6") {
			t.Errorf("AliasOnlyMatch(%q) = %q, %v; want %v", pattern, agent, got, bad)
		}
	}
}

func firstKey(m map[string]string) string {
	for _, k := range []string{"weather-agent", "weather-agent-v6"} {
		if _, ok := m[k]; ok {
			return k
		}
	}
	return ""
}

func TestAliasOnlyMatch(t *testing.T) {
	d := NewDirectory([]Backend{{Name: "billing-agent-backend"}, {Name: "x", Agents: []string{"pay-v1"}}}, nil)
	tests := []struct {
		pattern string
		bad     bool
	}{
		{"billing-agent-v*", true},
		{"billing-agent-v1*", true},
		{"*-v99", true},
		{"billing-*-v0.0", true},
		{"*v*", true}, // billing-agent has no "v"; its aliases do
		{"billing-*", false},
		{"billing-agent*", false},
		{"*", false},
		{"*agent", false},
		{"billing-agent-x*", false},
		{"pay-v*", false}, // explicit names have no aliases
		{"billing-agent-v", false},
	}
	for _, tt := range tests {
		m := glob.MustCompile([]string{tt.pattern}, glob.SepNone)
		agent, bad := d.AliasOnlyMatch(tt.pattern, m.Match)
		if bad != tt.bad || (bad && agent != "billing-agent") {
			t.Errorf("AliasOnlyMatch(%q) = %q, %v; want %v", tt.pattern, agent, bad, tt.bad)
		}
	}
}

func TestValidAgentName(t *testing.T) {
	for _, ok := range []string{"a", "weather-agent-v6", "A.b_c-1", strings.Repeat("a", 253)} {
		if !ValidAgentName(ok) {
			t.Errorf("%q should be valid", ok)
		}
	}
	for _, bad := range []string{"", "-a", ".", "..", "a/b", "a%2Fb", "a b", "é", strings.Repeat("a", 254), "a:b"} {
		if ValidAgentName(bad) {
			t.Errorf("%q should be invalid", bad)
		}
	}
}

func TestRewriteCard(t *testing.T) {
	const gw = "https://gw.example.com/agents/weather-agent-v6"
	rewrite := func(u string) (string, bool) { return GatewayURL(u, "/a2a", gw) }
	tests := []struct {
		name string
		in   string
		want map[string]any // JSON paths checked
	}{
		{
			// A2A 0.3: top-level url plus additionalInterfaces.
			name: "0.3",
			in: `{"name":"weather","protocolVersion":"0.3.0","url":"http://weather:8080/a2a/","preferredTransport":"JSONRPC",
				"additionalInterfaces":[{"url":"http://weather:8080/a2a/","transport":"JSONRPC"},{"url":"http://weather:8080/a2a/v1","transport":"HTTP+JSON"},{"url":"weather:50051","transport":"GRPC"}],
				"skills":[{"id":"s","examples":["<b>&</b>"]}],"capabilities":{"streaming":true},"big":12345678901234567890}`,
			want: map[string]any{
				"url":                     gw + "/",
				"additionalInterfaces.0":  gw + "/",
				"additionalInterfaces.1":  gw + "/v1",
				"additionalInterfaces.n":  2.0, // the gRPC host:port cannot go through the gateway: dropped
				"name":                    "weather",
				"skills.0.examples.0":     "<b>&</b>",
				"big":                     "12345678901234567890",
				"capabilities.streaming":  true,
				"supportedInterfaces.any": nil,
			},
		},
		{
			// A2A 1.0 (spec example shape): supportedInterfaces only.
			name: "1.0",
			in: `{"name":"GeoSpatial Route Planner Agent","description":"Provides advanced route planning.",
				"supportedInterfaces":[{"url":"https://georoute-agent.example.com/a2a/v1","protocolBinding":"JSONRPC","protocolVersion":"1.0"},
				{"url":"https://georoute-agent.example.com/a2a/grpc","protocolBinding":"GRPC","protocolVersion":"1.0"},
				{"url":"https://georoute-agent.example.com/a2a/json?x=1","protocolBinding":"HTTP+JSON","protocolVersion":"1.0"}],
				"version":"1.2.0"}`,
			want: map[string]any{
				"supportedInterfaces.0": gw + "/v1",
				"supportedInterfaces.1": gw + "/grpc",
				"supportedInterfaces.2": gw + "/json?x=1",
				"supportedInterfaces.n": 3.0,
				"url.absent":            nil,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteCard([]byte(tt.in), rewrite)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "weather:") || strings.Contains(string(out), "georoute-agent.example.com") {
				t.Errorf("backend address left in card: %s", out)
			}
			var card map[string]any
			d := json.NewDecoder(strings.NewReader(string(out)))
			d.UseNumber()
			if err := d.Decode(&card); err != nil {
				t.Fatal(err)
			}
			get := func(path string) any {
				var cur any = card
				for _, p := range strings.Split(path, ".") {
					switch v := cur.(type) {
					case map[string]any:
						cur = v[p]
					case []any:
						if p == "n" {
							return float64(len(v))
						}
						i := int(p[0] - '0')
						if i >= len(v) {
							return nil
						}
						cur = v[i]
						if m, ok := cur.(map[string]any); ok && m["url"] != nil {
							cur = m["url"]
						}
					default:
						return nil
					}
				}
				if n, ok := cur.(json.Number); ok {
					return n.String()
				}
				return cur
			}
			for path, want := range tt.want {
				if strings.HasSuffix(path, ".absent") || strings.HasSuffix(path, ".any") {
					if card[strings.Split(path, ".")[0]] != nil {
						t.Errorf("%s present", path)
					}
					continue
				}
				if got := get(path); got != want {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
		})
	}
	// Key case does not hide a URL from the rewrite (encoding/json
	// matches keys case-insensitively, so clients would follow it).
	out, err := RewriteCard([]byte(`{"URL":"http://evil:1/","supportedInterfaces":[{"Url":"http://evil:2/"}],"AdditionalInterfaces":[{"url":"http://evil:3/"}]}`), rewrite)
	if err != nil || strings.Contains(string(out), "evil") {
		t.Errorf("case variants: %s, %v", out, err)
	}
	// Two spellings of one member in one object: refused
	// (TestRewriteCardFolding has the rest).
	if out, err := RewriteCard([]byte(`{"url":"http://a/","AdditionalInterfaces":[{"url":"http://a/","uRL":"http://evil:3/"}]}`), rewrite); err == nil {
		t.Errorf("fold-colliding interface url accepted: %s", out)
	}
	for _, bad := range []string{`[]`, `null`, `{"url": 5}`, `{"url":"grpc://x:1"}`, `{"supportedInterfaces": {}}`, `{`} {
		if _, err := RewriteCard([]byte(bad), rewrite); err == nil {
			t.Errorf("RewriteCard(%s) accepted", bad)
		}
	}
}

func TestGatewayURL(t *testing.T) {
	const gw = "http://localhost:8080/agents/a"
	tests := []struct{ in, base, want string }{
		{"http://10.0.0.1:9000/", "", gw + "/"},
		{"http://10.0.0.1:9000", "", gw},
		{"http://10.0.0.1:9000/rpc", "/", gw + "/rpc"},
		{"http://10.0.0.1:9000/base/rpc", "/base", gw + "/rpc"},
		{"http://10.0.0.1:9000/basement", "/base", gw + "/basement"}, // not on a segment boundary
		{"https://public.example.com/x?y=1", "", gw + "/x?y=1"},
	}
	for _, tt := range tests {
		if got, ok := GatewayURL(tt.in, tt.base, gw); !ok || got != tt.want {
			t.Errorf("GatewayURL(%q, %q) = %q, %v; want %q", tt.in, tt.base, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"grpc://x", "x:50051", "/relative", "http://", "mailto:a@b"} {
		if _, ok := GatewayURL(bad, "", gw); ok {
			t.Errorf("GatewayURL(%q) accepted", bad)
		}
	}
}

func FuzzRewriteCard(f *testing.F) {
	f.Add([]byte(`{"url":"http://a/","additionalInterfaces":[{"url":"http://a/x"}],"supportedInterfaces":[{"url":"grpc:1"}]}`))
	f.Add([]byte(`{"name":"x"}`))
	const gw = "https://gw/agents/a"
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := RewriteCard(b, func(u string) (string, bool) { return GatewayURL(u, "", gw) })
		if err != nil {
			return
		}
		// Every URL left in the card points at the gateway.
		var card struct {
			URL  *string                `json:"url"`
			Add  []struct{ URL string } `json:"additionalInterfaces"`
			Supp []struct{ URL string } `json:"supportedInterfaces"`
		}
		if err := json.Unmarshal(out, &card); err != nil {
			t.Fatalf("rewritten card is not JSON: %v\n%s", err, out)
		}
		if card.URL != nil && !strings.HasPrefix(*card.URL, gw) {
			t.Fatalf("url %q not on the gateway", *card.URL)
		}
		for _, i := range append(card.Add, card.Supp...) {
			if !strings.HasPrefix(i.URL, gw) {
				t.Fatalf("interface url %q not on the gateway", i.URL)
			}
		}
	})
}

func FuzzMethod(f *testing.F) {
	f.Add("POST", "/tasks/a:cancel", `{"jsonrpc":"2.0","id":1,"method":"SendMessage"}`)
	f.Add("GET", "/v1/tasks/a/pushNotificationConfigs/b", "")
	f.Add("POST", "", `{"jsonrpc":"2.0","id":1,"method":"message/send","method":"message/stream"}`)
	f.Add("POST", "", `{"task":"x"}`)
	f.Fuzz(func(t *testing.T, httpMethod, rest, body string) {
		req, err := Classify(httpMethod, rest, []byte(body))
		if err != nil {
			if req.Method != "" || err.Code == 0 || err.Message == "" {
				t.Fatalf("refusal %+v with request %+v", err, req)
			}
			return
		}
		// The label is always from the closed set.
		m := req.Method
		if m != MethodUnknown && m != MethodCard && !IsCanonical(m) {
			t.Fatalf("Classify returned %q", m)
		}
		// An accepted JSON-RPC body is one request whose method is the
		// one counted, and its bytes are strict JSON.
		if req.RPC != nil {
			if req.RPC.Batch || len(req.RPC.Messages) != 1 || CanonicalMethod(req.RPC.Messages[0].Method) != m {
				t.Fatalf("RPC %+v for method %q", req.RPC, m)
			}
		}
		if httpMethod == "POST" && body != "" && mcp.CheckJSON([]byte(body)) != nil {
			t.Fatalf("accepted a body that is not strict JSON: %q", body)
		}
	})
}

// FuzzResolve checks the directory's promise: a canonical name resolves to
// itself and the same backend, and a target glob that config validation
// accepts matches an alias only if it matches the alias's agent.
func FuzzResolve(f *testing.F) {
	f.Add("billing-agent-v1", "billing-agent-v*")
	f.Add("weather-agent-v7.1", "*-v7*")
	f.Add("pay-v1", "*")
	d := NewDirectory([]Backend{
		{Name: "billing-agent-backend"},
		{Name: "weather-agent-backend"},
		{Name: "weather-agent-v7-backend"},
		{Name: "x", Agents: []string{"pay-v1", "billing"}},
		{Name: "search"},
	}, []string{"weather-agent-v6", "search-v2*"})
	f.Fuzz(func(t *testing.T, target, pattern string) {
		i, canonical, ok := d.Resolve(target)
		if !ok {
			return
		}
		if i2, c2, ok2 := d.Resolve(canonical); !ok2 || i2 != i || c2 != canonical {
			t.Fatalf("Resolve(%q) = %d, %q; Resolve(%q) = %d, %q, %v", target, i, canonical, canonical, i2, c2, ok2)
		}
		if strings.Count(pattern, "*") == 0 || strings.Contains(pattern, "***") {
			return
		}
		m, err := glob.Compile([]string{pattern}, glob.SepNone)
		if err != nil {
			return
		}
		if _, bad := d.AliasOnlyMatch(pattern, m.Match); bad {
			return
		}
		// Accepted pattern: if it matches the alias of a derived agent
		// (target resolved to a different canonical name through a
		// version suffix), it matches that agent.
		if target != canonical && m.Match(target) && !m.Match(canonical) {
			t.Fatalf("pattern %q matches alias %q but not agent %q, and was accepted", pattern, target, canonical)
		}
	})
}
