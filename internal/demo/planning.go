package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
)

// PlanningAgentName is the planning agent's name under the gateway's
// /agents prefix (derived from planning-agent-backend).
const PlanningAgentName = "planning-agent"

// planningExecutor answers a trip-planning message by asking the weather
// agent, through the gateway, as planning-agent-sa: the agent-to-agent
// call of the example agents.
type planningExecutor struct {
	// weatherURL is the weather agent's URL on the gateway
	// (http://gateway/agents/weather-agent-v6).
	weatherURL string
	client     *http.Client
}

// bearer adds a token to every request the planning agent makes.
type bearer struct {
	token func() string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token())
	return b.base.RoundTrip(r)
}

func (p planningExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	text, city := messageText(reqCtx.Message)
	if city == "" {
		city = ExtractCity(text)
	}
	answer, err := p.askWeather(ctx, city)
	var reply string
	if err != nil {
		reply = "Trip plan unavailable: the weather agent could not be reached through the gateway: " + err.Error()
	} else {
		reply = "Trip plan for " + displayCity(city) + ", based on weather-agent-v6 (called through the gateway as planning-agent-sa):\n" + answer
	}
	msg := a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: reply})
	msg.ContextID = reqCtx.ContextID
	return q.Write(ctx, msg)
}

// askWeather resolves the weather agent's card through the gateway (the
// gateway rewrites its URL to point at itself) and sends it one message.
func (p planningExecutor) askWeather(ctx context.Context, city string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	card, err := agentcard.NewResolver(p.client).Resolve(ctx, p.weatherURL)
	if err != nil {
		return "", fmt.Errorf("agent card: %w", err)
	}
	c, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(p.client))
	if err != nil {
		return "", err
	}
	defer c.Destroy()
	if city == "" {
		city = "Tampa, FL"
	}
	res, err := c.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser,
		a2a.TextPart{Text: "Get weather forecast for " + city + " this weekend"})})
	if err != nil {
		return "", err
	}
	if m, ok := res.(*a2a.Message); ok {
		t, _ := messageText(m)
		return t, nil
	}
	return "", fmt.Errorf("unexpected weather agent reply %T", res)
}

func (planningExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return a2a.ErrTaskNotCancelable
}

// PlanningAgentCard is the planning agent's card; url is its own address
// (the gateway rewrites it for clients that fetch it through /agents).
func PlanningAgentCard(url string) *a2a.AgentCard {
	return &a2a.AgentCard{
		Name:               PlanningAgentName,
		Description:        "Trip planning assistant: asks weather-agent-v6 through the gateway (demo).",
		URL:                url,
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "demo",
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills: []a2a.AgentSkill{{
			ID: "trip_planning", Name: "Trip planning", Tags: []string{"planning"},
			Description: "Plans weekend activities from the weather agent's forecast.",
			Examples:    []string{"Plan my weekend in Tampa, FL"},
		}},
	}
}

// NewPlanningAgent returns a real A2A 0.3 agent that calls the weather
// agent at weatherURL (on the gateway) with the token from token.
func NewPlanningAgent(selfURL, weatherURL string, token func() string) http.Handler {
	exec := planningExecutor{
		weatherURL: strings.TrimSuffix(weatherURL, "/"),
		client:     &http.Client{Transport: bearer{token: token, base: http.DefaultTransport}, Timeout: 60 * time.Second},
	}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec))
	cardHandler := a2asrv.NewStaticAgentCardHandler(PlanningAgentCard(selfURL))
	mux := http.NewServeMux()
	mux.Handle("GET "+AgentCardPath, cardHandler)
	mux.Handle("GET "+LegacyAgentCardPath, cardHandler)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxA2ABodyBytes)
		w.Header().Set("Content-Type", "application/json")
		rpc.ServeHTTP(w, r)
	})
	return mux
}
