package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/push"
)

// Issue #19 findings 4, 5 and 6: agent cards cannot be dodged past the
// rewrite by Unicode case folding, extended cards are rewritten in every
// form, and push-notification URLs are checked before they reach an
// agent.

// recordingPushSender is the agents' push sender: it records instead of
// calling out, so no test ever sends a request off loopback.
type recordingPushSender struct {
	mu   sync.Mutex
	urls []string
}

func (s *recordingPushSender) SendPush(_ context.Context, c *a2a.PushConfig, _ *a2a.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urls = append(s.urls, c.URL)
	return nil
}

// startCardsAgent starts an a2a-go 0.3 agent with an extended card and
// push notifications. Besides its JSON-RPC endpoint it serves the
// extended card on the HTTP+JSON paths of both versions (GET /v1/card,
// GET /extendedAgentCard), answers the 1.0 GetExtendedAgentCard method
// with the same card (as a 1.0 agent would), and, when the request asks
// with X-Test-SSE, sends its JSON-RPC answer as one SSE event.
func startCardsAgent(t *testing.T, name string) (string, *a2aSeen) {
	t.Helper()
	seen := &a2aSeen{}
	var self string
	ext := func() *a2a.AgentCard {
		return &a2a.AgentCard{
			Name: name, Description: name + " extended", Version: "0.3-test",
			URL: self + "/", PreferredTransport: a2a.TransportProtocolJSONRPC, ProtocolVersion: "0.3.0",
			AdditionalInterfaces: []a2a.AgentInterface{{URL: self + "/", Transport: a2a.TransportProtocolJSONRPC}},
			Capabilities:         a2a.AgentCapabilities{Streaming: true, PushNotifications: true},
			DefaultInputModes:    []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
			Skills: []a2a.AgentSkill{{ID: "secret", Name: "secret", Description: "only for the authenticated", Tags: []string{"t"}}},
		}
	}
	handler := a2asrv.NewHandler(&taskExecutor{gate: make(chan struct{})},
		a2asrv.WithExtendedAgentCardProducer(a2asrv.AgentCardProducerFn(func(context.Context) (*a2a.AgentCard, error) { return ext(), nil })),
		a2asrv.WithPushNotifications(push.NewInMemoryStore(), &recordingPushSender{}))
	rpc := a2asrv.NewJSONRPCHandler(handler)
	mux := http.NewServeMux()
	serveCard := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		c := ext()
		if r.URL.Path == "/.well-known/agent-card.json" {
			c.Skills, c.SupportsAuthenticatedExtendedCard = nil, true
		}
		_ = json.NewEncoder(w).Encode(c)
	}
	mux.HandleFunc("GET /.well-known/agent-card.json", serveCard)
	mux.HandleFunc("GET /v1/card", serveCard)
	mux.HandleFunc("GET /extendedAgentCard", serveCard)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(b, &req)
		rec := httptest.NewRecorder()
		if req.Method == "GetExtendedAgentCard" {
			rec.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(rec).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": ext()})
		} else {
			r.Body = io.NopCloser(strings.NewReader(string(b)))
			rpc.ServeHTTP(rec, r)
		}
		if r.Header.Get("X-Test-SSE") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: %s\n\n", strings.TrimSpace(rec.Body.String()))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(rec.Body.Bytes())
	})
	self = serve(t, seen.wrap(mux))
	return self, seen
}

