package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
)

const (
	a2aPlanning     = "system:serviceaccount:agent-core-infra:planning-agent-sa"
	a2aOrchestrator = "system:serviceaccount:agent-core-infra:orchestrator-agent-sa"
	a2aUnknown      = "system:serviceaccount:agent-core-infra:unknown-agent-sa"
)

// a2aEnv is the seed's agent-to-agent route (Step 3.1) in front of real
// agents: weather-agent-backend and planning-agent-backend as the seed
// names them (agents found by the derived-name rule), plus an A2A 1.0
// agent found by an explicit agents list.
type a2aEnv struct {
	gw                        *Gateway
	iss                       *rlIssuerKeys
	weather, planning, geo    *a2aSeen
	weatherExec, planningExec *taskExecutor
}

func a2aStart(t *testing.T) *a2aEnv {
	t.Helper()
	e := &a2aEnv{iss: rlStartIssuer(t), weatherExec: &taskExecutor{gate: make(chan struct{})}, planningExec: &taskExecutor{gate: make(chan struct{})}}
	var weatherURL, planningURL, geoURL string
	weatherURL, e.weather = startAgent03(t, "weather-agent-v6", e.weatherExec)
	planningURL, e.planning = startAgent03(t, "planning-agent", e.planningExec)
	geoURL, e.geo = startAgent10(t)
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
                    # Planning agent can call weather agent
                    - source: "%s"
                      target: weather-agent-v6
                      allowed: true
                    # Orchestrator can call any agent...
                    - source: "%s"
                      target: "*"
                      allowed: true
                    # ...but an explicit false wins.
                    - source: "%s"
                      target: planning-agent
                      allowed: false
              - type: timeout
                timeout:
                  request: 60s
                  idle: 10s
            backends:
              - name: weather-agent-backend
                address: %s
              - name: planning-agent-backend
                address: %s
              - name: geo
                address: %s
                agents: [geo-route-planner]
`, rlIssuer, rlAudience, e.iss.JWKSURL, a2aPlanning, a2aOrchestrator, a2aOrchestrator, weatherURL, planningURL, geoURL)
	e.gw = StartGateway(t, cfg)
	return e
}

func (e *a2aEnv) bearer(t *testing.T, sub string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + e.iss.token(t, sub)}
}

// authClient is an HTTP client that sends sub's token on every request,
// as an agent's A2A client would.
func (e *a2aEnv) authClient(t *testing.T, sub string) *http.Client {
	tok := e.iss.token(t, sub)
	return &http.Client{Timeout: 30 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const a2aSend = `{"jsonrpc":"2.0","id":"req-7","method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hello"}]}}}`

func TestA2ASeedStep7(t *testing.T) {
	e := a2aStart(t)
	// The user guide's Step 7 call, as written, with spoofed identity
	// headers and the caller's token: the backend sees only the gateway's
	// values, and no token.
	hdr := e.bearer(t, a2aPlanning)
	hdr["X-Source-Agent"] = a2aOrchestrator
	hdr["X-Target-Agent"] = "planning-agent"
	resp, body := postJSON(t, e.gw.URL("/agents/weather-agent-v6"), `{"task": "Get weather forecast for Tampa, FL this weekend"}`, hdr)
	if resp.StatusCode != 200 || !strings.Contains(body, "weather-agent-v6") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	got := e.weather.last(t)
	if got.Path != "/" || got.Body != `{"task": "Get weather forecast for Tampa, FL this weekend"}` {
		t.Errorf("backend got %s %q", got.Path, got.Body)
	}
	if v := got.Header.Values("X-Source-Agent"); len(v) != 1 || v[0] != a2aPlanning {
		t.Errorf("x-source-agent %q", v)
	}
	if v := got.Header.Values("X-Target-Agent"); len(v) != 1 || v[0] != "weather-agent-v6" {
		t.Errorf("x-target-agent %q", v)
	}
	if got.Header.Get("Authorization") != "" {
		t.Error("the caller's token reached the agent")
	}
	if e.planning.count() != 0 {
		t.Error("the planning agent was reached")
	}
	if !strings.Contains(e.gw.Logs(), `"msg":"authz allow"`) || !strings.Contains(e.gw.Logs(), `"policy":"a2a-authz"`) {
		t.Error("no a2a-authz audit record")
	}
}

func TestA2AAuthorizationMatrix(t *testing.T) {
	e := a2aStart(t)
	tests := []struct {
		name, sub, target, body string
		want                    int
		wantBody                string
	}{
		{"planning → weather", a2aPlanning, "weather-agent-v6", a2aSend, 200, `"result"`},
		{"planning → another agent", a2aPlanning, "planning-agent", a2aSend, 403, `"id":"req-7"`},
		{"planning → 1.0 agent", a2aPlanning, "geo-route-planner", a2aSend, 403, `"code":-32003`},
		{"orchestrator → * (weather)", a2aOrchestrator, "weather-agent-v6", a2aSend, 200, `"result"`},
		{"orchestrator → * (1.0 agent)", a2aOrchestrator, "geo-route-planner/a2a/v1", `{"jsonrpc":"2.0","id":3,"method":"SendMessage","params":{"message":{"role":"ROLE_USER","parts":[{"text":"route"}],"messageId":"m"}}}`, 200, `TASK_STATE_COMPLETED`},
		{"explicit false overrides *", a2aOrchestrator, "planning-agent", a2aSend, 403, `"jsonrpc":"2.0"`},
		{"unknown identity", a2aUnknown, "weather-agent-v6", a2aSend, 403, `"code":-32003`},
		{"no token", "", "weather-agent-v6", a2aSend, 401, `"code":-32001`},
		{"plain body denied: JSON error", a2aUnknown, "weather-agent-v6", `{"task":"x"}`, 403, `"status":403`},
		{"denied stream opens no stream", a2aUnknown, "weather-agent-v6", strings.Replace(a2aSend, "message/send", "message/stream", 1), 403, `"error"`},
		{"unknown agent, allowed caller", a2aOrchestrator, "no-such-agent", a2aSend, 404, `unknown agent`},
		{"unknown agent, denied caller", a2aPlanning, "no-such-agent", a2aSend, 403, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.weather.count() + e.planning.count() + e.geo.count()
			hdr := map[string]string{}
			if tt.sub != "" {
				hdr = e.bearer(t, tt.sub)
			}
			resp, body := postJSON(t, e.gw.URL("/agents/"+tt.target), tt.body, hdr)
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d body %s; want %d with %s", resp.StatusCode, body, tt.want, tt.wantBody)
			}
			if resp.StatusCode >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error content type %q", ct)
				}
				if after := e.weather.count() + e.planning.count() + e.geo.count(); after != before {
					t.Error("a denied call reached an agent")
				}
			}
		})
	}
	if !strings.Contains(e.gw.Logs(), `"msg":"authz deny"`) {
		t.Error("no deny audit record")
	}
}

// rawRequest sends a request line exactly as given (no client-side path
// cleaning) and returns the status code.
func rawRequest(t *testing.T, addr, method, path, token, body string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, path, addr, token, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestA2APathTricks(t *testing.T) {
	e := a2aStart(t)
	tok := e.iss.token(t, a2aPlanning) // may call weather-agent-v6 only
	addr := strings.TrimPrefix(e.gw.URL(""), "http://")
	for _, p := range []string{
		"/agents/weather-agent-v6/../planning-agent",
		"/agents/weather-agent-v6/%2e%2e/planning-agent",
		"/agents/weather-agent-v6/%2E%2E/planning-agent",
		"/agents/weather-agent-v6%2F..%2Fplanning-agent",
		"/agents/weather-agent-v6%2fplanning-agent",
		"/agents//planning-agent",
		"//agents/planning-agent",
		"/agents/./planning-agent",
		"/agents/planning-agent",
		"/agents/Planning-Agent",
		"/agents/PLANNING-AGENT",
		"/Agents/planning-agent",
		"/agents/%70lanning-agent",
		"/agents/planning-agent%00",
		"/agents/weather-agent-v6\\..\\planning-agent",
		"/agents/planning-agent-v1",
		"/agents/planning-agent;x=1",
	} {
		st := rawRequest(t, addr, "POST", p, tok, a2aSend)
		switch st {
		case 400, 403, 404:
		default:
			t.Errorf("%s: status %d", p, st)
		}
	}
	if n := e.planning.count(); n != 0 {
		t.Fatalf("a path trick reached the planning agent %d times: %+v", n, e.planning.all())
	}
	// The weather agent is reachable, and only under its own name.
	if st := rawRequest(t, addr, "POST", "/agents/weather-agent-v6", tok, a2aSend); st != 200 {
		t.Fatalf("weather: %d", st)
	}
}

func TestA2AGo03ThroughGateway(t *testing.T) {
	e := a2aStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := e.authClient(t, a2aOrchestrator)
	base := e.gw.URL("/agents/weather-agent-v6")

	// The card through the gateway points at the gateway, on both
	// well-known paths; the gRPC interface (which cannot go through this
	// gateway) is dropped.
	card, err := agentcard.NewResolver(hc).Resolve(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if card.URL != base+"/" {
		t.Fatalf("card url %q, want %q", card.URL, base+"/")
	}
	if len(card.AdditionalInterfaces) != 1 || card.AdditionalInterfaces[0].URL != base+"/" {
		t.Fatalf("additional interfaces %+v", card.AdditionalInterfaces)
	}
	legacy, err := agentcard.NewResolver(hc).Resolve(ctx, base, agentcard.WithPath("/.well-known/agent.json"))
	if err != nil || legacy.URL != base+"/" {
		t.Fatalf("legacy card %+v %v", legacy, err)
	}

	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(hc))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Destroy()

	// send + get
	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "weather"})})
	if err != nil {
		t.Fatal(err)
	}
	task, ok := res.(*a2a.Task)
	if !ok || task.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("send result %#v", res)
	}
	got, err := client.GetTask(ctx, &a2a.TaskQueryParams{ID: task.ID})
	if err != nil || got.ID != task.ID || len(got.Artifacts) != 1 {
		t.Fatalf("get: %+v %v", got, err)
	}

	// stream: the agent holds its last events until the client has the
	// first, so this only completes if the gateway forwards events one
	// by one.
	var events []a2a.Event
	for ev, err := range client.SendStreamingMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "stream"})}) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		events = append(events, ev)
		if len(events) == 2 {
			close(e.weatherExec.gate)
		}
	}
	if len(events) < 4 {
		t.Fatalf("stream events %d: %+v", len(events), events)
	}
	if last, ok := events[len(events)-1].(*a2a.TaskStatusUpdateEvent); !ok || last.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("last event %#v", events[len(events)-1])
	}

	// cancel: a non-blocking send leaves the task working; cancel it.
	blocking := false
	res, err = client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "wait"}), Config: &a2a.MessageSendConfig{Blocking: &blocking}})
	if err != nil {
		t.Fatal(err)
	}
	task, ok = res.(*a2a.Task)
	if !ok {
		t.Fatalf("non-blocking send %#v", res)
	}
	canceled, err := client.CancelTask(ctx, &a2a.TaskIDParams{ID: task.ID})
	if err != nil || canceled.Status.State != a2a.TaskStateCanceled {
		t.Fatalf("cancel: %+v %v", canceled, err)
	}
	if e.weatherExec.canceled.Load() != 1 {
		t.Error("the agent did not see the cancel")
	}
	for _, r := range e.weather.all() {
		if r.Header.Get("X-Source-Agent") != a2aOrchestrator || r.Header.Get("Authorization") != "" {
			t.Fatalf("agent saw source %q auth %q", r.Header.Get("X-Source-Agent"), r.Header.Get("Authorization"))
		}
	}
}

func TestA2A10ThroughGateway(t *testing.T) {
	e := a2aStart(t)
	hdr := e.bearer(t, a2aOrchestrator)
	base := e.gw.URL("/agents/geo-route-planner")

	// The 1.0 card: supportedInterfaces rewritten; the gRPC host:port
	// interface dropped.
	req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/agent-card.json", nil)
	req.Header.Set("Authorization", hdr["Authorization"])
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var card struct {
		Name       string `json:"name"`
		Interfaces []struct {
			URL, ProtocolBinding, ProtocolVersion string
		} `json:"supportedInterfaces"`
	}
	err = json.NewDecoder(resp.Body).Decode(&card)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("card: %d %v", resp.StatusCode, err)
	}
	if len(card.Interfaces) != 2 || card.Interfaces[0].URL != base+"/a2a/v1" || card.Interfaces[1].URL != base+"/a2a/rest" || card.Interfaces[0].ProtocolVersion != "1.0" {
		t.Fatalf("interfaces %+v", card.Interfaces)
	}
	rpcURL := card.Interfaces[0].URL
	hdr["A2A-Version"] = "1.0"

	resp, body := postJSON(t, rpcURL, `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_USER","parts":[{"text":"route to Tampa"}],"messageId":"m1"}}}`, hdr)
	var sent struct {
		ID     int `json:"id"`
		Result struct {
			Task struct {
				ID string `json:"id"`
			} `json:"task"`
		} `json:"result"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &sent) != nil || sent.Result.Task.ID == "" {
		t.Fatalf("SendMessage: %d %s", resp.StatusCode, body)
	}
	if e.geo.last(t).Header.Get("A2A-Version") != "1.0" {
		t.Error("A2A-Version did not reach the agent")
	}
	resp, body = postJSON(t, rpcURL, `{"jsonrpc":"2.0","id":2,"method":"GetTask","params":{"id":"`+sent.Result.Task.ID+`"}}`, hdr)
	if resp.StatusCode != 200 || !strings.Contains(body, "TASK_STATE_COMPLETED") {
		t.Fatalf("GetTask: %d %s", resp.StatusCode, body)
	}
	resp, body = postJSON(t, rpcURL, `{"jsonrpc":"2.0","id":3,"method":"CancelTask","params":{"id":"`+sent.Result.Task.ID+`"}}`, hdr)
	if resp.StatusCode != 200 || !strings.Contains(body, "TASK_STATE_CANCELED") {
		t.Fatalf("CancelTask: %d %s", resp.StatusCode, body)
	}

	// SendStreamingMessage: SSE through the gateway, event by event.
	req, _ = http.NewRequest(http.MethodPost, rpcURL, strings.NewReader(`{"jsonrpc":"2.0","id":4,"method":"SendStreamingMessage","params":{"message":{"role":"ROLE_USER","parts":[{"text":"stream"}],"messageId":"m2"}}}`))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream content type %q", ct)
	}
	var kinds []string
	sseEvents(t, resp.Body, func(d string) {
		var ev struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatalf("event %q: %v", d, err)
		}
		for k := range ev.Result {
			kinds = append(kinds, k)
		}
	})
	if strings.Join(kinds, ",") != "task,statusUpdate,artifactUpdate,statusUpdate" {
		t.Fatalf("stream events %v", kinds)
	}
}

func TestA2AListing(t *testing.T) {
	e := a2aStart(t)
	list := func(sub string) (int, []map[string]string) {
		req, _ := http.NewRequest(http.MethodGet, e.gw.URL("/agents"), nil)
		if sub != "" {
			req.Header.Set("Authorization", "Bearer "+e.iss.token(t, sub))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			Agents []map[string]string `json:"agents"`
		}
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out.Agents
	}
	names := func(as []map[string]string) string {
		var n []string
		for _, a := range as {
			n = append(n, a["name"])
		}
		return strings.Join(n, ",")
	}
	st, as := list(a2aPlanning)
	if st != 200 || names(as) != "weather-agent-v6" {
		t.Fatalf("planning sees %d %v", st, as)
	}
	if as[0]["description"] != "weather-agent-v6 (a2a-go 0.3 test agent)" || as[0]["url"] != e.gw.URL("/agents/weather-agent-v6") {
		t.Errorf("entry %v", as[0])
	}
	// The orchestrator may call anything but planning-agent (explicit false).
	if st, as = list(a2aOrchestrator); st != 200 || names(as) != "geo-route-planner,weather-agent-v6" {
		t.Fatalf("orchestrator sees %d %v", st, as)
	}
	if as[0]["displayName"] != "GeoSpatial Route Planner Agent" {
		t.Errorf("1.0 card name %v", as[0])
	}
	if st, as = list(a2aUnknown); st != 200 || len(as) != 0 {
		t.Fatalf("unknown sees %d %v", st, as)
	}
	if st, _ = list(""); st != 401 {
		t.Fatalf("no token: %d", st)
	}
}
