package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// endObserver records the edge's End calls (the access line, metrics and
// the server span are all written there) and the response streams'
// closes.
type endObserver struct {
	nopObserver
	mu      sync.Mutex
	ends    []telemetry.Result
	streamE []error
	closed  int
}

func (o *endObserver) End(_ context.Context, _ *http.Request, ex *policy.Exchange, res telemetry.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends = append(o.ends, res)
	o.streamE = append(o.streamE, ex.StreamEnd)
}

func (o *endObserver) Stream(*policy.Exchange) func() {
	return func() { o.mu.Lock(); o.closed++; o.mu.Unlock() }
}

func (o *endObserver) snapshot() ([]telemetry.Result, []error, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]telemetry.Result(nil), o.ends...), append([]error(nil), o.streamE...), o.closed
}

// sseBackend answers GET with an SSE stream: one comment, then an event
// and the end when end is closed, or nothing until the request ends.
func sseBackend(t *testing.T, end chan struct{}) *httptest.Server {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": open\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-end:
			_, _ = io.WriteString(w, "data: bye\n\n")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(be.Close)
	return be
}

const parkConfig = `
server:
  streamIdleTimeout: %s
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: tools
            match:
              path:
                prefix: /mcp
            backends:
              - name: b
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
`

const streamGET = "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: s-1\r\n\r\n"

// waitParked polls cond for up to 10 s (bounded, no timing assertion).
func waitParked(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// readUntil reads from br until seen contains want.
func readUntil(t *testing.T, br *bufio.Reader, seen *bytes.Buffer, want string) {
	t.Helper()
	for !bytes.Contains(seen.Bytes(), []byte(want)) {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading for %q: %v after %q", want, err, seen.String())
		}
		seen.WriteByte(b)
	}
}

func TestParkedStreamEnds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idle      string
		end       func(t *testing.T, c net.Conn, end chan struct{}, g *Gateway)
		status    int
		streamEnd error
		lastChunk bool
		// reused: after the last chunk the connection serves the
		// client's next request (keep-alive), as net/http's would.
		reused bool
	}{
		{name: "client closes", idle: "5m", status: statusClientClosed,
			end: func(_ *testing.T, c net.Conn, _ chan struct{}, _ *Gateway) { _ = c.Close() }},
		{name: "backend ends", idle: "5m", status: http.StatusOK, lastChunk: true, reused: true,
			end: func(_ *testing.T, _ net.Conn, end chan struct{}, _ *Gateway) { close(end) }},
		{name: "idle timeout", idle: "300ms", status: http.StatusOK, streamEnd: policy.ErrIdleTimeout, lastChunk: true, reused: true,
			end: func(*testing.T, net.Conn, chan struct{}, *Gateway) {}},
		{name: "drain", idle: "5m", status: http.StatusOK, streamEnd: policy.ErrDraining, lastChunk: true,
			end: func(t *testing.T, _ net.Conn, _ chan struct{}, g *Gateway) {
				go func() { _ = g.Shutdown(5 * time.Second) }()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end := make(chan struct{})
			be := sseBackend(t, end)
			obs := &endObserver{}
			port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
			src := fmt.Sprintf(parkConfig, tc.idle, port, be.URL) + fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
			g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
			gatewaytest.Start(t, g, src)

			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, streamGET); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			var seen bytes.Buffer
			readUntil(t, br, &seen, ": open")
			waitParked(t, "the stream to park", func() bool { return g.deps.drain.parked.Load() == 1 })
			if n := g.deps.lim.streams.Load(); n != 1 {
				t.Fatalf("%d stream slots held by a parked stream, want 1", n)
			}

			tc.end(t, c, end, g)
			if tc.lastChunk {
				readUntil(t, br, &seen, "\r\n0\r\n\r\n")
				if tc.streamEnd == nil && !strings.Contains(seen.String(), "data: bye") {
					t.Fatalf("the backend's last event did not arrive: %q", seen.String())
				}
			}
			if tc.reused {
				// A client's transport pools the connection once it has
				// read the last chunk and sends its next request on it.
				if _, err := io.WriteString(c, "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				seen.Reset()
				readUntil(t, br, &seen, "\r\n\r\n")
				if !strings.HasPrefix(seen.String(), "HTTP/1.1 404 ") {
					t.Fatalf("the next request on the connection got %q, want the gateway's 404", seen.String())
				}
			}
			waitParked(t, "the stream's end", func() bool {
				ends, _, _ := obs.snapshot()
				return len(ends) > 0 && g.deps.drain.parked.Load() == 0 && g.deps.lim.streams.Load() == 0
			})
			// Late duplicates would show up here.
			time.Sleep(50 * time.Millisecond)
			ends, streamEnds, closed := obs.snapshot()
			if tc.reused {
				// The next request's own End (its 404) may come first.
				for i := range ends {
					if ends[i].Status == http.StatusNotFound {
						ends, streamEnds = append(ends[:i:i], ends[i+1:]...), append(streamEnds[:i:i], streamEnds[i+1:]...)
						break
					}
				}
			}
			if len(ends) != 1 || closed != 1 {
				t.Fatalf("End called %d times, the stream closed %d times; want 1 and 1", len(ends), closed)
			}
			if ends[0].Status != tc.status || streamEnds[0] != tc.streamEnd {
				t.Fatalf("recorded status %d, stream end %v; want %d, %v", ends[0].Status, streamEnds[0], tc.status, tc.streamEnd)
			}
			if g.deps.lim.inflight.Load() != 0 {
				t.Fatalf("%d requests still in flight", g.deps.lim.inflight.Load())
			}
		})
	}
}

