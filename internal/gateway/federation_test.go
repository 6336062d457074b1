//lint:file-ignore SA1019 sampling is deprecated from 2026-07-28 but clients still use it, and a federated route must relay it
package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
)

// fedServer is one go-sdk MCP server on loopback with the named tools;
// each tool answers "<server>/<tool>: <text>", reports two progress
// steps when asked and, for a tool named "ask", samples the client.
type fedServer struct {
	s   *mcp.Server
	srv *httptest.Server
	// down drops every connection; hang holds tools/list until the
	// gateway gives up on it.
	down, hang atomic.Bool
}

func newFedServer(t *testing.T, name string, tools ...string) *fedServer {
	t.Helper()
	// One item per page: every list through the gateway pages with its
	// cursor of the backends' cursors.
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{PageSize: 1,
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	for _, tool := range tools {
		addFedTool(s, name, tool)
	}
	s.AddResource(&mcp.Resource{URI: "file:///" + name + ".txt", Name: name}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "contents of " + name}}}, nil
	})
	fs := &fedServer{s: s}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if fs.down.Load() {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if fs.hang.Load() && r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), `"tools/list"`) {
				<-r.Context().Done()
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	})
	fs.srv = httptest.NewServer(mux)
	t.Cleanup(fs.srv.Close)
	return fs
}

func addFedTool(s *mcp.Server, server, tool string) {
	mcp.AddTool(s, &mcp.Tool{Name: tool, Description: tool}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			for i := 1; i <= 2; i++ {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 2})
			}
		}
		text := server + "/" + tool + ": " + in.Text
		if tool == "ask" {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Text}}}})
			if err != nil {
				return nil, nil, err
			}
			text += " sampled=" + res.Content.(*mcp.TextContent).Text
		}
		if tool == "elicit" {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "name?", RequestedSchema: map[string]any{
				"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
			if err != nil {
				return nil, nil, err
			}
			text += fmt.Sprintf(" elicited=%s:%v", res.Action, res.Content["name"])
		}
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: text},
			&mcp.ResourceLink{URI: "file:///" + server + ".txt", Name: server},
		}}, nil, nil
	})
}

const fedConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: fed
            match:
              path:
                prefix: /mcp
            mcp:
              failureMode: %s
              fanOutTimeout: 2s
            policies:
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
              - type: mcp-authz
                mcp:
                  rules:
                    - principal: alice
                      allowedTools: ["weather_*", calendar_list_events, ask, elicit]
                      allowedResources: ["calendar_file:///*", "weather_file:///*"]
                    - principal: bob
                      allowedTools: ["calendar_*"]
            backends:
              - name: weather
                type: mcp-http
                address: %s
              - name: calendar
                type: mcp-http
                address: %s
              - name: notes
                type: mcp-http
                address: %s
                prefix: ""
