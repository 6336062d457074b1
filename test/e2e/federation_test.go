//lint:file-ignore SA1019 sampling is deprecated from 2026-07-28 but clients still use it, and a federated route must relay it

package e2e

// MCP federation (issue #16, docs/federation.md) end to end: one route of
// the real gateway binary in front of three real go-sdk MCP servers, driven
// by the go-sdk client (and by the TypeScript SDK client in
// federation_ts_test.go). The lists are merged, prefixed and filtered per
// identity by mcp-authz (with a glob), calls are routed by prefix, progress
// and a sampling request reach the client and its answer reaches the
// backend that asked, list_changed is propagated; two gateway processes
// sharing a session key file serve each other's sessions, bound to the
// identity that opened them; a backend killed mid-session is skipped
// (failOpen, logged and counted) or fails the list clearly (failClosed).
// Every wait is bounded.
//
// Helpers in this file are prefixed "fd".

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	fdAlice = "system:serviceaccount:team:alice" // weather_* and calendar_*
	fdBob   = "system:serviceaccount:team:bob"   // weather_get_forecast and admin_*
	fdRoute = "fed"
)

// fdBackend is one go-sdk MCP server on its own loopback listener, which
// the test can kill (listener and every open connection) mid-session.
type fdBackend struct {
	Name  string
	URL   string
	srv   *mcp.Server
	http  *http.Server
	calls sync.Map // tool name as the backend saw it -> *atomic.Int64
	// hang makes every POST wait (bounded) without an answer: a backend
	// that accepts connections and never responds.
	hang atomic.Bool
}

// called returns how many times the backend ran tool (its own, unprefixed
// name).
func (b *fdBackend) called(tool string) int64 {
	v, _ := b.calls.LoadOrStore(tool, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (b *fdBackend) count(tool string) {
	v, _ := b.calls.LoadOrStore(tool, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Kill closes the backend's listener and every connection it has open
// (the gateway's backend streams included), as a crashed process would.
func (b *fdBackend) Kill() { _ = b.http.Close() }

type fdCityIn struct {
	City string `json:"city"`
}

// fdStartBackend serves srv (stateful Streamable HTTP, SSE responses) on a
// fresh loopback port.
func fdStartBackend(t *testing.T, name string, setup func(b *fdBackend, s *mcp.Server)) *fdBackend {
	t.Helper()
	b := &fdBackend{Name: name}
	b.srv = mcp.NewServer(&mcp.Implementation{Name: "fed-" + name, Version: "1.0.0"}, nil)
	setup(b, b.srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return b.srv }, nil)
	hung := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && b.hang.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		}
		h.ServeHTTP(w, r)
	})
	b.http = &http.Server{Handler: hung, ReadHeaderTimeout: 5 * time.Second}
	go b.http.Serve(ln)
	t.Cleanup(b.Kill)
	b.URL = "http://" + ln.Addr().String()
	return b
}

// fdStartBackends starts the three servers of these tests:
//   - weather: get_forecast, slow_forecast (three progress notifications)
//     and add_alerts (adds a get_alerts tool, so the server announces
//     tools/list_changed);
//   - calendar: list_events and summarize (asks the client's model with
//     sampling/createMessage mid-call);
//   - admin: drop_tables, which alice must never see nor call.
func fdStartBackends(t *testing.T) (weather, calendar, admin *fdBackend) {
	t.Helper()
	weather = fdStartBackend(t, "weather", func(b *fdBackend, s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "get_forecast", Description: "forecast for a city"}, func(_ context.Context, _ *mcp.CallToolRequest, in fdCityIn) (*mcp.CallToolResult, any, error) {
			b.count("get_forecast")
			return mtText("sunny in " + in.City + " (weather)"), nil, nil
		})
		mcp.AddTool(s, &mcp.Tool{Name: "slow_forecast", Description: "reports progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
			b.count("slow_forecast")
			tok := req.Params.GetProgressToken()
			if tok == nil {
				return nil, nil, errors.New("no progress token reached the backend")
			}
			for i := 1; i <= 3; i++ {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: tok, Progress: float64(i), Total: 3, Message: fmt.Sprintf("step %d", i),
				}); err != nil {
					return nil, nil, err
				}
			}
			return mtText("slow forecast done"), nil, nil
		})
		mcp.AddTool(s, &mcp.Tool{Name: "add_alerts", Description: "adds the get_alerts tool"}, func(context.Context, *mcp.CallToolRequest, mtEmpty) (*mcp.CallToolResult, any, error) {
			b.count("add_alerts")
			mcp.AddTool(s, &mcp.Tool{Name: "get_alerts", Description: "weather alerts"}, func(context.Context, *mcp.CallToolRequest, mtEmpty) (*mcp.CallToolResult, any, error) {
				b.count("get_alerts")
				return mtText("no alerts"), nil, nil
			})
			return mtText("added"), nil, nil
		})
	})
	calendar = fdStartBackend(t, "calendar", func(b *fdBackend, s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "list_events", Description: "today's events"}, func(context.Context, *mcp.CallToolRequest, mtEmpty) (*mcp.CallToolResult, any, error) {
			b.count("list_events")
			return mtText("standup at 9 (calendar)"), nil, nil
		})
		mcp.AddTool(s, &mcp.Tool{Name: "summarize", Description: "summarizes the day with the client's model"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
			b.count("summarize")
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "summarize: standup at 9"}}},
				MaxTokens: 16,
			})
			if err != nil {
				return nil, nil, err
			}
			tc, _ := res.Content.(*mcp.TextContent)
			if tc == nil {
				return nil, nil, fmt.Errorf("sampling content %T", res.Content)
			}
			return mtText("model said: " + tc.Text + " (" + res.Model + ")"), nil, nil
		})
	})
	admin = fdStartBackend(t, "admin", func(b *fdBackend, s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "drop_tables", Description: "dangerous"}, func(context.Context, *mcp.CallToolRequest, mtEmpty) (*mcp.CallToolResult, any, error) {
			b.count("drop_tables")
			return mtText("dropped (admin)"), nil, nil
		})
	})
	return weather, calendar, admin
}

