package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCP server identity.
const (
	MCPServerName    = "agent-core-mcp"
	MCPServerVersion = "v6-demo"
	// DefaultUserID is used by the memory tools when user_id is omitted.
	DefaultUserID = "default"
)

// Tool names, exactly as the example mcp-authz rule lists them.
const (
	ToolGetWeatherData         = "get_weather_data"
	ToolGenerateAnalysisCode   = "generate_analysis_code"
	ToolExecuteCode            = "execute_code"
	ToolStoreUserPreferences   = "store_user_preferences"
	ToolGetActivityPreferences = "get_activity_preferences"
	ToolStoreActivityPlan      = "store_activity_plan"
)

// ToolNames lists the six tools offered by NewMCPServer, in registration order.
var ToolNames = []string{
	ToolGetWeatherData,
	ToolGenerateAnalysisCode,
	ToolExecuteCode,
	ToolStoreUserPreferences,
	ToolGetActivityPreferences,
	ToolStoreActivityPlan,
}

// Tool inputs.

type GetWeatherDataInput struct {
	City string `json:"city" jsonschema:"city to get the forecast for, e.g. Tampa, FL"`
}

type GenerateAnalysisCodeInput struct {
	WeatherData string `json:"weather_data" jsonschema:"weather data (e.g. the JSON returned by get_weather_data) to classify"`
}

type ExecuteCodeInput struct {
	PythonCode string `json:"python_code" jsonschema:"Python code to run; in this demo it is never executed"`
}

type StoreUserPreferencesInput struct {
	UserID      string `json:"user_id,omitempty" jsonschema:"user identifier; defaults to 'default'"`
	Preferences string `json:"preferences" jsonschema:"free-text activity preferences, e.g. I like hiking"`
}

type GetActivityPreferencesInput struct {
	UserID string `json:"user_id,omitempty" jsonschema:"user identifier; defaults to 'default'"`
}

type StoreActivityPlanInput struct {
	City string `json:"city" jsonschema:"city the plan is for"`
	Plan string `json:"plan" jsonschema:"the activity plan to remember"`
}

// Tool outputs (also returned as structuredContent).

type AnalysisCodeOutput struct {
	Language   string `json:"language"`
	PythonCode string `json:"python_code"`
}

type ExecuteCodeOutput struct {
	Executed       bool                `json:"executed"`
	Note           string              `json:"note"`
	CodeSHA256     string              `json:"code_sha256"`
	Classification []DayClassification `json:"classification"`
}

type PreferencesOutput struct {
	UserID      string `json:"user_id"`
	Found       bool   `json:"found"`
	Stored      bool   `json:"stored"`
	Preferences string `json:"preferences,omitempty"`
}

type ActivityPlanOutput struct {
	City   string `json:"city"`
	Stored bool   `json:"stored"`
	Bytes  int    `json:"bytes"`
}

const maxToolTextBytes = MaxMemoryValueBytes * 4 // bound for weather_data / python_code

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func userKey(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		id = DefaultUserID
	}
	if len(id) > MaxMemoryKeyBytes {
		return "", errKeyTooLong
	}
	return id, nil
}

func requireText(field, v string, limit int) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if len(v) > limit {
		return fmt.Errorf("%s exceeds %d bytes", field, limit)
	}
	return nil
}

