package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/tlsconfig/tlstest"
)

// versionBackend is a go-sdk MCP server plus an event-stream endpoint,
// recording the protocol of every request and counting accepted
// connections.
type versionBackend struct {
	*httptest.Server
	caFile  string // for TLS backends
	h1, h2  atomic.Int64
	conns   atomic.Int64
	flaky   atomic.Int64
	release chan struct{} // closing it lets /events send its second event
}

// newVersionBackend serves mode: "h2c" (cleartext HTTP/2 with prior
// knowledge, and HTTP/1.1), "h1" (HTTP/1.1 only, cleartext), "tls"
// (ALPN h2 and http/1.1) or "tls-h1" (ALPN http/1.1 only).
func newVersionBackend(t *testing.T, mode string) *versionBackend {
	t.Helper()
	b := &versionBackend{release: make(chan struct{})}
	s := mcp.NewServer(&mcp.Implementation{Name: "v", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "not for everyone"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "secret"}}}, nil, nil
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if b.flaky.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "fine")
	})
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: two\n\n")
		w.Header().Set("X-Checksum", "abc")
	})
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			b.h2.Add(1)
		} else {
			b.h1.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	switch mode {
	case "h2c":
		b.Config.Protocols = new(http.Protocols)
		b.Config.Protocols.SetHTTP1(true)
		b.Config.Protocols.SetUnencryptedHTTP2(true)
		b.Start()
	case "h1":
		b.Start()
	case "tls", "tls-h1":
		ca := tlstest.NewCA(t, "backend-ca")
		cert := ca.Issue(t, tlstest.Options{CommonName: "backend.internal", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
		b.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS(t)}}
		b.EnableHTTP2 = mode == "tls"
		b.StartTLS()
		b.caFile = tlstest.WriteFile(t, t.TempDir(), "ca.crt", ca.PEM)
	}
	t.Cleanup(b.Close)
	return b
}

// versionConfig routes /mcp to the backend's MCP endpoint and /plain to
// the rest of it; %[2]s is the address, %[3]s the backend's extra YAML.
const versionConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            backends:
              - name: b
                type: mcp-http
                address: %[2]s
%[3]s
          - name: plain
            match: {path: {prefix: /plain}}
            backends:
              - name: p
                address: %[2]s
%[3]s
`

func versionBlock(b *versionBackend, version string) string {
	var s string
	if version != "" {
		s += "                http: {version: " + version + "}\n"
	}
	if b.caFile != "" {
		s += "                tls: {caFile: " + b.caFile + "}\n"
	}
	return strings.TrimRight(s, "\n")
}

func TestBackendHTTPVersions(t *testing.T) {
	for _, tc := range []struct {
		mode, version string
		wantH2        bool
		// wantConns over HTTP/2: the backends without a tls block share
		// the gateway's h2c transport, one connection in all; each with
		// one has its own pool (its own TLS config), one connection each.
		wantConns int64
	}{
		{mode: "h2c", version: "http2", wantH2: true, wantConns: 1},
		{mode: "h2c", version: ""},                                  // http:// defaults to http1: the lean client
		{mode: "tls", version: "", wantH2: true, wantConns: 2},      // https:// defaults to auto
		{mode: "tls", version: "http2", wantH2: true, wantConns: 2}, // h2 only
		{mode: "tls", version: "http1"},                             // no h2 offered
		{mode: "tls-h1", version: "auto"},                           // auto falls back to HTTP/1.1
	} {
		t.Run(tc.mode+"/"+tc.version, func(t *testing.T) {
			be := newVersionBackend(t, tc.mode)
			_, gw := startGateway(t, versionConfig, be.URL, versionBlock(be, tc.version))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
			sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			tools, err := sess.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 2 {
				t.Fatalf("tools/list: %v %+v", err, tools)
			}
			res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			if err != nil || res.Content[0].(*mcp.TextContent).Text != "echo: hi" {
				t.Fatalf("tools/call: %v %+v", err, res)
			}

			// Several event streams at once: each gets its first event
			// before the backend sends the second (flushed event by
			// event), then the second and the trailer.
			const streams = 4
			type opened struct {
				res *http.Response
				br  *bufio.Reader
			}
			var ss []opened
			for range streams {
				req, _ := http.NewRequestWithContext(ctx, "GET", gw+"/plain/events", nil)
				req.Header.Set("Accept", "text/event-stream")
				r, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				br := bufio.NewReader(r.Body)
				if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
					t.Fatalf("first event: %q %v", line, err)
				}
				ss = append(ss, opened{r, br})
			}
			close(be.release)
			for _, s := range ss {
				rest, err := io.ReadAll(s.br)
				if err != nil || !strings.Contains(string(rest), "data: two") {
					t.Fatalf("rest of stream: %q %v", rest, err)
				}
				if got := s.res.Trailer.Get("X-Checksum"); got != "abc" {
					t.Errorf("trailer = %q, want abc", got)
				}
			}

			h1, h2, conns := be.h1.Load(), be.h2.Load(), be.conns.Load()
			if tc.wantH2 {
				if h1 != 0 || h2 == 0 {
					t.Fatalf("backend saw %d HTTP/1 and %d HTTP/2 requests, want HTTP/2 only", h1, h2)
				}
				// The MCP session's requests and the concurrent streams
				// share the connection of their backend.
				if conns != tc.wantConns {
					t.Fatalf("backend accepted %d connections, want %d", conns, tc.wantConns)
				}
			} else {
				if h2 != 0 || h1 == 0 {
					t.Fatalf("backend saw %d HTTP/1 and %d HTTP/2 requests, want HTTP/1 only", h1, h2)
				}
				if conns < streams {
					t.Fatalf("backend accepted %d connections for %d concurrent HTTP/1 streams", conns, streams)
				}
			}
		})
	}
}

// TestHTTP2ToHTTP1Backend: a backend declared http2 that only speaks
// HTTP/1.1 fails fast with a 502 (a JSON-RPC error on the MCP route),
// not a hang: in cleartext the backend refuses the h2c preface; over TLS
// the handshake finds no common ALPN protocol.
func TestHTTP2ToHTTP1Backend(t *testing.T) {
	for _, mode := range []string{"h1", "tls-h1"} {
		t.Run(mode, func(t *testing.T) {
			be := newVersionBackend(t, mode)
			_, gw := startGateway(t, versionConfig, be.URL, versionBlock(be, "http2"))
			c := &http.Client{Timeout: 15 * time.Second}
			req, _ := http.NewRequest("POST", gw+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":42,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"id":42`) || !strings.Contains(string(body), `"error"`) {
				t.Fatalf("status %d body %s", res.StatusCode, body)
			}
			if n := be.h1.Load() + be.h2.Load(); mode == "tls-h1" && n != 0 {
				t.Fatalf("backend handled %d requests", n)
			}
		})
	}
}

