package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionBackend serves a real go-sdk MCP server at /mcp and reports how
// many sessions it holds.
func sessionBackend(t *testing.T) (*httptest.Server, func() int) {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		// The sessions the test leaves open would outlive it (goleak).
		for ss := range s.Sessions() {
			_ = ss.Close()
		}
	})
	return srv, func() int {
		n := 0
		for range s.Sessions() {
			n++
		}
		return n
	}
}

const rawInitialize = `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func rawPost(t *testing.T, url, sid, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func rawSession(t *testing.T, url string) string {
	t.Helper()
	res := rawPost(t, url, "", rawInitialize)
	_, _ = io.Copy(io.Discard, res.Body)
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %q", res.StatusCode, sid)
	}
	return sid
}

// When the replica's session table is full, the least recently used idle
// session is closed at its backend to make room; with none idle, a new
// session gets 503 as a JSON-RPC error echoing the id.
func TestSessionTableFull(t *testing.T) {
	be, sessions := sessionBackend(t)
	g, base := startGateway(t, mcpConfig+"server:\n  maxSessions: 2\n", be.URL)
	url := base + "/mcp"

	s1 := rawSession(t, url)
	s2 := rawSession(t, url)
	// Use s1, so s2 is the least recently used.
	rawPost(t, url, s1, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s3 := rawSession(t, url)
	waitFor(t, func() bool { return sessions() == 2 })
	if res := rawPost(t, url, s2, `{"jsonrpc":"2.0","id":3,"method":"ping"}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("evicted session: %d, want the backend's 404", res.StatusCode)
	}
	if res := rawPost(t, url, s1, `{"jsonrpc":"2.0","id":3,"method":"ping"}`); res.StatusCode != 200 {
		t.Errorf("recently used session: %d", res.StatusCode)
	}

	// Hold both remaining sessions busy with listening streams: nothing
	// is idle, so there is no room.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, sid := range []string{s1, s3} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET stream: %v %v", err, res)
		}
		defer res.Body.Close()
	}
	waitFor(t, func() bool { return g.deps.sessions.idle.Len() == 0 })
	res := rawPost(t, url, "", rawInitialize)
	body, _ := io.ReadAll(res.Body)
	var rpc struct {
		ID    json.RawMessage `json:"id"`
		Error json.RawMessage `json:"error"`
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		json.Unmarshal(body, &rpc) != nil || string(rpc.ID) != "7" || rpc.Error == nil {
		t.Fatalf("full table, nothing idle: %d %s", res.StatusCode, body)
	}
	if n := sessions(); n != 2 {
		t.Errorf("backend holds %d sessions, want 2", n)
	}
}

// A response that receives nothing from the backend for
// server.streamIdleTimeout ends; a route's timeout policy overrides it.
func TestStreamIdleTimeout(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	open := func(t *testing.T, cfg string) time.Duration {
		_, base := startGateway(t, cfg, silent.URL)
		req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return time.Since(start)
	}
	t.Run("server default", func(t *testing.T) {
		if d := open(t, mcpConfig+"server:\n  streamIdleTimeout: 300ms\n"); d < 250*time.Millisecond || d > 5*time.Second {
			t.Errorf("silent stream ended after %v, want about 300ms", d)
		}
	})
	t.Run("route timeout wins", func(t *testing.T) {
		cfg := strings.Replace(mcpConfig, "            backends:\n", "            policies:\n              - type: timeout\n                timeout: {idle: 1s}\n            backends:\n", 1)
		if d := open(t, cfg+"server:\n  streamIdleTimeout: 300ms\n"); d < 900*time.Millisecond || d > 6*time.Second {
			t.Errorf("silent stream ended after %v, want about 1s (the route's idle)", d)
		}
	})
}