// fdPolicies is jwt-authn plus mcp-authz over the PREFIXED names: alice
// gets two whole backends through globs, bob one weather tool and the
// admin backend.
func fdPolicies(iss *rlIssuerKeys) string {
	return iss.jwtAuthn() + fmt.Sprintf(`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: %q
                      allowedTools: ["weather_*", "calendar_*"]
                    - principal: %q
                      allowedTools: [weather_get_forecast, "admin_*"]
`, fdAlice, fdBob)
}

// fdListener is one federated route at /mcp over backends (prefix =
// backend name), with the route's failure mode and policies. failureMode
// goes into a YAML flow map, so it may carry more options
// ("failOpen, fanOutTimeout: 2s").
func fdListener(failureMode, policies string, backends ...*fdBackend) string {
	var bs strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&bs, `              - name: %s
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
`, b.Name, b.URL)
	}
	if policies == "" {
		policies = "[]"
	} else {
		policies = "\n" + policies
	}
	return fmt.Sprintf(`      - name: mcp
        routes:
          - name: %s
            match:
              path:
                prefix: /mcp
            mcp: {federation: true, separator: "_", failureMode: %s}
            policies: %s
            backends:
%s`, fdRoute, failureMode, policies, bs.String())
}

// fdKeyFile writes a session key file (one base64 32-byte key per line,
// the first seals) and returns the server: YAML that uses it.
func fdKeyFile(t *testing.T) string {
	t.Helper()
	var lines []string
	lines = append(lines, "# test keys: the first seals, every key opens")
	for range 2 {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, base64.StdEncoding.EncodeToString(k))
	}
	path := filepath.Join(t.TempDir(), "session-keys")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("server:\n  sessionKeys:\n    file: %s\n", path)
}

// fdStartGateway starts a gateway with the federated route.
func fdStartGateway(t *testing.T, failureMode, policies, extra string, backends ...*fdBackend) *Gateway {
	t.Helper()
	cfg := mtPorts(t)
	cfg.Listeners = fdListener(failureMode, policies, backends...)
	cfg.Extra = extra
	return mtStartGatewayCfg(t, cfg)
}