%s`

type fedFixture struct {
	weather, calendar, notes *fedServer
	gw                       string
	alice, bob               string
	keyFile                  string
	jwks                     string
}

// startFed runs three go-sdk servers behind a federated route. keyFile
// (may be "") is the shared session key file; serverExtra, when given,
// is the server section's lines instead.
func startFed(t *testing.T, failureMode, keyFile string, serverExtra ...string) *fedFixture {
	t.Helper()
	key, err := devissuer.GenerateKey(devissuer.DefaultAlg)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.Start("127.0.0.1:0", key, devissuer.DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	f := &fedFixture{
		weather:  newFedServer(t, "weather", "get_forecast", "alerts"),
		calendar: newFedServer(t, "calendar", "list_events", "add_event"),
		notes:    newFedServer(t, "notes", "ask", "elicit", "weather_spoof"),
		keyFile:  keyFile,
		jwks:     iss.JWKSURI(),
	}
	for _, p := range []struct {
		sub string
		tok *string
	}{{"alice", &f.alice}, {"bob", &f.bob}} {
		if *p.tok, err = key.Mint(devissuer.TokenOptions{Subject: p.sub}); err != nil {
			t.Fatal(err)
		}
	}
	server := ""
	if keyFile != "" {
		server = "server:\n  sessionKeys:\n    file: " + keyFile + "\n"
	}
	if len(serverExtra) > 0 {
		server = "server:\n" + strings.Join(serverExtra, "")
	}
	_, f.gw = startGateway(t, fedConfig, failureMode, devissuer.DefaultIssuer, devissuer.DefaultAudience, iss.JWKSURI(),
		f.weather.srv.URL, f.calendar.srv.URL, f.notes.srv.URL, server)
	return f
}

func (f *fedFixture) connect(t *testing.T, ctx context.Context, gw, tok string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, opts)
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// toolNames lists every page of the session's tools.
func toolNames(t *testing.T, ctx context.Context, s *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tl, err := range s.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func TestFederationEndToEnd(t *testing.T) {
	f := startFed(t, "failClosed", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	progress := make(chan struct{}, 8)
	listChanged := make(chan struct{}, 4)
	updated := make(chan string, 4)
	alice := f.connect(t, ctx, f.gw, f.alice, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "ada"}}, nil
		},
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			select {
			case updated <- req.Params.URI:
			default:
			}
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "yes"}}, nil
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			if req.Params.ProgressToken == "p1" {
				progress <- struct{}{}
			}
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case listChanged <- struct{}{}:
			default:
			}
		},
	})

	// Merged, prefixed and filtered per identity; the pass-through
	// backend's "weather_spoof" is claimed by the weather prefix and
	// dropped, never served at random.
	if got, want := toolNames(t, ctx, alice), []string{"ask", "calendar_list_events", "elicit", "weather_alerts", "weather_get_forecast"}; !slices.Equal(got, want) {
		t.Fatalf("alice's tools = %v, want %v", got, want)
	}
	// One page holds one tool of each backend that has more; the
	// weather backend's two tools take two pages.
	page, err := alice.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if page.NextCursor == "" {
		t.Fatalf("first page has no cursor: %+v", page.Tools)
	}
	bob := f.connect(t, ctx, f.gw, f.bob, nil)
	if got, want := toolNames(t, ctx, bob), []string{"calendar_add_event", "calendar_list_events"}; !slices.Equal(got, want) {
		t.Fatalf("bob's tools = %v, want %v", got, want)
	}

	// Calls are routed by prefix, the prefix stripped; progress relayed;
	// resource links mapped.
	params := &mcp.CallToolParams{Name: "weather_get_forecast", Arguments: map[string]any{"text": "paris"}}
	params.SetProgressToken("p1")
	res, err := alice.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "weather/get_forecast: paris" {
		t.Fatalf("call result %q", got)
	}
	if link := res.Content[1].(*mcp.ResourceLink); link.URI != "weather_file:///weather.txt" {
		t.Fatalf("resource link %q", link.URI)
	}
	// The client handles notifications apart from the call's result.
	for i := 0; i < 2; i++ {
		select {
		case <-progress:
		case <-ctx.Done():
			t.Fatalf("progress notifications relayed: %d, want 2", i)
		}
	}
	res, err = bob.CallTool(ctx, &mcp.CallToolParams{Name: "calendar_add_event", Arguments: map[string]any{"text": "x"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "calendar/add_event: x" {
		t.Fatalf("bob's call: %v %+v", err, res)
	}
	// Policies see prefixed names: bob may not call weather tools.
	if _, err := bob.CallTool(ctx, &mcp.CallToolParams{Name: "weather_alerts", Arguments: map[string]any{}}); err == nil {
		t.Fatal("bob's weather_alerts call was allowed")
	}

	// A sampling request from a backend reaches the client and its answer
	// goes back to the backend that asked.
	res, err = alice.CallTool(ctx, &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{"text": "ok?"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "notes/ask: ok? sampled=yes" {
		t.Fatalf("sampling call result %q", got)
	}

	// So does an elicitation.
	res, err = alice.CallTool(ctx, &mcp.CallToolParams{Name: "elicit", Arguments: map[string]any{"text": "q"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "notes/elicit: q elicited=accept:ada" {
		t.Fatalf("elicitation call result %q", got)
	}

	// A subscription is routed by the rewritten URI, and the backend's
	// resources/updated reaches the client, on its GET stream, with it.
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "weather_file:///weather.txt"}); err != nil {
		t.Fatal(err)
	}
	if err := f.weather.s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///weather.txt"}); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-updated:
		if uri != "weather_file:///weather.txt" {
			t.Fatalf("resources/updated for %q", uri)
		}
	case <-ctx.Done():
		t.Fatal("no resources/updated relayed")
	}

	// Resources are read through their rewritten URI.
	rr, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "calendar_file:///calendar.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Contents[0].Text != "contents of calendar" || rr.Contents[0].URI != "calendar_file:///calendar.txt" {
		t.Fatalf("resource %+v", rr.Contents[0])
	}

	// list_changed reaches the client on its GET stream, and the next
	// list has the new tool.
	addFedTool(f.weather.s, "weather", "radar")
	select {
	case <-listChanged:
	case <-ctx.Done():
		t.Fatal("no tools/list_changed relayed")
	}
	if got := toolNames(t, ctx, alice); !slices.Contains(got, "weather_radar") {
		t.Fatalf("after list_changed: %v", got)
	}
	if err := alice.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// rawFed posts a JSON-RPC body with a bearer token and session id.
func rawFed(t *testing.T, url, tok, sid, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(t, res))
	return res, b.String()
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestFederationSessionPortableAndBound(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	k := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	if err := os.WriteFile(keyFile, []byte("# shared\n"+k+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFed(t, "failClosed", keyFile)
	// A second gateway process with the same key and the same backends.
	_, gw2 := startGateway(t, fedConfig, "failClosed", devissuer.DefaultIssuer, devissuer.DefaultAudience, f.jwks,
		f.weather.srv.URL, f.calendar.srv.URL, f.notes.srv.URL, "server:\n  sessionKeys:\n    file: "+keyFile+"\n")
	res, _ := rawFed(t, f.gw+"/mcp", f.alice, "", initBody)
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q", res.StatusCode, sid)
	}
	rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather_alerts","arguments":{"text":"x"}}}`
	for _, gw := range []string{f.gw, gw2} {
		res, body := rawFed(t, gw+"/mcp", f.alice, sid, call)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "weather/alerts: x") {
			t.Fatalf("call on %s: %d %s", gw, res.StatusCode, body)
		}
	}
	progressCall := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"weather_alerts","arguments":{"text":"x"},"_meta":{"progressToken":"p9"}}}`
	_, body := rawFed(t, f.gw+"/mcp", f.alice, sid, progressCall)
	t.Logf("progress call: %s", body)
	// The gateway's own answers are one SSE event for a client that
	// accepts a stream, as go-sdk servers answer, and JSON otherwise.
	for accept, want := range map[string]string{"application/json, text/event-stream": "text/event-stream", "application/json": "application/json"} {
		req, _ := http.NewRequest(http.MethodPost, f.gw+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":5,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+f.alice)
		req.Header.Set("Mcp-Session-Id", sid)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); ct != want || !strings.Contains(body, `"weather_alerts"`) {
			t.Fatalf("Accept %q: Content-Type %q, body %s", accept, ct, body)
		}
	}
	// Another identity replaying the id gets 404, as for an unknown id.
	res, body = rawFed(t, gw2+"/mcp", f.bob, sid, call)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("replay by bob: %d %s", res.StatusCode, body)
	}
	res, _ = rawFed(t, f.gw+"/mcp", f.alice, sid[:len(sid)-2]+"AA", call)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("forged id: %d", res.StatusCode)
	}
	// Unknown prefix: a JSON-RPC error with the id echoed, not forwarded.
	res, body = rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","id":"u1","method":"tools/call","params":{"name":"weather","arguments":{}}}`)
	if !strings.Contains(body, `"id":"u1"`) || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown name: %d %s", res.StatusCode, body)
	}
	// DELETE on the second gateway ends every backend session.
	req, _ := http.NewRequest(http.MethodDelete, gw2+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+f.alice)
	req.Header.Set("Mcp-Session-Id", sid)
	dres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dres.Body.Close()
	if dres.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", dres.StatusCode)
	}
	res, body = rawFed(t, f.gw+"/mcp", f.alice, sid, call)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("call after DELETE: %d %s", res.StatusCode, body)
	}
}

