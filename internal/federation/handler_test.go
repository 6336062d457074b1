package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	mcpwire "github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestMapBack(t *testing.T) {
	h := New(Config{Route: "r", Separator: "_", Backends: []Backend{{Name: "a", Prefix: "a"}, {Name: "b", Prefix: ""}}})
	tests := []struct {
		name   string
		i      int
		method string
		in     string
		want   []string // substrings of the mapped message
	}{
		{"server request gets a gateway id", 0, "", `{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}`,
			[]string{`"id":"fed.0.Nw"`, `"method":"sampling/createMessage"`}},
		{"cancelled names the gateway id", 0, "", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`,
			[]string{`"requestId":"fed.0.Nw"`}},
		{"resource updated", 0, "", `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///x"}}`,
			[]string{`"uri":"a_file:///x"`}},
		{"progress unchanged", 0, "tools/call", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
			[]string{`"progressToken":"t"`}},
		{"read contents", 0, "resources/read", `{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"file:///x","text":"t"}]}}`,
			[]string{`"uri":"a_file:///x"`, `"id":1`}},
		{"call links and embedded resources", 0, "tools/call", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"resource_link","uri":"u1","name":"n"},{"type":"resource","resource":{"uri":"u2","text":"t"}},{"type":"text","text":"u3"}]}}`,
			[]string{`"uri":"a_u1"`, `"uri":"a_u2"`, `"text":"u3"`}},
		{"prompt messages", 0, "prompts/get", `{"jsonrpc":"2.0","id":1,"result":{"messages":[{"role":"user","content":{"type":"resource_link","uri":"u","name":"n"}}]}}`,
			[]string{`"uri":"a_u"`}},
		{"empty prefix keeps URIs", 1, "resources/read", `{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"file:///x"}]}}`,
			[]string{`"uri":"file:///x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := h.mapBack(tt.i, tt.method, []byte(tt.in))
			if !ok {
				t.Fatal("dropped")
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("%s lacks %s", out, w)
				}
			}
		})
	}
	if _, ok := h.mapBack(0, "", []byte(`not json`)); ok {
		t.Error("an unparsable message was relayed")
	}
	// The client's answer to the mapped request goes back with the
	// backend's id.
	i, raw, ok := decodeServerID(json.RawMessage(`"fed.0.Nw"`), 2)
	if !ok || i != 0 || string(raw) != "7" {
		t.Fatalf("decodeServerID = %d %s %v", i, raw, ok)
	}
}

// lockedBuf is a log sink shared with the handler's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFanOutFailureIsLoggedAndCounted drives the handler directly with a
// go-sdk server and a backend that refuses connections: failOpen serves
// the live one, reports the dead one to OnFailure and logs it.
func TestFanOutFailureIsLoggedAndCounted(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "live", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "t"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	live := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	defer live.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	var logs lockedBuf
	var mu sync.Mutex
	var failed []string
	h := New(Config{
		Route: "r", Separator: "_", FailOpen: true, FanOutTimeout: 5 * time.Second,
		Backends: []Backend{
			{Name: "live", Prefix: "live", URL: live.URL, Transport: http.DefaultTransport},
			{Name: "dead", Prefix: "dead", URL: dead, Transport: http.DefaultTransport},
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
		OnFailure: func(route, backend string) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, route+"/"+backend)
		},
	})
	do := func(sid, body string) *httptest.ResponseRecorder {
		t.Helper()
		b, err := mcpwire.ParseBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Accept", "application/json")
		if sid != "" {
			r.Header.Set("Mcp-Session-Id", sid)
		}
		ex := &policy.Exchange{Method: http.MethodPost, RPC: b, Body: []byte(body)}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r.WithContext(policy.WithExchange(r.Context(), ex))); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return w
	}
	w := do("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	sid := w.Header().Get("Mcp-Session-Id")
	if sid == "" || !strings.Contains(w.Body.String(), `"tools"`) {
		t.Fatalf("initialize: %s", w.Body.String())
	}
	defer func() {
		r := httptest.NewRequest(http.MethodDelete, "/mcp", nil)
		r.Header.Set("Mcp-Session-Id", sid)
		_ = h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	do(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	w = do(sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if !strings.Contains(w.Body.String(), `"live_t"`) {
		t.Fatalf("list: %s", w.Body.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || failed[0] != "r/dead" {
		t.Fatalf("failures reported: %v", failed)
	}
	if !strings.Contains(logs.String(), "federation backend unavailable") || !strings.Contains(logs.String(), "backend=dead") {
		t.Fatalf("log: %s", logs.String())
	}
}

// TestBackendHeaders: a backend gets its own session id and version, the
// forwarding headers, and never the caller's token (unless the route opts
// in), cookies or the client's federated session id.
func TestBackendHeaders(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "b", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "t"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		sdk.ServeHTTP(w, r)
	}))
	defer srv.Close()
	for _, forward := range []bool{false, true} {
		h := New(Config{Route: "r", Separator: "_", ForwardAuthorization: forward,
			Backends: []Backend{{Name: "b", Prefix: "b", URL: srv.URL, Transport: http.DefaultTransport}}})
		do := func(method, sid, body string) *httptest.ResponseRecorder {
			t.Helper()
			r := httptest.NewRequest(method, "/mcp", strings.NewReader(body))
			r.RemoteAddr = "192.0.2.7:5555"
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Authorization", "Bearer caller-token")
			r.Header.Set("Cookie", "c=1")
			r.Header.Set("X-Agent-Identity", "set-by-a-policy")
			ex := &policy.Exchange{Method: method}
			if body != "" {
				b, err := mcpwire.ParseBody([]byte(body))
				if err != nil {
					t.Fatal(err)
				}
				ex.RPC, ex.Body = b, []byte(body)
			}
			if sid != "" {
				r.Header.Set("Mcp-Session-Id", sid)
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r.WithContext(policy.WithExchange(r.Context(), ex))); err != nil {
				t.Fatal(err)
			}
			return w
		}
		mu.Lock()
		seen = nil
		mu.Unlock()
		sid := do(http.MethodPost, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`).Header().Get("Mcp-Session-Id")
		do(http.MethodPost, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		do(http.MethodDelete, sid, "")
		mu.Lock()
		if len(seen) != 3 {
			t.Fatalf("backend saw %d requests", len(seen))
		}
		list := seen[1]
		mu.Unlock()
		if got := list.Get("Authorization"); (got != "") != forward {
			t.Errorf("forwardAuthorization %v: backend got Authorization %q", forward, got)
		}
		if list.Get("Cookie") != "" || list.Get("X-Agent-Identity") != "set-by-a-policy" {
			t.Errorf("cookie %q, identity %q", list.Get("Cookie"), list.Get("X-Agent-Identity"))
		}
		if bsid := list.Get("Mcp-Session-Id"); bsid == "" || bsid == sid {
			t.Errorf("backend session id %q (federated %q)", bsid, sid)
		}
		if list.Get("Mcp-Protocol-Version") != "2025-06-18" || list.Get("X-Forwarded-For") != "192.0.2.7" {
			t.Errorf("version %q, X-Forwarded-For %q", list.Get("Mcp-Protocol-Version"), list.Get("X-Forwarded-For"))
		}
	}
}