// startTrickAgent serves the card of an a2a-go agent with extra members
// that only Unicode case folding relates to the real ones: extra(self)
// returns them (a nil value removes the member).
func startTrickAgent(t *testing.T, name string, extra func(self string) map[string]any) string {
	t.Helper()
	var self string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/agent-card.json", func(w http.ResponseWriter, r *http.Request) {
		c := &a2a.AgentCard{
			Name: name, Description: name, Version: "1", URL: self + "/",
			PreferredTransport: a2a.TransportProtocolJSONRPC, ProtocolVersion: "0.3.0",
			AdditionalInterfaces: []a2a.AgentInterface{{URL: self + "/", Transport: a2a.TransportProtocolJSONRPC}},
			DefaultInputModes:    []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
			Skills: []a2a.AgentSkill{{ID: "s", Name: "s", Description: "s", Tags: []string{"t"}}},
		}
		b, _ := json.Marshal(c)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k, v := range extra(self) {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	self = serve(t, mux)
	return self
}

type cardsEnv struct {
	gw    *Gateway
	iss   *rlIssuerKeys
	cards *a2aSeen
}

func cardsStart(t *testing.T) *cardsEnv {
	t.Helper()
	e := &cardsEnv{iss: rlStartIssuer(t)}
	var cardsURL string
	cardsURL, e.cards = startCardsAgent(t, "cards-agent")
	iface := func(self string) []any {
		return []any{map[string]any{"url": self + "/", "transport": "JSONRPC"}}
	}
	longS := startTrickAgent(t, "longs-agent", func(self string) map[string]any {
		// Only the long-s spelling: encoding/json reads it as
		// additionalInterfaces.
		return map[string]any{"additionalInterfaces": nil, "additionalInterface\u017f": iface(self)}
	})
	longSBoth := startTrickAgent(t, "longsboth-agent", func(self string) map[string]any {
		return map[string]any{"additionalInterface\u017f": iface(self)}
	})
	supported := startTrickAgent(t, "supported-agent", func(self string) map[string]any {
		return map[string]any{"supportedInterface\u017f": iface(self)}
	})
	kelvin := startTrickAgent(t, "kelvin-agent", func(self string) map[string]any {
		// The Kelvin sign spells no URL member, but encoding/json reads
		// "s\u212aills" as skills: one card, two readings.
		return map[string]any{"s\u212aills": []any{}}
	})
	cfg := NewPorts(t)
	route := func(name, prefix, extra string) string {
		return fmt.Sprintf(`          - name: %s
            match:
              path:
                prefix: %s
%s            policies:
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
            backends:
              - name: cards-agent-backend
                address: %s
              - name: longs-agent-backend
                address: %s
              - name: longsboth-agent-backend
                address: %s
              - name: supported-agent-backend
                address: %s
              - name: kelvin-agent-backend
                address: %s
`, name, prefix, extra, rlIssuer, rlAudience, e.iss.JWKSURL, a2aOrchestrator, cardsURL, longS, longSBoth, supported, kelvin)
	}
	cfg.Listeners = `      - name: a2a-listener
        routes:
` + route("agents", "/agents", "") + route("strict", "/strict", `            a2a:
              pushNotifications:
                schemes: [https]
                allowedHosts: [hooks.example.com, "*.push.example.org"]
`)
	e.gw = StartGateway(t, cfg)
	return e
}

func (e *cardsEnv) client(t *testing.T) *http.Client {
	tok := e.iss.token(t, a2aOrchestrator)
	return &http.Client{Timeout: 30 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

func (e *cardsEnv) do(t *testing.T, method, path, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.gw.URL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestA2ACardFoldedKeys: a card member spelled with a long s (U+017F),
// which encoding/json reads as the real member, is rewritten when it is
// the only spelling and refused (502) when it sits next to the real one;
// so is a card with a member written with the Kelvin sign (U+212A) next to
// its ASCII spelling. A Go client never receives a backend URL.
func TestA2ACardFoldedKeys(t *testing.T) {
	e := cardsStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := e.client(t)

	// Alone, the long-s member is rewritten: the a2a-go resolver reads
	// it as additionalInterfaces and finds the gateway.
	base := e.gw.URL("/agents/longs-agent")
	card, err := agentcard.NewResolver(hc).Resolve(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if card.URL != base+"/" || len(card.AdditionalInterfaces) != 1 || card.AdditionalInterfaces[0].URL != base+"/" {
		t.Errorf("long-s card: url %q interfaces %+v", card.URL, card.AdditionalInterfaces)
	}

	// A 1.0 client (encoding/json, supportedInterfaces) reading the
	// long-s spelling of supportedInterfaces.
	code, body, _ := e.do(t, http.MethodGet, "/agents/supported-agent/.well-known/agent-card.json", "", nil)
	if code != 200 {
		t.Fatalf("supported-agent card: %d %s", code, body)
	}
	var c10 struct {
		Supported []struct{ URL string } `json:"supportedInterfaces"`
	}
	if err := json.Unmarshal([]byte(body), &c10); err != nil || len(c10.Supported) != 1 || !strings.HasPrefix(c10.Supported[0].URL, e.gw.URL("/agents/supported-agent")) {
		t.Errorf("supportedInterfaceſ not rewritten: %s", body)
	}

	// Next to the real member: refused, whichever a client would keep.
	for _, agent := range []string{"longsboth-agent", "kelvin-agent"} {
		code, body, _ := e.do(t, http.MethodGet, "/agents/"+agent+"/.well-known/agent-card.json", "", nil)
		if code != http.StatusBadGateway {
			t.Errorf("%s card: %d %s, want 502", agent, code, body)
		}
		if _, err := agentcard.NewResolver(hc).Resolve(ctx, e.gw.URL("/agents/"+agent)); err == nil {
			t.Errorf("%s: a client resolved the card", agent)
		}
	}
}

// TestA2AExtendedCardRewritten: every form of the extended card points
// at the gateway: GET /v1/card (0.3 HTTP+JSON), GET /extendedAgentCard
// (1.0 HTTP+JSON), and the result of agent/getAuthenticatedExtendedCard
// (0.3 JSON-RPC, a2a-go's own answer) and GetExtendedAgentCard (1.0),
// as JSON and as one SSE event.
func TestA2AExtendedCardRewritten(t *testing.T) {
	e := cardsStart(t)
	base := e.gw.URL("/agents/cards-agent")
	check := func(name, cardJSON string) {
		t.Helper()
		var c a2a.AgentCard
		if err := json.Unmarshal([]byte(cardJSON), &c); err != nil {
			t.Errorf("%s: %v: %s", name, err, cardJSON)
			return
		}
		if c.URL != base+"/" || len(c.AdditionalInterfaces) != 1 || c.AdditionalInterfaces[0].URL != base+"/" || len(c.Skills) != 1 {
			t.Errorf("%s: card not rewritten: %s", name, cardJSON)
		}
	}
	for _, p := range []string{"/v1/card", "/extendedAgentCard"} {
		code, body, _ := e.do(t, http.MethodGet, "/agents/cards-agent"+p, "", nil)
		if code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
			continue
		}
		check("GET "+p, body)
	}
	for _, method := range []string{"agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard"} {
		for _, sse := range []bool{false, true} {
			name := fmt.Sprintf("%s sse=%v", method, sse)
			hdr := map[string]string{"Accept": "application/json, text/event-stream"}
			if sse {
				hdr["X-Test-SSE"] = "1"
			}
			code, body, h := e.do(t, http.MethodPost, "/agents/cards-agent", `{"jsonrpc":"2.0","id":"ext-1","method":"`+method+`"}`, hdr)
			if code != 200 {
				t.Errorf("%s: %d %s", name, code, body)
				continue
			}
			if sse {
				if !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
					t.Errorf("%s: content-type %q", name, h.Get("Content-Type"))
				}
				data, ok := strings.CutPrefix(strings.TrimSpace(body), "data: ")
				if !ok || strings.Contains(data, "\n") {
					t.Errorf("%s: not one SSE event: %q", name, body)
					continue
				}
				body = data
			}
			var res struct {
				ID     string          `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil || res.ID != "ext-1" {
				t.Errorf("%s: %v %s", name, err, body)
				continue
			}
			check(name, string(res.Result))
		}
	}
}

// TestA2APushURLRefused: a push-notification URL naming the metadata
// service, loopback, a private or CGNAT address, in any IP spelling, or
// an internal name, is refused with 403 in every method that carries one
// (0.3 and 1.0 JSON-RPC, HTTP+JSON, message/send configuration), before
// the agent sees it. A public host passes; with allowedHosts only those
// hosts pass.
func TestA2APushURLRefused(t *testing.T) {
	e := cardsStart(t)
	forms := []struct {
		name, method, path string
		rpc                bool
		body               func(url string) string
	}{
		{"tasks/pushNotificationConfig/set", http.MethodPost, "", true, func(u string) string {
			return `{"jsonrpc":"2.0","id":"p-1","method":"tasks/pushNotificationConfig/set","params":{"taskId":"t1","pushNotificationConfig":{"url":"` + u + `"}}}`
		}},
		{"CreateTaskPushNotificationConfig", http.MethodPost, "", true, func(u string) string {
			return `{"jsonrpc":"2.0","id":"p-1","method":"CreateTaskPushNotificationConfig","params":{"taskId":"t1","config":{"url":"` + u + `"}}}`
		}},
		{"folded member names", http.MethodPost, "", true, func(u string) string {
			return `{"jsonrpc":"2.0","id":"p-1","method":"tasks/pushNotificationConfig/set","params":{"taskId":"t1","pushNotificationConfiG":{"URL":"` + u + `"}}}`
		}},
		{"message/send configuration", http.MethodPost, "", true, func(u string) string {
			return `{"jsonrpc":"2.0","id":"p-1","method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hi"}]},"configuration":{"pushNotificationConfig":{"url":"` + u + `"}}}}`
		}},
		{"REST pushNotificationConfigs", http.MethodPost, "/v1/tasks/t1/pushNotificationConfigs", false, func(u string) string {
			return `{"taskId":"t1","pushNotificationConfig":{"url":"` + u + `"}}`
		}},
		{"REST message:send", http.MethodPost, "/v1/message:send", false, func(u string) string {
			return `{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hi"}]},"configuration":{"pushNotificationConfig":{"url":"` + u + `"}}}`
		}},
	}
	bad := []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://2852039166/",
		"http://0xa9fea9fe/",
		"http://[::ffff:169.254.169.254]/",
		"http://127.0.0.1:9090/metrics",
		"http://127.1/",
		"http://localhost:8080/",
		"http://10.0.0.7/hook",
		"http://100.64.0.1/",
		"http://redis.agent-core-infra.svc.cluster.local:6379/",
		"file:///etc/passwd",
	}
	for _, prefix := range []string{"/agents", "/strict"} {
		for _, f := range forms {
			for _, u := range bad {
				before := e.cards.count()
				code, body, _ := e.do(t, f.method, prefix+"/cards-agent"+f.path, f.body(u), nil)
				if code != http.StatusForbidden {
					t.Errorf("%s %s %s: %d %s, want 403", prefix, f.name, u, code, body)
					continue
				}
				if e.cards.count() != before {
					t.Errorf("%s %s %s: the agent was reached", prefix, f.name, u)
				}
				if f.rpc {
					var res struct {
						ID    string `json:"id"`
						Error struct {
							Code    int    `json:"code"`
							Message string `json:"message"`
						} `json:"error"`
					}
					if json.Unmarshal([]byte(body), &res) != nil || res.ID != "p-1" || res.Error.Code != -32003 || !strings.Contains(res.Error.Message, "push notification") {
						t.Errorf("%s %s %s: error %s", prefix, f.name, u, body)
					}
				} else if !strings.Contains(body, `"status":403`) || !strings.Contains(body, "push notification") {
					t.Errorf("%s %s %s: error %s", prefix, f.name, u, body)
				}
			}
		}
	}

	// A public host passes (and is stored by the agent); on the strict
	// route only the listed hosts do.
	set := func(prefix, u string) (int, string) {
		code, body, _ := e.do(t, http.MethodPost, prefix+"/cards-agent", forms[0].body(u), nil)
		return code, body
	}
	for _, tt := range []struct {
		prefix, url string
		want        int
	}{
		{"/agents", "https://hooks.example.com/a2a/push", 200},
		{"/agents", "http://webhooks.example.net:8443/p", 200},
		{"/strict", "https://hooks.example.com/a2a/push", 200},
		{"/strict", "https://a.push.example.org/p", 200},
		{"/strict", "https://webhooks.example.net/p", 403},
		{"/strict", "http://hooks.example.com/a2a/push", 403},
	} {
		code, body := set(tt.prefix, tt.url)
		if code != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.prefix, tt.url, code, body, tt.want)
		}
		if tt.want == 200 && !strings.Contains(body, `"result"`) {
			t.Errorf("%s %s: %s", tt.prefix, tt.url, body)
		}
	}
}