// fdConnect connects a go-sdk client as sub (a bearer token on every
// request) through rt (nil: straight to the gateway).
func fdConnect(ctx context.Context, t *testing.T, url string, iss *rlIssuerKeys, sub string, opts *mcp.ClientOptions, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	b := &fdBearer{token: iss.token(t, sub), next: rt}
	c := mcp.NewClient(&mcp.Implementation{Name: "fed-" + sub, Version: "1.0.0"}, opts)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: b}}, &mcp.ClientSessionOptions{ProtocolVersion: mtV1125})
	if err != nil {
		t.Fatalf("%s: connect %s: %v", sub, url, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// fdBearer sets the caller's bearer token on every request.
type fdBearer struct {
	token string
	next  http.RoundTripper
}

func (b *fdBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	next := b.next
	if next == nil {
		next = mtHTTP.Transport
	}
	return next.RoundTrip(r)
}

// fdSwitch sends every request to the gateway whose port is in port,
// whatever host the client thinks it talks to: a client behind a load
// balancer that moved it to another replica.
type fdSwitch struct{ port atomic.Int64 }

func (s *fdSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = fmt.Sprintf("127.0.0.1:%d", s.port.Load())
	r.Host = r.URL.Host
	return mtHTTP.Transport.RoundTrip(r)
}

func fdToolNames(ctx context.Context, t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// fdCall calls a tool with a bounded context.
func fdCall(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if args == nil {
		args = map[string]any{}
	}
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

// fdDenied reports whether a tools/call was refused (a JSON-RPC error or
// an error result).
func fdDenied(res *mcp.CallToolResult, err error) bool {
	return err != nil || (res != nil && res.IsError)
}

// TestFederationGoClient: three go-sdk servers behind one federated
// route, driven by the go-sdk client as two identities.
func TestFederationGoClient(t *testing.T) {
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	cfg := mtPorts(t)
	cfg.Listeners = fdListener("failClosed", fdPolicies(iss), weather, calendar, admin)
	cfg.Extra = fmt.Sprintf(`observability:
  prometheus:
    enabled: true
    port: %d
    path: /metrics
    metrics:
      - tool_invocations_total
`, cfg.AdminPort)
	g := mtStartGatewayCfg(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	type prog struct {
		tok any
		p   float64
		msg string
	}
	progCh := make(chan prog, 10)
	listChanged := make(chan struct{}, 10)
	aliceOpts := &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			progCh <- prog{r.Params.ProgressToken, r.Params.Progress, r.Params.Message}
		},
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			if len(r.Params.Messages) != 1 {
				return nil, fmt.Errorf("sampling request with %d messages", len(r.Params.Messages))
			}
			tc, _ := r.Params.Messages[0].Content.(*mcp.TextContent)
			if tc == nil || tc.Text != "summarize: standup at 9" {
				return nil, fmt.Errorf("unexpected sampling request %+v", r.Params.Messages[0].Content)
			}
			return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "a short day"}, Model: "e2e-model", Role: "assistant"}, nil
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			listChanged <- struct{}{}
		},
	}
	alice := fdConnect(ctx, t, g.URL("/mcp"), iss, fdAlice, aliceOpts, nil)
	bob := fdConnect(ctx, t, g.URL("/mcp"), iss, fdBob, nil, nil)

	t.Run("lists merged, prefixed and filtered per identity", func(t *testing.T) {
		want := []string{"calendar_list_events", "calendar_summarize", "weather_add_alerts", "weather_get_forecast", "weather_slow_forecast"}
		if got := fdToolNames(ctx, t, alice); !slices.Equal(got, want) {
			t.Errorf("alice's tools/list = %v, want %v", got, want)
		}
		want = []string{"admin_drop_tables", "weather_get_forecast"}
		if got := fdToolNames(ctx, t, bob); !slices.Equal(got, want) {
			t.Errorf("bob's tools/list = %v, want %v", got, want)
		}
	})

	t.Run("calls routed by prefix, prefix removed", func(t *testing.T) {
		for _, tc := range []struct {
			cs        *mcp.ClientSession
			who, tool string
			args      map[string]any
			want      string
			be        *fdBackend
			beTool    string
		}{
			{alice, "alice", "weather_get_forecast", map[string]any{"city": "Oslo"}, "sunny in Oslo (weather)", weather, "get_forecast"},
			{alice, "alice", "calendar_list_events", nil, "standup at 9 (calendar)", calendar, "list_events"},
			{bob, "bob", "weather_get_forecast", map[string]any{"city": "Rome"}, "sunny in Rome (weather)", weather, "get_forecast"},
			{bob, "bob", "admin_drop_tables", nil, "dropped (admin)", admin, "drop_tables"},
		} {
			before := tc.be.called(tc.beTool)
			res, err := fdCall(ctx, tc.cs, tc.tool, tc.args)
			if err != nil {
				t.Fatalf("%s: %s: %v", tc.who, tc.tool, err)
			}
			if got := mtResultText(t, res); got != tc.want {
				t.Errorf("%s: %s = %q, want %q", tc.who, tc.tool, got, tc.want)
			}
			if n := tc.be.called(tc.beTool); n != before+1 {
				t.Errorf("%s: %s ran %s on %s %d times, want once", tc.who, tc.tool, tc.beTool, tc.be.Name, n-before)
			}
		}
	})

	t.Run("metrics and audit name the prefixed tool and the backend", func(t *testing.T) {
		// alice's and bob's weather_get_forecast calls above.
		series := fmt.Sprintf(`tool_invocations_total{agent_identity=%q,backend="weather",route=%q,status="200",tool_name="weather_get_forecast"}`, fdAlice, fdRoute)
		mtWait(t, 5*time.Second, series, func() bool {
			_, body := mtDo(t, http.MethodGet, g.AdminURL("/metrics"), "", nil)
			return metricValue(t, body, series) == 1
		})
		mtWait(t, 5*time.Second, "an audit line naming weather_get_forecast and the weather backend", func() bool {
			for _, line := range strings.Split(g.Logs(), "\n") {
				if strings.Contains(line, `"audit":true`) && strings.Contains(line, `"tool":"weather_get_forecast"`) && strings.Contains(line, `"backend":"weather"`) {
					return true
				}
			}
			return false
		})
	})

	t.Run("denied calls never reach a backend", func(t *testing.T) {
		for _, tc := range []struct {
			cs        *mcp.ClientSession
			who, tool string
		}{
			{alice, "alice", "admin_drop_tables"},
			{bob, "bob", "calendar_list_events"},
			{bob, "bob", "weather_slow_forecast"},
			{alice, "alice", "drop_tables"},        // the backend's own name is no way around the prefix
			{alice, "alice", "nosuch_drop_tables"}, // unknown prefix
		} {
			if res, err := fdCall(ctx, tc.cs, tc.tool, nil); !fdDenied(res, err) {
				t.Errorf("%s: %s was served: %+v", tc.who, tc.tool, res)
			}
		}
		if n := admin.called("drop_tables"); n != 1 {
			t.Errorf("admin ran drop_tables %d times, want once (bob's call only)", n)
		}
		if n := calendar.called("list_events"); n != 1 {
			t.Errorf("calendar ran list_events %d times, want once (alice's call only)", n)
		}
	})

	t.Run("progress relayed with the client's token", func(t *testing.T) {
		params := &mcp.CallToolParams{Name: "weather_slow_forecast", Arguments: map[string]any{}}
		params.SetProgressToken("alice-progress-1")
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		res, err := alice.CallTool(callCtx, params)
		if err != nil {
			t.Fatalf("weather_slow_forecast: %v", err)
		}
		if got := mtResultText(t, res); got != "slow forecast done" {
			t.Fatalf("result %q", got)
		}
		for i := 1; i <= 3; i++ {
			// Sent before the result; the client dispatches notifications
			// asynchronously, so they are at most a moment behind.
			p := mtRecv(t, progCh, 5*time.Second, fmt.Sprintf("progress %d", i))
			if p.p != float64(i) || p.msg != fmt.Sprintf("step %d", i) {
				t.Errorf("progress %d = %+v", i, p)
			}
			if p.tok != "alice-progress-1" {
				t.Errorf("progress %d carries token %#v, want the client's %q", i, p.tok, "alice-progress-1")
			}
		}
	})

	t.Run("sampling request relayed to the client and answered", func(t *testing.T) {
		res, err := fdCall(ctx, alice, "calendar_summarize", nil)
		if err != nil {
			t.Fatalf("calendar_summarize: %v", err)
		}
		if got, want := mtResultText(t, res), "model said: a short day (e2e-model)"; got != want {
			t.Errorf("calendar_summarize = %q, want %q", got, want)
		}
	})

	t.Run("list_changed propagated and the merged list refreshed", func(t *testing.T) {
		// Drain any list_changed from before (there should be none).
		for len(listChanged) > 0 {
			<-listChanged
		}
		if got := fdToolNames(ctx, t, alice); slices.Contains(got, "weather_get_alerts") {
			t.Fatalf("weather_get_alerts listed before it exists: %v", got)
		}
		if res, err := fdCall(ctx, alice, "weather_add_alerts", nil); err != nil || mtResultText(t, res) != "added" {
			t.Fatalf("weather_add_alerts: %v %+v", err, res)
		}
		mtRecv(t, listChanged, 10*time.Second, "notifications/tools/list_changed from the weather backend")
		got := fdToolNames(ctx, t, alice)
		if !slices.Contains(got, "weather_get_alerts") {
			t.Fatalf("after list_changed alice's tools/list = %v, want weather_get_alerts in it (stale merged list?)", got)
		}
		res, err := fdCall(ctx, alice, "weather_get_alerts", nil)
		if err != nil || mtResultText(t, res) != "no alerts" {
			t.Fatalf("weather_get_alerts: %v %+v", err, res)
		}
		// bob's rules do not cover the new tool: it stays hidden from him.
		if got := fdToolNames(ctx, t, bob); slices.Contains(got, "weather_get_alerts") {
			t.Errorf("bob sees weather_get_alerts: %v", got)
		}
	})
}

