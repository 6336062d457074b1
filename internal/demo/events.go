package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The second demo MCP server: local events, deterministic and fake. The
// demo's federated route (/federated, docs/federation.md) puts it and the
// Agent Core server behind one endpoint, as "events_*" and "weather_*".
const (
	EventsServerName = "events-mcp"
	// ToolFindEvents lists a city's events for the weekend.
	ToolFindEvents = "find_events"
)

// FindEventsInput is find_events' input.
type FindEventsInput struct {
	City string `json:"city" jsonschema:"city to list events for, e.g. Tampa, FL"`
}

// Event is one of a city's (fake) events.
type Event struct {
	Name    string `json:"name"`
	Day     string `json:"day"`
	Outdoor bool   `json:"outdoor"`
}

// EventsOutput is find_events' structured result.
type EventsOutput struct {
	City   string  `json:"city"`
	Events []Event `json:"events"`
}

var eventKinds = []Event{
	{"Farmers market", "Saturday", true},
	{"Jazz in the park", "Saturday", true},
	{"Science museum late opening", "Saturday", false},
	{"Harbor kayak tour", "Sunday", true},
	{"Indie film festival", "Sunday", false},
}

// FindEvents returns three of the events for city, the same ones for the
// same city.
func FindEvents(city string) EventsOutput {
	h := fnv.New32a()
	_, _ = h.Write([]byte(normalizeCity(city)))
	start := int(h.Sum32() % uint32(len(eventKinds)))
	out := EventsOutput{City: displayCity(city)}
	for i := range 3 {
		out.Events = append(out.Events, eventKinds[(start+i)%len(eventKinds)])
	}
	return out
}

// NewEventsServer returns the events MCP server.
func NewEventsServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: EventsServerName, Title: "Local events (demo)", Version: MCPServerVersion}, &mcp.ServerOptions{
		Instructions: "Demo local events; all data is deterministic and fake.",
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolFindEvents,
		Description: "List this weekend's events in a city (demo: deterministic fake data).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in FindEventsInput) (*mcp.CallToolResult, EventsOutput, error) {
		if err := requireText("city", in.City, MaxMemoryKeyBytes); err != nil {
			return nil, EventsOutput{}, err
		}
		out := FindEvents(in.City)
		var b strings.Builder
		fmt.Fprintf(&b, "Events in %s this weekend:", out.City)
		for _, e := range out.Events {
			where := "indoor"
			if e.Outdoor {
				where = "outdoor"
			}
			fmt.Fprintf(&b, "\n- %s: %s (%s)", e.Day, e.Name, where)
		}
		return textResult(b.String()), out, nil
	})
	return s
}

// EventsHandler returns a streamable-HTTP handler serving one
// NewEventsServer. Mount it at /mcp.
func EventsHandler(opts MCPOptions) http.Handler {
	srv := NewEventsServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:    opts.Stateless,
		JSONResponse: opts.JSONResponse,
	})
}
