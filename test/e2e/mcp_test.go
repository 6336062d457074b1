//lint:file-ignore SA1019 sampling and roots are deprecated from 2026-07-28 but clients still use them, and the gateway must relay them

package e2e

// End-to-end MCP tests: real go-sdk MCP servers behind the real gateway
// binary, driven by the real go-sdk client and by raw HTTP where the test
// needs to see the wire (SSE event ids, retry fields, status codes).
//
// Helpers in this file are prefixed "mt" so they cannot collide with other
// files of the package.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

const (
	mtV0618 = "2025-06-18"
	mtV1125 = "2025-11-25"
	mtV0728 = "2026-07-28"
)

// ---------------------------------------------------------------------------
// Backend recording

// mtRecorded is one request as the backend saw it.
type mtRecorded struct {
	Method    string // HTTP method
	Path      string // decoded path
	RawPath   string // escaped path as received
	Query     string
	Header    http.Header
	RPCMethod string // JSON-RPC method of a single-message POST body
	Status    int
	Done      bool // the backend handler returned
}

// mtRecorder wraps a backend handler and records every request.
type mtRecorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []*mtRecorded
}

func (rec *mtRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := &mtRecorded{
		Method:  r.Method,
		Path:    r.URL.Path,
		RawPath: r.URL.EscapedPath(),
		Query:   r.URL.RawQuery,
		Header:  r.Header.Clone(),
	}
	if r.Body != nil && r.Method == http.MethodPost {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		var m struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(b, &m) == nil {
			e.RPCMethod = m.Method
		}
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, e)
	rec.mu.Unlock()
	sw := &mtStatusWriter{ResponseWriter: w}
	defer func() {
		rec.mu.Lock()
		e.Status = sw.status
		if e.Status == 0 {
			e.Status = http.StatusOK
		}
		e.Done = true
		rec.mu.Unlock()
	}()
	rec.h.ServeHTTP(sw, r)
}

// snapshot returns copies of the recorded requests.
func (rec *mtRecorder) snapshot() []mtRecorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]mtRecorded, len(rec.reqs))
	for i, e := range rec.reqs {
		out[i] = *e
	}
	return out
}

// find returns the recorded requests for which match is true.
func (rec *mtRecorder) find(match func(*mtRecorded) bool) []mtRecorded {
	var out []mtRecorded
	for _, e := range rec.snapshot() {
		if match(&e) {
			out = append(out, e)
		}
	}
	return out
}

func (rec *mtRecorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// mtStatusWriter records the status and keeps flushing working.
type mtStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *mtStatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *mtStatusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *mtStatusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *mtStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ---------------------------------------------------------------------------
// Backends and gateways

type mtEchoIn struct {
	Text string `json:"text"`
}

type mtEmpty struct{}

func mtText(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// mtNewServer returns a server with an "echo" tool; add more with mcp.AddTool.
func mtNewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "e2e-backend", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes text"}, func(ctx context.Context, req *mcp.CallToolRequest, in mtEchoIn) (*mcp.CallToolResult, any, error) {
		return mtText("echo: " + in.Text), nil, nil
	})
	return s
}

// mtStartBackend serves an MCP Streamable HTTP handler for srv on every path
// of a loopback server, behind a recorder.
func mtStartBackend(t *testing.T, srv *mcp.Server, opts *mcp.StreamableHTTPOptions) (string, *mtRecorder) {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, opts)
	rec := &mtRecorder{h: h}
	return serve(t, rec), rec
}

// mtStartGateway starts the gateway with one MCP route at prefix in front of
// backendURL.
func mtStartGateway(t *testing.T, prefix, backendURL, endpoint, protocol, extra string) *Gateway {
	t.Helper()
	cfg := mtPorts(t)
	cfg.Listeners = MCPListener("tools", prefix, backendURL, endpoint, protocol, "")
	cfg.Extra = extra
	return mtStartGatewayCfg(t, cfg)
}

// mtPorts is NewPorts with ports below the kernel's ephemeral range, so a
// port cannot be taken, between the check and the gateway's bind, as the
// source port of one of the many loopback connections these tests make
// (or by a ":0" listener). It falls back to NewPorts.
func mtPorts(t *testing.T) GatewayConfig {
	t.Helper()
	lo := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo)
	}
	const base = 10000
	if lo-base < 1000 {
		return NewPorts(t)
	}
	pick := func(not int) int {
		for range 100 {
			p := base + rand.IntN(lo-base)
			if p == not {
				continue
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err == nil {
				ln.Close()
				return p
			}
		}
		return freePort(t)
	}
	port := pick(0)
	return GatewayConfig{Port: port, AdminPort: pick(port)}
}

// mtStartGatewayCfg starts the gateway on cfg. Under -race the binary would
// sleep a second at exit (GORACE atexit_sleep_ms defaults to 1000), which
// adds up over many short-lived gateways; this turns that off for the
// gateway processes of this file's tests, and instead fails the test if the
// gateway reported a data race.
func mtStartGatewayCfg(t *testing.T, cfg GatewayConfig) *Gateway {
	t.Helper()
	if raceEnabled {
		gorace := os.Getenv("GORACE")
		if !strings.Contains(gorace, "atexit_sleep_ms") {
			t.Setenv("GORACE", strings.TrimSpace(gorace+" atexit_sleep_ms=0"))
		}
	}
	g := StartGateway(t, cfg)
	// Runs before the harness's own cleanup (cleanups are LIFO); Stop is
	// idempotent. Closing the clients' idle connections first matters: a
	// connection the client dialed but never used is "new" to the gateway's
	// http.Server, and Shutdown waits up to 5s for those (golang/go#22682).
	t.Cleanup(func() {
		mtHTTP.CloseIdleConnections()
		g.Stop()
		if strings.Contains(g.Logs(), "WARNING: DATA RACE") {
			t.Errorf("the gateway reported a data race")
		}
	})
	return g
}