// TestBackendUpgrade: an upgrade is tunnelled (a 101 keeps a writable
// body: before, every upgrade was a 502), and to a backend declared
// http2 it goes over HTTP/1.1 (HTTP/2 has no Upgrade).
func TestBackendUpgrade(t *testing.T) {
	for _, version := range []string{"http1", "http2"} {
		t.Run(version, func(t *testing.T) { testBackendUpgrade(t, version) })
	}
}

func testBackendUpgrade(t *testing.T, version string) {
	var mu sync.Mutex
	var proto int
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proto = r.ProtoMajor
		mu.Unlock()
		if r.Header.Get("Upgrade") != "echo" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	}))
	be.Config.Protocols = new(http.Protocols)
	be.Config.Protocols.SetHTTP1(true)
	be.Config.Protocols.SetUnencryptedHTTP2(true)
	be.Start()
	t.Cleanup(be.Close)
	_, gw := startGateway(t, versionConfig, be.URL, "                http: {version: "+version+"}")

	conn, err := net.Dial("tcp", strings.TrimPrefix(gw, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /plain/ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", strings.TrimPrefix(gw, "http://"))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	fmt.Fprintf(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Fatalf("tunnel: %q %v", line, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if proto != 1 {
		t.Fatalf("backend saw HTTP/%d", proto)
	}
}

const h2PolicyConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match: {path: {prefix: /mcp}}
            policies:
              - type: jwt-authn
                jwt: {issuer: %s, audiences: [%s], jwksUri: %s}
              - type: mcp-authz
                mcp:
                  rules:
                    - principal: alice
                      allowedTools: [echo]
            backends:
              - name: b
                type: mcp-http
                address: %[5]s
                http: {version: http2}
          - name: plain
            match: {path: {prefix: /plain}}
            policies:
              - type: timeout
                timeout: {request: 30s, idle: 300ms}
              - type: retry
                retry: {attempts: 2, retryOn: [5xx]}
            backends:
              - name: p
                address: %[5]s
                http: {version: http2}
`

// TestBackendHTTP2Policies: over h2c, mcp-authz filters the session's
// tools/list and refuses a tool call, the retry policy replays a 5xx,
// the idle timeout fails a silent backend with 504 and ends a silent
// stream cleanly.
func TestBackendHTTP2Policies(t *testing.T) {
	be := newVersionBackend(t, "h2c")
	key, err := devissuer.GenerateKey(devissuer.DefaultAlg)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.Start("127.0.0.1:0", key, devissuer.DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	tok, err := key.Mint(devissuer.TokenOptions{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	_, gw := startGateway(t, h2PolicyConfig, devissuer.DefaultIssuer, devissuer.DefaultAudience, iss.JWKSURI(), be.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	sess, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	tools, err := sess.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "echo" {
		t.Fatalf("tools/list for alice: %v %+v", err, tools)
	}
	if _, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "secret", Arguments: map[string]any{"text": "x"}}); err == nil {
		t.Fatal("tools/call secret was allowed")
	}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", gw+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s: body: %v", path, err)
		}
		return res, string(b)
	}
	if res, body := get("/plain/flaky"); res.StatusCode != 200 || body != "fine" || be.flaky.Load() != 2 {
		t.Fatalf("flaky: %d %q after %d attempts", res.StatusCode, body, be.flaky.Load())
	}
	if res, _ := get("/plain/slow"); res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow: %d, want 504", res.StatusCode)
	}
	// The stream's first event, then silence: a clean end.
	if res, body := get("/plain/events"); res.StatusCode != 200 || body != "data: one\n\n" {
		t.Fatalf("silent stream: %d %q", res.StatusCode, body)
	}
	if h1 := be.h1.Load(); h1 != 0 {
		t.Fatalf("backend saw %d HTTP/1 requests", h1)
	}
}
