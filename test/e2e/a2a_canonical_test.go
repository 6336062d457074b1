package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// Issue #14 findings 1 and 7: the gateway decides on the agent and the
// method the backend will act on, not on the spelling the client chose.

const a2aBilling = "system:serviceaccount:agent-core-infra:billing-reader-sa"

// canonEnv is the configuration: the orchestrator may call any
// agent but billing-agent, served by billing-agent-backend (a derived
// name: no agents list). The planning agent keeps the seed's rule for
// weather-agent-v6, and one principal has a rule naming a version alias
// of billing-agent.
type canonEnv struct {
	gw               *Gateway
	iss              *rlIssuerKeys
	billing, weather *a2aSeen
}

func canonStart(t *testing.T, extraPolicies string) *canonEnv {
	t.Helper()
	e := &canonEnv{iss: rlStartIssuer(t)}
	var billingURL, weatherURL string
	billingURL, e.billing = startAgent03(t, "billing-agent", &taskExecutor{gate: make(chan struct{})})
	weatherURL, e.weather = startAgent03(t, "weather-agent-v6", &taskExecutor{gate: make(chan struct{})})
	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: a2a-listener
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
            policies:
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
              - type: a2a-authz
                a2a:
                  rules:
                    - source: "%s"
                      target: "*"
                      allowed: true
                    - source: "%s"
                      target: billing-agent
                      allowed: false
                    - source: "%s"
                      target: weather-agent-v6
                      allowed: true
                    # A rule naming a version alias means the agent it reaches.
                    - source: "%s"
                      target: billing-agent-v1
                      allowed: true
                    - source: "system:serviceaccount:agent-core-infra:rl-*"
                      target: weather-agent-v6
                      allowed: true
%s            backends:
              - name: billing-agent-backend
                address: %s
              - name: weather-agent-backend
                address: %s
`, rlIssuer, rlAudience, e.iss.JWKSURL, a2aOrchestrator, a2aOrchestrator, a2aPlanning, a2aBilling, extraPolicies, billingURL, weatherURL)
	cfg.Extra = fmt.Sprintf(`observability:
  prometheus:
    enabled: true
    port: %d
    path: /metrics
    metrics:
      - a2a_calls_total
      - agent_requests_total
`, cfg.AdminPort)
	e.gw = StartGateway(t, cfg)
	return e
}

func (e *canonEnv) post(t *testing.T, sub, path, body string) (int, string) {
	t.Helper()
	resp, b := postJSON(t, e.gw.URL(path), body, map[string]string{"Authorization": "Bearer " + e.iss.token(t, sub)})
	return resp.StatusCode, b
}

func (e *canonEnv) listing(t *testing.T, sub string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.gw.URL("/agents"), nil)
	req.Header.Set("Authorization", "Bearer "+e.iss.token(t, sub))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Agents []struct {
			Name string `json:"name"`
		} `json:"agents"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("listing: %d %s", resp.StatusCode, b)
	}
	var names []string
	for _, a := range out.Agents {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

func TestA2AAliasDenyCoversEveryName(t *testing.T) {
	e := canonStart(t, "")

	// Every name that reaches billing-agent-backend is billing-agent, and
	// the orchestrator's deny covers it: the JSON-RPC binding, the
	// HTTP+JSON binding and the card alike.
	for _, p := range []string{
		"/agents/billing-agent",
		"/agents/billing-agent-v1",
		"/agents/billing-agent-v99",
		"/agents/billing-agent-v0.0",
		"/agents/billing-agent-v2.10.3",
		"/agents/billing-agent-v1/",
	} {
		if st, body := e.post(t, a2aOrchestrator, p, a2aSend); st != 403 || !strings.Contains(body, `"id":"req-7"`) || !strings.Contains(body, `"code":-32003`) {
			t.Errorf("POST %s: %d %s; want 403 with the request id", p, st, body)
		}
	}
	if st, body := e.post(t, a2aOrchestrator, "/agents/billing-agent-v3/v1/message:send", `{"message":{"messageId":"m","role":"user","parts":[{"kind":"text","text":"x"}]}}`); st != 403 {
		t.Errorf("HTTP+JSON through an alias: %d %s", st, body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.gw.URL("/agents/billing-agent-v7/.well-known/agent-card.json"), nil)
	req.Header.Set("Authorization", "Bearer "+e.iss.token(t, a2aOrchestrator))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("card through an alias: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := e.billing.count(); n != 0 {
		t.Fatalf("a denied alias reached billing-agent-backend %d times: %+v", n, e.billing.all())
	}

	// The listing agrees with the decision: billing-agent is not shown to
	// the orchestrator, and every name it shows can be called.
	if got := e.listing(t, a2aOrchestrator); strings.Join(got, ",") != "weather-agent-v6" {
		t.Fatalf("orchestrator listing %v", got)
	}
	// The seed's rule names weather-agent-v6, the only name the rules use
	// for weather-agent-backend, so that is its canonical name: the seed's
	// listing, x-target-agent and metric labels are unchanged, and
	// weather-agent (the derived name) is an alias of it.
	if got := e.listing(t, a2aPlanning); strings.Join(got, ",") != "weather-agent-v6" {
		t.Fatalf("planning listing %v", got)
	}
	for _, p := range []string{"/agents/weather-agent-v6", "/agents/weather-agent", "/agents/weather-agent-v1"} {
		if st, body := e.post(t, a2aPlanning, p, a2aSend); st != 200 {
			t.Fatalf("planning POST %s: %d %s", p, st, body)
		}
		if v := e.weather.last(t).Header.Values("X-Target-Agent"); len(v) != 1 || v[0] != "weather-agent-v6" {
			t.Errorf("POST %s: x-target-agent %q, want the canonical weather-agent-v6", p, v)
		}
	}

	// A rule naming the alias billing-agent-v1 is about billing-agent: the
	// rules name two names for it (billing-agent, billing-agent-v1), so
	// the derived name is canonical, and the backend is told that name
	// whatever alias was used.
	if got := e.listing(t, a2aBilling); strings.Join(got, ",") != "billing-agent" {
		t.Fatalf("billing-reader listing %v", got)
	}
	for _, p := range []string{"/agents/billing-agent-v1", "/agents/billing-agent", "/agents/billing-agent-v42"} {
		if st, body := e.post(t, a2aBilling, p, a2aSend); st != 200 {
			t.Fatalf("billing-reader POST %s: %d %s", p, st, body)
		}
		if v := e.billing.last(t).Header.Values("X-Target-Agent"); len(v) != 1 || v[0] != "billing-agent" {
			t.Errorf("POST %s: x-target-agent %q, want billing-agent", p, v)
		}
	}
	if st, _ := e.post(t, a2aBilling, "/agents/weather-agent-v6", a2aSend); st != 403 {
		t.Errorf("billing-reader → weather: %d", st)
	}

	// Audit and metrics name the canonical agent only (six JSON-RPC calls
	// and the HTTP+JSON one are message/send; the card is another label).
	logs := e.gw.Logs()
	if !strings.Contains(logs, `"target":"billing-agent"`) {
		t.Error("no audit record for billing-agent")
	}
	for _, alias := range []string{"billing-agent-v1", "billing-agent-v99", "billing-agent-v0.0", "weather-agent-v1"} {
		if strings.Contains(logs, `"target":"`+alias+`"`) {
			t.Errorf("a log record names the alias %s as target", alias)
		}
	}
	m := scrape(t, e.gw.AdminURL("/metrics"))
	if !strings.Contains(m, `a2a_calls_total{decision="denied",method="message/send",source="`+a2aOrchestrator+`",status="403",target="billing-agent"} 7`) {
		t.Errorf("no denied series for billing-agent:\n%s", grepLines(m, "a2a_calls_total"))
	}
	if strings.Contains(m, `target="billing-agent-v`) || strings.Contains(m, `target="weather-agent-v1"`) || strings.Contains(m, `target="weather-agent"`) {
		t.Errorf("an alias became a metric label:\n%s", grepLines(m, "a2a_calls_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestA2AStrictBodies(t *testing.T) {
	e := canonStart(t, "")
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	tests := []struct {
		name, path, body string
		wantCode         string
		wantID           string // "" when the id cannot be read
	}{
		{"duplicate method", "/agents/weather-agent-v6",
			`{"jsonrpc":"2.0","id":"d1","method":"message/send","method":"message/stream","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"x"}]}}}`, "-32600", `"id":"d1"`},
		{"duplicate keys in a plain body", "/agents/weather-agent-v6", `{"task":"allowed","task":"other"}`, "-32600", `"id":null`},
		{"duplicate keys in params", "/agents/weather-agent-v6",
			`{"jsonrpc":"2.0","id":2,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"message":{"kind":"message","messageId":"n","role":"user","parts":[]}}}`, "-32600", `"id":2`},
		{"100k-deep nesting", "/agents/weather-agent-v6", `{"jsonrpc":"2.0","id":3,"method":"message/send","params":{"x":` + deep + `}}`, "-32600", ""},
		{"method in another letter case", "/agents/weather-agent-v6", `{"jsonrpc":"2.0","id":4,"method":"message/send","Method":"message/stream"}`, "-32600", `"id":4`},
		{"JSON-RPC without jsonrpc", "/agents/weather-agent-v6", `{"id":5,"method":"message/stream"}`, "-32600", `"id":5`},
		{"trailing second message", "/agents/weather-agent-v6", a2aSend + `{"jsonrpc":"2.0","id":6,"method":"message/stream"}`, "-32600", `"id":"req-7"`},
		{"batch", "/agents/weather-agent-v6", "[" + a2aSend + "]", "-32600", `"id":null`},
		{"unknown method", "/agents/weather-agent-v6", strings.Replace(a2aSend, "message/send", "message/Stream", 1), "-32601", `"id":"req-7"`},
		{"JSON-RPC body on an HTTP+JSON path", "/agents/weather-agent-v6/v1/message:send", strings.Replace(a2aSend, "message/send", "message/stream", 1), "-32600", `"id":"req-7"`},
		{"not JSON", "/agents/weather-agent-v6", `task=weather`, "-32700", `"id":null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.weather.count()
			st, body := e.post(t, a2aOrchestrator, tt.path, tt.body)
			if st != 400 || !strings.Contains(body, `"jsonrpc":"2.0"`) || !strings.Contains(body, `"code":`+tt.wantCode) {
				t.Fatalf("status %d body %s; want 400 with JSON-RPC error %s", st, body, tt.wantCode)
			}
			if tt.wantID != "" && !strings.Contains(body, tt.wantID) {
				t.Errorf("body %s does not echo %s", body, tt.wantID)
			}
			if e.weather.count() != before {
				t.Error("a refused body reached the agent")
			}
		})
	}
	// A malformed HTTP+JSON body is refused with a plain JSON error.
	st, body := e.post(t, a2aOrchestrator, "/agents/weather-agent-v6/message:send", `{"message":{},"message":{}}`)
	if st != 400 || !strings.Contains(body, `"status":400`) {
		t.Errorf("HTTP+JSON duplicate keys: %d %s", st, body)
	}
	// The forms the gateway can make canonical still pass.
	for _, b := range []string{a2aSend, `{"task": "Get weather forecast for Tampa, FL this weekend"}`} {
		if st, body := e.post(t, a2aOrchestrator, "/agents/weather-agent-v6", b); st != 200 {
			t.Errorf("%s: %d %s", b, st, body)
		}
	}
}

// TestA2ACanonicalMethodRateLimit: a rate limit that names message/send
// counts every spelling of it, and only those.
func TestA2ACanonicalMethodRateLimit(t *testing.T) {
	e := canonStart(t, `              - type: rate-limit
                rateLimit:
                  descriptors:
                    - match:
                        - {key: method, value: message/send}
                        - {key: principal}
                      rateLimit: {requestsPerMinute: 1, burst: 1}
`)
	const msg = `{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"x"}]}}`
	spellings := []struct{ name, path, body string }{
		{"1.0 JSON-RPC name", "/agents/weather-agent-v6", strings.Replace(a2aSend, "message/send", "SendMessage", 1)},
		{"0.3 HTTP+JSON path", "/agents/weather-agent-v6/v1/message:send", msg},
		{"1.0 HTTP+JSON path", "/agents/weather-agent-v6/message:send", msg},
		{"plain task body", "/agents/weather-agent-v6", `{"task":"Get weather forecast for Tampa, FL"}`},
		{"notification", "/agents/weather-agent-v6", `{"jsonrpc":"2.0","method":"message/send","params":` + msg + `}`},
		{"through an alias", "/agents/weather-agent", a2aSend},
	}
	for i, sp := range spellings {
		t.Run(sp.name, func(t *testing.T) {
			// One principal per spelling, so each spelling meets a
			// bucket that message/send has just emptied.
			sub := fmt.Sprintf("system:serviceaccount:agent-core-infra:rl-%d", i)
			if st, body := e.post(t, sub, "/agents/weather-agent-v6", a2aSend); st != 200 {
				t.Fatalf("first message/send: %d %s", st, body)
			}
			before := e.weather.count()
			st, body := e.post(t, sub, sp.path, sp.body)
			if st != 429 {
				t.Fatalf("%s after message/send: %d %s; want 429 (same canonical method)", sp.name, st, body)
			}
			if e.weather.count() != before {
				t.Error("a limited call reached the agent")
			}
		})
	}
	// Another method is not message/send, whatever its spelling.
	sub := "system:serviceaccount:agent-core-infra:rl-other"
	if st, body := e.post(t, sub, "/agents/weather-agent-v6", a2aSend); st != 200 {
		t.Fatalf("message/send: %d %s", st, body)
	}
	if st, body := e.post(t, sub, "/agents/weather-agent-v6", `{"jsonrpc":"2.0","id":9,"method":"GetTask","params":{"id":"nope"}}`); st == 429 {
		t.Fatalf("GetTask limited as message/send: %s", body)
	}
	// Metrics count every spelling under the canonical method.
	m := scrape(t, e.gw.AdminURL("/metrics"))
	for _, bad := range []string{`method="SendMessage"`, `method="GetTask"`, `method="unknown"`} {
		if strings.Contains(grepLines(m, "a2a_calls_total"), bad) {
			t.Errorf("a2a_calls_total has %s:\n%s", bad, grepLines(m, "a2a_calls_total"))
		}
	}
	if !strings.Contains(m, `a2a_calls_total{decision="rate_limited",method="message/send"`) || !strings.Contains(m, `method="tasks/get"`) {
		t.Errorf("canonical series missing:\n%s", grepLines(m, "a2a_calls_total"))
	}
}
