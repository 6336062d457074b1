package e2e

// The federated route of federation_test.go driven by the TypeScript MCP
// SDK client (@modelcontextprotocol/sdk from npm) instead of the go-sdk's:
// a client of another implementation sees the same merged, filtered list,
// its calls are routed, its progress callback, sampling handler and
// list_changed handler are served.
//
// The SDK and the Node.js 22 it runs on are the ones scripts/conformance-
// bin.sh installs into .cache/conformance for test/conformance (`make
// deps`; the SDK is pinned in test/conformance/npm/package-lock.json). In
// CI (CI=true) a missing install fails this test, never skips it.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// fdNode returns the Node.js binary and the node_modules directory that
// holds @modelcontextprotocol/sdk.
func fdNode(t *testing.T) (node, modules string) {
	t.Helper()
	dir := os.Getenv("CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "conformance")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	const hint = "install it with `make deps` (scripts/conformance-bin.sh)"
	nodes, _ := filepath.Glob(filepath.Join(dir, "node", "node_modules", "node-linux-*", "bin", "node"))
	if len(nodes) == 0 {
		testbin.Missing(t, "Node.js 22 is missing under %s; %s", dir, hint)
	}
	node = testbin.Executable(t, nodes[0], hint)
	modules = filepath.Join(dir, "suite", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		testbin.Missing(t, "@modelcontextprotocol/sdk is missing under %s; %s", modules, hint)
	}
	return node, modules
}

// fdTSResult is what testdata/federation/ts-client.cjs prints.
type fdTSResult struct {
	SessionID string   `json:"sessionId"`
	Tools     []string `json:"tools"`
	Forecast  string   `json:"forecast"`
	Events    string   `json:"events"`
	Progress  []struct {
		Progress float64 `json:"progress"`
		Total    float64 `json:"total"`
		Message  string  `json:"message"`
	} `json:"progress"`
	Slow          string   `json:"slow"`
	Summary       string   `json:"summary"`
	Added         string   `json:"added"`
	ListChanged   int      `json:"listChanged"`
	ToolsAfter    []string `json:"toolsAfter"`
	Alerts        string   `json:"alerts"`
	DeniedRefused bool     `json:"deniedRefused"`
}

// TestFederationTSClient: the TypeScript SDK client against the federated
// route of three go-sdk servers.
func TestFederationTSClient(t *testing.T) {
	node, modules := fdNode(t)
	script, err := filepath.Abs(filepath.Join("testdata", "federation", "ts-client.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	g := fdStartGateway(t, "failClosed", fdPolicies(iss), "", weather, calendar, admin)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+modules,
		"GATEWAY_URL="+g.URL("/mcp"),
		"TOKEN="+iss.token(t, fdAlice),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ts-client: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var got fdTSResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("ts-client output %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
	}

	if got.SessionID == "" {
		t.Errorf("no Mcp-Session-Id reached the TS client")
	}
	want := []string{"calendar_list_events", "calendar_summarize", "weather_add_alerts", "weather_get_forecast", "weather_slow_forecast"}
	if !slices.Equal(got.Tools, want) {
		t.Errorf("tools/list = %v, want %v", got.Tools, want)
	}
	for _, c := range []struct{ what, got, want string }{
		{"weather_get_forecast", got.Forecast, "sunny in Oslo (weather)"},
		{"calendar_list_events", got.Events, "standup at 9 (calendar)"},
		{"weather_slow_forecast", got.Slow, "slow forecast done"},
		{"calendar_summarize (sampling)", got.Summary, "model said: a short day (ts-model)"},
		{"weather_add_alerts", got.Added, "added"},
		{"weather_get_alerts", got.Alerts, "no alerts"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if len(got.Progress) != 3 {
		t.Errorf("progress notifications = %+v, want 3", got.Progress)
	}
	for i, p := range got.Progress {
		if p.Progress != float64(i+1) || p.Total != 3 {
			t.Errorf("progress %d = %+v", i+1, p)
		}
	}
	if got.ListChanged < 1 {
		t.Errorf("no notifications/tools/list_changed reached the TS client")
	}
	if !slices.Contains(got.ToolsAfter, "weather_get_alerts") {
		t.Errorf("tools/list after list_changed = %v, want weather_get_alerts in it", got.ToolsAfter)
	}
	if !got.DeniedRefused {
		t.Errorf("admin_drop_tables was served to alice")
	}
	if n := admin.called("drop_tables"); n != 0 {
		t.Errorf("admin ran drop_tables %d times for alice", n)
	}
	if n := calendar.called("summarize"); n != 1 {
		t.Errorf("calendar ran summarize %d times, want once", n)
	}
}
