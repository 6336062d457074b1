package e2e

// Resilience tests: timeouts, retries, hot reload under load and SIGTERM
// drain, against the real binary in front of real go-sdk MCP servers.
//
// Backends are stateless go-sdk Streamable HTTP servers with
// PropagateRequestCancellation, so a tool handler's context ends when the
// gateway gives up on the upstream request: that is how these tests see
// "the backend saw cancellation". Raw requests that must observe it speak
// protocol 2026-07-28 (the version whose POST is the whole request
// lifecycle); other raw requests speak the default (2025-03-26) protocol.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ---------------------------------------------------------------------------
// Backend: a go-sdk MCP server with fault injection in front of it.

const resNewProtocol = "2026-07-28"

// resToolArgs are the arguments of every resilience tool.
type resToolArgs struct {
	Key        string `json:"key,omitempty"`
	Text       string `json:"text,omitempty"`
	SleepMS    int    `json:"sleep_ms,omitempty"`
	Count      int    `json:"count,omitempty"`
	IntervalMS int    `json:"interval_ms,omitempty"`
	Stall      bool   `json:"stall,omitempty"`
}

type resBackendOpts struct {
	// Stateful serves sessions (initialize, GET listening streams);
	// otherwise the server is stateless.
	Stateful bool
	// JSONResponse answers POSTs with application/json instead of SSE.
	JSONResponse bool
}

// resBackend is an MCP server with tools:
//
//	echo     returns "echo: <text>" at once
//	slow     waits sleep_ms (or until its context ends), returns "slow done: <key>"
//	progress sends count progress notifications interval_ms apart, then
//	         returns "progress done: <key> <count>" (or, with stall, waits
//	         for its context to end)
//
// Every tool records, per key, that it started, that it executed and
// whether its context ended before it finished ("cancelled").
type resBackend struct {
	URL string
	h   http.Handler

	mu      sync.Mutex
	events  map[string]chan struct{} // "started:key", "cancelled:key"
	execs   map[string]int           // per key
	hits    map[string]int           // HTTP requests per JSON-RPC method
	faults  map[string][]string      // per method, the fault of each successive hit
	toolCnt atomic.Int64
}

func newResBackend(t testing.TB, o resBackendOpts) *resBackend {
	b := newResBackendHandler(o)
	b.URL = serve(t, b)
	return b
}

// newResBackendHandler builds the backend without listening (see serveResOn).
func newResBackendHandler(o resBackendOpts) *resBackend {
	b := &resBackend{
		events: map[string]chan struct{}{},
		execs:  map[string]int{},
		hits:   map[string]int{},
		faults: map[string][]string{},
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "resilience", Version: "1"}, nil)
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in resToolArgs) (*mcp.CallToolResult, any, error) {
		b.exec(in.Key)
		return text("echo: " + in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, in resToolArgs) (*mcp.CallToolResult, any, error) {
		b.exec(in.Key)
		b.signal("started", in.Key)
		select {
		case <-ctx.Done():
			b.signal("cancelled", in.Key)
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(in.SleepMS) * time.Millisecond):
		}
		return text("slow done: " + in.Key), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "progress", Description: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, in resToolArgs) (*mcp.CallToolResult, any, error) {
		b.exec(in.Key)
		b.signal("started", in.Key)
		token := req.Params.GetProgressToken()
		for i := 0; i < in.Count; i++ {
			if token != nil {
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: float64(i + 1), Total: float64(in.Count), Message: in.Key,
				})
				if err != nil && ctx.Err() == nil {
					return nil, nil, err
				}
			}
			select {
			case <-ctx.Done():
				b.signal("cancelled", in.Key)
				return nil, nil, ctx.Err()
			case <-time.After(time.Duration(in.IntervalMS) * time.Millisecond):
			}
		}
		if in.Stall {
			<-ctx.Done()
			b.signal("cancelled", in.Key)
			return nil, nil, ctx.Err()
		}
		return text(fmt.Sprintf("progress done: %s %d", in.Key, in.Count)), nil, nil
	})
	b.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{
		Stateless:                    !o.Stateful,
		JSONResponse:                 o.JSONResponse,
		PropagateRequestCancellation: true,
	})
	return b
}

func (b *resBackend) exec(key string) {
	b.toolCnt.Add(1)
	b.mu.Lock()
	b.execs[key]++
	b.mu.Unlock()
}

// Execs returns how many times a tool ran with key.
func (b *resBackend) Execs(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.execs[key]
}

// Hits returns how many HTTP requests carried method.
func (b *resBackend) Hits(method string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[method]
}

// Faults sets the faults the next requests for method get, one per request
// ("reset": reset the connection without running anything; "reset-after":
// run the request, then reset instead of answering; "reset-mid": send
// headers and part of an SSE event, then reset; "delay": answer after 3s;
// "503"; "" passes), and resets the method's hit count.
func (b *resBackend) Faults(method string, faults ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[method] = faults
	b.hits[method] = 0
}

func (b *resBackend) event(kind, key string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := kind + ":" + key
	ch, ok := b.events[name]
	if !ok {
		ch = make(chan struct{})
		b.events[name] = ch
	}
	return ch
}

func (b *resBackend) signal(kind, key string) {
	ch := b.event(kind, key)
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Saw reports whether kind happened for key within d.
func (b *resBackend) Saw(kind, key string, d time.Duration) bool {
	select {
	case <-b.event(kind, key):
		return true
	case <-time.After(d):
		return false
	}
}

func (b *resBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &m)
	b.mu.Lock()
	b.hits[m.Method]++
	n := b.hits[m.Method]
	fault := ""
	if fs := b.faults[m.Method]; n <= len(fs) {
		fault = fs[n-1]
	}
	b.mu.Unlock()
	switch fault {
	case "503":
		http.Error(w, "injected 503", http.StatusServiceUnavailable)
	case "reset":
		resReset(w)
	case "reset-after":
		b.h.ServeHTTP(&resDiscardWriter{h: http.Header{}}, r)
		resReset(w)
	case "reset-mid":
		// Headers and half an event reach the gateway, then a reset.
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",")
		_ = http.NewResponseController(w).Flush()
		time.Sleep(20 * time.Millisecond)
		resReset(w)
	case "delay":
		// Answer only after 3s, unless the gateway gives up first.
		select {
		case <-r.Context().Done():
			return
		case <-time.After(3 * time.Second):
		}
		b.h.ServeHTTP(w, r)
	default:
		b.h.ServeHTTP(w, r)
	}
}