// TestFederationSharedSessionKeys: two gateway processes with the same
// session key file; a session opened on one is served by the other (the
// session lives in its sealed id, not in a replica's table), and the id
// replayed by another identity, or tampered with, is refused with 404.
func TestFederationSharedSessionKeys(t *testing.T) {
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	keys := fdKeyFile(t)
	ga := fdStartGateway(t, "failClosed", fdPolicies(iss), keys, weather, calendar, admin)
	gb := fdStartGateway(t, "failClosed", fdPolicies(iss), keys, weather, calendar, admin)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	sw := &fdSwitch{}
	sw.port.Store(int64(ga.Port))
	alice := fdConnect(ctx, t, ga.URL("/mcp"), iss, fdAlice, nil, sw)
	sid := alice.ID()
	if sid == "" {
		t.Fatal("no session id from the federated route")
	}
	res, err := fdCall(ctx, alice, "weather_get_forecast", map[string]any{"city": "Oslo"})
	if err != nil || mtResultText(t, res) != "sunny in Oslo (weather)" {
		t.Fatalf("on gateway A: %v %+v", err, res)
	}

	t.Run("served by the other replica", func(t *testing.T) {
		sw.port.Store(int64(gb.Port))
		res, err := fdCall(ctx, alice, "calendar_list_events", nil)
		if err != nil {
			t.Fatalf("the session opened on A, on B: %v", err)
		}
		if got := mtResultText(t, res); got != "standup at 9 (calendar)" {
			t.Errorf("on B: %q", got)
		}
		want := []string{"calendar_list_events", "calendar_summarize", "weather_add_alerts", "weather_get_forecast", "weather_slow_forecast"}
		if got := fdToolNames(ctx, t, alice); !slices.Equal(got, want) {
			t.Errorf("tools/list on B = %v, want %v", got, want)
		}
		// Raw, on B, with alice's token and A's id: the same session.
		hdr := mtHeaders(mtV1125, sid)
		hdr["Authorization"] = "Bearer " + iss.token(t, fdAlice)
		resp, body := mtDo(t, http.MethodPost, gb.URL("/mcp"),
			`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"weather_get_forecast","arguments":{"city":"Lima"}}}`, hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("raw call on B: status %d: %s", resp.StatusCode, body)
		}
		if got := mtToolText(t, mtResponseFor(t, resp, body, "7")); got != "sunny in Lima (weather)" {
			t.Errorf("raw call on B = %q", got)
		}
	})

	t.Run("replay by another identity refused", func(t *testing.T) {
		for _, g := range []*Gateway{ga, gb} {
			before := weather.called("get_forecast")
			hdr := mtHeaders(mtV1125, sid)
			hdr["Authorization"] = "Bearer " + iss.token(t, fdBob)
			// weather_get_forecast is a tool bob may call: only the
			// session binding refuses this.
			resp, body := mtDo(t, http.MethodPost, g.URL("/mcp"),
				`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"weather_get_forecast","arguments":{"city":"Bern"}}}`, hdr)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("bob replaying alice's session on :%d: status %d, want 404: %s", g.Port, resp.StatusCode, body)
			}
			if n := weather.called("get_forecast"); n != before {
				t.Errorf("the replayed call reached the backend")
			}
		}
	})

	t.Run("tampered or foreign ids refused", func(t *testing.T) {
		tampered := []byte(sid)
		i := len(tampered) / 2
		if tampered[i] == 'A' {
			tampered[i] = 'B'
		} else {
			tampered[i] = 'A'
		}
		for name, id := range map[string]string{
			"tampered":  string(tampered),
			"garbage":   "not-a-sealed-session",
			"empty-ish": "AAAA",
		} {
			hdr := mtHeaders(mtV1125, id)
			hdr["Authorization"] = "Bearer " + iss.token(t, fdAlice)
			resp, body := mtDo(t, http.MethodPost, gb.URL("/mcp"), `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, hdr)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s session id: status %d, want 404: %s", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("a gateway with other keys does not know the session", func(t *testing.T) {
		gc := fdStartGateway(t, "failClosed", fdPolicies(iss), fdKeyFile(t), weather, calendar, admin)
		hdr := mtHeaders(mtV1125, sid)
		hdr["Authorization"] = "Bearer " + iss.token(t, fdAlice)
		resp, body := mtDo(t, http.MethodPost, gc.URL("/mcp"), `{"jsonrpc":"2.0","id":10,"method":"tools/list"}`, hdr)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404: %s", resp.StatusCode, body)
		}
	})
}

// TestFederationBackendKilled: one of three backends dies mid-session
// (killed: connections refused; hung: it accepts and never answers). On a
// failOpen route the lists carry the other two, the gateway logs the
// failure and counts it; on a failClosed route the list fails with an
// error naming the backend. Calls to the live backends keep working, and
// nothing waits for the dead one longer than the route's fan-out bound
// (fanOutTimeout: 5s here: long enough for the live backends on a loaded machine).
func TestFederationBackendKilled(t *testing.T) {
	for _, tc := range []struct {
		mode string
		hung bool
		msg  string // of the failClosed list's JSON-RPC error
	}{
		{"failOpen", false, ""},
		{"failClosed", false, `backend "admin" unavailable`},
		{"failOpen", true, ""},
		{"failClosed", true, `backend "admin" unavailable (timed out)`},
	} {
		how := "killed"
		if tc.hung {
			how = "hung"
		}
		mode := tc.mode
		t.Run(mode+"/"+how, func(t *testing.T) {
			iss := rlStartIssuer(t)
			weather, calendar, admin := fdStartBackends(t)
			g := fdStartGateway(t, mode+", fanOutTimeout: 5s", fdPolicies(iss), "", weather, calendar, admin)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			bob := fdConnect(ctx, t, g.URL("/mcp"), iss, fdBob, nil, nil)
			if got, want := fdToolNames(ctx, t, bob), []string{"admin_drop_tables", "weather_get_forecast"}; !slices.Equal(got, want) {
				t.Fatalf("before the kill: %v, want %v", got, want)
			}
			if res, err := fdCall(ctx, bob, "admin_drop_tables", nil); err != nil || mtResultText(t, res) != "dropped (admin)" {
				t.Fatalf("admin_drop_tables before the kill: %v %+v", err, res)
			}

			if tc.hung {
				admin.hang.Store(true)
			} else {
				admin.Kill()
			}

			// A fresh list must not be answered from a cache that still
			// holds the dead backend's tools forever; the bound is the
			// whole test's, the per-call bound 10s.
			start := time.Now()
			listCtx, cancelList := context.WithTimeout(ctx, 15*time.Second)
			res, err := bob.ListTools(listCtx, nil)
			cancelList()
			if took := time.Since(start); took > 14*time.Second {
				t.Fatalf("tools/list with a %s backend took %s", how, took)
			}
			switch mode {
			case "failOpen":
				if err != nil {
					t.Fatalf("failOpen tools/list with a dead backend: %v", err)
				}
				var names []string
				for _, tl := range res.Tools {
					names = append(names, tl.Name)
				}
				if !slices.Equal(names, []string{"weather_get_forecast"}) {
					t.Errorf("failOpen tools/list = %v, want [weather_get_forecast]", names)
				}
				// Logged (naming route and backend) and counted.
				mtWait(t, 5*time.Second, "a log line about the dead backend", func() bool {
					return fdLogNames(g.Logs(), "admin", fdRoute)
				})
				mtWait(t, 5*time.Second, "the backend failure counted in /metrics", func() bool {
					return fdFailureCount(t, g, "admin") >= 1
				})
			case "failClosed":
				if err == nil {
					t.Fatalf("failClosed tools/list with a dead backend answered %d tools", len(res.Tools))
				}
				// A JSON-RPC error the client's SDK hands to the caller
				// (HTTP 200), naming the backend, its id echoed.
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("failClosed error %q does not say %q", err, tc.msg)
				}
				hdr := mtHeaders(mtV1125, bob.ID())
				hdr["Authorization"] = "Bearer " + iss.token(t, fdBob)
				// mtDo's 5s bound is the fan-out bound here: allow more.
				rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
				resp, err := mtHTTP.Do(mtRequest(rctx, t, http.MethodPost, g.URL("/mcp"), `{"jsonrpc":"2.0","id":"list-1","method":"tools/list"}`, hdr))
				if err != nil {
					rcancel()
					t.Fatalf("raw tools/list: %v", err)
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				rcancel()
				body := string(rb)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("failClosed list: HTTP %d, want 200 with a JSON-RPC error: %s", resp.StatusCode, body)
				}
				m := mtResponseFor(t, resp, body, `"list-1"`)
				if m.Error == nil || m.Error.Code != -32603 || m.Error.Message != tc.msg {
					t.Errorf("failClosed list error = %+v, want -32603 %q: %s", m.Error, tc.msg, body)
				}
			}

			// The dead backend's tool fails fast and clearly (a hung one
			// fails after its timeout, which this test does not wait for);
			// the live one keeps working on the same session.
			if !tc.hung {
				res2, err := fdCall(ctx, bob, "admin_drop_tables", nil)
				if !fdDenied(res2, err) {
					t.Errorf("admin_drop_tables on a dead backend succeeded: %+v", res2)
				}
			}
			if res, err := fdCall(ctx, bob, "weather_get_forecast", map[string]any{"city": "Oslo"}); err != nil || mtResultText(t, res) != "sunny in Oslo (weather)" {
				t.Errorf("weather_get_forecast after the kill: %v %+v", err, res)
			}
		})
	}
}

// fdLogNames reports whether one warn/error log line names the backend and
// the route (the gateway logs JSON lines).
func fdLogNames(logs, backend, route string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"level":"WARN"`) && !strings.Contains(line, `"level":"ERROR"`) {
			continue
		}
		if strings.Contains(line, `"`+backend+`"`) && strings.Contains(line, `"`+route+`"`) {
			return true
		}
	}
	return false
}

// fdFailureCount sums the federation backend-failure counters for backend
// in the admin /metrics (agentgateway_mcp_federation_backend_failures_total,
// whatever its other labels).
func fdFailureCount(t *testing.T, g *Gateway, backend string) float64 {
	t.Helper()
	resp, body := mtDo(t, http.MethodGet, g.AdminURL("/metrics"), "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "agentgateway_mcp_federation_backend_failures_total{") ||
			!strings.Contains(line, `backend="`+backend+`"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// TestFederationSessionless: a client of the 2026-07-28 revision (no
// session: server/discover instead of initialize, what a request needs in
// its _meta, subscriptions/listen for notifications) on the federated
// route: discover merged, lists merged and filtered, calls routed, and
// list_changed delivered on its subscription.
func TestFederationSessionless(t *testing.T) {
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	g := fdStartGateway(t, "failClosed", fdPolicies(iss), "", weather, calendar, admin)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	listChanged := make(chan struct{}, 10)
	b := &fdBearer{token: iss.token(t, fdAlice)}
	c := mcp.NewClient(&mcp.Implementation{Name: "fed-sessionless", Version: "1.0.0"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { listChanged <- struct{}{} },
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL("/mcp"), HTTPClient: &http.Client{Transport: b}}, &mcp.ClientSessionOptions{ProtocolVersion: mtV0728})
	if err != nil {
		t.Fatalf("connect (2026-07-28): %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	// The go-sdk client falls back to initialize (and a session) when
	// server/discover fails: only the negotiated version tells.
	if v := cs.InitializeResult().ProtocolVersion; v != mtV0728 || cs.ID() != "" {
		t.Fatalf("the client negotiated %q with session id %q, want %s without a session (server/discover not served by the federated route?)", v, cs.ID(), mtV0728)
	}

	want := []string{"calendar_list_events", "calendar_summarize", "weather_add_alerts", "weather_get_forecast", "weather_slow_forecast"}
	if got := fdToolNames(ctx, t, cs); !slices.Equal(got, want) {
		t.Errorf("tools/list = %v, want %v", got, want)
	}
	res, err := fdCall(ctx, cs, "weather_get_forecast", map[string]any{"city": "Oslo"})
	if err != nil || mtResultText(t, res) != "sunny in Oslo (weather)" {
		t.Fatalf("weather_get_forecast: %v %+v", err, res)
	}
	if res, err := fdCall(ctx, cs, "admin_drop_tables", nil); !fdDenied(res, err) {
		t.Errorf("admin_drop_tables served to alice: %+v", res)
	}
	if res, err := fdCall(ctx, cs, "weather_add_alerts", nil); err != nil || mtResultText(t, res) != "added" {
		t.Fatalf("weather_add_alerts: %v %+v", err, res)
	}
	mtRecv(t, listChanged, 10*time.Second, "notifications/tools/list_changed on the subscriptions/listen stream")
	if got := fdToolNames(ctx, t, cs); !slices.Contains(got, "weather_get_alerts") {
		t.Errorf("after list_changed: %v, want weather_get_alerts in it", got)
	}
}

// TestFederationRateLimit: rate-limit descriptors on a federated route
// see the prefixed tool name and the backend a call goes to; a refused
// call never reaches its backend, and the other backends' tools are not
// limited.
func TestFederationRateLimit(t *testing.T) {
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	policies := fdPolicies(iss) + `              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: weather_get_forecast
                      rateLimit: {requestsPerMinute: 1}
                    - key: backend
                      value: calendar
                      rateLimit: {requestsPerMinute: 2}
`
	g := fdStartGateway(t, "failClosed", policies, "", weather, calendar, admin)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	alice := fdConnect(ctx, t, g.URL("/mcp"), iss, fdAlice, nil, nil)

	for i, c := range []struct {
		tool    string
		allowed bool
	}{
		{"weather_get_forecast", true},
		{"weather_get_forecast", false}, // tool-name bucket of 1
		{"calendar_list_events", true},
		{"calendar_list_events", true},
		{"calendar_list_events", false}, // backend bucket of 2
		{"weather_add_alerts", true},    // neither descriptor applies
	} {
		var args map[string]any
		if c.tool == "weather_get_forecast" {
			args = map[string]any{"city": "Oslo"}
		}
		res, err := fdCall(ctx, alice, c.tool, args)
		if refused := fdDenied(res, err); refused == c.allowed {
			t.Errorf("call %d, %s: refused=%v (%v %+v), want allowed=%v", i, c.tool, refused, err, res, c.allowed)
		}
	}
	if n := weather.called("get_forecast"); n != 1 {
		t.Errorf("weather ran get_forecast %d times, want 1", n)
	}
	if n := calendar.called("list_events"); n != 2 {
		t.Errorf("calendar ran list_events %d times, want 2", n)
	}
	_, body := mtDo(t, http.MethodGet, g.AdminURL("/metrics"), "", nil)
	if n := metricValue(t, body, fmt.Sprintf(`agentgateway_ratelimit_decisions_total{decision="limited",route=%q}`, fdRoute)); n != 2 {
		t.Errorf("rate-limit decisions limited = %v, want 2", n)
	}
}

// fdKeys writes a session key file with keys (raw 32-byte keys, the first
// seals) and returns the server: YAML that uses it.
func fdKeys(t *testing.T, keys ...[]byte) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(t.TempDir(), "session-keys")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("server:\n  sessionKeys:\n    file: %s\n", path)
}

// TestFederationKeyRotationAcrossReplicas: replicas mid-rotation. A new
// key that is only listed (not first) opens on the replica that has it
// while every replica still seals with the old one, so adding it first
// everywhere breaks no session; once a replica seals with the new key,
// a replica without it refuses those sessions (404). This is why the new
// key is rolled out to every replica before any replica seals with it
// (docs/federation.md#key-rotation).
func TestFederationKeyRotationAcrossReplicas(t *testing.T) {
	iss := rlStartIssuer(t)
	weather, calendar, admin := fdStartBackends(t)
	oldKey, newKey := make([]byte, 32), make([]byte, 32)
	for _, k := range [][]byte{oldKey, newKey} {
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
	}
	start := func(keys ...[]byte) *Gateway {
		return fdStartGateway(t, "failClosed", fdPolicies(iss), fdKeys(t, keys...), weather, calendar, admin)
	}
	old := start(oldKey)              // not rotated yet
	added := start(oldKey, newKey)    // step 1: the new key opens
	promoted := start(newKey, oldKey) // step 2: the new key seals

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	open := func(g *Gateway) string {
		t.Helper()
		cs := fdConnect(ctx, t, g.URL("/mcp"), iss, fdAlice, nil, nil)
		return cs.ID()
	}
	status := func(g *Gateway, sid string) int {
		t.Helper()
		hdr := mtHeaders(mtV1125, sid)
		hdr["Authorization"] = "Bearer " + iss.token(t, fdAlice)
		resp, _ := mtDo(t, http.MethodPost, g.URL("/mcp"), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, hdr)
		return resp.StatusCode
	}
	fromOld, fromAdded, fromPromoted := open(old), open(added), open(promoted)
	for _, c := range []struct {
		what string
		g    *Gateway
		sid  string
		want int
	}{
		{"old-key session on the replica that added the new key", added, fromOld, http.StatusOK},
		{"old-key session on the replica that seals with the new key", promoted, fromOld, http.StatusOK},
		{"session of the replica that added the key, on a replica without it", old, fromAdded, http.StatusOK},
		{"new-key session on the replica that added the key", added, fromPromoted, http.StatusOK},
		{"new-key session on a replica without the new key", old, fromPromoted, http.StatusNotFound},
	} {
		if got := status(c.g, c.sid); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.what, got, c.want)
		}
	}
}