// rawInit opens a federated session with raw requests.
func rawInit(t *testing.T, gw, tok string) (*http.Response, string, string) {
	t.Helper()
	res, body := rawFed(t, gw+"/mcp", tok, "", initBody)
	sid := res.Header.Get("Mcp-Session-Id")
	if sid != "" {
		rawFed(t, gw+"/mcp", tok, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		t.Cleanup(func() {
			req, _ := http.NewRequest(http.MethodDelete, gw+"/mcp", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Mcp-Session-Id", sid)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		})
	}
	return res, body, sid
}

func TestFederationFailureModes(t *testing.T) {
	const list = `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`
	tests := []struct {
		mode    string
		break_  func(f *fedFixture)
		status  int
		want    []string // substrings of the list answer
		wantNot []string
	}{
		{"failOpen", func(f *fedFixture) { f.calendar.down.Store(true) }, http.StatusOK,
			[]string{`"weather_alerts"`, `"ask"`}, []string{"calendar_"}},
		{"failClosed", func(f *fedFixture) { f.calendar.down.Store(true) }, http.StatusOK,
			[]string{`"id":7`, `backend \"calendar\" unavailable`}, []string{"weather_alerts"}},
		{"failOpen", func(f *fedFixture) { f.calendar.hang.Store(true) }, http.StatusOK,
			[]string{`"weather_alerts"`}, []string{"calendar_"}},
		{"failClosed", func(f *fedFixture) { f.calendar.hang.Store(true) }, http.StatusOK,
			[]string{`"id":7`, `backend \"calendar\" unavailable`}, nil},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.mode), func(t *testing.T) {
			f := startFed(t, tt.mode, "")
			res, _, sid := rawInit(t, f.gw, f.alice)
			if res.StatusCode != http.StatusOK || sid == "" {
				t.Fatalf("initialize: %d", res.StatusCode)
			}
			tt.break_(f)
			t.Cleanup(func() { f.calendar.down.Store(false); f.calendar.hang.Store(false) })
			// Bounded: the fan-out deadline is 2s; the client allows 20s.
			done := make(chan struct{})
			var status int
			var body string
			go func() {
				defer close(done)
				var r *http.Response
				r, body = rawFed(t, f.gw+"/mcp", f.alice, sid, list)
				status = r.StatusCode
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("tools/list hangs with a backend down")
			}
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("answer lacks %s: %s", w, body)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("answer has %s: %s", w, body)
				}
			}
			// The other backends still serve calls.
			_, body = rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"weather_alerts","arguments":{"text":"y"}}}`)
			if !strings.Contains(body, "weather/alerts: y") {
				t.Fatalf("call to a live backend: %s", body)
			}
		})
	}
}

func TestFederationInitializeWithBackendDown(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		status int
	}{{"failOpen", http.StatusOK}, {"failClosed", http.StatusOK}} {
		t.Run(tt.mode, func(t *testing.T) {
			f := startFed(t, tt.mode, "")
			f.calendar.down.Store(true)
			res, body, sid := rawInit(t, f.gw, f.alice)
			if res.StatusCode != tt.status {
				t.Fatalf("initialize: %d %s", res.StatusCode, body)
			}
			if tt.mode == "failClosed" {
				if !strings.Contains(body, `backend \"calendar\" unavailable`) || sid != "" {
					t.Fatalf("initialize: %s (session %q)", body, sid)
				}
				return
			}
			f.calendar.down.Store(false)
			// The session goes on without calendar, even once it is back.
			_, body = rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"calendar_list_events","arguments":{"text":"y"}}}`)
			if !strings.Contains(body, `backend \"calendar\" unavailable`) {
				t.Fatalf("call to the backend down at initialize: %s", body)
			}
			_, body = rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
			if strings.Contains(body, "calendar_") || !strings.Contains(body, "weather_alerts") {
				t.Fatalf("list: %s", body)
			}
		})
	}
}