// resReset aborts the connection with a TCP RST.
func resReset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// resDiscardWriter lets a request run to completion while its response is
// thrown away.
type resDiscardWriter struct{ h http.Header }

func (w *resDiscardWriter) Header() http.Header         { return w.h }
func (w *resDiscardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *resDiscardWriter) WriteHeader(int)             {}
func (w *resDiscardWriter) Flush()                      {}

// serveResOn serves h on addr (a port the test reserved), like serve.
func serveResOn(t testing.TB, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return nil
}

// ---------------------------------------------------------------------------
// Config.

// resRoute is one MCP route of resListener.
type resRoute struct {
	Name, Prefix, Backend string
	// Policies are items of the route's policies list, indented 14
	// spaces as for MCPListener.
	Policies string
	// BackendTimeout is backends[0].mcp.timeout ("" for none).
	BackendTimeout string
}

// resListener renders one MCP listener with several routes.
func resListener(routes ...resRoute) string {
	var sb strings.Builder
	sb.WriteString("      - name: mcp\n        routes:\n")
	for _, r := range routes {
		pol := "[]"
		if r.Policies != "" {
			pol = "\n" + strings.TrimRight(r.Policies, "\n")
		}
		fmt.Fprintf(&sb, `          - name: %s
            match:
              path:
                prefix: %s
            policies: %s
            backends:
              - name: %s-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
                  protocol: http
`, r.Name, r.Prefix, pol, r.Name, r.Backend)
		if r.BackendTimeout != "" {
			fmt.Fprintf(&sb, "                  timeout: %s\n", r.BackendTimeout)
		}
	}
	return sb.String()
}

func resRetryPolicy(attempts int, retryOn, base, max string, nonIdempotent bool) string {
	return resRetryPolicyPerTry(attempts, retryOn, base, max, "", nonIdempotent)
}

func resRetryPolicyPerTry(attempts int, retryOn, base, max, perTry string, nonIdempotent bool) string {
	s := fmt.Sprintf("              - type: retry\n                retry:\n                  attempts: %d\n                  retryOn: [%s]\n                  backoff:\n                    baseInterval: %s\n                    maxInterval: %s\n",
		attempts, retryOn, base, max)
	if perTry != "" {
		s += "                  perTryTimeout: " + perTry + "\n"
	}
	if nonIdempotent {
		s += "                  retryNonIdempotent: true\n"
	}
	return s
}

func resTimeoutPolicy(request, idle string) string {
	s := "              - type: timeout\n                timeout:\n"
	if request != "" {
		s += "                  request: " + request + "\n"
	}
	if idle != "" {
		s += "                  idle: " + idle + "\n"
	}
	return s
}

// ---------------------------------------------------------------------------
// Raw client.

// resRequest builds a JSON-RPC request body and its headers. With
// newProtocol the request carries the 2026-07-28 _meta triple and the
// standard MCP headers.
func resRequest(id int, method, tool string, args any, newProtocol bool, progressToken string) (string, map[string]string) {
	params := map[string]any{}
	if tool != "" {
		params["name"] = tool
		params["arguments"] = args
	}
	meta := map[string]any{}
	if progressToken != "" {
		meta["progressToken"] = progressToken
	}
	hdr := map[string]string{}
	if newProtocol {
		meta["io.modelcontextprotocol/protocolVersion"] = resNewProtocol
		meta["io.modelcontextprotocol/clientCapabilities"] = map[string]any{}
		meta["io.modelcontextprotocol/clientInfo"] = map[string]any{"name": "resilience", "version": "1"}
		hdr["MCP-Protocol-Version"] = resNewProtocol
		hdr["Mcp-Method"] = method
		if tool != "" {
			hdr["Mcp-Name"] = tool
		}
	}
	if len(meta) > 0 {
		params["_meta"] = meta
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return string(b), hdr
}

type resResult struct {
	Status  int
	Header  http.Header
	Body    []byte
	ReadErr error // error reading the body (nil on a clean end)
	Elapsed time.Duration
}

// resDo posts body and reads the whole response. It never calls t.Fatal,
// so it may run on any goroutine; err is a transport error before headers.
func resDo(c *http.Client, method, url, body string, hdr map[string]string) (*resResult, error) {
	start := time.Now()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return &resResult{Status: resp.StatusCode, Header: resp.Header, Body: b, ReadErr: rerr, Elapsed: time.Since(start)}, nil
}

func resHTTPClient() *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// resMsg is a JSON-RPC message as the tests read it.
type resMsg struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  *struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			HTTPStatus int `json:"httpStatus"`
		} `json:"data"`
	} `json:"error"`
}

// resMessages parses a JSON body or the data of every SSE event.
func resMessages(t testing.TB, r *resResult) []resMsg {
	t.Helper()
	ct := r.Header.Get("Content-Type")
	var raws [][]byte
	if strings.HasPrefix(ct, "text/event-stream") {
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		var data []byte
		flush := func() {
			if len(data) > 0 {
				raws = append(raws, data)
			}
			data = nil
		}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				flush()
			case strings.HasPrefix(line, "data:"):
				d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, d...)
			}
		}
		flush()
	} else if len(bytes.TrimSpace(r.Body)) > 0 {
		raws = append(raws, r.Body)
	}
	var out []resMsg
	for _, raw := range raws {
		var m resMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("bad JSON-RPC message %q: %v", raw, err)
		}
		out = append(out, m)
	}
	return out
}