// NewMCPServer returns an MCP server offering the weather agent's six tools.
// Each server has its own bounded in-process memory for the memory tools.
func NewMCPServer() *mcp.Server {
	mem := newMemory(MaxMemoryEntries)
	s := mcp.NewServer(&mcp.Implementation{Name: MCPServerName, Title: "Agent Core (demo)", Version: MCPServerVersion}, &mcp.ServerOptions{
		Instructions: "Demo Agent Core tools for the weather-based activity planner. " +
			"All data is deterministic and fake; execute_code never runs code.",
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolGetWeatherData,
		Description: "Get a 7-day weather forecast for a city (demo: deterministic fake data).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in GetWeatherDataInput) (*mcp.CallToolResult, WeatherReport, error) {
		if err := requireText("city", in.City, MaxMemoryKeyBytes); err != nil {
			return nil, WeatherReport{}, err
		}
		r := Forecast(in.City)
		return textResult(ForecastText(r)), r, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolGenerateAnalysisCode,
		Description: "Generate Python code that classifies forecast days as GOOD/FAIR/POOR for outdoor activities.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in GenerateAnalysisCodeInput) (*mcp.CallToolResult, AnalysisCodeOutput, error) {
		if err := requireText("weather_data", in.WeatherData, maxToolTextBytes); err != nil {
			return nil, AnalysisCodeOutput{}, err
		}
		code := analysisCode(in.WeatherData)
		return textResult(code), AnalysisCodeOutput{Language: "python", PythonCode: code}, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name: ToolExecuteCode,
		Description: "Classify weather days by 'executing' Python code. DEMO: the code is NEVER executed; " +
			"a deterministic canned classification is returned instead.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in ExecuteCodeInput) (*mcp.CallToolResult, ExecuteCodeOutput, error) {
		if err := requireText("python_code", in.PythonCode, maxToolTextBytes); err != nil {
			return nil, ExecuteCodeOutput{}, err
		}
		sum := sha256.Sum256([]byte(in.PythonCode))
		out := ExecuteCodeOutput{
			Executed:       false,
			Note:           "NOT EXECUTED: this is a demo MCP server; the submitted code was not run. The classification below is canned (derived from a hash of the code).",
			CodeSHA256:     hex.EncodeToString(sum[:]),
			Classification: cannedClassification(in.PythonCode),
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s\nCode: %d bytes, sha256 %s\n", out.Note, len(in.PythonCode), out.CodeSHA256[:16])
		for _, c := range out.Classification {
			fmt.Fprintf(&b, "Day %d: %s\n", c.Day, c.Classification)
		}
		return textResult(strings.TrimRight(b.String(), "\n")), out, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolStoreUserPreferences,
		Description: "Store a user's activity preferences in memory (user_id defaults to 'default').",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in StoreUserPreferencesInput) (*mcp.CallToolResult, PreferencesOutput, error) {
		id, err := userKey(in.UserID)
		if err != nil {
			return nil, PreferencesOutput{}, fmt.Errorf("user_id: %w", err)
		}
		if err := requireText("preferences", in.Preferences, MaxMemoryValueBytes); err != nil {
			return nil, PreferencesOutput{}, err
		}
		if err := mem.Put("prefs:"+id, in.Preferences); err != nil {
			return nil, PreferencesOutput{}, err
		}
		out := PreferencesOutput{UserID: id, Found: true, Stored: true, Preferences: in.Preferences}
		return textResult(fmt.Sprintf("Stored preferences for user %q: %s", id, in.Preferences)), out, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolGetActivityPreferences,
		Description: "Get a user's stored activity preferences from memory (user_id defaults to 'default').",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in GetActivityPreferencesInput) (*mcp.CallToolResult, PreferencesOutput, error) {
		id, err := userKey(in.UserID)
		if err != nil {
			return nil, PreferencesOutput{}, fmt.Errorf("user_id: %w", err)
		}
		prefs, ok := mem.Get("prefs:" + id)
		out := PreferencesOutput{UserID: id, Found: ok, Preferences: prefs}
		if !ok {
			return textResult(fmt.Sprintf("No stored preferences for user %q.", id)), out, nil
		}
		return textResult(fmt.Sprintf("Preferences for user %q: %s", id, prefs)), out, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolStoreActivityPlan,
		Description: "Store an activity plan for a city in memory for future reference.",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in StoreActivityPlanInput) (*mcp.CallToolResult, ActivityPlanOutput, error) {
		if err := requireText("city", in.City, MaxMemoryKeyBytes); err != nil {
			return nil, ActivityPlanOutput{}, err
		}
		if err := requireText("plan", in.Plan, MaxMemoryValueBytes); err != nil {
			return nil, ActivityPlanOutput{}, err
		}
		if err := mem.Put("plan:"+normalizeCity(in.City), in.Plan); err != nil {
			return nil, ActivityPlanOutput{}, err
		}
		out := ActivityPlanOutput{City: displayCity(in.City), Stored: true, Bytes: len(in.Plan)}
		return textResult(fmt.Sprintf("Stored activity plan for %s (%d bytes).", out.City, out.Bytes)), out, nil
	})

	return s
}

// MCPOptions configures MCPHandler.
type MCPOptions struct {
	// Stateless: no Mcp-Session-Id; every POST is served by a temporary
	// session, so a bare tools/call works without initialize.
	Stateless bool
	// JSONResponse: answer POSTs with application/json instead of text/event-stream.
	JSONResponse bool
}

// MCPHandler returns a streamable-HTTP MCP handler serving a single
// NewMCPServer instance (so memory is shared across requests and sessions).
// Mount it at /mcp.
func MCPHandler(opts MCPOptions) http.Handler {
	srv := NewMCPServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:    opts.Stateless,
		JSONResponse: opts.JSONResponse,
	})
}
