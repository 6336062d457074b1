package a2a

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

func rpc(t testing.TB, body string) *mcp.Body {
	t.Helper()
	b, err := mcp.ParseBody([]byte(body))
	if err != nil {
		t.Fatalf("ParseBody(%s): %v", body, err)
	}
	return b
}

func TestMethod(t *testing.T) {
	call := func(m string) string { return `{"jsonrpc":"2.0","id":1,"method":"` + m + `","params":{}}` }
	tests := []struct {
		name, httpMethod, rest, body, want string
	}{
		// JSON-RPC binding, both versions (spec method tables).
		{"0.3 send", "POST", "", call("message/send"), "message/send"},
		{"0.3 stream", "POST", "/", call("message/stream"), "message/stream"},
		{"0.3 get", "POST", "", call("tasks/get"), "tasks/get"},
		{"0.3 cancel", "POST", "", call("tasks/cancel"), "tasks/cancel"},
		{"0.3 resubscribe", "POST", "", call("tasks/resubscribe"), "tasks/resubscribe"},
		{"0.3 push set", "POST", "", call("tasks/pushNotificationConfig/set"), "tasks/pushNotificationConfig/set"},
		{"1.0 send", "POST", "", call("SendMessage"), "SendMessage"},
		{"1.0 stream", "POST", "", call("SendStreamingMessage"), "SendStreamingMessage"},
		{"1.0 get", "POST", "", call("GetTask"), "GetTask"},
		{"1.0 cancel", "POST", "", call("CancelTask"), "CancelTask"},
		{"1.0 subscribe", "POST", "", call("SubscribeToTask"), "SubscribeToTask"},
		{"1.0 push", "POST", "", call("CreatePushNotificationConfig"), "CreatePushNotificationConfig"},
		{"custom method is not a label", "POST", "", call("x/" + strings.Repeat("a", 40)), MethodUnknown},
		// The seed's body is not JSON-RPC.
		{"seed task body", "POST", "", "", MethodUnknown},
		// HTTP+JSON binding: 1.0 paths, and 0.3's /v1 prefix.
		{"rest 1.0 send", "POST", "/message:send", "", "SendMessage"},
		{"rest 1.0 stream", "POST", "/message:stream", "", "SendStreamingMessage"},
		{"rest 1.0 get", "GET", "/tasks/abc", "", "GetTask"},
		{"rest 1.0 list", "GET", "/tasks", "", "ListTasks"},
		{"rest 1.0 cancel", "POST", "/tasks/abc:cancel", "", "CancelTask"},
		{"rest 1.0 subscribe", "GET", "/tasks/abc:subscribe", "", "SubscribeToTask"},
		{"rest 1.0 push create", "POST", "/tasks/abc/pushNotificationConfigs", "", "CreatePushNotificationConfig"},
		{"rest 1.0 push get", "GET", "/tasks/abc/pushNotificationConfigs/c1", "", "GetPushNotificationConfig"},
		{"rest 1.0 push list", "GET", "/tasks/abc/pushNotificationConfigs", "", "ListPushNotificationConfigs"},
		{"rest 1.0 push delete", "DELETE", "/tasks/abc/pushNotificationConfigs/c1", "", "DeletePushNotificationConfig"},
		{"rest 1.0 extended card", "GET", "/extendedAgentCard", "", "GetExtendedAgentCard"},
		{"rest 0.3 send", "POST", "/v1/message:send", "", "message/send"},
		{"rest 0.3 cancel", "POST", "/v1/tasks/abc:cancel", "", "tasks/cancel"},
		{"rest 0.3 card", "GET", "/v1/card", "", "agent/getAuthenticatedExtendedCard"},
		{"rest wrong verb", "GET", "/message:send", "", MethodUnknown},
		{"card", "GET", CardPath, "", MethodCard},
		{"legacy card", "GET", LegacyCardPath, "", MethodCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b *mcp.Body
			if tt.body != "" {
				b = rpc(t, tt.body)
			}
			if got := Method(tt.httpMethod, tt.rest, b); got != tt.want {
				t.Errorf("Method = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStreamingAndVersion(t *testing.T) {
	for _, m := range []string{"message/stream", "tasks/resubscribe", "SendStreamingMessage", "SubscribeToTask"} {
		if !Streaming(m) {
			t.Errorf("Streaming(%q) = false", m)
		}
	}
	if Streaming("message/send") || Streaming("SendMessage") {
		t.Error("send is not streaming")
	}
	if Version("message/send") != V03 || Version("SendMessage") != V10 || Version("tools/call") != "" {
		t.Error("Version")
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
	})
	tests := []struct {
		target string
		want   int // -1: not found
	}{
		{"weather-agent-v6", 0}, // the seed's Step 7 target
		{"weather-agent", 0},
		{"weather-agent-v6.1", 0},
		{"weather-agent-v7", 3}, // the longer derived name wins
		{"planning-agent", 1},
		{"billing", 2},
		{"invoices", 2},
		{"legacy", -1}, // explicit agents replace the derived name
		{"search", 4},
		{"search-v2", 4},
		{"weather-agent-evil", -1}, // only a version suffix extends a name
		{"weather-agent-v", -1},
		{"weather-agent-v6.", -1},
		{"weather-agent-vx", -1},
		{"Weather-Agent-v6", -1}, // exact bytes, no case folding
		{"weather-agent-backend", -1},
		{"%77eather-agent-v6", -1},
		{"..", -1},
		{"", -1},
	}
	for _, tt := range tests {
		got, ok := d.Lookup(tt.target)
		if !ok {
			got = -1
		}
		if got != tt.want {
			t.Errorf("Lookup(%q) = %d, want %d", tt.target, got, tt.want)
		}
	}
	bs := []Backend{{Name: "weather-agent-backend"}, {Name: "planning-agent-backend"}, {Name: "legacy", Agents: []string{"billing"}}}
	d = NewDirectory(bs)
	if got := d.Names(0, bs, []string{"weather-agent-v6", "planning-agent", "nope"}); strings.Join(got, ",") != "weather-agent-v6" {
		t.Errorf("Names(weather) = %v", got)
	}
	if got := d.Names(1, bs, nil); strings.Join(got, ",") != "planning-agent" {
		t.Errorf("Names(planning) = %v", got)
	}
	if got := d.Names(2, bs, []string{"x"}); strings.Join(got, ",") != "billing" {
		t.Errorf("Names(legacy) = %v", got)
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
	out, err := RewriteCard([]byte(`{"URL":"http://evil:1/","supportedInterfaces":[{"Url":"http://evil:2/"}],"AdditionalInterfaces":[{"url":"http://a/","uRL":"http://evil:3/"}]}`), rewrite)
	if err != nil || strings.Contains(string(out), "evil") {
		t.Errorf("case variants: %s, %v", out, err)
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
	f.Fuzz(func(t *testing.T, httpMethod, rest, body string) {
		var b *mcp.Body
		if body != "" {
			b, _ = mcp.ParseBody([]byte(body))
		}
		m := Method(httpMethod, rest, b)
		// The label is always from the closed set.
		if m != MethodUnknown && m != MethodCard && Version(m) == "" {
			t.Fatalf("Method returned %q", m)
		}
	})
}
