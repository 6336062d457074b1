package demo

import (
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestFindEvents: the same city always gets the same three events, city
// names compare as the weather tools compare them, and cities differ.
func TestFindEvents(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Tampa, FL", "tampa, fl"},
		{"Tampa, FL", "  Tampa,  FL "},
		{"Oslo", "OSLO"},
	}
	for _, tc := range tests {
		a, b := FindEvents(tc.a), FindEvents(tc.b)
		if len(a.Events) != 3 || !slices.Equal(a.Events, b.Events) {
			t.Errorf("FindEvents(%q) = %v, FindEvents(%q) = %v", tc.a, a.Events, tc.b, b.Events)
		}
	}
	seen := map[string]bool{}
	for _, c := range []string{"Tampa, FL", "Oslo", "Lima", "Bern", "Nairobi"} {
		seen[FindEvents(c).Events[0].Name] = true
	}
	if len(seen) < 2 {
		t.Errorf("every city has the same events")
	}
}

// TestEventsServer: the events server, started with the other demo
// backends, lists find_events and answers it (go-sdk client).
func TestEventsServer(t *testing.T) {
	run, err := StartBackends(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	cs := connectMCP(t, run.EventsURL+MCPPath)
	if got := cs.InitializeResult().ServerInfo.Name; got != EventsServerName {
		t.Errorf("server name = %q", got)
	}
	lt, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tools) != 1 || lt.Tools[0].Name != ToolFindEvents {
		t.Fatalf("tools = %+v", lt.Tools)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolFindEvents, Arguments: map[string]any{"city": "Tampa, FL"}})
	if err != nil || res.IsError {
		t.Fatalf("find_events: %v %+v", err, res)
	}
	if got := toolText(t, res); !strings.HasPrefix(got, "Events in Tampa, FL this weekend:") || strings.Count(got, "\n- ") != 3 {
		t.Errorf("find_events = %q", got)
	}
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolFindEvents, Arguments: map[string]any{"city": " "}})
	if err == nil && !res.IsError {
		t.Errorf("find_events with no city answered %+v", res)
	}
}