// mtHTTP is the HTTP client of every request of this file's tests (raw and
// go-sdk), so that its idle connections can be closed before a gateway stops.
var mtHTTP = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// mtConnect connects a go-sdk client to url and closes it at cleanup.
func mtConnect(ctx context.Context, t *testing.T, url, version string, opts *mcp.ClientOptions, tr *mcp.StreamableClientTransport) *mcp.ClientSession {
	t.Helper()
	if tr == nil {
		tr = &mcp.StreamableClientTransport{}
	}
	tr.Endpoint = url
	if tr.HTTPClient == nil {
		tr.HTTPClient = mtHTTP
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "1.0.0"}, opts)
	var so *mcp.ClientSessionOptions
	if version != "" {
		so = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := c.Connect(ctx, tr, so)
	if err != nil {
		t.Fatalf("connect %s (version %q): %v", url, version, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func mtResultText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res == nil || len(res.Content) == 0 {
		t.Fatalf("empty tool result: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("tool result content is %T, want text", res.Content[0])
	}
	if res.IsError {
		t.Fatalf("tool returned an error: %s", tc.Text)
	}
	return tc.Text
}

// mtWait polls cond every 10ms until it holds or d passes.
func mtWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mtRecv receives from ch or fails after d.
func mtRecv[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
	var zero T
	return zero
}

// mtBlock waits for ch to close, bounded by ctx and a few seconds, for use
// inside tool handlers (which must never hang a test).
func mtBlock(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(8 * time.Second):
		return errors.New("test never released the tool")
	}
}

// ---------------------------------------------------------------------------
// Raw HTTP

// mtRequest builds a request; a header value of "" deletes the header (so
// that tests can send no Accept at all).
func mtRequest(ctx context.Context, t *testing.T, method, url, body string, hdr map[string]string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return req
}

// mtDo sends a request and reads the whole response.
func mtDo(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := mtHTTP.Do(mtRequest(ctx, t, method, url, body, hdr))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

// mtHeaders returns the MCP headers of a raw request on a session.
func mtHeaders(version, sid string) map[string]string {
	h := map[string]string{
		"Accept": "application/json, text/event-stream",
	}
	if version != "" {
		h["MCP-Protocol-Version"] = version
	}
	if sid != "" {
		h["Mcp-Session-Id"] = sid
	}
	return h
}

// mtSSEEvent is one parsed server-sent event.
type mtSSEEvent struct {
	Name, ID, Data, Retry string
	HasRetry              bool
}

// mtSSEReader parses server-sent events from a stream.
type mtSSEReader struct {
	r *bufio.Reader
}

func mtNewSSEReader(r io.Reader) *mtSSEReader { return &mtSSEReader{r: bufio.NewReader(r)} }

// next returns the next event, skipping comments. io.EOF means the stream
// ended cleanly between events.
func (s *mtSSEReader) next() (mtSSEEvent, error) {
	var ev mtSSEEvent
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && !seen && line == "" {
				return ev, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Name = value
		case "id":
			ev.ID = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.Retry, ev.HasRetry = value, true
		}
	}
}

// mtRPC is a decoded JSON-RPC message.
type mtRPC struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// mtGatewayError checks a JSON-RPC error rendered by the gateway: HTTP
// status, code, the echoed id and error.data.httpStatus (docs/proxy.md,
// "Errors").
func mtGatewayError(t *testing.T, resp *http.Response, body string, status, code int, id string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := mtDecode(t, body)
	if m.Error == nil {
		t.Fatalf("no JSON-RPC error in %s", body)
	}
	if string(m.ID) != id {
		t.Errorf("error id %s, want %s: %s", m.ID, id, body)
	}
	if m.Error.Code != code {
		t.Errorf("error code %d, want %d: %s", m.Error.Code, code, body)
	}
	var data struct {
		HTTPStatus int `json:"httpStatus"`
	}
	if err := json.Unmarshal(m.Error.Data, &data); err != nil || data.HTTPStatus != status {
		t.Errorf("error.data %s, want httpStatus %d", m.Error.Data, status)
	}
}

func mtDecode(t *testing.T, s string) mtRPC {
	t.Helper()
	var m mtRPC
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decoding JSON-RPC %q: %v", s, err)
	}
	return m
}

// mtResponseFor extracts the JSON-RPC response with the given id from a
// whole response body, which is either application/json or an SSE stream.
func mtResponseFor(t *testing.T, resp *http.Response, body, id string) mtRPC {
	t.Helper()
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		m := mtDecode(t, body)
		if string(m.ID) != id {
			t.Fatalf("response id %s, want %s: %s", m.ID, id, body)
		}
		return m
	}
	if !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("unexpected Content-Type %q (status %d): %s", ct, resp.StatusCode, body)
	}
	r := mtNewSSEReader(strings.NewReader(body))
	for {
		ev, err := r.next()
		if err != nil {
			t.Fatalf("no response with id %s in stream (%v): %s", id, err, body)
		}
		if ev.Data == "" || (ev.Name != "" && ev.Name != "message") {
			continue
		}
		m := mtDecode(t, ev.Data)
		if m.Method == "" && string(m.ID) == id {
			return m
		}
	}
}

// mtToolText returns the first text content of a raw tools/call result.
func mtToolText(t *testing.T, m mtRPC) string {
	t.Helper()
	if m.Error != nil {
		t.Fatalf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
	}
	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil || len(res.Content) == 0 {
		t.Fatalf("bad tools/call result %s: %v", m.Result, err)
	}
	if res.IsError {
		t.Fatalf("tool error: %s", res.Content[0].Text)
	}
	return res.Content[0].Text
}

// mtRawInit performs initialize + notifications/initialized over raw HTTP
// and returns the session id.
func mtRawInit(t *testing.T, url, version string) string {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, version)
	resp, rb := mtDo(t, http.MethodPost, url, body, mtHeaders("", ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: status %d: %s", resp.StatusCode, rb)
	}
	m := mtResponseFor(t, resp, rb, "1")
	if m.Error != nil {
		t.Fatalf("initialize error: %s", rb)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize: no Mcp-Session-Id in %v", resp.Header)
	}
	resp, rb = mtDo(t, http.MethodPost, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, mtHeaders(version, sid))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d: %s", resp.StatusCode, rb)
	}
	return sid
}

// mtOpenStream sends a request whose response is an SSE stream and returns
// the response (body open) and a reader. The caller closes the body.
func mtOpenStream(ctx context.Context, t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, *mtSSEReader) {
	t.Helper()
	// A dedicated transport, so closing the body really drops the connection.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(mtRequest(ctx, t, method, url, body, hdr))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("%s %s: Content-Type %q, want text/event-stream", method, url, ct)
	}
	return resp, mtNewSSEReader(resp.Body)
}

// mtResumeStream opens a GET stream that resumes with h's Last-Event-ID
// right after the client dropped the stream it resumes. Until the backend
// has seen that stream's connection close (the client's close travels
// through the gateway first), go-sdk answers 409 "stream ID conflicts with
// ongoing stream": a client retries then, and so does this, a bounded
// number of times.
func mtResumeStream(ctx context.Context, t *testing.T, url string, h map[string]string) (*http.Response, *mtSSEReader) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for attempt := 0; ; attempt++ {
		resp, err := client.Do(mtRequest(ctx, t, http.MethodGet, url, "", h))
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if resp.StatusCode == http.StatusConflict && attempt < 50 {
			resp.Body.Close()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
		}
		return resp, mtNewSSEReader(resp.Body)
	}
}

// mtNextEvent reads one event or fails.
func mtNextEvent(t *testing.T, r *mtSSEReader, what string) mtSSEEvent {
	t.Helper()
	ev, err := r.next()
	if err != nil {
		t.Fatalf("reading %s: %v", what, err)
	}
	return ev
}