// resSplit returns the progress notifications and the responses.
func resSplit(msgs []resMsg) (progress int, responses []resMsg) {
	for _, m := range msgs {
		switch {
		case m.Method == "notifications/progress":
			progress++
		case m.Method == "" && len(m.ID) > 0:
			responses = append(responses, m)
		}
	}
	return progress, responses
}

// resWantRPCError checks a gateway-rendered JSON-RPC error response.
func resWantRPCError(t testing.TB, r *resResult, status, id int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content-type %q, want application/json; body %s", ct, r.Body)
	}
	msgs := resMessages(t, r)
	if len(msgs) != 1 || msgs[0].Error == nil || msgs[0].JSONRPC != "2.0" {
		t.Fatalf("want one JSON-RPC error, got %s", r.Body)
	}
	if got := string(msgs[0].ID); got != fmt.Sprint(id) {
		t.Fatalf("error id %s, want %d; body %s", got, id, r.Body)
	}
	if msgs[0].Error.Data.HTTPStatus != status {
		t.Fatalf("error.data.httpStatus %d, want %d; body %s", msgs[0].Error.Data.HTTPStatus, status, r.Body)
	}
}

// resWantText checks a successful tools/call response (JSON or SSE) with
// one final result whose text is want, and returns the progress count.
func resWantText(t testing.TB, r *resResult, id int, want string) int {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
	}
	if r.ReadErr != nil {
		t.Fatalf("reading body: %v (body so far %s)", r.ReadErr, r.Body)
	}
	progress, resps := resSplit(resMessages(t, r))
	if len(resps) != 1 || resps[0].Result == nil || string(resps[0].ID) != fmt.Sprint(id) {
		t.Fatalf("want one result for id %d, got %s", id, r.Body)
	}
	if len(resps[0].Result.Content) == 0 || resps[0].Result.Content[0].Text != want || resps[0].Result.IsError {
		t.Fatalf("result %s, want text %q", r.Body, want)
	}
	return progress
}

// ---------------------------------------------------------------------------
// 1. Timeouts.