// TestFederationKeyRotation rotates server.sessionKeys.file through
// reloads: a new key prepended keeps old sessions open and seals new ones;
// once the old key is dropped its sessions get 404.
func TestFederationKeyRotation(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	oldKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	newKey := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	if err := os.WriteFile(keyFile, []byte(oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFed(t, "failClosed", keyFile)
	_, _, oldSid := rawInit(t, f.gw, f.alice)
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather_alerts","arguments":{"text":"x"}}}`
	status := func(sid string) int {
		res, _ := rawFed(t, f.gw+"/mcp", f.alice, sid, call)
		return res.StatusCode
	}
	// A second gateway reads the same file; reloading it re-reads the keys.
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(fedConfig, port, "failClosed", devissuer.DefaultIssuer, devissuer.DefaultAudience, f.jwks,
		f.weather.srv.URL, f.calendar.srv.URL, f.notes.srv.URL, "server:\n  sessionKeys:\n    file: "+keyFile+"\n")
	src += fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	g2 := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = g2.Shutdown(2 * time.Second) })
	apply := func() {
		t.Helper()
		cfg, err := config.Parse("test.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		cfg.SetDefaults()
		if err := g2.Apply(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	apply()
	gw2 := fmt.Sprintf("http://127.0.0.1:%d", port)
	status2 := func(sid string) int {
		res, _ := rawFed(t, gw2+"/mcp", f.alice, sid, call)
		return res.StatusCode
	}
	if s := status2(oldSid); s != http.StatusOK {
		t.Fatalf("old session before rotation: %d", s)
	}
	if err := os.WriteFile(keyFile, []byte(newKey+"\n"+oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apply()
	_, _, newSid := rawInit(t, gw2, f.alice)
	if s := status2(oldSid); s != http.StatusOK {
		t.Fatalf("old session after the new key was prepended: %d", s)
	}
	// The first gateway has not reloaded: it cannot open the new key's
	// sessions yet.
	if s := status(newSid); s != http.StatusNotFound {
		t.Fatalf("new session on a gateway without the new key: %d", s)
	}
	if err := os.WriteFile(keyFile, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apply()
	if s := status2(oldSid); s != http.StatusNotFound {
		t.Fatalf("old session after its key was dropped: %d", s)
	}
	if s := status2(newSid); s != http.StatusOK {
		t.Fatalf("new session: %d", s)
	}
}

// TestFederationOneBackendPassesNames: mcp.federation: true on a route
// with one backend and prefix "" serves the backend's names unchanged
// through the federated handler (the conformance variant).
func TestFederationOneBackendPassesNames(t *testing.T) {
	be := newFedServer(t, "only", "echo")
	_, gw := startGateway(t, `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: one
            match: {path: {prefix: /mcp}}
            mcp: {federation: true}
            backends:
              - name: only
                type: mcp-http
                address: %s
                prefix: ""
`, be.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	// Pinned to a session revision: a client without sampling or
	// elicitation would otherwise be served sessionless.
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := toolNames(t, ctx, s); !slices.Equal(got, []string{"echo"}) {
		t.Fatalf("tools %v", got)
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "only/echo: hi" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if res.Content[1].(*mcp.ResourceLink).URI != "file:///only.txt" {
		t.Fatalf("resource link %q", res.Content[1].(*mcp.ResourceLink).URI)
	}
	// The session id is the gateway's sealed one, not the backend's.
	if id := s.ID(); len(id) < 60 {
		t.Fatalf("session id %q is not a sealed federated session", id)
	}
}

// TestFederationSessionless: a 2026-07-28 client (server/discover, no
// session, subscriptions/listen) against stateful go-sdk backends, which
// the gateway bridges with short legacy sessions.
func TestFederationSessionless(t *testing.T) {
	f := startFed(t, "failClosed", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listChanged := make(chan struct{}, 4)
	c := mcp.NewClient(&mcp.Implementation{Name: "modern", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case listChanged <- struct{}{}:
			default:
			}
		},
	})
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.gw + "/mcp", HTTPClient: &http.Client{Transport: bearer{f.alice}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.InitializeResult().ProtocolVersion; v != "2026-07-28" || s.ID() != "" {
		t.Fatalf("negotiated %q with session %q", v, s.ID())
	}
	if got, want := toolNames(t, ctx, s), []string{"ask", "calendar_list_events", "elicit", "weather_alerts", "weather_get_forecast"}; !slices.Equal(got, want) {
		t.Fatalf("tools = %v, want %v", got, want)
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "weather_get_forecast", Arguments: map[string]any{"text": "oslo"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "weather/get_forecast: oslo" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "calendar_add_event", Arguments: map[string]any{}}); err == nil {
		t.Fatal("a denied call was served")
	}
	addFedTool(f.weather.s, "weather", "radar")
	select {
	case <-listChanged:
	case <-ctx.Done():
		t.Fatal("no tools/list_changed on subscriptions/listen")
	}
	if got := toolNames(t, ctx, s); !slices.Contains(got, "weather_radar") {
		t.Fatalf("after list_changed: %v", got)
	}
}

// TestFederationSessionOpenBudget: federated sessions live in their ids,
// so an identity's session opens are what is bounded: maxSessionsPerIdentity
// at once, then one per sessionIdleTimeout/maxSessionsPerIdentity. Over
// it, initialize gets 429 with the id echoed; another identity is not
// affected, and requests on open sessions still pass.
func TestFederationSessionOpenBudget(t *testing.T) {
	f := startFed(t, "failClosed", "", "  maxSessionsPerIdentity: 2\n  sessionIdleTimeout: 1h\n")
	var sid string
	for i := 0; i < 2; i++ {
		res, body, s := rawInit(t, f.gw, f.alice)
		if res.StatusCode != http.StatusOK || s == "" {
			t.Fatalf("initialize %d: %d %s", i, res.StatusCode, body)
		}
		sid = s
	}
	res, body, s := rawInit(t, f.gw, f.alice)
	if res.StatusCode != http.StatusTooManyRequests || s != "" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third initialize: %d sid=%q Retry-After=%q %s", res.StatusCode, s, res.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(body, `"id":1`) || !strings.Contains(body, "too many federated MCP sessions") {
		t.Fatalf("third initialize body: %s", body)
	}
	if res, body, _ := rawInit(t, f.gw, f.bob); res.StatusCode != http.StatusOK {
		t.Fatalf("bob's initialize: %d %s", res.StatusCode, body)
	}
	if res, body := rawFed(t, f.gw+"/mcp", f.alice, sid, `{"jsonrpc":"2.0","id":2,"method":"ping"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("ping on an open session: %d %s", res.StatusCode, body)
	}
}

func TestOpenLimit(t *testing.T) {
	for _, tc := range []struct {
		per  int
		idle time.Duration
		want gcra.Limit
	}{
		{100, 30 * time.Minute, gcra.Limit{PerMinute: 4, Burst: 100}},
		{2, time.Hour, gcra.Limit{PerMinute: 1, Burst: 2}},
		{120, time.Minute, gcra.Limit{PerMinute: 120, Burst: 120}},
		{0, time.Minute, gcra.Limit{}},
	} {
		if got := openLimit(tc.per, tc.idle); got != tc.want {
			t.Errorf("openLimit(%d, %v) = %+v, want %+v", tc.per, tc.idle, got, tc.want)
		}
	}
}