// mtProgressOf decodes a notifications/progress event and returns its
// progress value.
func mtProgressOf(t *testing.T, ev mtSSEEvent) float64 {
	t.Helper()
	m := mtDecode(t, ev.Data)
	if m.Method != "notifications/progress" {
		t.Fatalf("event %q is not a progress notification: %s", ev.ID, ev.Data)
	}
	var p struct {
		Progress float64 `json:"progress"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p.Progress
}

// ---------------------------------------------------------------------------
// 1. Protocol versions

// TestMCPProtocolVersions runs initialize, tools/list and tools/call through
// the gateway with the go-sdk client pinned to each protocol version it
// speaks (ClientSessionOptions.ProtocolVersion), and checks the version the
// backend saw on the wire.
func TestMCPProtocolVersions(t *testing.T) {
	cases := []struct {
		name         string
		pin          string
		stateless    bool
		jsonResponse bool
		wantVersion  string
		wantSession  bool
	}{
		{name: "2025-06-18 stateful", pin: mtV0618, wantVersion: mtV0618, wantSession: true},
		{name: "2025-11-25 stateful", pin: mtV1125, wantVersion: mtV1125, wantSession: true},
		{name: "2025-11-25 stateful json", pin: mtV1125, jsonResponse: true, wantVersion: mtV1125, wantSession: true},
		{name: "2025-06-18 stateless", pin: mtV0618, stateless: true, wantVersion: mtV0618},
		{name: "2026-07-28 sessionless", pin: mtV0728, stateless: true, wantVersion: mtV0728},
		{name: "2026-07-28 sessionless json", pin: mtV0728, stateless: true, jsonResponse: true, wantVersion: mtV0728},
		// A stateful server rejects server/discover; the client falls back
		// to initialize (the error body itself is checked in "backend
		// version error passes through").
		{name: "2026-07-28 against stateful falls back", pin: mtV0728, wantVersion: mtV1125, wantSession: true},
		{name: "default", pin: "", stateless: true, wantVersion: mtV0728},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backend, rec := mtStartBackend(t, mtNewServer(), &mcp.StreamableHTTPOptions{Stateless: tc.stateless, JSONResponse: tc.jsonResponse})
			g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			cs := mtConnect(ctx, t, g.URL("/mcp"), tc.pin, nil, nil)
			if got := cs.InitializeResult().ProtocolVersion; got != tc.wantVersion {
				t.Fatalf("negotiated %q, want %q", got, tc.wantVersion)
			}
			if got := cs.InitializeResult().ServerInfo; got == nil || got.Name != "e2e-backend" {
				t.Fatalf("serverInfo = %+v, want e2e-backend", got)
			}
			if (cs.ID() != "") != tc.wantSession {
				t.Fatalf("session id %q, want session: %v", cs.ID(), tc.wantSession)
			}
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			if len(tools.Tools) != 1 || tools.Tools[0].Name != "echo" {
				t.Fatalf("tools/list = %+v", tools.Tools)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": tc.name}})
			if err != nil {
				t.Fatalf("tools/call: %v", err)
			}
			if got := mtResultText(t, res); got != "echo: "+tc.name {
				t.Fatalf("tools/call = %q", got)
			}

			// What the backend saw: the pinned version on every request
			// after the handshake, and (2026-07-28) the standard headers
			// the gateway cross-checks against the body.
			calls := rec.find(func(r *mtRecorded) bool { return r.RPCMethod == "tools/call" })
			if len(calls) != 1 {
				t.Fatalf("backend saw %d tools/call, want 1", len(calls))
			}
			call := calls[0]
			if got := call.Header.Get("Mcp-Protocol-Version"); got != tc.wantVersion {
				t.Errorf("backend saw MCP-Protocol-Version %q, want %q", got, tc.wantVersion)
			}
			if tc.wantVersion == mtV0728 {
				if got := call.Header.Get("Mcp-Method"); got != "tools/call" {
					t.Errorf("backend saw Mcp-Method %q", got)
				}
				if got := call.Header.Get("Mcp-Name"); got != "echo" {
					t.Errorf("backend saw Mcp-Name %q", got)
				}
			}
			if tc.wantSession {
				if got := call.Header.Get("Mcp-Session-Id"); got != cs.ID() {
					t.Errorf("backend saw Mcp-Session-Id %q, want %q", got, cs.ID())
				}
			}
			if call.Path != "/mcp" {
				t.Errorf("backend path %q, want /mcp", call.Path)
			}
		})
	}

	// 2026-07-28: the client sends Mcp-Name for prompts/get (the name) and
	// resources/read (the URI); the gateway compares it with the body's
	// unescaped value, which must hold for URIs the JSON encoder escapes
	// (<, >, &) and for non-ASCII.
	t.Run("2026-07-28 prompts and resources", func(t *testing.T) {
		uris := []string{"file:///docs/readme.txt", "file:///docs/caf\u00e9.txt", "file:///docs/a<b>&c.txt", "mem://x?y=1&z=%20"}
		srv := mtNewServer()
		srv.AddPrompt(&mcp.Prompt{Name: "greet", Description: "greets"}, func(_ context.Context, r *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello " + r.Params.Arguments["who"]}}}}, nil
		})
		for _, u := range uris {
			srv.AddResource(&mcp.Resource{URI: u, Name: "r", MIMEType: "text/plain"}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, MIMEType: "text/plain", Text: "contents of " + r.Params.URI}}}, nil
			})
		}
		backend, rec := mtStartBackend(t, srv, &mcp.StreamableHTTPOptions{Stateless: true})
		g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cs := mtConnect(ctx, t, g.URL("/mcp"), mtV0728, nil, nil)
		pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"who": "gopher"}})
		if err != nil {
			t.Fatalf("prompts/get: %v", err)
		}
		if tc, _ := pr.Messages[0].Content.(*mcp.TextContent); tc == nil || tc.Text != "hello gopher" {
			t.Fatalf("prompts/get = %+v", pr.Messages[0].Content)
		}
		for _, u := range uris {
			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: u})
			if err != nil {
				t.Fatalf("resources/read %s: %v", u, err)
			}
			if len(rr.Contents) != 1 || rr.Contents[0].Text != "contents of "+u {
				t.Fatalf("resources/read %s = %+v", u, rr.Contents)
			}
			reads := rec.find(func(r *mtRecorded) bool { return r.RPCMethod == "resources/read" && r.Header.Get("Mcp-Name") == u })
			if len(reads) != 1 {
				t.Errorf("backend did not see one resources/read with Mcp-Name %q", u)
			}
		}
	})

	// A stateful backend answers a 2026-07-28 call with HTTP 400 and a
	// JSON-RPC UnsupportedProtocolVersion error listing what it supports
	// (SEP-2575); that body must reach the client as the backend wrote it.
	t.Run("backend version error passes through", func(t *testing.T) {
		backend, _ := mtStartBackend(t, mtNewServer(), nil)
		g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
		hdr := mtHeaders(mtV0728, "")
		hdr["Mcp-Method"] = "tools/call"
		hdr["Mcp-Name"] = "echo"
		body := `{"jsonrpc":"2.0","id":"v1","method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
		resp, rb := mtDo(t, http.MethodPost, g.URL("/mcp"), body, hdr)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d %s, want the backend's 400", resp.StatusCode, rb)
		}
		m := mtDecode(t, rb)
		if string(m.ID) != `"v1"` || m.Error == nil || m.Error.Code != -32022 {
			t.Fatalf("body %s, want the backend's -32022 error for id v1", rb)
		}
		var data struct {
			Supported []string `json:"supported"`
			Requested string   `json:"requested"`
		}
		if err := json.Unmarshal(m.Error.Data, &data); err != nil || data.Requested != mtV0728 || len(data.Supported) == 0 {
			t.Fatalf("error data %s, want the backend's supported versions", m.Error.Data)
		}
	})

	// Raw requests with an explicit MCP-Protocol-Version header, as a
	// client that does not use the go-sdk would send them.
	t.Run("raw headers", func(t *testing.T) {
		backend, rec := mtStartBackend(t, mtNewServer(), &mcp.StreamableHTTPOptions{Stateless: true})
		g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
		for i, v := range []string{"2025-03-26", mtV0618, mtV1125, mtV0728} {
			meta := ""
			if v == mtV0728 {
				meta = fmt.Sprintf(`,"_meta":{"io.modelcontextprotocol/protocolVersion":%q,"io.modelcontextprotocol/clientCapabilities":{}}`, v)
			}
			id := fmt.Sprint(100 + i)
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}%s}}`, id, v, meta)
			hdr := mtHeaders(v, "")
			if v == mtV0728 {
				hdr["Mcp-Method"] = "tools/call"
				hdr["Mcp-Name"] = "echo"
			}
			resp, rb := mtDo(t, http.MethodPost, g.URL("/mcp"), body, hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d: %s", v, resp.StatusCode, rb)
			}
			if got := mtToolText(t, mtResponseFor(t, resp, rb, id)); got != "echo: "+v {
				t.Fatalf("%s: tools/call = %q", v, got)
			}
			last := rec.snapshot()[rec.count()-1]
			if got := last.Header.Get("Mcp-Protocol-Version"); got != v {
				t.Fatalf("%s: backend saw version %q", v, got)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 2. Progress streaming

// TestMCPProgressStreaming proves that SSE events are flushed one by one
// through the gateway: after each of its first two progress notifications
// the tool blocks until the client has received that notification; a proxy
// that buffered the stream (or batched events) would deadlock here and fail
// on the timeout.
func TestMCPProgressStreaming(t *testing.T) {
	cases := []struct {
		name      string
		pin       string
		stateless bool
	}{
		{"stateful 2025-11-25", mtV1125, false},
		{"stateful 2025-06-18", mtV0618, false},
		{"sessionless 2026-07-28", mtV0728, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := []chan struct{}{make(chan struct{}), make(chan struct{})}
			srv := mtNewServer()
			mcp.AddTool(srv, &mcp.Tool{Name: "progress", Description: "reports progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
				tok := req.Params.GetProgressToken()
				if tok == nil {
					return nil, nil, errors.New("no progress token")
				}
				for i := 1; i <= 3; i++ {
					if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: 3, Message: fmt.Sprintf("step %d", i),
					}); err != nil {
						return nil, nil, err
					}
					if i <= 2 {
						if err := mtBlock(ctx, release[i-1]); err != nil {
							return nil, nil, err
						}
					}
					time.Sleep(200 * time.Millisecond)
				}
				return mtText("progress done"), nil, nil
			})
			backend, _ := mtStartBackend(t, srv, &mcp.StreamableHTTPOptions{Stateless: tc.stateless})
			g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")

			type prog struct {
				p   float64
				msg string
			}
			progCh := make(chan prog, 10)
			opts := &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				progCh <- prog{r.Params.Progress, r.Params.Message}
			}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			cs := mtConnect(ctx, t, g.URL("/mcp"), tc.pin, opts, nil)

			type outcome struct {
				res *mcp.CallToolResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				params := &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{}}
				params.SetProgressToken("tok-" + tc.name)
				res, err := cs.CallTool(ctx, params)
				done <- outcome{res, err}
			}()

			// Progress 1 and 2 must each reach the client while the tool
			// is blocked right after sending it.
			for i := 1; i <= 2; i++ {
				p := mtRecv(t, progCh, 5*time.Second, fmt.Sprintf("progress %d while the tool waits (buffered by the gateway?)", i))
				select {
				case o := <-done:
					t.Fatalf("tool finished before progress %d arrived: %+v", i, o)
				default:
				}
				if p.p != float64(i) || p.msg != fmt.Sprintf("step %d", i) {
					t.Fatalf("progress %d = %+v", i, p)
				}
				close(release[i-1])
			}

			o := mtRecv(t, done, 5*time.Second, "the tool result")
			if o.err != nil {
				t.Fatalf("tools/call: %v", o.err)
			}
			if got := mtResultText(t, o.res); got != "progress done" {
				t.Fatalf("result %q", got)
			}
			// The client dispatches notifications asynchronously; progress 3
			// was sent before the result, so it is at most a moment behind.
			if third := mtRecv(t, progCh, 2*time.Second, "progress 3"); third.p != 3 {
				t.Fatalf("third progress = %+v", third)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 3. Server-to-client requests

// TestMCPServerToClientRequests: a tool asks the client (sampling,
// elicitation, roots) in the middle of a call. The request reaches the client
// as an SSE event (on the POST response stream, or on the standalone GET
// stream when the server answers POSTs with JSON); the client's answer is a
// separate POST through the gateway.
func TestMCPServerToClientRequests(t *testing.T) {
	newServer := func() *mcp.Server {
		srv := mtNewServer()
		mcp.AddTool(srv, &mcp.Tool{Name: "sample", Description: "asks the client's model"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{ //nolint:staticcheck // still part of 2025-11-25
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "ping"}}},
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
		mcp.AddTool(srv, &mcp.Tool{Name: "elicit", Description: "asks the user"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
				Message: "What is your name?",
				RequestedSchema: map[string]any{
					"type":       "object",
					"properties": map[string]any{"name": map[string]any{"type": "string"}},
					"required":   []any{"name"},
				},
			})
			if err != nil {
				return nil, nil, err
			}
			return mtText(fmt.Sprintf("user %s: %v", res.Action, res.Content["name"])), nil, nil
		})
		mcp.AddTool(srv, &mcp.Tool{Name: "roots", Description: "lists the client's roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.ListRoots(ctx, nil) //nolint:staticcheck // still part of 2025-11-25
			if err != nil {
				return nil, nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return mtText("roots: " + strings.Join(uris, ",")), nil, nil
		})
		return srv
	}
	modes := []struct {
		name         string
		jsonResponse bool
		pin          string
	}{
		{"post stream 2025-11-25", false, mtV1125},
		{"post stream 2025-06-18", false, mtV0618},
		// With JSON responses, server-to-client requests travel on the
		// client's standalone GET stream.
		{"standalone GET stream", true, mtV1125},
	}
	tools := []struct {
		tool, want string
	}{
		{"sample", "model said: pong (e2e-model)"},
		{"elicit", "user accept: gopher"},
		{"roots", "roots: file:///workspace"},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			backend, rec := mtStartBackend(t, newServer(), &mcp.StreamableHTTPOptions{JSONResponse: mode.jsonResponse})
			g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
			opts := &mcp.ClientOptions{
				CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "pong"}, Model: "e2e-model", Role: "assistant"}, nil
				},
				ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					if r.Params.Message != "What is your name?" {
						return nil, fmt.Errorf("unexpected elicitation %q", r.Params.Message)
					}
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "gopher"}}, nil
				},
			}
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "1.0.0"}, opts)
			c.AddRoots(&mcp.Root{URI: "file:///workspace", Name: "ws"})
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL("/mcp"), HTTPClient: mtHTTP}, &mcp.ClientSessionOptions{ProtocolVersion: mode.pin})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for _, tt := range tools {
				callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: tt.tool})
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", tt.tool, err)
				}
				if got := mtResultText(t, res); got != tt.want {
					t.Fatalf("%s = %q, want %q", tt.tool, got, tt.want)
				}
			}
			// Each answer was a POST of a JSON-RPC response, accepted (202)
			// by the backend.
			isAnswer := func(r *mtRecorded) bool { return r.Method == http.MethodPost && r.RPCMethod == "" }
			// The backend may hand the answer to the tool before its POST
			// handler returns, so the result can arrive first.
			mtWait(t, 3*time.Second, "the answer POSTs to complete", func() bool {
				for _, a := range rec.find(isAnswer) {
					if !a.Done {
						return false
					}
				}
				return true
			})
			answers := rec.find(isAnswer)
			if len(answers) != len(tools) {
				t.Fatalf("backend saw %d client responses, want %d", len(answers), len(tools))
			}
			for _, a := range answers {
				if a.Status != http.StatusAccepted {
					t.Errorf("client response got %d from the backend, want 202", a.Status)
				}
			}
			if mode.jsonResponse {
				gets := rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodGet })
				if len(gets) == 0 {
					t.Fatalf("no standalone GET stream reached the backend")
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 4. Session DELETE

// TestMCPSessionDelete: closing a client session sends DELETE through the
// gateway, which ends the backend session; later requests on that session
// get the backend's 404 through the gateway.
func TestMCPSessionDelete(t *testing.T) {
	srv := mtNewServer()
	backend, rec := mtStartBackend(t, srv, nil)
	g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
	countSessions := func() int {
		n := 0
		for range srv.Sessions() {
			n++
		}
		return n
	}

	t.Run("client close", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "1.0.0"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL("/mcp"), HTTPClient: mtHTTP}, &mcp.ClientSessionOptions{ProtocolVersion: mtV1125})
		if err != nil {
			t.Fatal(err)
		}
		sid := cs.ID()
		if sid == "" {
			t.Fatal("no session id")
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
			t.Fatal(err)
		}
		// The standalone GET stream is open on the session.
		mtWait(t, 3*time.Second, "the standalone GET stream", func() bool {
			return len(rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == sid })) > 0
		})
		if err := cs.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		dels := rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodDelete })
		if len(dels) != 1 {
			t.Fatalf("backend saw %d DELETEs, want 1", len(dels))
		}
		if got := dels[0].Header.Get("Mcp-Session-Id"); got != sid {
			t.Fatalf("DELETE carried session %q, want %q", got, sid)
		}
		if dels[0].Path != "/mcp" || dels[0].Status != http.StatusNoContent {
			t.Fatalf("DELETE %s -> %d, want /mcp -> 204", dels[0].Path, dels[0].Status)
		}
		mtWait(t, 3*time.Second, "the backend session to close", func() bool { return countSessions() == 0 })
		// The GET stream ended with the session.
		mtWait(t, 3*time.Second, "the GET stream to end", func() bool {
			for _, r := range rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodGet }) {
				if !r.Done {
					return false
				}
			}
			return true
		})

		resp, body := mtDo(t, http.MethodPost, g.URL("/mcp"), `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, mtHeaders(mtV1125, sid))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST on a deleted session: %d %s, want 404", resp.StatusCode, body)
		}
	})

	t.Run("raw DELETE", func(t *testing.T) {
		sid := mtRawInit(t, g.URL("/mcp"), mtV1125)
		resp, body := mtDo(t, http.MethodPost, g.URL("/mcp"), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, mtHeaders(mtV1125, sid))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("tools/list: %d %s", resp.StatusCode, body)
		}
		resp, body = mtDo(t, http.MethodDelete, g.URL("/mcp"), "", mtHeaders(mtV1125, sid))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s, want 204", resp.StatusCode, body)
		}
		mtWait(t, 3*time.Second, "the backend session to close", func() bool { return countSessions() == 0 })
		resp, body = mtDo(t, http.MethodPost, g.URL("/mcp"), `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, mtHeaders(mtV1125, sid))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST after DELETE: %d %s, want 404", resp.StatusCode, body)
		}
		resp, _ = mtDo(t, http.MethodDelete, g.URL("/mcp"), "", mtHeaders(mtV1125, sid))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("second DELETE: %d, want 404", resp.StatusCode)
		}
	})
}

// ---------------------------------------------------------------------------
// 5. Resumption

// TestMCPResumption: a backend with an event store gives SSE events ids; a
// client that loses the stream reconnects with Last-Event-ID through the
// gateway and gets what it missed, then the live rest of the stream.
func TestMCPResumption(t *testing.T) {
	var (
		step1   = make(chan struct{}) // the client has dropped the stream
		sent2   = make(chan struct{}) // the tool has sent progress 2
		step2   = make(chan struct{}) // the client has resumed
		tickEnd = make(chan struct{}) // the ticker tool returned
	)
	srv := mtNewServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "ticker", Description: "progress with pauses"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
		defer close(tickEnd)
		tok := req.Params.GetProgressToken()
		notify := func(p float64) error {
			return req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: p, Total: 3})
		}
		if err := notify(1); err != nil {
			return nil, nil, err
		}
		if err := mtBlock(ctx, step1); err != nil {
			return nil, nil, err
		}
		if err := notify(2); err != nil {
			return nil, nil, err
		}
		close(sent2)
		if err := mtBlock(ctx, step2); err != nil {
			return nil, nil, err
		}
		if err := notify(3); err != nil {
			return nil, nil, err
		}
		return mtText("ticker done"), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "closer", Description: "closes its SSE stream, then answers"}, func(ctx context.Context, req *mcp.CallToolRequest, _ mtEmpty) (*mcp.CallToolResult, any, error) {
		if req.Extra == nil || req.Extra.CloseSSEStream == nil {
			return nil, nil, errors.New("no CloseSSEStream")
		}
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 75 * time.Millisecond})
		time.Sleep(50 * time.Millisecond)
		return mtText("answered after close"), nil, nil
	})
	backend, rec := mtStartBackend(t, srv, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
	url := g.URL("/mcp")

	t.Run("drop and replay", func(t *testing.T) {
		sid := mtRawInit(t, url, mtV1125)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()

		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ticker","arguments":{},"_meta":{"progressToken":"tick"}}}`
		resp, sse := mtOpenStream(ctx, t, http.MethodPost, url, body, mtHeaders(mtV1125, sid))
		if got := resp.Header.Get("X-Accel-Buffering"); got != "no" {
			t.Errorf("POST SSE response X-Accel-Buffering = %q, want no", got)
		}
		prime := mtNextEvent(t, sse, "priming event")
		if prime.ID == "" || prime.Data != "" {
			t.Fatalf("priming event = %+v, want an id and no data", prime)
		}
		p1 := mtNextEvent(t, sse, "progress 1")
		if mtProgressOf(t, p1) != 1 || p1.ID == "" {
			t.Fatalf("progress 1 event = %+v", p1)
		}
		streamID, _, _ := strings.Cut(p1.ID, "_")
		// Drop the connection, and wait until the backend saw it go.
		resp.Body.Close()
		mtWait(t, 5*time.Second, "the backend to notice the dropped stream", func() bool {
			calls := rec.find(func(r *mtRecorded) bool { return r.RPCMethod == "tools/call" && r.Header.Get("Mcp-Session-Id") == sid })
			return len(calls) == 1 && calls[0].Done
		})
		close(step1)
		mtRecv(t, sent2, 5*time.Second, "the tool to send progress 2 while nobody listens")

		hdr := mtHeaders(mtV1125, sid)
		hdr["Accept"] = "text/event-stream"
		hdr["Last-Event-ID"] = p1.ID
		resp2, sse2 := mtOpenStream(ctx, t, http.MethodGet, url, "", hdr)
		defer resp2.Body.Close()
		if got := resp2.Header.Get("X-Accel-Buffering"); got != "no" {
			t.Errorf("GET SSE response X-Accel-Buffering = %q, want no", got)
		}
		p2 := mtNextEvent(t, sse2, "replayed progress 2")
		if mtProgressOf(t, p2) != 2 || p2.ID != streamID+"_2" {
			t.Fatalf("replayed event = %+v, want progress 2 with id %s_2", p2, streamID)
		}
		// Now live: the tool continues only after the replay arrived.
		close(step2)
		p3 := mtNextEvent(t, sse2, "live progress 3")
		if mtProgressOf(t, p3) != 3 || p3.ID != streamID+"_3" {
			t.Fatalf("live event = %+v, want progress 3", p3)
		}
		final := mtNextEvent(t, sse2, "the tool result")
		m := mtDecode(t, final.Data)
		if string(m.ID) != "7" || mtToolText(t, m) != "ticker done" {
			t.Fatalf("final event = %+v", final)
		}
		if _, err := sse2.next(); err != io.EOF {
			t.Fatalf("stream after the result: %v, want a clean end", err)
		}
		resp2.Body.Close()
		mtRecv(t, tickEnd, 5*time.Second, "the tool to return")

		// The whole stream can be replayed once more from the priming event.
		resp3, sse3 := mtOpenStream(ctx, t, http.MethodGet, url, "", map[string]string{
			"Accept": "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": mtV1125, "Last-Event-ID": prime.ID,
		})
		defer resp3.Body.Close()
		var got []string
		for {
			ev, err := sse3.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("full replay: %v", err)
			}
			got = append(got, ev.ID)
		}
		want := []string{streamID + "_1", streamID + "_2", streamID + "_3", streamID + "_4"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("full replay ids %v, want %v", got, want)
		}
		// The GET requests reached the backend with the Last-Event-ID.
		gets := rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == sid })
		if len(gets) != 2 || gets[0].Header.Get("Last-Event-Id") != p1.ID || gets[1].Header.Get("Last-Event-Id") != prime.ID {
			t.Fatalf("backend GETs: %+v", gets)
		}
	})

	t.Run("server close with retry", func(t *testing.T) {
		sid := mtRawInit(t, url, mtV1125)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		body := `{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"closer","arguments":{}}}`
		resp, sse := mtOpenStream(ctx, t, http.MethodPost, url, body, mtHeaders(mtV1125, sid))
		defer resp.Body.Close()
		prime := mtNextEvent(t, sse, "priming event")
		if prime.ID == "" {
			t.Fatalf("priming event without id: %+v", prime)
		}
		closeEv := mtNextEvent(t, sse, "close event")
		if closeEv.Name != "close" || !closeEv.HasRetry || closeEv.Retry != "75" {
			t.Fatalf("close event = %+v, want event close with retry: 75", closeEv)
		}
		if _, err := sse.next(); err != io.EOF {
			t.Fatalf("POST stream after close: %v, want a clean end", err)
		}
		hdr := mtHeaders(mtV1125, sid)
		hdr["Accept"] = "text/event-stream"
		hdr["Last-Event-ID"] = prime.ID
		resp2, sse2 := mtOpenStream(ctx, t, http.MethodGet, url, "", hdr)
		defer resp2.Body.Close()
		ev := mtNextEvent(t, sse2, "the result after resuming")
		m := mtDecode(t, ev.Data)
		if string(m.ID) != `"c1"` || mtToolText(t, m) != "answered after close" {
			t.Fatalf("resumed event = %+v", ev)
		}
	})

	t.Run("go-sdk client reconnects", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cs := mtConnect(ctx, t, url, mtV1125, nil, &mcp.StreamableClientTransport{DisableStandaloneSSE: true})
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "closer"})
		if err != nil {
			t.Fatalf("tools/call across a server-closed stream: %v", err)
		}
		if got := mtResultText(t, res); got != "answered after close" {
			t.Fatalf("result %q", got)
		}
		gets := rec.find(func(r *mtRecorded) bool {
			return r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == cs.ID() && r.Header.Get("Last-Event-Id") != ""
		})
		if len(gets) != 1 {
			t.Fatalf("backend saw %d resuming GETs, want 1", len(gets))
		}
	})
}

