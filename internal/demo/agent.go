package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
)

// Weather agent identity.
const (
	WeatherAgentName    = "weather-agent-v6"
	WeatherAgentVersion = "v6-demo"
	// AgentCardPath is where the agent card is served (A2A 0.3 well-known path).
	AgentCardPath = a2asrv.WellKnownAgentCardPath // "/.well-known/agent-card.json"
	// LegacyAgentCardPath is the pre-0.3 well-known path, also served.
	LegacyAgentCardPath = "/.well-known/agent.json"
	// maxA2ABodyBytes bounds JSON-RPC request bodies.
	maxA2ABodyBytes = 1 << 20
)

// weatherExecutor implements a2asrv.AgentExecutor: it answers every message
// with a deterministic forecast for the city mentioned in it.
type weatherExecutor struct{}

var _ a2asrv.AgentExecutor = weatherExecutor{}

// messageText concatenates the text parts of a message; a data part with a
// "city" string field is also honoured.
func messageText(m *a2a.Message) (text, city string) {
	if m == nil {
		return "", ""
	}
	var parts []string
	for _, p := range m.Parts {
		switch v := p.(type) {
		case a2a.TextPart:
			parts = append(parts, v.Text)
		case *a2a.TextPart:
			parts = append(parts, v.Text)
		case a2a.DataPart:
			if c, ok := v.Data["city"].(string); ok && city == "" {
				city = c
			}
		case *a2a.DataPart:
			if c, ok := v.Data["city"].(string); ok && city == "" {
				city = c
			}
		}
	}
	return strings.Join(parts, "\n"), city
}

// WeatherAnswer is the agent's reply text for a request text.
func WeatherAnswer(request string) string {
	return weatherAnswer(request, "")
}

func weatherAnswer(request, city string) string {
	if strings.TrimSpace(city) == "" {
		city = ExtractCity(request)
	}
	city = displayCity(city)
	if city == "" || len(city) > MaxMemoryKeyBytes {
		return "I could not find a city in your request. Please ask e.g. \"Get weather forecast for Tampa, FL this weekend\"."
	}
	return ForecastText(Forecast(city))
}

func (weatherExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	text, city := messageText(reqCtx.Message)
	reply := a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: weatherAnswer(text, city)})
	reply.ContextID = reqCtx.ContextID
	return q.Write(ctx, reply)
}

func (weatherExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	// Replies are immediate messages; there is never a running task to cancel.
	return a2a.ErrTaskNotCancelable
}

// WeatherAgentCard returns the agent card advertising cardURL as the
// JSON-RPC endpoint.
func WeatherAgentCard(cardURL string) *a2a.AgentCard {
	return &a2a.AgentCard{
		Name:               WeatherAgentName,
		Description:        "Weather-Based Activity Planning Assistant (demo: deterministic fake forecasts).",
		URL:                cardURL,
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            WeatherAgentVersion,
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		Skills: []a2a.AgentSkill{
			{
				ID:          "weather_forecast",
				Name:        "Weather forecast",
				Description: "7-day weather forecast for a city mentioned in the message.",
				Tags:        []string{"weather", "forecast"},
				Examples:    []string{"Get weather forecast for Tampa, FL this weekend"},
			},
			{
				ID:          "activity_planning",
				Name:        "Activity planning",
				Description: "Suggests outdoor or indoor activities per forecast day.",
				Tags:        []string{"activities", "planning"},
				Examples:    []string{"What can I do in Tampa, FL this week?"},
			},
		},
	}
}

// NewWeatherAgent returns a real A2A (v0.3, JSON-RPC transport) agent named
// weather-agent-v6. cardURL is the JSON-RPC endpoint advertised in the agent
// card (e.g. http://gateway:8080/agents/weather-agent-v6).
//
// Routes: GET /.well-known/agent-card.json (and the legacy
// /.well-known/agent.json) serve the card; POST to any path is A2A JSON-RPC
// (message/send, message/stream, tasks/get, tasks/cancel, tasks/resubscribe,
// tasks/pushNotificationConfig/*, agent/getAuthenticatedExtendedCard).
func NewWeatherAgent(cardURL string) http.Handler {
	card := WeatherAgentCard(cardURL)
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(weatherExecutor{}))
	cardHandler := a2asrv.NewStaticAgentCardHandler(card)

	mux := http.NewServeMux()
	mux.Handle("GET "+AgentCardPath, cardHandler)
	mux.Handle("GET "+LegacyAgentCardPath, cardHandler)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxA2ABodyBytes))
		if err != nil {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		// a2asrv's JSON-RPC handler does not set a Content-Type for plain
		// responses; streaming responses override this with text/event-stream.
		w.Header().Set("Content-Type", "application/json")
		if task, ok := plainTask(body); ok {
			// A plain client may post {"task": "..."}, not A2A
			// JSON-RPC; answer it in kind so such a curl shows a
			// forecast.
			_ = json.NewEncoder(w).Encode(map[string]string{
				"agent":        WeatherAgentName,
				"source_agent": r.Header.Get("X-Source-Agent"),
				"target_agent": r.Header.Get("X-Target-Agent"),
				"task":         task,
				"response":     WeatherAnswer(task),
			})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rpc.ServeHTTP(w, r)
	})
	return mux
}

// plainTask recognises a plain {"task": "..."} body.
func plainTask(body []byte) (string, bool) {
	var v struct {
		JSONRPC *string `json:"jsonrpc"`
		Task    *string `json:"task"`
	}
	if json.Unmarshal(body, &v) != nil || v.JSONRPC != nil || v.Task == nil {
		return "", false
	}
	return *v.Task, true
}

// a2aMethods are the JSON-RPC methods accepted by the agent (A2A 0.3).
var a2aMethods = []string{
	"message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe",
	"tasks/pushNotificationConfig/get", "tasks/pushNotificationConfig/set",
	"tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete",
	"agent/getAuthenticatedExtendedCard",
}

// A2AMethods returns the JSON-RPC method names the agent's handler accepts.
func A2AMethods() []string { return append([]string(nil), a2aMethods...) }
