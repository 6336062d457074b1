package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// atkLegitP99 bounds the p99 latency of the legitimate client that runs
// beside every attack. It is generous: the gateway runs with -race on a
// CPU shared with the attacker and other test packages.
const atkLegitP99 = 500 * time.Millisecond

// TestAttacks runs the HTTP-level attacks of issue #9 against one gateway
// (docs/operations.md#http-level-attacks), each on raw sockets, each with a
// legitimate client sending MCP pings beside it that must keep succeeding
// with normal latency:
//
//   - request smuggling: Content-Length with Transfer-Encoding (chunked
//     wins, the gateway re-frames what it forwards, so a backend never
//     sees bytes the gateway did not parse as a request of its own), two
//     differing Content-Length (400, closed), two Transfer-Encoding (501,
//     closed);
//   - a bare LF in a chunk size line: 400, closed;
//   - header bytes over maxHeaderBytes: 431, closed; more header lines
//     than maxHeaderCount, over HTTP/1.1 and HTTP/2: 431;
//   - slowloris: closed after readHeaderTimeout;
//   - HTTP/2 rapid reset (CVE-2023-44487) and CONTINUATION flood
//     (CVE-2023-45288) over h2c.
func TestAttacks(t *testing.T) {
	be := &atkBackend{}
	beURL := serve(t, be)
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("attacks", "/mcp", beURL, "/mcp", "http", "")
	cfg.Extra = "server:\n  readHeaderTimeout: 1s\n"
	g := StartGateway(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", g.Port)
	baseline := goroutines(t, g)

	t.Run("smuggling TE.CL", func(t *testing.T) {
		// A server that believed Content-Length: 4 would read "b4\r\n" as
		// the body and the chunk's content as a second request. The
		// gateway reads the chunked body: one request, not JSON-RPC, 400;
		// the request pipelined after it gets the next response.
		legit := atkLegitClient(t, g.URL("/mcp"))
		inner := atkRequest("/mcp/smuggled", atkPing(7), "")
		if len(inner) < 16 || len(inner) > 255 {
			t.Fatalf("inner request is %d bytes; the chunk size must be two hex digits", len(inner))
		}
		c, br := atkDial(t, addr)
		atkWrite(t, c, "POST /mcp/attack HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
			"Accept: application/json, text/event-stream\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"+
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(inner), inner)+
			atkRequest("/mcp/after", atkPing(8), ""))
		r1, b1 := atkReadResponse(t, br)
		if r1.StatusCode != http.StatusBadRequest || !strings.Contains(b1, `"code":-32700`) {
			t.Errorf("attack request: %d %s, want 400 with a JSON-RPC parse error", r1.StatusCode, b1)
		}
		r2, b2 := atkReadResponse(t, br)
		if r2.StatusCode != http.StatusOK || !strings.Contains(b2, `"id":8`) {
			t.Errorf("request pipelined after the attack: %d %s, want 200 for id 8", r2.StatusCode, b2)
		}
		be.wantSeen(t, "/mcp/smuggled", 0)
		be.wantSeen(t, "/mcp/attack", 0)
		be.wantSeen(t, "/mcp/after", 1)
		legit.check(t)
	})

	t.Run("smuggling CL.TE", func(t *testing.T) {
		// A server that believed Content-Length would take the whole rest
		// as the body. Chunked wins (RFC 9112 6.3): the body is empty, and
		// the bytes after it are the next request on the connection, one
		// the gateway parses, routes and answers itself. The first, an MCP
		// POST with an empty body, is a JSON-RPC parse error at the edge;
		// the backend sees only the second, framed by the gateway and with
		// its X-Forwarded-For, and the client gets a response for each:
		// client, gateway and backend agree on where every request starts.
		legit := atkLegitClient(t, g.URL("/mcp"))
		inner := "0\r\n\r\n" + atkRequest("/mcp/second", atkPing(9), "")
		c, br := atkDial(t, addr)
		atkWrite(t, c, "POST /mcp/attack-clte HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
			"Accept: application/json, text/event-stream\r\nContent-Length: "+strconv.Itoa(len(inner))+
			"\r\nTransfer-Encoding: chunked\r\n\r\n"+inner)
		r1, b1 := atkReadResponse(t, br)
		r2, b2 := atkReadResponse(t, br)
		if r2.StatusCode != http.StatusOK || !strings.Contains(b2, `"id":9`) {
			t.Errorf("second request: %d %s, want 200 for id 9", r2.StatusCode, b2)
		}
		if r1.StatusCode != http.StatusBadRequest || !strings.Contains(b1, `"code":-32700`) {
			t.Errorf("first request (empty chunked body): %d %s, want 400 with a JSON-RPC parse error", r1.StatusCode, b1)
		}
		be.wantSeen(t, "/mcp/attack-clte", 0)
		seen := be.seen("/mcp/second")
		if len(seen) != 1 || seen[0].xff != "127.0.0.1" || seen[0].bodyLen != len(atkPing(9)) {
			t.Errorf("backend saw the second request %+v, want once, through the gateway's edge (X-Forwarded-For 127.0.0.1)", seen)
		}
		legit.check(t)
	})

	t.Run("smuggling two Content-Length", func(t *testing.T) {
		legit := atkLegitClient(t, g.URL("/mcp"))
		body := atkPing(10)
		c, br := atkDial(t, addr)
		atkWrite(t, c, "POST /mcp/attack HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
			"Accept: application/json, text/event-stream\r\nContent-Length: "+strconv.Itoa(len(body))+
			"\r\nContent-Length: 0\r\n\r\n"+body+atkRequest("/mcp/smuggled", atkPing(11), ""))
		r, b := atkReadResponse(t, br)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d %s, want 400", r.StatusCode, b)
		}
		atkWantClosed(t, c, br, 5*time.Second)
		be.wantSeen(t, "/mcp/smuggled", 0)
		be.wantSeen(t, "/mcp/attack", 0)
		legit.check(t)
	})

	t.Run("smuggling two Transfer-Encoding", func(t *testing.T) {
		legit := atkLegitClient(t, g.URL("/mcp"))
		c, br := atkDial(t, addr)
		atkWrite(t, c, "POST /mcp/attack HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
			"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"+atkRequest("/mcp/smuggled", atkPing(12), ""))
		r, b := atkReadResponse(t, br)
		if r.StatusCode != http.StatusNotImplemented {
			t.Errorf("status %d %s, want 501", r.StatusCode, b)
		}
		atkWantClosed(t, c, br, 5*time.Second)
		be.wantSeen(t, "/mcp/smuggled", 0)
		be.wantSeen(t, "/mcp/attack", 0)
		legit.check(t)
	})

	t.Run("bare LF in chunk size", func(t *testing.T) {
		// "b4\n" instead of "b4\r\n": a lenient parser and a strict one
		// would disagree on where the chunk starts.
		legit := atkLegitClient(t, g.URL("/mcp"))
		inner := atkRequest("/mcp/smuggled", atkPing(13), "")
		c, br := atkDial(t, addr)
		atkWrite(t, c, "POST /mcp/attack HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
			"Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+
			fmt.Sprintf("%x\n%s\r\n0\r\n\r\n", len(inner), inner)+atkRequest("/mcp/smuggled", atkPing(14), ""))
		r, b := atkReadResponse(t, br)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d %s, want 400", r.StatusCode, b)
		}
		atkWantClosed(t, c, br, 5*time.Second)
		be.wantSeen(t, "/mcp/smuggled", 0)
		be.wantSeen(t, "/mcp/attack", 0)
		legit.check(t)
	})

	t.Run("oversized headers", func(t *testing.T) {
		legit := atkLegitClient(t, g.URL("/mcp"))
		c, br := atkDial(t, addr)
		// Over maxHeaderBytes (64 KiB) plus net/http's 4 KiB slack.
		big := strings.Repeat("a", 80<<10)
		go func() { _, _ = io.WriteString(c, atkRequest("/mcp/attack", atkPing(15), "X-Big: "+big+"\r\n")) }()
		r, b := atkReadResponse(t, br)
		if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d %s, want 431", r.StatusCode, b)
		}
		atkWantClosed(t, c, br, 5*time.Second)
		be.wantSeen(t, "/mcp/attack", 0)
		legit.check(t)
	})

	t.Run("too many headers", func(t *testing.T) {
		legit := atkLegitClient(t, g.URL("/mcp"))
		var h2 http.Protocols
		h2.SetUnencryptedHTTP2(true)
		h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &h2}}
		defer h2c.CloseIdleConnections()
		for _, tc := range []struct {
			name   string
			c      *http.Client
			proto  string
			n      int
			status int
		}{
			// 200 small lines, about 4 KiB: far under maxHeaderBytes.
			{"HTTP/1.1", http.DefaultClient, "HTTP/1.1", 200, http.StatusRequestHeaderFieldsTooLarge},
			{"HTTP/2", h2c, "HTTP/2.0", 200, http.StatusRequestHeaderFieldsTooLarge},
			// Under maxHeaderCount (100) with the client's own headers.
			{"HTTP/1.1 under the limit", http.DefaultClient, "HTTP/1.1", 80, http.StatusOK},
			{"HTTP/2 under the limit", h2c, "HTTP/2.0", 80, http.StatusOK},
		} {
			path := "/mcp/count-" + strings.NewReplacer("/", "", ".", "", " ", "-").Replace(tc.name)
			req, _ := http.NewRequest(http.MethodPost, g.URL(path), strings.NewReader(atkPing(16)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for i := 0; i < tc.n; i++ {
				req.Header.Set(fmt.Sprintf("X-Attack-%03d", i), "v")
			}
			resp, err := tc.c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != tc.proto || resp.StatusCode != tc.status {
				t.Errorf("%s: %s %d %s, want %s %d", tc.name, resp.Proto, resp.StatusCode, b, tc.proto, tc.status)
			}
			want := 0
			if tc.status == http.StatusOK {
				want = 1
			} else if !strings.Contains(string(b), "more than 100 request header fields") || !strings.Contains(string(b), `"httpStatus":431`) {
				t.Errorf("%s: body %s, want the JSON-RPC error of the header count check", tc.name, b)
			}
			be.wantSeen(t, path, want)
		}
		legit.check(t)
	})

	t.Run("slowloris", func(t *testing.T) {
		// 20 connections trickle header lines every 200ms, half of them
		// the h2c client preface a byte at a time; each is closed once
		// readHeaderTimeout (1s) has passed: without an answer, or for an
		// unfinished preface, with the 400 net/http gives the partial
		// request line it is left with.
		legit := atkLegitClient(t, g.URL("/mcp"))
		const conns = 20
		var wg sync.WaitGroup
		took := make([]time.Duration, conns)
		answers := make([]string, conns)
		errs := make([]error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				took[i], answers[i], errs[i] = atkSlowloris(addr, i%2 == 1, 10*time.Second)
			}()
		}
		wg.Wait()
		for i := range conns {
			if errs[i] != nil {
				t.Errorf("connection %d: %v", i, errs[i])
			} else if a := answers[i]; a != "" && (i%2 == 0 || !strings.HasPrefix(a, "HTTP/1.1 400 ")) {
				t.Errorf("connection %d: gateway answered %q", i, a)
			} else if took[i] > 5*time.Second || took[i] < 500*time.Millisecond {
				t.Errorf("connection %d closed after %v, want about readHeaderTimeout (1s)", i, took[i])
			}
		}
		t.Logf("slowloris: %d connections closed after %v to %v", conns, slices.Min(took), slices.Max(took))
		be.wantSeen(t, "/mcp/slow", 0)
		legit.check(t)
	})

	t.Run("HTTP2 rapid reset", func(t *testing.T) {
		// CVE-2023-44487: open streams and reset them at once, each a
		// complete MCP request, as fast as the socket takes them. net/http
		// runs at most maxConcurrentStreams handlers per connection,
		// queues a bounded number more and closes the connection with
		// GOAWAY ENHANCE_YOUR_CALM past that.
		legit := atkLegitClient(t, g.URL("/mcp"))
		rss0 := atkRSS(t, g)
		h := atkH2Dial(t, addr)
		var (
			buf bytes.Buffer
			enc = hpack.NewEncoder(&buf)
		)
		body := []byte(atkPing(17))
		const streams = 20000
		start := time.Now()
		opened := 0
		var werr error
		for i := 0; i < streams && time.Since(start) < 5*time.Second && !h.ended(); i++ {
			id := uint32(2*i + 1)
			buf.Reset()
			for _, f := range [][2]string{
				{":method", "POST"}, {":scheme", "http"}, {":authority", addr}, {":path", "/mcp/rapid"},
				{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
			} {
				_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			werr = h.write(func(fr *http2.Framer) error {
				if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true}); err != nil {
					return err
				}
				if err := fr.WriteData(id, true, body); err != nil {
					return err
				}
				return fr.WriteRSTStream(id, http2.ErrCodeCancel)
			})
			if werr != nil {
				break
			}
			opened++
		}
		sent := time.Since(start)
		// Let the gateway finish (or refuse) what it accepted.
		h.waitEnd(3 * time.Second)
		h.close()
		// Wait for the backend's count to settle (bounded).
		backend := -1
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			n := len(be.seen("/mcp/rapid"))
			if n == backend {
				break
			}
			backend = n
			time.Sleep(500 * time.Millisecond)
		}
		code, goaway := h.goAway()
		t.Logf("rapid reset: %d streams opened in %v (write error: %v); GOAWAY %v (%v); server sent %d response HEADERS and %d RST_STREAM; backend saw %d requests; gateway RSS %d -> %d MiB",
			opened, sent, werr, goaway, code, h.responses.Load(), h.resets.Load(), backend, rss0>>20, atkRSS(t, g)>>20)
		if opened < 500 {
			t.Errorf("only %d streams opened before the connection failed", opened)
		}
		if !goaway && backend > opened/2 {
			t.Errorf("no GOAWAY and the backend saw %d of %d reset streams: the work is not bounded", backend, opened)
		}
		if goaway && code != http2.ErrCodeEnhanceYourCalm && code != http2.ErrCodeNo {
			t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
		}
		legit.check(t)
	})

	t.Run("HTTP2 CONTINUATION flood", func(t *testing.T) {
		// CVE-2023-45288: a HEADERS frame without END_HEADERS, then
		// CONTINUATION frames of valid header lines that never end. The
		// gateway must stop reading them once the header list passes
		// maxHeaderBytes, not buffer or decode them forever.
		legit := atkLegitClient(t, g.URL("/mcp"))
		rss0 := atkRSS(t, g)
		h := atkH2Dial(t, addr)
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", addr}, {":path", "/mcp/flood"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		werr := h.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.Bytes()})
		})
		// Each CONTINUATION carries 15 header lines of 1 KiB, never
		// indexed so the decoder's table stays empty: about 15 KiB a
		// frame (under the default 16 KiB frame size), 60 MiB in all.
		const frames = 4096
		val := strings.Repeat("v", 1<<10)
		start := time.Now()
		sentBytes := 0
		i := 0
		for ; werr == nil && i < frames && time.Since(start) < 15*time.Second && !h.ended(); i++ {
			buf.Reset()
			for j := range 15 {
				_ = enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-flood-%d-%d", i, j), Value: val, Sensitive: true})
			}
			werr = h.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, buf.Bytes()) })
			if werr == nil {
				sentBytes += buf.Len()
			}
		}
		h.waitEnd(5 * time.Second)
		code, goaway := h.goAway()
		t.Logf("CONTINUATION flood: %d frames (%d KiB) written in %v before the connection ended (write error: %v); GOAWAY %v (%v); gateway RSS %d -> %d MiB",
			i, sentBytes>>10, time.Since(start), werr, goaway, code, rss0>>20, atkRSS(t, g)>>20)
		if !h.ended() {
			t.Errorf("connection still open after %d CONTINUATION frames (%d KiB)", i, sentBytes>>10)
		}
		if !goaway || code != http2.ErrCodeProtocol {
			t.Errorf("GOAWAY %v (%v), want PROTOCOL_ERROR", goaway, code)
		}
		// The gateway stops after maxHeaderBytes (64 KiB) and a frame or
		// two; the rest is what the kernel's socket buffers took.
		if i == frames {
			t.Errorf("all %d frames (%d KiB) were accepted", i, sentBytes>>10)
		}
		if grew := atkRSS(t, g) - rss0; grew > 64<<20 {
			t.Errorf("gateway RSS grew by %d MiB during the flood", grew>>20)
		}
		be.wantSeen(t, "/mcp/flood", 0)
		legit.check(t)
	})

	// The attacks leave nothing behind: the gateway is ready and its
	// goroutines come back to where they were.
	deadline := time.Now().Add(15 * time.Second)
	n := goroutines(t, g)
	for n > baseline+20 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		n = goroutines(t, g)
	}
	if n > baseline+20 {
		t.Errorf("gateway goroutines: %d before the attacks, %d after", baseline, n)
	}
	if resp, err := http.Get(g.AdminURL("/readyz")); err != nil || resp.StatusCode != 200 {
		t.Errorf("gateway not ready after the attacks: %v", err)
	} else {
		resp.Body.Close()
	}
}