// ---------------------------------------------------------------------------
// 6. Notifications

// TestMCPNotificationAccepted: notifications (and client responses) get the
// backend's 202 with no body through the gateway.
func TestMCPNotificationAccepted(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			backend, rec := mtStartBackend(t, mtNewServer(), &mcp.StreamableHTTPOptions{Stateless: stateless})
			g := mtStartGateway(t, "/mcp", backend, "/mcp", "http", "")
			sid := ""
			if !stateless {
				sid = mtRawInit(t, g.URL("/mcp"), mtV1125)
			}
			for _, n := range []string{
				`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
				`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345,"reason":"test"}}`,
				`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`,
			} {
				before := rec.count()
				resp, body := mtDo(t, http.MethodPost, g.URL("/mcp"), n, mtHeaders(mtV1125, sid))
				if resp.StatusCode != http.StatusAccepted || body != "" {
					t.Fatalf("%s: %d %q, want 202 with no body", n, resp.StatusCode, body)
				}
				if rec.count() != before+1 {
					t.Fatalf("%s did not reach the backend", n)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 7. Legacy HTTP+SSE

// mtEndpointRewriter rewrites the backend's `endpoint` event (the go-sdk
// writes it in one Write), to present the gateway with the other forms a
// legacy server may use: other URI forms, CRLF line endings (Python's
// sse-starlette), a BOM, a comment, "data:" without a space.
type mtEndpointRewriter struct {
	http.ResponseWriter
	rewrite func(event string) string
}

func (w *mtEndpointRewriter) Write(p []byte) (int, error) {
	if w.rewrite != nil && bytes.HasPrefix(p, []byte("event: endpoint\n")) {
		if _, err := w.ResponseWriter.Write([]byte(w.rewrite(string(p)))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// mtEndpointData applies f to the data of an endpoint event.
func mtEndpointData(ev string, f func(string) string) string {
	const head = "event: endpoint\ndata: "
	data, rest, _ := strings.Cut(strings.TrimPrefix(ev, head), "\n")
	return head + f(data) + "\n" + rest
}

func (w *mtEndpointRewriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *mtEndpointRewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// mtTapTransport records the URLs a client requests and tees GET response
// bodies (the SSE stream) into a buffer.
type mtTapTransport struct {
	mu      sync.Mutex
	urls    []string
	stream  *gatewaytest.LogBuffer
	sseHdrs []http.Header // response headers of the GETs
}

func (tt *mtTapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tt.mu.Lock()
	tt.urls = append(tt.urls, req.Method+" "+req.URL.String())
	tt.mu.Unlock()
	resp, err := mtHTTP.Transport.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet {
		tt.mu.Lock()
		tt.sseHdrs = append(tt.sseHdrs, resp.Header.Clone())
		tt.mu.Unlock()
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, tt.stream), resp.Body}
	}
	return resp, err
}

func (tt *mtTapTransport) seen() []string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]string(nil), tt.urls...)
}

// TestMCPLegacySSE drives a legacy HTTP+SSE backend (go-sdk SSEHandler)
// through the gateway with the go-sdk SSE client. The route prefix differs
// from the backend path, so the endpoint event must be rewritten.
func TestMCPLegacySSE(t *testing.T) {
	data := func(f func(backend, data string) string) func(string, string) string {
		return func(b, ev string) string { return mtEndpointData(ev, func(d string) string { return f(b, d) }) }
	}
	cases := []struct {
		name     string
		basePath string                             // backend address path
		rewrite  func(backend, event string) string // how the backend writes the endpoint event
		wantFail bool                               // the gateway must end the stream
	}{
		{name: "absolute path", basePath: ""},
		{name: "absolute URL", rewrite: data(func(b, d string) string { return b + d })},
		{name: "relative query", rewrite: data(func(_, d string) string { return d[strings.Index(d, "?"):] })},
		{name: "relative path", rewrite: data(func(_, d string) string { return strings.TrimPrefix(d, "/") })},
		{name: "CRLF", rewrite: func(b, ev string) string {
			return strings.ReplaceAll(mtEndpointData(ev, func(d string) string { return b + d }), "\n", "\r\n")
		}},
		{name: "BOM and comment", rewrite: func(_, ev string) string { return "\xef\xbb\xbf: hello\n\n" + ev }},
		{name: "data without space", rewrite: func(_, ev string) string { return strings.Replace(ev, "data: ", "data:", 1) }},
		{name: "base path", basePath: "/base"},
		{name: "base path absolute URL", basePath: "/base", rewrite: data(func(b, d string) string { return b + d })},
		// An endpoint outside the backend base cannot be reached through
		// the gateway: the stream must end without leaking it.
		{name: "outside base path", basePath: "/base", rewrite: data(func(_, d string) string { return strings.TrimPrefix(d, "/base") }), wantFail: true},
		{name: "outside base via dot segments", basePath: "/base", rewrite: data(func(b, d string) string { return b + "/base/../admin" + d[strings.Index(d, "?"):] }), wantFail: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sseHandler := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return mtNewServer() }, nil)
			var backendURL string
			ready := make(chan struct{}) // backendURL is set
			mux := http.NewServeMux()
			mux.Handle(tc.basePath+"/sse", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-ready
				if r.Method == http.MethodGet && tc.rewrite != nil {
					w = &mtEndpointRewriter{ResponseWriter: w, rewrite: func(ev string) string { return tc.rewrite(backendURL, ev) }}
				}
				sseHandler.ServeHTTP(w, r)
			}))
			rec := &mtRecorder{h: mux}
			backendURL = serve(t, rec)
			close(ready)
			backendHost := strings.TrimPrefix(backendURL, "http://")

			g := mtStartGateway(t, "/legacy", backendURL+tc.basePath, "/sse", "sse", "")
			tap := &mtTapTransport{stream: &gatewaytest.LogBuffer{}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "legacy-client", Version: "1.0.0"}, nil)
			cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: g.URL("/legacy"), HTTPClient: &http.Client{Transport: tap}}, nil)
			if tc.wantFail {
				if err == nil {
					cs.Close()
					t.Fatalf("connected through an endpoint outside the backend base; stream %q", tap.stream.String())
				}
				if strings.Contains(tap.stream.String(), backendHost) || strings.Contains(tap.stream.String(), "sessionid") {
					t.Fatalf("stream leaks the backend endpoint: %q", tap.stream.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v\nstream so far: %q", err, tap.stream.String())
			}
			defer cs.Close()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 1 {
				t.Fatalf("tools/list: %v %+v", err, tools)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "legacy"}})
			if err != nil {
				t.Fatalf("tools/call: %v", err)
			}
			if got := mtResultText(t, res); got != "echo: legacy" {
				t.Fatalf("tools/call = %q", got)
			}

			stream := tap.stream.String()
			ev, err := mtNewSSEReader(strings.NewReader(strings.TrimPrefix(stream, "\xef\xbb\xbf"))).next()
			if err != nil || ev.Name != "endpoint" {
				t.Fatalf("first event %+v (%v), want endpoint; stream %q", ev, err, stream)
			}
			if !strings.HasPrefix(ev.Data, "/legacy/sse?sessionid=") {
				t.Errorf("endpoint event data %q, want /legacy/sse?sessionid=...", ev.Data)
			}
			if strings.Contains(stream, backendHost) || strings.Contains(stream, tc.basePath+"/sse?") && tc.basePath != "" {
				t.Errorf("stream leaks the backend address: %q", stream)
			}
			tap.mu.Lock()
			for _, h := range tap.sseHdrs {
				if got := h.Get("X-Accel-Buffering"); got != "no" {
					t.Errorf("legacy SSE stream X-Accel-Buffering = %q, want no", got)
				}
			}
			tap.mu.Unlock()
			gwHost := fmt.Sprintf("127.0.0.1:%d", g.Port)
			for _, u := range tap.seen() {
				if !strings.Contains(u, "http://"+gwHost+"/legacy") {
					t.Errorf("client requested %s, not under the gateway's /legacy", u)
				}
			}
			// The backend saw the SSE GET on its endpoint and the POSTs on
			// its message path, with the session id query. (A POST's 202
			// may be recorded after the result it caused arrived.)
			mtWait(t, 3*time.Second, "the POSTs to complete", func() bool {
				for _, r := range rec.find(func(r *mtRecorded) bool { return r.Method == http.MethodPost }) {
					if !r.Done {
						return false
					}
				}
				return true
			})
			for _, r := range rec.snapshot() {
				if r.Path != tc.basePath+"/sse" {
					t.Errorf("backend saw %s %s", r.Method, r.Path)
				}
				if r.Method == http.MethodPost && (!strings.HasPrefix(r.Query, "sessionid=") || r.Status != http.StatusAccepted) {
					t.Errorf("backend POST %s?%s -> %d", r.Path, r.Query, r.Status)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 8. Edge behaviour

// mtHeaderTransport adds headers to every request of mtHTTP.
type mtHeaderTransport map[string]string

func (h mtHeaderTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h {
		req.Header.Set(k, v)
	}
	return mtHTTP.Transport.RoundTrip(req)
}

// TestMCPEdge checks the edge against a real backend: header hygiene,
// forwarding headers, path mapping, and the transport checks the gateway
// applies itself.
func TestMCPEdge(t *testing.T) {
	backend, rec := mtStartBackend(t, mtNewServer(), &mcp.StreamableHTTPOptions{Stateless: true})
	cfg := mtPorts(t)
	cfg.Listeners = MCPListener("tools", "/tools", backend+"/v1", "/mcp", "http", "")
	cfg.Extra = "server:\n  maxBodyBytes: 2KiB\n"
	g := mtStartGatewayCfg(t, cfg)
	gwHost := fmt.Sprintf("127.0.0.1:%d", g.Port)
	call := func(id, text string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}}}`, id, text)
	}
	// last returns the last request the backend saw, requiring that n new
	// requests arrived.
	lastAfter := func(t *testing.T, before, n int) mtRecorded {
		t.Helper()
		all := rec.snapshot()
		if len(all) != before+n {
			t.Fatalf("backend saw %d new requests, want %d", len(all)-before, n)
		}
		return all[len(all)-1]
	}

	t.Run("header hygiene", func(t *testing.T) {
		before := rec.count()
		hdr := mtHeaders(mtV1125, "")
		for k, v := range map[string]string{
			"X-Agent-Identity":  "system:serviceaccount:evil:sa",
			"X-Source-Agent":    "evil-source",
			"X-Target-Agent":    "evil-target",
			"Authorization":     "Bearer client-token",
			"Cookie":            "session=secret",
			"X-Forwarded-For":   "203.0.113.7",
			"X-Forwarded-Host":  "evil.example",
			"X-Forwarded-Proto": "https",
			"X-Request-Id":      "req-123",
		} {
			hdr[k] = v
		}
		resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call("1", "hygiene"), hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := mtToolText(t, mtResponseFor(t, resp, body, "1")); got != "echo: hygiene" {
			t.Fatalf("result %q", got)
		}
		r := lastAfter(t, before, 1)
		for _, h := range []string{"X-Agent-Identity", "X-Source-Agent", "X-Target-Agent", "Authorization", "Cookie"} {
			if v, ok := r.Header[h]; ok {
				t.Errorf("backend received %s: %q", h, v)
			}
		}
		if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "203.0.113.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want the client's value with the peer appended", got)
		}
		if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto = %q, want http", got)
		}
		if got := r.Header.Get("X-Forwarded-Host"); got != gwHost {
			t.Errorf("X-Forwarded-Host = %q, want %q", got, gwHost)
		}
		if got := r.Header.Get("X-Request-Id"); got != "req-123" {
			t.Errorf("X-Request-Id = %q, want it forwarded", got)
		}
		if got := r.Header.Get("Mcp-Protocol-Version"); got != mtV1125 {
			t.Errorf("MCP-Protocol-Version = %q, want it forwarded", got)
		}
	})

	t.Run("identity header duplicates and case", func(t *testing.T) {
		before := rec.count()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		req := mtRequest(ctx, t, http.MethodPost, g.URL("/tools"), call("3", "dup"), mtHeaders("", ""))
		// Non-canonical keys are sent as written by Go's client.
		req.Header["x-agent-identity"] = []string{"evil-1", "evil-2"}
		req.Header["X-SOURCE-AGENT"] = []string{"evil-3"}
		req.Header["X-Target-Agent"] = []string{"evil-4", "evil-5"}
		req.Header["authorization"] = []string{"Bearer a", "Bearer b"}
		resp, err := mtHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		r := lastAfter(t, before, 1)
		for k, v := range r.Header {
			switch http.CanonicalHeaderKey(k) {
			case "X-Agent-Identity", "X-Source-Agent", "X-Target-Agent", "Authorization":
				t.Errorf("backend received %s: %q", k, v)
			}
		}
	})

	t.Run("hop-by-hop cannot smuggle identity", func(t *testing.T) {
		// A client naming an identity header in Connection must not make
		// the gateway drop (or keep) anything it should not.
		before := rec.count()
		hdr := mtHeaders("", "")
		hdr["Connection"] = "X-Agent-Identity, X-Custom-Hop"
		hdr["X-Custom-Hop"] = "hop"
		hdr["X-Agent-Identity"] = "evil"
		resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call("2", "hop"), hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		r := lastAfter(t, before, 1)
		for _, h := range []string{"X-Agent-Identity", "X-Custom-Hop"} {
			if v, ok := r.Header[h]; ok {
				t.Errorf("backend received %s: %q", h, v)
			}
		}
	})

	t.Run("path mapping", func(t *testing.T) {
		cases := []struct {
			path, wantRaw, wantQuery string
		}{
			{"/tools", "/v1/mcp", ""},
			{"/tools?x=1&y=a%20b", "/v1/mcp", "x=1&y=a%20b"},
			{"/tools/sub", "/v1/mcp/sub", ""},
			{"/tools/sub/deeper?q=1", "/v1/mcp/sub/deeper", "q=1"},
			{"/tools/a%20b", "/v1/mcp/a%20b", ""},
			{"/tools/", "/v1/mcp/", ""},
		}
		// The backend address has a path (/v1): the route prefix maps to
		// address path + mcp.endpoint, for the bare prefix (where MCP
		// clients POST) as for anything below it.
		for i, c := range cases {
			t.Run(c.path, func(t *testing.T) {
				before := rec.count()
				id := fmt.Sprint(10 + i)
				resp, body := mtDo(t, http.MethodPost, g.URL(c.path), call(id, c.path), mtHeaders("", ""))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if got := mtToolText(t, mtResponseFor(t, resp, body, id)); got != "echo: "+c.path {
					t.Fatalf("result %q", got)
				}
				r := lastAfter(t, before, 1)
				if r.RawPath != c.wantRaw || r.Query != c.wantQuery {
					// docs/proxy.md: for protocol http, `prefix` maps to
					// address path + mcp.endpoint.
					t.Errorf("backend saw %s?%s, want %s?%s", r.RawPath, r.Query, c.wantRaw, c.wantQuery)
				}
			})
		}
		// Not on a segment boundary, encoded, or normalisable: never
		// forwarded. No route is a plain JSON 404 (no route, no protocol).
		for _, c := range []struct {
			path   string
			status int
		}{
			{"/toolsx", http.StatusNotFound},
			// An encoded unreserved character is refused, not routed:
			// a decoding backend reads "/%74ools" as "/tools" (#14).
			{"/%74ools", http.StatusBadRequest},
			{"/tools/%7Euser", http.StatusBadRequest},
			{"/tools;x=1", http.StatusBadRequest},
			{"/tools/../admin", http.StatusBadRequest},
			{"/tools//x", http.StatusBadRequest},
			{"/tools/%2e%2e/x", http.StatusBadRequest},
			{"/tools/a%2Fb", http.StatusBadRequest},
			{"/tools/a%5cb", http.StatusBadRequest},
			{"/tools/a%00b", http.StatusBadRequest},
		} {
			before := rec.count()
			resp, body := mtDo(t, http.MethodPost, g.URL(c.path), call("1", "x"), mtHeaders("", ""))
			if resp.StatusCode != c.status {
				t.Errorf("%s: status %d %s, want %d", c.path, resp.StatusCode, body, c.status)
			}
			if c.status == http.StatusNotFound {
				var e struct {
					Error  string `json:"error"`
					Status int    `json:"status"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status != 404 || e.Error == "" {
					t.Errorf("%s: 404 body %q, want {\"error\":...,\"status\":404}", c.path, body)
				}
			}
			if rec.count() != before {
				t.Errorf("%s reached the backend", c.path)
			}
		}
	})

	t.Run("origin", func(t *testing.T) {
		for _, c := range []struct {
			origin, id string
			want       int
		}{
			{"https://evil.example", "42", http.StatusForbidden},
			{"http://127.0.0.1:1", `"abc"`, http.StatusForbidden},
			{"null", "7", http.StatusForbidden},
			{"http://" + gwHost, "8", http.StatusOK},
		} {
			before := rec.count()
			hdr := mtHeaders("", "")
			hdr["Origin"] = c.origin
			resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call(c.id, "o"), hdr)
			if resp.StatusCode != c.want {
				t.Fatalf("Origin %s: status %d %s, want %d", c.origin, resp.StatusCode, body, c.want)
			}
			if c.want == http.StatusOK {
				mtResponseFor(t, resp, body, c.id)
				continue
			}
			mtGatewayError(t, resp, body, http.StatusForbidden, -32003, c.id)
			if rec.count() != before {
				t.Errorf("Origin %s reached the backend", c.origin)
			}
		}
	})

	t.Run("protocol version header", func(t *testing.T) {
		// (Surrounding whitespace is not part of an HTTP field value; Go's
		// client trims it, so it cannot be tested here.)
		for _, v := range []string{"2099-01-01", "2025-06-18, 2025-11-25", "latest", "2025-6-18", "2025-06-18\t2025-11-25"} {
			before := rec.count()
			resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call("5", "v"), mtHeaders(v, ""))
			mtGatewayError(t, resp, body, http.StatusBadRequest, -32600, "5")
			if rec.count() != before {
				t.Errorf("version %q reached the backend", v)
			}
		}
		// Two headers are refused as well.
		before := rec.count()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		req := mtRequest(ctx, t, http.MethodPost, g.URL("/tools"), call("6", "v"), mtHeaders("", ""))
		req.Header.Add("MCP-Protocol-Version", mtV0618)
		req.Header.Add("MCP-Protocol-Version", mtV1125)
		resp, err := mtHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || rec.count() != before {
			t.Fatalf("two MCP-Protocol-Version headers: status %d", resp.StatusCode)
		}
	})

	t.Run("body limit", func(t *testing.T) {
		big := call("3", strings.Repeat("x", 4096))
		for _, chunked := range []bool{false, true} {
			before := rec.count()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			req := mtRequest(ctx, t, http.MethodPost, g.URL("/tools"), big, mtHeaders("", ""))
			if chunked {
				req.Body = io.NopCloser(strings.NewReader(big)) // unknown length
				req.ContentLength = -1
			}
			resp, err := mtHTTP.Do(req)
			if err != nil {
				cancel()
				t.Fatalf("chunked=%v: %v", chunked, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			// The body was not read, so there is no id to echo.
			mtGatewayError(t, resp, string(b), http.StatusRequestEntityTooLarge, -32000, "null")
			if rec.count() != before {
				t.Errorf("chunked=%v: oversized body reached the backend", chunked)
			}
		}
		// Just under the limit passes.
		ok := call("4", strings.Repeat("y", 1500))
		resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), ok, mtHeaders("", ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("body under the limit: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("curl accept", func(t *testing.T) {
		for _, accept := range []string{"*/*", ""} {
			before := rec.count()
			// No Accept at all when accept is "": mtRequest deletes it, and
			// Go's client adds none.
			resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call("20", "curl"), map[string]string{"Accept": accept})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("Accept %q: status %d %s", accept, resp.StatusCode, body)
			}
			if got := mtToolText(t, mtResponseFor(t, resp, body, "20")); got != "echo: curl" {
				t.Fatalf("Accept %q: result %q", accept, got)
			}
			r := lastAfter(t, before, 1)
			if got := r.Header.Get("Accept"); !strings.Contains(got, "application/json") || !strings.Contains(got, "text/event-stream") {
				t.Errorf("Accept %q reached the backend as %q", accept, got)
			}
			// A GET gets "text/event-stream" (this backend is sessionless,
			// so it answers 405, which passes through).
			before = rec.count()
			resp, body = mtDo(t, http.MethodGet, g.URL("/tools"), "", map[string]string{"Accept": accept})
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET with Accept %q: %d %s, want the backend's 405", accept, resp.StatusCode, body)
			}
			r = lastAfter(t, before, 1)
			if got := r.Header.Get("Accept"); got != "text/event-stream" {
				t.Errorf("GET with Accept %q reached the backend as %q", accept, got)
			}
		}
	})

	t.Run("mcp headers must match body", func(t *testing.T) {
		before := rec.count()
		hdr := mtHeaders(mtV0728, "")
		hdr["Mcp-Method"] = "tools/call"
		hdr["Mcp-Name"] = "other_tool"
		resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), call("30", "x"), hdr)
		mtGatewayError(t, resp, body, http.StatusBadRequest, -32600, "30")
		if rec.count() != before {
			t.Errorf("mismatched Mcp-Name reached the backend")
		}
		before = rec.count()
		hdr["Mcp-Name"] = "echo"
		hdr["Mcp-Method"] = "tools/list"
		resp, body = mtDo(t, http.MethodPost, g.URL("/tools"), call("31", "x"), hdr)
		mtGatewayError(t, resp, body, http.StatusBadRequest, -32600, "31")
		if rec.count() != before {
			t.Errorf("mismatched Mcp-Method reached the backend")
		}
	})

	t.Run("malformed json-rpc", func(t *testing.T) {
		cases := []struct {
			name, body string
			code       int
			id         string
		}{
			{"invalid json", `{"jsonrpc":"2.0","id":1,"method":`, -32700, "null"},
			{"duplicate key", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","name":"rm_rf"}}`, -32600, "2"},
			{"non-string name", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":42}}`, -32602, "3"},
			{"no method", `{"jsonrpc":"2.0","id":4}`, -32600, "4"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := rec.count()
				resp, body := mtDo(t, http.MethodPost, g.URL("/tools"), c.body, mtHeaders("", ""))
				mtGatewayError(t, resp, body, http.StatusBadRequest, c.code, c.id)
				if rec.count() != before {
					t.Errorf("reached the backend")
				}
			})
		}
	})

	// The go-sdk client works on the same route (sessionless backend), and
	// the identity and credential headers its HTTP client adds never reach
	// the backend.
	t.Run("go-sdk client", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		before := rec.count()
		hc := &http.Client{Transport: mtHeaderTransport{
			"X-Agent-Identity": "system:serviceaccount:evil:sa",
			"X-Source-Agent":   "evil",
			"X-Target-Agent":   "evil",
			"Authorization":    "Bearer sdk-token",
		}}
		cs := mtConnect(ctx, t, g.URL("/tools"), "", nil, &mcp.StreamableClientTransport{HTTPClient: hc})
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "sdk"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := mtResultText(t, res); got != "echo: sdk" {
			t.Fatalf("result %q", got)
		}
		all := rec.snapshot()[before:]
		if len(all) < 2 {
			t.Fatalf("backend saw %d requests", len(all))
		}
		for _, r := range all {
			for _, h := range []string{"X-Agent-Identity", "X-Source-Agent", "X-Target-Agent", "Authorization"} {
				if v, ok := r.Header[h]; ok {
					t.Errorf("%s %q: backend received %s: %q", r.Method, r.RPCMethod, h, v)
				}
			}
		}
	})
}