// A request pipelined behind the stream is in net/http's read buffer
// when the connection is hijacked: the stream is served in place and
// the connection goes back to the server, which answers the request.
func TestParkedStreamPipelined(t *testing.T) {
	end := make(chan struct{})
	be := sseBackend(t, end)
	obs := &endObserver{}
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(parkConfig, "5m", port, be.URL) + fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
	gatewaytest.Start(t, g, src)

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, streamGET+"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var seen bytes.Buffer
	readUntil(t, br, &seen, ": open")
	if n := g.deps.drain.parked.Load(); n != 1 {
		t.Fatalf("%d streams counted; want the in-place one", n)
	}
	close(end)
	readUntil(t, br, &seen, "\r\n0\r\n\r\n")
	seen.Reset()
	readUntil(t, br, &seen, "\r\n\r\n")
	if !strings.HasPrefix(seen.String(), "HTTP/1.1 404 ") {
		t.Fatalf("the pipelined request got %q, want the gateway's 404", seen.String())
	}
	waitParked(t, "both ends", func() bool { ends, _, _ := obs.snapshot(); return len(ends) == 2 })
	if g.deps.lim.streams.Load() != 0 || g.deps.drain.parked.Load() != 0 {
		t.Fatal("the stream slot or the count was not released")
	}
}

// Only HTTP/1.1 GETs over plain TCP are parked: HTTP/2 cannot be
// hijacked and TLS connections keep the handler's path.
func TestParkable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		major  int
		method string
		tls    bool
		want   bool
	}{
		{"HTTP/1.1 GET", 1, http.MethodGet, false, parkSupported},
		{"HTTP/1.0 GET", 0, http.MethodGet, false, false},
		{"HTTP/2 GET", 2, http.MethodGet, false, false},
		{"TLS GET", 1, http.MethodGet, true, false},
		{"POST", 1, http.MethodPost, false, false},
	} {
		r := httptest.NewRequest(tc.method, "/mcp", nil)
		r.ProtoMajor, r.ProtoMinor = tc.major, 1
		if tc.major == 0 {
			r.ProtoMajor, r.ProtoMinor = 1, 0
		}
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := parkable(r); got != tc.want {
			t.Errorf("%s: parkable %v, want %v", tc.name, got, tc.want)
		}
	}
	// The head net/http sent must be a chunked one.
	for _, tc := range []struct {
		status int
		h      http.Header
		want   bool
	}{
		{200, http.Header{}, true},
		{204, http.Header{}, false},
		{304, http.Header{}, false},
		{200, http.Header{"Content-Length": {"5"}}, false},
		{200, http.Header{"Transfer-Encoding": {"identity"}}, false},
	} {
		if got := chunkedResponse(tc.status, tc.h); got != tc.want {
			t.Errorf("chunkedResponse(%d, %v) = %v, want %v", tc.status, tc.h, got, tc.want)
		}
	}
}

// HTTP/2 and TLS streams keep the handler's path: served, flushed and
// ended as before, never parked.
func TestStreamOverTLSNotParked(t *testing.T) {
	p := newTLSPKI(t)
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run(proto, func(t *testing.T) {
			end := make(chan struct{})
			be := sseBackend(t, end)
			g, port := tlsApply(t, tlsBindConfig, p.serverCert, p.serverKey, p.clientCAF, config.ClientAuthPermissive, be.URL)
			cfg := p.tlsConfig()
			cfg.NextProtos = []string{proto}
			c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: proto == "h2"}}
			defer c.CloseIdleConnections()
			res, err := c.Get(fmt.Sprintf("https://localhost:%d/events", port))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if want := map[string]int{"h2": 2, "http/1.1": 1}[proto]; res.ProtoMajor != want {
				t.Fatalf("served over %s, want HTTP/%d", res.Proto, want)
			}
			br := bufio.NewReader(res.Body)
			var seen bytes.Buffer
			readUntil(t, br, &seen, ": open")
			// The stream is open and flushed; it would have parked by now.
			time.Sleep(50 * time.Millisecond)
			if n := g.deps.drain.parked.Load(); n != 0 {
				t.Fatalf("%d streams parked over %s", n, proto)
			}
			close(end)
			rest, err := io.ReadAll(br)
			if err != nil || !strings.Contains(string(rest), "data: bye") {
				t.Fatalf("the stream's end: %q, %v", rest, err)
			}
		})
	}
}

// Bytes from the client while its stream is parked (nothing a streaming
// client sends) end the close watch, not the stream: the stream goes on
// to its end and the connection closes after the last chunk.
func TestParkedStreamClientBytes(t *testing.T) {
	end := make(chan struct{})
	be := sseBackend(t, end)
	obs := &endObserver{}
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	src := fmt.Sprintf(parkConfig, "5m", port, be.URL) + fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
	gatewaytest.Start(t, g, src)

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, streamGET); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var seen bytes.Buffer
	readUntil(t, br, &seen, ": open")
	waitParked(t, "the stream to park", func() bool { return g.deps.drain.parked.Load() == 1 })
	if _, err := io.WriteString(c, "GET /mcp HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	close(end)
	readUntil(t, br, &seen, "\r\n0\r\n\r\n")
	if !strings.Contains(seen.String(), "data: bye") {
		t.Fatalf("the stream did not go on: %q", seen.String())
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last chunk: %v, want the connection closed", err)
	}
	waitParked(t, "the stream's end", func() bool { ends, _, _ := obs.snapshot(); return len(ends) == 1 })
	if ends, _, _ := obs.snapshot(); ends[0].Status != http.StatusOK {
		t.Fatalf("recorded %d, want 200", ends[0].Status)
	}
}