// atkBackend is an MCP backend that answers every JSON-RPC request with an
// empty result and records the path of each request it receives.
type atkBackend struct {
	mu   sync.Mutex
	reqs []atkSeen
}

type atkSeen struct {
	path    string
	xff     string
	bodyLen int
}

func (b *atkBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	b.mu.Lock()
	b.reqs = append(b.reqs, atkSeen{path: r.URL.Path, xff: r.Header.Get("X-Forwarded-For"), bodyLen: len(body)})
	b.mu.Unlock()
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(body, &m)
	if len(m.ID) == 0 {
		m.ID = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{}}`, m.ID)
}

func (b *atkBackend) seen(path string) []atkSeen {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []atkSeen
	for _, r := range b.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func (b *atkBackend) wantSeen(t *testing.T, path string, n int) {
	t.Helper()
	if got := len(b.seen(path)); got != n {
		t.Errorf("backend saw %s %d times, want %d", path, got, n)
	}
}

func atkPing(id int) string { return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, id) }

// atkRequest renders a well-formed MCP POST with body and extra header
// lines (each ending in CRLF).
func atkRequest(path, body, extra string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n%sContent-Length: %d\r\n\r\n%s",
		path, extra, len(body), body)
}

func atkDial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

func atkWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func atkReadResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	return resp, string(b)
}

// atkWantClosed requires the gateway to close the connection (EOF or
// reset) within d, sending nothing more.
func atkWantClosed(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(br)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("connection still open after %v", d)
	case len(b) > 0:
		t.Errorf("gateway sent %q after the error response", b)
	}
}

// atkSlowloris sends a request line and then a header line every 200ms,
// never ending the header block (with h2, the HTTP/2 client preface one
// byte every 200ms), and returns how long the gateway took to close the
// connection and what it sent before.
func atkSlowloris(addr string, h2 bool, limit time.Duration) (time.Duration, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	start := time.Now()
	next := func(i int) string { return fmt.Sprintf("X-Slow-%d: v\r\n", i) }
	if h2 {
		next = func(i int) string { return http2.ClientPreface[i%len(http2.ClientPreface):][:1] }
	} else if _, err := io.WriteString(c, "POST /mcp/slow HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
		return 0, "", err
	}
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for i := 0; time.Since(start) < limit; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := io.WriteString(c, next(i)); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-trickled }()
	_ = c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return took, string(b), fmt.Errorf("still open after %v", took)
	}
	return took, string(b), nil
}

// atkH2 is a raw h2c (prior knowledge) client connection.
type atkH2 struct {
	c         net.Conn
	fr        *http2.Framer
	wmu       sync.Mutex
	done      chan struct{}
	responses atomic.Int64
	resets    atomic.Int64
	mu        sync.Mutex
	goaway    bool
	code      http2.ErrCode
}

// atkH2Dial opens an h2c connection: preface, SETTINGS, and a reader that
// acknowledges the server's SETTINGS and records what it sends.
func atkH2Dial(t *testing.T, addr string) *atkH2 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	h := &atkH2{c: c, fr: http2.NewFramer(c, c), done: make(chan struct{})}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	t.Cleanup(h.close)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.write(func(fr *http2.Framer) error { return fr.WriteSettings() }); err != nil {
		t.Fatal(err)
	}
	settled := make(chan struct{})
	go func() {
		defer close(h.done)
		first := true
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				if first {
					close(settled)
				}
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = h.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
					if first {
						first = false
						close(settled)
					}
				}
			case *http2.MetaHeadersFrame:
				h.responses.Add(1)
			case *http2.RSTStreamFrame:
				h.resets.Add(1)
			case *http2.GoAwayFrame:
				h.mu.Lock()
				h.goaway, h.code = true, f.ErrCode
				h.mu.Unlock()
			}
		}
	}()
	select {
	case <-settled:
	case <-time.After(10 * time.Second):
		t.Fatal("no SETTINGS from the gateway")
	}
	return h
}

func (h *atkH2) write(f func(*http2.Framer) error) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	return f(h.fr)
}

// ended reports whether the reader has seen the connection end.
func (h *atkH2) ended() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *atkH2) waitEnd(d time.Duration) {
	select {
	case <-h.done:
	case <-time.After(d):
	}
}

func (h *atkH2) close() {
	h.c.Close()
	<-h.done
}

func (h *atkH2) goAway() (http2.ErrCode, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.code, h.goaway
}

// atkRSS returns the gateway process's resident set size in bytes.
func atkRSS(t *testing.T, g *Gateway) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// atkLegit is a well-behaved client sending sequential MCP pings while an
// attack runs.
type atkLegit struct {
	stop, done chan struct{}
	once       sync.Once
	mu         sync.Mutex
	lat        []time.Duration
	fails      []string
}

func atkLegitClient(t *testing.T, url string) *atkLegit {
	l := &atkLegit{stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	go func() {
		defer close(l.done)
		defer c.CloseIdleConnections()
		for i := 1; i <= 5000; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			start := time.Now()
			err := atkLegitPing(c, url, i)
			took := time.Since(start)
			l.mu.Lock()
			l.lat = append(l.lat, took)
			if err != nil {
				l.fails = append(l.fails, err.Error())
			}
			l.mu.Unlock()
			select {
			case <-l.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(l.halt)
	return l
}

func atkLegitPing(c *http.Client, url string, id int) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(atkPing(id)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), fmt.Sprintf(`"id":%d,"result"`, id)) {
		return fmt.Errorf("ping %d: %d %s", id, resp.StatusCode, b)
	}
	return nil
}

func (l *atkLegit) halt() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// check stops the client (after at least 10 requests, waiting at most
// 10s more for them) and requires every request to have succeeded with a
// p99 under atkLegitP99.
func (l *atkLegit) check(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		n := len(l.lat)
		l.mu.Unlock()
		if n >= 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.halt()
	lat := slices.Clone(l.lat)
	slices.Sort(lat)
	if len(lat) < 10 {
		t.Errorf("legitimate client: only %d requests", len(lat))
		return
	}
	for i, f := range l.fails {
		if i == 5 {
			t.Errorf("legitimate client: %d more failures", len(l.fails)-5)
			break
		}
		t.Errorf("legitimate client: %s", f)
	}
	p99 := lat[(len(lat)*99+99)/100-1]
	t.Logf("legitimate client: %d requests, %d failed, p50 %v, p99 %v, max %v", len(lat), len(l.fails), lat[len(lat)/2], p99, lat[len(lat)-1])
	if p99 > atkLegitP99 {
		t.Errorf("legitimate client p99 %v, want under %v", p99, atkLegitP99)
	}
}
