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

// holdingBackend serves a real go-sdk MCP server at /mcp, but can hold
// two of its answers to force an interleaving: the initialize response's
// body (its headers, with the session id, reach the client at once), and
// a GET listening stream, answered 200 only when released (as a stream
// the backend ends after the session's DELETE).
type holdingBackend struct {
	initBody chan struct{} // closed: initialize bodies are released
	getSeen  chan struct{} // receives when a GET arrives
	getGo    chan struct{} // closed: GETs are answered
}

func newHoldingBackend(t *testing.T) (*holdingBackend, string) {
	t.Helper()
	h := &holdingBackend{initBody: make(chan struct{}), getSeen: make(chan struct{}, 4), getGo: make(chan struct{})}
	be, _ := sessionBackend(t)
	inner := be.Config.Handler
	be.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet:
			h.getSeen <- struct{}{}
			<-h.getGo
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "":
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			http.NewResponseController(w).Flush()
			<-h.initBody
			_, _ = w.Write(rec.Body.Bytes())
		default:
			inner.ServeHTTP(w, r)
		}
	})
	return h, be.URL
}

func rawRequest(t *testing.T, method, url, sid string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// A closed session never comes back (the CI flake of TestMCPSessions):
// the client's GET stream, opened the moment it sees the session id,
// ends with 200 only after its DELETE. The session must be known before
// the client sees its id, and the GET ending must not adopt it again,
// or the dead session holds its identity's slot for the idle lifetime.
func TestClosedSessionIsNotResurrected(t *testing.T) {
	h, url := newHoldingBackend(t)
	g, base := startGateway(t, mcpConfig, url)
	url = base + "/mcp"

	// initialize: the headers (and the id) reach the client while the
	// body, and so the gateway's handler, is still held.
	initRes := rawPost(t, url, "", rawInitialize)
	sid := initRes.Header.Get("Mcp-Session-Id")
	if initRes.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %q", initRes.StatusCode, sid)
	}
	getDone := make(chan *http.Response, 1)
	go func() { getDone <- rawRequest(t, http.MethodGet, url, sid) }()
	<-h.getSeen
	close(h.initBody)
	_, _ = io.Copy(io.Discard, initRes.Body)

	if res := rawRequest(t, http.MethodDelete, url, sid); res.StatusCode/100 != 2 {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	close(h.getGo)
	if res := <-getDone; res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	if n := g.deps.sessions.len(); n != 0 {
		t.Fatalf("the gateway tracks %d sessions after the only one was deleted", n)
	}
}

// A session the gateway never saw (opened before a restart, or on another
// replica) is adopted on use, but not once it has ended: a GET in flight
// when its DELETE succeeds cannot bring it back.
func TestEndedUnknownSessionIsNotAdopted(t *testing.T) {
	h, url := newHoldingBackend(t)
	close(h.initBody)
	// The session starts at the backend directly, unseen by the gateway.
	sid := rawSession(t, url+"/mcp")
	g, base := startGateway(t, mcpConfig, url)
	url = base + "/mcp"

	getDone := make(chan *http.Response, 1)
	go func() { getDone <- rawRequest(t, http.MethodGet, url, sid) }()
	<-h.getSeen
	if res := rawRequest(t, http.MethodDelete, url, sid); res.StatusCode/100 != 2 {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	close(h.getGo)
	if res := <-getDone; res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	if n := g.deps.sessions.len(); n != 0 {
		t.Fatalf("the gateway adopted a session that had ended (%d tracked)", n)
	}
}

func TestTombstonesBounded(t *testing.T) {
	b := newTombstones(3)
	for _, id := range []string{"a", "b", "c", "a", "d"} {
		b.add(id)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "e": false} {
		if got := b.has(id); got != want {
			t.Errorf("has(%q) = %v, want %v", id, got, want)
		}
	}
	if len(b.set) != 3 {
		t.Errorf("%d tombstones kept, want 3", len(b.set))
	}
}
