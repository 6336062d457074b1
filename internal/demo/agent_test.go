package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
)

func replyText(t *testing.T, res a2a.SendMessageResult) string {
	t.Helper()
	msg, ok := res.(*a2a.Message)
	if !ok {
		t.Fatalf("result is %T, want *a2a.Message", res)
	}
	if msg.Role != a2a.MessageRoleAgent {
		t.Errorf("role = %q", msg.Role)
	}
	text, _ := messageText(msg)
	return text
}

// TestWeatherAgentA2AClient talks to the started agent with the a2a-go client.
func TestWeatherAgentA2AClient(t *testing.T) {
	run, err := StartBackends(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()

	card, err := agentcard.DefaultResolver.Resolve(t.Context(), run.AgentURL)
	if err != nil {
		t.Fatal(err)
	}
	if card.Name != WeatherAgentName || card.URL != run.AgentURL+"/" || card.PreferredTransport != a2a.TransportProtocolJSONRPC || !card.Capabilities.Streaming {
		t.Fatalf("card = %+v", card)
	}
	// The legacy well-known path serves the same card.
	legacy, err := agentcard.DefaultResolver.Resolve(t.Context(), run.AgentURL, agentcard.WithPath(LegacyAgentCardPath))
	if err != nil || legacy.Name != WeatherAgentName {
		t.Fatalf("legacy card = %+v, %v", legacy, err)
	}

	client, err := a2aclient.NewFromCard(t.Context(), card)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Destroy()

	tests := []struct {
		name  string
		parts []a2a.Part
		want  string
	}{
		{"guide task text", []a2a.Part{a2a.TextPart{Text: "Get weather forecast for Tampa, FL this weekend"}}, ForecastText(Forecast("Tampa, FL"))},
		{"question", []a2a.Part{a2a.TextPart{Text: "What's the weather in Seattle, WA?"}}, ForecastText(Forecast("Seattle, WA"))},
		{"data part city", []a2a.Part{a2a.DataPart{Data: map[string]any{"city": "Austin, TX"}}}, ForecastText(Forecast("Austin, TX"))},
		{"no city", []a2a.Part{a2a.TextPart{Text: "weather forecast please"}}, "I could not find a city"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := a2a.NewMessage(a2a.MessageRoleUser, tt.parts...)
			res, err := client.SendMessage(t.Context(), &a2a.MessageSendParams{Message: msg})
			if err != nil {
				t.Fatal(err)
			}
			if got := replyText(t, res); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("reply = %q, want prefix %q", got, tt.want)
			}

			// message/stream yields the same single reply.
			var events int
			for ev, err := range client.SendStreamingMessage(t.Context(), &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, tt.parts...)}) {
				if err != nil {
					t.Fatal(err)
				}
				events++
				m, ok := ev.(*a2a.Message)
				if !ok {
					t.Fatalf("stream event %T", ev)
				}
				if got, _ := messageText(m); !strings.HasPrefix(got, tt.want) {
					t.Fatalf("stream reply = %q", got)
				}
			}
			if events != 1 {
				t.Fatalf("got %d stream events, want 1", events)
			}
		})
	}
}

// TestWeatherAgentCardURL: the advertised URL is settable (gateway path).
func TestWeatherAgentCardURL(t *testing.T) {
	const gw = "http://agent-gateway.agent-gateway.svc.cluster.local:8080/agents/weather-agent-v6"
	srv := httptest.NewServer(NewWeatherAgent(gw))
	defer srv.Close()
	card, err := agentcard.DefaultResolver.Resolve(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if card.URL != gw || card.Name != WeatherAgentName {
		t.Fatalf("card = %+v", card)
	}
}

// TestWeatherAgentRawJSONRPC exercises the wire format a curl user would send.
func TestWeatherAgentRawJSONRPC(t *testing.T) {
	srv := httptest.NewServer(NewWeatherAgent("http://example.invalid/"))
	defer srv.Close()

	const sendBody = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m-1","role":"user","parts":[{"kind":"text","text":"Get weather forecast for Tampa, FL this weekend"}]}}}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCT     string
		want       string // substring of body
	}{
		{"message/send", http.MethodPost, "/", sendBody, 200, "application/json", `"kind":"message"`},
		{"message/send any path", http.MethodPost, "/agents/weather-agent-v6", sendBody, 200, "application/json", "7-day forecast for Tampa, FL"},
		{"message/stream", http.MethodPost, "/", strings.Replace(sendBody, "message/send", "message/stream", 1), 200, "text/event-stream", "data: "},
		{"guide body (not JSON-RPC)", http.MethodPost, "/", `{"task": "Get weather forecast for Tampa, FL this weekend"}`, 200, "application/json", `"response":"7-day forecast for Tampa, FL`},
		{"not JSON-RPC, no task", http.MethodPost, "/", `{"ask": "weather"}`, 200, "application/json", `"code":-32600`},
		{"unknown method", http.MethodPost, "/", `{"jsonrpc":"2.0","id":2,"method":"tasks/list","params":{}}`, 200, "application/json", `"code":-32601`},
		{"missing message", http.MethodPost, "/", `{"jsonrpc":"2.0","id":3,"method":"message/send","params":{}}`, 200, "application/json", `"code":-32602`},
		{"parts without kind", http.MethodPost, "/", `{"jsonrpc":"2.0","id":4,"method":"message/send","params":{"message":{"messageId":"m","role":"user","parts":[{"text":"hi"}]}}}`, 200, "application/json", `"error"`},
		{"card", http.MethodGet, AgentCardPath, "", 200, "application/json", `"name":"weather-agent-v6"`},
		{"GET rpc", http.MethodGet, "/", "", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			t.Logf("status=%d ct=%q body=%.300q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCT != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantCT) {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tt.wantCT)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Fatalf("body %q does not contain %q", body, tt.want)
			}
		})
	}

	// Decode a message/send result fully.
	resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(sendBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID     int         `json:"id"`
		Result a2a.Message `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if got, _ := messageText(&out.Result); out.ID != 1 || got != ForecastText(Forecast("Tampa, FL")) {
		t.Fatalf("decoded = %+v", out)
	}
}

func TestA2AMethods(t *testing.T) {
	srv := httptest.NewServer(NewWeatherAgent("http://example.invalid/"))
	defer srv.Close()
	for _, m := range A2AMethods() {
		if m == "message/stream" || m == "tasks/resubscribe" {
			continue // streaming methods answer with SSE; covered by their own tests
		}
		t.Run(m, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":1,"method":"` + m + `","params":{}}`
			resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(b), `"code":-32601`) {
				t.Fatalf("method %s not found: %s", m, b)
			}
		})
	}
}