func TestResilienceTimeouts(t *testing.T) {
	be := newResBackend(t, resBackendOpts{})
	cfg := NewPorts(t)
	cfg.Listeners = resListener(
		resRoute{Name: "req", Prefix: "/req", Backend: be.URL, Policies: resTimeoutPolicy("600ms", "")},
		resRoute{Name: "idle", Prefix: "/idle", Backend: be.URL, Policies: resTimeoutPolicy("", "400ms")},
		resRoute{Name: "bt", Prefix: "/bt", Backend: be.URL, BackendTimeout: "600ms"},
		resRoute{Name: "plain", Prefix: "/plain", Backend: be.URL},
	)
	g := resStartGateway(t, cfg)
	c := resHTTPClient()

	// callTool sends a 2026-07-28 tools/call (so the backend handler's
	// context follows the HTTP request).
	callTool := func(t *testing.T, path string, id int, tool string, args resToolArgs, token string) *resResult {
		t.Helper()
		body, hdr := resRequest(id, "tools/call", tool, args, true, token)
		r, err := resDo(c, http.MethodPost, g.URL(path), body, hdr)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return r
	}
	wantCancelled := func(t *testing.T, key string) {
		t.Helper()
		if !be.Saw("started", key, 5*time.Second) {
			t.Fatalf("backend never started %q", key)
		}
		if !be.Saw("cancelled", key, 5*time.Second) {
			t.Fatalf("backend handler for %q never saw its context end", key)
		}
	}
	// wantCleanCut checks a 200 SSE response that ended cleanly (no
	// transport error) after some progress and without a final result.
	wantCleanCut := func(t *testing.T, r *resResult) {
		t.Helper()
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d %q, want a 200 event stream; body %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if r.ReadErr != nil {
			t.Fatalf("stream did not end cleanly: %v (body %s)", r.ReadErr, r.Body)
		}
		progress, resps := resSplit(resMessages(t, r))
		if progress == 0 {
			t.Fatalf("no progress before the cut: %s", r.Body)
		}
		if len(resps) != 0 {
			t.Fatalf("a cut stream must not carry a final result: %s", r.Body)
		}
	}

	t.Run("RequestBeforeHeaders504", func(t *testing.T) {
		r := callTool(t, "/req", 4242, "slow", resToolArgs{Key: "1a", SleepMS: 20000}, "")
		resWantRPCError(t, r, http.StatusGatewayTimeout, 4242)
		if r.Elapsed < 500*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Fatalf("504 after %v, want about 600ms", r.Elapsed)
		}
		wantCancelled(t, "1a")
	})

	t.Run("RequestEndsOpenStreamCleanly", func(t *testing.T) {
		r := callTool(t, "/req", 7, "progress", resToolArgs{Key: "1b", Count: 1000, IntervalMS: 50}, "tok-1b")
		wantCleanCut(t, r)
		if r.Elapsed < 500*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Fatalf("stream ended after %v, want about 600ms", r.Elapsed)
		}
		wantCancelled(t, "1b")
	})

	t.Run("IdleEndsSilentStreamCleanly", func(t *testing.T) {
		// One progress event, then nothing.
		r := callTool(t, "/idle", 8, "progress", resToolArgs{Key: "1c", Count: 1, Stall: true}, "tok-1c")
		wantCleanCut(t, r)
		if r.Elapsed < 350*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Fatalf("stream ended after %v, want about 400ms", r.Elapsed)
		}
		wantCancelled(t, "1c")
	})

	t.Run("IdleResetByTraffic", func(t *testing.T) {
		// 10 events 100ms apart: 1s in total, but never 400ms of silence.
		r := callTool(t, "/idle", 9, "progress", resToolArgs{Key: "1c-busy", Count: 10, IntervalMS: 100}, "tok-1c-busy")
		if n := resWantText(t, r, 9, "progress done: 1c-busy 10"); n != 10 {
			t.Fatalf("%d progress events, want 10", n)
		}
	})

	t.Run("IdleBeforeFirstByte", func(t *testing.T) {
		// The tool sends nothing at all, so the backend sends no headers
		// either (a go-sdk SSE response starts with its first event).
		// Nothing reaches the client for longer than idle: the idle
		// timeout must end the exchange and cancel the backend.
		r := callTool(t, "/idle", 10, "slow", resToolArgs{Key: "1c-silent", SleepMS: 4000}, "")
		if r.Elapsed > 2500*time.Millisecond {
			t.Errorf("GATEWAY BUG: timeout.idle (400ms) does not bound a response with no bytes before its headers: "+
				"the exchange lasted %v and ended with status %d %s", r.Elapsed, r.Status, r.Body)
			return
		}
		resWantRPCError(t, r, http.StatusGatewayTimeout, 10)
		wantCancelled(t, "1c-silent")
	})

	t.Run("BackendTimeout504", func(t *testing.T) {
		r := callTool(t, "/bt", 11, "slow", resToolArgs{Key: "1d", SleepMS: 20000}, "")
		resWantRPCError(t, r, http.StatusGatewayTimeout, 11)
		if r.Elapsed < 500*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Fatalf("504 after %v, want about 600ms", r.Elapsed)
		}
		wantCancelled(t, "1d")
	})

	t.Run("BackendTimeoutEndsOpenStreamCleanly", func(t *testing.T) {
		r := callTool(t, "/bt", 12, "progress", resToolArgs{Key: "1d-stream", Count: 1000, IntervalMS: 50}, "tok-1d")
		wantCleanCut(t, r)
		wantCancelled(t, "1d-stream")
	})

	t.Run("ClientDisconnectCancelsBackend", func(t *testing.T) {
		// No timeout on /plain: only the client going away can end the
		// 20s tool early.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		body, hdr := resRequest(13, "tools/call", "slow", resToolArgs{Key: "1e", SleepMS: 20000}, true, "")
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL("/plain"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		errc := make(chan error, 1)
		go func() {
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		if !be.Saw("started", "1e", 5*time.Second) {
			t.Fatal("backend never started")
		}
		cancel()
		<-errc
		if !be.Saw("cancelled", "1e", 3*time.Second) {
			t.Fatal("backend handler kept running after the client went away")
		}
	})
}

// ---------------------------------------------------------------------------
// 2. Retries.

func TestResilienceRetries(t *testing.T) {
	strict := newResBackend(t, resBackendOpts{JSONResponse: true})
	optin := newResBackend(t, resBackendOpts{JSONResponse: true})
	// Two ports with nothing listening: one the test starts serving on
	// later, one that stays closed.
	latePort, deadPort := freePort(t), freePort(t)
	lateAddr := fmt.Sprintf("127.0.0.1:%d", latePort)

	cfg := NewPorts(t)
	cfg.Listeners = resListener(
		resRoute{Name: "connect", Prefix: "/connect", Backend: "http://" + lateAddr,
			Policies: resRetryPolicy(10, "connect-failure", "100ms", "300ms", false)},
		resRoute{Name: "dead", Prefix: "/dead", Backend: fmt.Sprintf("http://127.0.0.1:%d", deadPort),
			Policies: resRetryPolicy(5, "5xx, reset", "10ms", "50ms", false)},
		resRoute{Name: "strict", Prefix: "/strict", Backend: strict.URL,
			Policies: resRetryPolicyPerTry(3, "5xx, reset, connect-failure", "10ms", "50ms", "300ms", false)},
		resRoute{Name: "optin", Prefix: "/optin", Backend: optin.URL,
			Policies: resRetryPolicy(3, "5xx, reset, connect-failure", "10ms", "50ms", true)},
	)
	g := resStartGateway(t, cfg)
	c := resHTTPClient()

	post := func(t *testing.T, path string, id int, method, tool string, args any) *resResult {
		t.Helper()
		body, hdr := resRequest(id, method, tool, args, false, "")
		r, err := resDo(c, http.MethodPost, g.URL(path), body, hdr)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return r
	}

	t.Run("ConnectFailureRetried", func(t *testing.T) {
		// The backend starts listening 150ms after the call: the first
		// attempt (milliseconds after the call) is refused, a later one
		// (9 backoffs, up to 2.4s in total; below 150ms in total with
		// probability ~1e-8) connects. A connect failure never reached
		// the backend, so even tools/call is retried, and runs once.
		late := newResBackendHandler(resBackendOpts{JSONResponse: true})
		type out struct {
			r   *resResult
			err error
		}
		done := make(chan out, 1)
		start := time.Now()
		go func() {
			body, hdr := resRequest(21, "tools/call", "echo", resToolArgs{Key: "2a", Text: "late"}, false, "")
			r, err := resDo(c, http.MethodPost, g.URL("/connect"), body, hdr)
			done <- out{r, err}
		}()
		time.Sleep(150 * time.Millisecond)
		if err := serveResOn(t, lateAddr, late); err != nil {
			t.Fatalf("listening on the reserved port: %v", err)
		}
		var o out
		select {
		case o = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("call did not finish")
		}
		if o.err != nil {
			t.Fatal(o.err)
		}
		resWantText(t, o.r, 21, "echo: late")
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Fatalf("succeeded after %v, before the backend listened", el)
		}
		if n := late.Execs("2a"); n != 1 {
			t.Fatalf("tool ran %d times, want 1", n)
		}
	})

	t.Run("ConnectFailureNotRetriedUnlessListed", func(t *testing.T) {
		r := post(t, "/dead", 22, "tools/list", "", nil)
		resWantRPCError(t, r, http.StatusBadGateway, 22)
		if r.Elapsed > 2*time.Second {
			t.Fatalf("took %v", r.Elapsed)
		}
	})

	t.Run("ToolsCallResetNotRetried", func(t *testing.T) {
		strict.Faults("tools/call", "reset-after", "reset-after", "reset-after")
		r := post(t, "/strict", 23, "tools/call", "echo", resToolArgs{Key: "2b", Text: "x"})
		resWantRPCError(t, r, http.StatusBadGateway, 23)
		if n := strict.Execs("2b"); n != 1 {
			t.Fatalf("tool ran %d times, want exactly 1", n)
		}
		if n := strict.Hits("tools/call"); n != 1 {
			t.Fatalf("backend got %d tools/call requests, want 1", n)
		}
	})

	t.Run("ToolsListResetRetried", func(t *testing.T) {
		strict.Faults("tools/list", "reset")
		r := post(t, "/strict", 24, "tools/list", "", nil)
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"name":"echo"`)) {
			t.Fatalf("status %d body %s, want the tool list", r.Status, r.Body)
		}
		if n := strict.Hits("tools/list"); n != 2 {
			t.Fatalf("backend got %d tools/list requests, want 2", n)
		}
	})

	t.Run("5xxRetriedForIdempotentOnly", func(t *testing.T) {
		strict.Faults("tools/list", "503", "503")
		r := post(t, "/strict", 25, "tools/list", "", nil)
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"name":"echo"`)) {
			t.Fatalf("status %d body %s, want the tool list on the third attempt", r.Status, r.Body)
		}
		if n := strict.Hits("tools/list"); n != 3 {
			t.Fatalf("backend got %d tools/list requests, want 3", n)
		}

		// Out of attempts: the last 503 goes to the client.
		strict.Faults("tools/list", "503", "503", "503", "503")
		r = post(t, "/strict", 26, "tools/list", "", nil)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want the backend's 503; body %s", r.Status, r.Body)
		}
		if n := strict.Hits("tools/list"); n != 3 {
			t.Fatalf("backend got %d tools/list requests, want attempts=3", n)
		}

		strict.Faults("tools/call", "503", "503")
		r = post(t, "/strict", 27, "tools/call", "echo", resToolArgs{Key: "2d", Text: "x"})
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want the backend's 503 unretried; body %s", r.Status, r.Body)
		}
		if n := strict.Hits("tools/call"); n != 1 {
			t.Fatalf("backend got %d tools/call requests, want 1", n)
		}
	})

	t.Run("MidStreamResetNotRetriedAndSurfaced", func(t *testing.T) {
		// Once the response started, a retry is impossible; the client
		// must see the break, not a clean end.
		strict.Faults("tools/list", "reset-mid", "reset-mid")
		r := post(t, "/strict", 29, "tools/list", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d, want the 200 the backend started; body %s", r.Status, r.Body)
		}
		if r.ReadErr == nil {
			t.Fatalf("a stream the backend broke ended cleanly (body %q); the client cannot tell it is truncated", r.Body)
		}
		if n := strict.Hits("tools/list"); n != 1 {
			t.Fatalf("backend got %d tools/list requests, want 1", n)
		}
	})

	t.Run("LogsStayJSON", func(t *testing.T) {
		// logging.format is json: every line the gateway writes must be a
		// JSON object, including what it logs about the broken stream
		// above.
		time.Sleep(100 * time.Millisecond)
		for _, line := range strings.Split(g.Logs(), "\n") {
			if line == "" {
				continue
			}
			if !json.Valid([]byte(line)) {
				t.Errorf("GATEWAY BUG: non-JSON log line with logging.format json: %q", line)
			}
		}
	})

	t.Run("PerTryTimeoutRetriesIdempotent", func(t *testing.T) {
		strict.Faults("tools/list", "delay")
		r := post(t, "/strict", 30, "tools/list", "", nil)
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"name":"echo"`)) {
			t.Fatalf("status %d body %s, want the tool list from the second attempt", r.Status, r.Body)
		}
		if n := strict.Hits("tools/list"); n != 2 {
			t.Fatalf("backend got %d tools/list requests, want 2", n)
		}
		if r.Elapsed < 250*time.Millisecond || r.Elapsed > 2500*time.Millisecond {
			t.Fatalf("took %v, want about the 300ms per-try timeout", r.Elapsed)
		}
	})

	t.Run("PerTryTimeoutSparesToolsCall", func(t *testing.T) {
		// 700ms to headers, beyond perTryTimeout (300ms): a tools/call
		// cannot be retried, so the per-try timeout must not cut it.
		strict.Faults("tools/call")
		r := post(t, "/strict", 31, "tools/call", "slow", resToolArgs{Key: "2h", SleepMS: 700})
		resWantText(t, r, 31, "slow done: 2h")
		if n := strict.Execs("2h"); n != 1 {
			t.Fatalf("tool ran %d times, want 1", n)
		}
	})

	t.Run("RetryNonIdempotentOptIn", func(t *testing.T) {
		optin.Faults("tools/call", "reset-after")
		r := post(t, "/optin", 28, "tools/call", "echo", resToolArgs{Key: "2e", Text: "again"})
		resWantText(t, r, 28, "echo: again")
		if n := optin.Hits("tools/call"); n != 2 {
			t.Fatalf("backend got %d tools/call requests, want 2", n)
		}
		// The opt-in accepts that the tool may run twice: it did.
		if n := optin.Execs("2e"); n != 2 {
			t.Fatalf("tool ran %d times, want 2", n)
		}
	})
}

// ---------------------------------------------------------------------------
// 3. Hot reload under load with open streams.

// resSession connects a go-sdk client through the gateway. Progress
// notifications are counted per token in progress.
func resSession(ctx context.Context, url string, hc *http.Client, progress *sync.Map) (*mcp.ClientSession, error) {
	opts := &mcp.ClientOptions{}
	if progress != nil {
		opts.ProgressNotificationHandler = func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			v, _ := progress.LoadOrStore(fmt.Sprint(req.Params.ProgressToken), new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "resilience-client", Version: "1"}, opts)
	// MaxRetries -1: a broken stream must show as an error, not be
	// papered over by a reconnect.
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}
	return client.Connect(ctx, tr, nil)
}

func resResultText(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

func TestResilienceReloadUnderLoad(t *testing.T) {
	be := newResBackend(t, resBackendOpts{})
	cfg := NewPorts(t)
	config := func(timeout string, extra int) GatewayConfig {
		routes := []resRoute{{Name: "tools", Prefix: "/mcp", Backend: be.URL,
			Policies: resTimeoutPolicy(timeout, "") + resRetryPolicy(3, "5xx, reset, connect-failure", "10ms", "50ms", false)}}
		for i := 1; i <= extra; i++ {
			routes = append(routes, resRoute{Name: fmt.Sprintf("extra%d", i), Prefix: fmt.Sprintf("/extra%d", i), Backend: be.URL})
		}
		c := cfg
		c.Listeners = resListener(routes...)
		return c
	}
	g := resStartGateway(t, config("30s", 0))
	hc := resHTTPClient()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	// Long-lived streams: 40 progress events 100ms apart, each on its own
	// session, opened before the first reload under a 30s request timeout.
	const streams, events = 4, 40
	var progress sync.Map
	type streamOut struct {
		i    int
		text string
		err  error
	}
	streamDone := make(chan streamOut, streams)
	for i := 0; i < streams; i++ {
		cs, err := resSession(ctx, g.URL("/mcp"), hc, &progress)
		if err != nil {
			t.Fatalf("stream session %d: %v", i, err)
		}
		defer cs.Close()
		go func() {
			p := &mcp.CallToolParams{Name: "progress", Arguments: resToolArgs{Key: fmt.Sprintf("stream%d", i), Count: events, IntervalMS: 100}}
			p.SetProgressToken(fmt.Sprintf("stream%d", i))
			res, err := cs.CallTool(ctx, p)
			o := streamOut{i: i, err: err, text: resResultText(res)}
			if err == nil && res.IsError {
				o.err = fmt.Errorf("tool error: %s", o.text)
			}
			streamDone <- o
		}()
	}
	for i := 0; i < streams; i++ {
		if !be.Saw("started", fmt.Sprintf("stream%d", i), 5*time.Second) {
			t.Fatalf("stream %d did not start", i)
		}
	}

	// Load: 300 tools/call from 4 sessions, paced (40ms apart per
	// session) so that it runs across every reload; the last 20 wait for
	// the reloads to finish, so some calls surely follow the last one.
	const workers, total, tail = 4, 300, 20
	var tickets, failures, ok atomic.Int64
	var firstErr sync.Once
	var firstErrMsg atomic.Value
	reloadsDone := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		cs, err := resSession(ctx, g.URL("/mcp"), hc, nil)
		if err != nil {
			t.Fatalf("load session %d: %v", w, err)
		}
		defer cs.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := tickets.Add(1)
				if n > total {
					return
				}
				if n > total-tail {
					select {
					case <-reloadsDone:
					case <-ctx.Done():
						return
					}
				}
				text := fmt.Sprintf("w%d-%d", w, n)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: resToolArgs{Text: text}})
				if err == nil && (res.IsError || resResultText(res) != "echo: "+text) {
					err = fmt.Errorf("unexpected result %+v", res)
				}
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { firstErrMsg.Store(fmt.Sprintf("worker %d call %d: %v", w, n, err)) })
					continue
				}
				ok.Add(1)
				select {
				case <-reloadsDone:
				case <-time.After(40 * time.Millisecond):
				}
			}
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()

	// Four reloads while load and streams run: change the request timeout
	// (down to 1s and 2s, shorter than the open streams, which must keep
	// the config they started on) and add routes.
	for ok.Load() < 20 {
		if ctx.Err() != nil {
			t.Fatal("load did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	reloads := []GatewayConfig{config("31s", 0), config("32s", 1), config("1s", 2), config("2s", 2)}
	for _, rc := range reloads {
		g.Rewrite(rc)
		time.Sleep(100 * time.Millisecond)
	}
	// For the preconditions checked below: the load and every stream
	// outlived the last reload.
	takenAtLastReload, streamsDoneEarly := tickets.Load(), len(streamDone)
	close(reloadsDone)
	select {
	case <-loadDone:
	case <-ctx.Done():
		t.Fatal("load did not finish in time")
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during reloads; first: %v", n, total, firstErrMsg.Load())
	}
	if n := ok.Load(); n != total {
		t.Fatalf("%d calls succeeded, want %d", n, total)
	}
	for i := 0; i < streams; i++ {
		select {
		case o := <-streamDone:
			if o.err != nil {
				t.Fatalf("stream %d failed: %v", o.i, o.err)
			}
			if want := fmt.Sprintf("progress done: stream%d %d", o.i, events); o.text != want {
				t.Fatalf("stream %d result %q, want %q", o.i, o.text, want)
			}
			v, _ := progress.Load(fmt.Sprintf("stream%d", o.i))
			if v == nil || v.(*atomic.Int64).Load() != events {
				t.Fatalf("stream %d: progress events %v, want %d", o.i, v, events)
			}
		case <-ctx.Done():
			t.Fatal("streams did not finish")
		}
	}
	if strings.Contains(g.Logs(), `"request failed"`) {
		t.Fatalf("the gateway logged failed requests during the reloads")
	}
	if takenAtLastReload > total-tail || streamsDoneEarly > 0 {
		t.Fatalf("reloads too slow for this test: %d calls taken, %d streams done before the last reload", takenAtLastReload, streamsDoneEarly)
	}
	if strings.Count(g.Logs(), "config reloaded") < len(reloads) {
		t.Fatalf("want %d reloads in the logs", len(reloads))
	}

	// The routes added by reloads serve.
	c := resHTTPClient()
	body, hdr := resRequest(31, "tools/call", "echo", resToolArgs{Text: "extra"}, false, "")
	r, err := resDo(c, http.MethodPost, g.URL("/extra2"), body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	resWantText(t, r, 31, "echo: extra")

	// An invalid config is rejected and the running one keeps serving.
	// It would also have removed /extra2.
	rejected := strings.Count(g.Logs(), "config reload rejected")
	bad := config("35s", 0)
	bad.Extra = "server:\n  shutdownGracePeriodd: 5s\n"
	resWriteConfig(t, g, bad.YAML())
	g.waitLog(func(s string) bool { return strings.Count(s, "config reload rejected") > rejected }, 10*time.Second)
	for _, path := range []string{"/mcp", "/extra2"} {
		r, err := resDo(c, http.MethodPost, g.URL(path), body, hdr)
		if err != nil {
			t.Fatalf("after a rejected reload, %s: %v", path, err)
		}
		resWantText(t, r, 31, "echo: extra")
	}

	// A syntax error too.
	rejected = strings.Count(g.Logs(), "config reload rejected")
	resWriteConfig(t, g, "binds: [\n")
	g.waitLog(func(s string) bool { return strings.Count(s, "config reload rejected") > rejected }, 10*time.Second)
	r, err = resDo(c, http.MethodPost, g.URL("/extra2"), body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	resWantText(t, r, 31, "echo: extra")

	// A valid file again, then SIGHUP reloads it (even unchanged).
	g.Rewrite(config("36s", 1))
	reloaded := strings.Count(g.Logs(), "config reloaded")
	g.Signal(syscall.SIGHUP)
	g.waitLog(func(s string) bool {
		return strings.Contains(s, "SIGHUP: reloading config") && strings.Count(s, "config reloaded") > reloaded
	}, 10*time.Second)
	r, err = resDo(c, http.MethodPost, g.URL("/extra1"), body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	resWantText(t, r, 31, "echo: extra")
	r, err = resDo(c, http.MethodPost, g.URL("/extra2"), body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusNotFound {
		t.Fatalf("/extra2 after it was removed: status %d, want 404", r.Status)
	}
}

// resStartGateway starts the gateway and, when the test ends, stops it and
// checks that it exited cleanly without reporting a data race.
func resStartGateway(t *testing.T, cfg GatewayConfig) *Gateway {
	t.Helper()
	g := StartGateway(t, cfg)
	t.Cleanup(func() {
		g.Stop()
		if strings.Contains(g.Logs(), "DATA RACE") {
			t.Error("the gateway reported a data race")
		}
		if err := g.Wait(time.Second); err != nil {
			t.Errorf("gateway exit: %v", err)
		}
	})
	return g
}

// resWriteConfig replaces the config file as Rewrite does, without waiting
// for a successful reload.
func resWriteConfig(t testing.TB, g *Gateway, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(g.ConfigPath), "res.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, g.ConfigPath); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// 4. SIGTERM drain.

func TestResilienceSIGTERMDrain(t *testing.T) {
	unary := newResBackend(t, resBackendOpts{JSONResponse: true})
	streamBE := newResBackend(t, resBackendOpts{})
	listen := newResBackend(t, resBackendOpts{Stateful: true})
	cfg := NewPorts(t)
	cfg.Listeners = resListener(
		resRoute{Name: "unary", Prefix: "/mcp", Backend: unary.URL},
		resRoute{Name: "stream", Prefix: "/stream", Backend: streamBE.URL},
		resRoute{Name: "listen", Prefix: "/listen", Backend: listen.URL},
	)
	cfg.Extra = "server:\n  shutdownGracePeriod: 5s\n"
	g := resStartGateway(t, cfg)
	c := resHTTPClient()

	// A GET listening stream on a stateful session.
	const legacy = "2025-06-18"
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + legacy + `","capabilities":{},"clientInfo":{"name":"drain","version":"1"}}}`
	r, err := resDo(c, http.MethodPost, g.URL("/listen"), initBody, nil)
	if err != nil {
		t.Fatal(err)
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if r.Status != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %q %s", r.Status, sid, r.Body)
	}
	sh := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": legacy}
	r, err = resDo(c, http.MethodPost, g.URL("/listen"), `{"jsonrpc":"2.0","method":"notifications/initialized"}`, sh)
	if err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("initialized: %v %+v", err, r)
	}
	greq, _ := http.NewRequest(http.MethodGet, g.URL("/listen"), nil)
	greq.Header.Set("Accept", "text/event-stream")
	for k, v := range sh {
		greq.Header.Set(k, v)
	}
	gresp, err := c.Do(greq)
	if err != nil {
		t.Fatal(err)
	}
	defer gresp.Body.Close()
	if gresp.StatusCode != http.StatusOK || !strings.HasPrefix(gresp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: %d %q", gresp.StatusCode, gresp.Header.Get("Content-Type"))
	}
	type streamEnd struct {
		err error
		at  time.Time
	}
	getDone := make(chan streamEnd, 1)
	go func() {
		_, err := io.Copy(io.Discard, gresp.Body)
		getDone <- streamEnd{err, time.Now()}
	}()

	// An in-flight slow unary call and a long SSE POST.
	type callOut struct {
		r   *resResult
		err error
		at  time.Time
	}
	unaryDone := make(chan callOut, 1)
	go func() {
		body, hdr := resRequest(41, "tools/call", "slow", resToolArgs{Key: "drain", SleepMS: 2000}, true, "")
		r, err := resDo(c, http.MethodPost, g.URL("/mcp"), body, hdr)
		unaryDone <- callOut{r, err, time.Now()}
	}()
	postStreamDone := make(chan callOut, 1)
	go func() {
		body, hdr := resRequest(42, "tools/call", "progress", resToolArgs{Key: "drain-sse", Count: 15, IntervalMS: 100}, true, "tok-drain")
		r, err := resDo(c, http.MethodPost, g.URL("/stream"), body, hdr)
		postStreamDone <- callOut{r, err, time.Now()}
	}()
	if !unary.Saw("started", "drain", 5*time.Second) || !streamBE.Saw("started", "drain-sse", 5*time.Second) {
		t.Fatal("in-flight calls did not reach the backends")
	}

	sigAt := time.Now()
	g.Signal(syscall.SIGTERM)

	// Readiness goes away.
	notReady := false
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := c.Get(g.AdminURL("/readyz"))
		if err != nil {
			notReady = true // admin listener gone
			break
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			notReady = true
			break
		}
	}
	if !notReady {
		t.Error("/readyz still 200 one second into the drain")
	}

	// New connections are refused.
	refused := false
	var lastDialErr error
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port), 200*time.Millisecond)
		if err != nil {
			lastDialErr = err
			refused = errors.Is(err, syscall.ECONNREFUSED)
			break
		}
		conn.Close()
	}
	if !refused {
		t.Errorf("new connections are not refused during the drain (last dial error %v)", lastDialErr)
	}

	// The listening stream ends at once, cleanly, while the call is still
	// in flight.
	select {
	case e := <-getDone:
		if e.err != nil {
			t.Errorf("GET stream ended with %v, want a clean EOF", e.err)
		}
		if d := e.at.Sub(sigAt); d > 1500*time.Millisecond {
			t.Errorf("GET stream ended %v after SIGTERM, want at once", d)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("GET listening stream still open during the drain")
	}

	// The in-flight call completes.
	select {
	case o := <-unaryDone:
		if o.err != nil {
			t.Fatalf("in-flight call: %v", o.err)
		}
		resWantText(t, o.r, 41, "slow done: drain")
	case <-time.After(6 * time.Second):
		t.Fatal("in-flight call did not complete")
	}
	// The POST stream finishes with its final result.
	select {
	case o := <-postStreamDone:
		if o.err != nil {
			t.Fatalf("POST stream: %v", o.err)
		}
		if n := resWantText(t, o.r, 42, "progress done: drain-sse 15"); n != 15 {
			t.Fatalf("POST stream: %d progress events, want 15", n)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("POST stream did not complete")
	}

	// The process exits 0 within the grace period; with nothing left in
	// flight it does not wait for the grace period to end.
	resWantStoppedWithin(t, g, sigAt, 5*time.Second)
	if d := time.Since(sigAt); d > 4500*time.Millisecond {
		t.Errorf("drain took %v though the last request ended long before the grace period", d)
	}
	if !strings.Contains(g.Logs(), `"draining"`) {
		t.Error(`logs lack "draining"`)
	}
}

// TestResilienceSIGTERMGraceExpiry: what is still running when the grace
// period ends is ended cleanly, and the process exits 0 on time.
func TestResilienceSIGTERMGraceExpiry(t *testing.T) {
	unary := newResBackend(t, resBackendOpts{JSONResponse: true})
	streamBE := newResBackend(t, resBackendOpts{})
	cfg := NewPorts(t)
	cfg.Listeners = resListener(
		resRoute{Name: "unary", Prefix: "/mcp", Backend: unary.URL},
		resRoute{Name: "stream", Prefix: "/stream", Backend: streamBE.URL},
	)
	cfg.Extra = "server:\n  shutdownGracePeriod: 2s\n"
	g := resStartGateway(t, cfg)
	c := resHTTPClient()

	type callOut struct {
		r   *resResult
		err error
		at  time.Time
	}
	unaryDone := make(chan callOut, 1)
	go func() {
		body, hdr := resRequest(51, "tools/call", "slow", resToolArgs{Key: "grace-unary", SleepMS: 10000}, true, "")
		r, err := resDo(c, http.MethodPost, g.URL("/mcp"), body, hdr)
		unaryDone <- callOut{r, err, time.Now()}
	}()
	streamDone := make(chan callOut, 1)
	go func() {
		body, hdr := resRequest(52, "tools/call", "progress", resToolArgs{Key: "grace-sse", Count: 100, IntervalMS: 100}, true, "tok-grace")
		r, err := resDo(c, http.MethodPost, g.URL("/stream"), body, hdr)
		streamDone <- callOut{r, err, time.Now()}
	}()
	if !unary.Saw("started", "grace-unary", 5*time.Second) || !streamBE.Saw("started", "grace-sse", 5*time.Second) {
		t.Fatal("calls did not reach the backends")
	}
	sigAt := time.Now()
	g.Signal(syscall.SIGTERM)

	// The POST stream outlives the grace period: it is ended cleanly
	// shortly before the grace period is over.
	select {
	case o := <-streamDone:
		if o.err != nil {
			t.Fatalf("POST stream: %v", o.err)
		}
		if o.r.Status != http.StatusOK || o.r.ReadErr != nil {
			t.Fatalf("POST stream: status %d, read error %v; want a 200 stream ended cleanly", o.r.Status, o.r.ReadErr)
		}
		progress, resps := resSplit(resMessages(t, o.r))
		if progress == 0 || len(resps) != 0 {
			t.Fatalf("POST stream: %d progress events, %d responses; want progress and no final result", progress, len(resps))
		}
		if d := o.at.Sub(sigAt); d < 1500*time.Millisecond || d > 2500*time.Millisecond {
			t.Errorf("POST stream ended %v after SIGTERM, want just before the 2s grace period ends", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("POST stream still open after the grace period")
	}
	if !streamBE.Saw("cancelled", "grace-sse", 3*time.Second) {
		t.Error("stream backend handler not cancelled")
	}

	// The unary call still waiting for its response gets an answer, not a
	// dropped connection.
	select {
	case o := <-unaryDone:
		if o.err != nil {
			t.Errorf("GATEWAY BUG: a unary call still waiting for the backend when the grace period ends is dropped "+
				"(client error %v, %v after SIGTERM) instead of being answered 503 \"gateway is shutting down\"", o.err, o.at.Sub(sigAt))
		} else {
			resWantRPCError(t, o.r, http.StatusServiceUnavailable, 51)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unary call still open after the grace period")
	}
	if !unary.Saw("cancelled", "grace-unary", 3*time.Second) {
		t.Error("unary backend handler not cancelled")
	}

	resWantStoppedWithin(t, g, sigAt, 2*time.Second)
}

// resWantStoppedWithin checks that the gateway finished draining within
// grace of sigAt and then exited 0. The race detector delays the exit of a
// -race binary by a second (GORACE atexit_sleep_ms), so the deadline is
// checked on the "gateway stopped" log line.
func resWantStoppedWithin(t *testing.T, g *Gateway, sigAt time.Time, grace time.Duration) {
	t.Helper()
	deadline := sigAt.Add(grace + 300*time.Millisecond)
	for !strings.Contains(g.Logs(), `"gateway stopped"`) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway still draining %v after SIGTERM; grace period is %v", time.Since(sigAt), grace)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Wait(3 * time.Second); err != nil {
		t.Fatalf("gateway exit: %v", err)
	}
}
