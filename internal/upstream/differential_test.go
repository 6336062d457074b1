package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a loopback backend that answers each request on a
// connection with a scripted function: it can break HTTP in ways a
// net/http server never does.
type rawServer struct {
	ln      net.Listener
	accepts atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

// newRawServer calls answer for every request read on a connection; an
// answer returning false ends the connection.
func newRawServer(t *testing.T, answer func(c net.Conn, req *http.Request, n int) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; n < 100; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if !answer(c, req, n) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// script answers every request with the same bytes; keep says whether the
// connection stays open.
func script(resp string, keep bool) func(net.Conn, *http.Request, int) bool {
	return func(c net.Conn, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(c, resp)
		return keep
	}
}

type outcome struct {
	err     bool
	status  int
	header  string
	body    string
	bodyErr bool
	trailer string
	// info lists the informational responses, as Got1xxResponse saw
	// them: "103{Link=</a>}".
	info string
}

// flat renders a header without the fields that legitimately differ
// between two clients (Date) and the hop-by-hop ones a proxy drops.
func flat(h http.Header) string {
	var parts []string
	for k, vv := range h {
		switch k {
		case "Date", "Connection", "Keep-Alive", "Transfer-Encoding", "Trailer":
			continue
		}
		parts = append(parts, k+"="+strings.Join(vv, "|"))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func roundTrip(t *testing.T, rt http.RoundTripper, method, url string, body string, hdr http.Header) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rb)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	var info []string
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			info = append(info, fmt.Sprintf("%d{%s}", code, flat(http.Header(h))))
			return nil
		},
	}))
	res, err := rt.RoundTrip(req)
	if err != nil {
		return outcome{err: true, info: strings.Join(info, ",")}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	o := outcome{status: res.StatusCode, header: flat(res.Header), body: string(b), bodyErr: err != nil, info: strings.Join(info, ",")}
	o.trailer = flat(res.Trailer)
	return o
}

func newTransport() *http.Transport {
	return &http.Transport{DisableCompression: true, MaxResponseHeaderBytes: 4 << 10, ResponseHeaderTimeout: 2 * time.Second}
}

func newClient() *Client {
	return &Client{MaxResponseHeaderBytes: 4 << 10, ResponseHeaderTimeout: 2 * time.Second}
}

// TestDifferential sends the same requests through this client and
// net/http's Transport to the same backends and compares what a proxy
// would forward: error or not, status, end-to-end header fields, body,
// body error, trailers. Where this client is deliberately stricter (a
// framing a smuggler could use), the row says so and only this client
// must refuse.
func TestDifferential(t *testing.T) {
	goSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			w.Header().Add("X-Multi", "a")
			w.Header().Add("X-Multi", "b")
			_, _ = io.WriteString(w, "hello")
		case "/chunked":
			_, _ = io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
		case "/hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Add("Link", "</app.js>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			_, _ = io.WriteString(w, "page")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/head":
			w.Header().Set("Content-Length", "42")
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", "abc")
			w.Header().Set(http.TrailerPrefix+"X-Late", "z")
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Got-Te", r.Header.Get("Te"))
			w.Header().Set("X-Got-Conn", r.Header.Get("Connection")+r.Header.Get("X-Hop"))
			_, _ = w.Write(b)
		}
	}))
	defer goSrv.Close()

	type row struct {
		name   string
		method string
		url    func() string
		body   string
		hdr    http.Header
		// leanStricter: only this client must fail (the Transport
		// accepts a framing this client refuses on purpose).
		leanStricter bool
		// proxied: the request carries hop-by-hop fields. net/http's
		// Transport sends them as they are (dropping them is
		// ReverseProxy's job); this client drops them itself, so the
		// Transport gets the request as ReverseProxy would have
		// rewritten it.
		proxied     bool
		wantErr     bool
		wantBodyErr bool
	}
	srv := func(path string) func() string { return func() string { return goSrv.URL + path } }
	raw := func(resp string, keep bool) func() string {
		s := newRawServer(t, script(resp, keep))
		return s.url
	}
	rows := []row{
		{name: "content-length", method: "GET", url: srv("/length")},
		{name: "chunked", method: "GET", url: srv("/chunked")},
		{name: "close-delimited", method: "GET", url: raw("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the end", false)},
		{name: "1xx then 200", method: "GET", url: raw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true)},
		{name: "early hints", method: "GET", url: srv("/hints")},
		{name: "102 and 103s, then chunked", method: "GET", url: raw("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nLink: </b>\r\n\r\nHTTP/1.1 103 Early Hints\r\nX-Hint: 2\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true)},
		{name: "1xx head over the limit", method: "GET", url: raw("HTTP/1.1 103 Early Hints\r\nLink: "+strings.Repeat("a", 8<<10)+"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false), wantErr: true},
		{name: "204", method: "GET", url: srv("/204")},
		{name: "304 with length", method: "GET", url: raw("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nEtag: \"x\"\r\n\r\n", true)},
		{name: "HEAD with length", method: "HEAD", url: srv("/head")},
		{name: "trailers", method: "GET", url: srv("/trailers")},
		{name: "connection close", method: "GET", url: srv("/close")},
		{name: "post body and hop-by-hop request fields", method: "POST", url: srv("/echo"), body: "payload",
			hdr: http.Header{"Te": {"trailers, deflate"}, "Connection": {"X-Hop"}, "X-Hop": {"secret"}}, proxied: true},
		{name: "http/1.0 close-delimited", method: "GET", url: raw("HTTP/1.0 200 OK\r\n\r\nold", false)},
		{name: "no reason phrase", method: "GET", url: raw("HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", true)},
		{name: "headers over the limit", method: "GET", url: raw("HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\nContent-Length: 0\r\n\r\n", false), wantErr: true},
		{name: "content-length longer than the body", method: "GET", url: raw("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false), wantBodyErr: true},
		{name: "content-length shorter than the body", method: "GET", url: raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", false)},
		{name: "differing content-lengths", method: "GET", url: raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", false), wantErr: true},
		{name: "invalid content-length", method: "GET", url: raw("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc", false), wantErr: true},
		{name: "unknown transfer coding", method: "GET", url: raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", false), wantErr: true},
		{name: "bad chunk size", method: "GET", url: raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", false), wantBodyErr: true},
		{name: "NUL in a header value", method: "GET", url: raw("HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", false), wantErr: true},
		{name: "malformed status line", method: "GET", url: raw("HTTP/1.1 2x0 OK\r\n\r\n", false), wantErr: true},
		// Deliberately stricter than net/http: framings intermediaries
		// disagree on.
		{name: "transfer-encoding and content-length", method: "GET", url: raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false), leanStricter: true},
		{name: "folded header line", method: "GET", url: raw("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", false), leanStricter: true},
		{name: "space before the colon", method: "GET", url: raw("HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n", false), leanStricter: true},
		// net/http leaves the count of 1xx it delivers to the caller
		// to limit; this client accepts at most max1xx.
		{name: "too many 1xx", method: "GET", url: raw(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", max1xx+1)+"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false), leanStricter: true},
		{name: "204 with a body", method: "GET", url: raw("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", false), leanStricter: true},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url()
			wantHdr := tc.hdr
			if tc.proxied {
				// ReverseProxy: fields named by Connection and the
				// hop-by-hop ones go; "Te: trailers" stays.
				wantHdr = http.Header{"Te": {"trailers"}}
			}
			want := roundTrip(t, newTransport(), tc.method, u, tc.body, wantHdr)
			got := roundTrip(t, newClient(), tc.method, u, tc.body, tc.hdr)
			if tc.leanStricter {
				if want.err || !got.err {
					t.Fatalf("want net/http to accept and this client to refuse:\nnet/http: %+v\nlean:     %+v", want, got)
				}
				return
			}
			if got != want {
				t.Fatalf("differs from net/http:\nnet/http: %+v\nlean:     %+v", want, got)
			}
			if got.err != tc.wantErr || got.bodyErr != tc.wantBodyErr {
				t.Fatalf("outcome %+v, want err=%v bodyErr=%v", got, tc.wantErr, tc.wantBodyErr)
			}
		})
	}
}

// TestDifferentialReuse covers connection reuse: a connection the server
// closed while it sat idle, a server that drops a reused connection on
// the next request (retried for GET, not for POST, as net/http does), a
// Connection: close answer, and stray bytes after a body.
func TestDifferentialReuse(t *testing.T) {
	type row struct {
		name string
		// answer is the backend; second is the method of the request
		// sent after the first (a GET) finished.
		answer       func(c net.Conn, req *http.Request, n int) bool
		second       string
		body         string
		wantErr      bool
		wantAccepts  int64
		waitIdleShut bool
	}
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	rows := []row{
		{name: "server closed the idle connection, GET", second: "GET", wantAccepts: 2, waitIdleShut: true,
			answer: func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.WriteString(c, ok)
				return false // closes right after answering: the pooled copy is stale
			}},
		{name: "server closed the idle connection, POST with a body", second: "POST", body: "not replayable by net/http's rules",
			wantAccepts: 2, waitIdleShut: true,
			answer: func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.WriteString(c, ok)
				return false
			}},
		{name: "reused connection dropped on the next request, GET retried", second: "GET", wantAccepts: 2,
			answer: func(c net.Conn, _ *http.Request, n int) bool {
				if n == 1 {
					return false // reads the request, closes without an answer
				}
				_, _ = io.WriteString(c, ok)
				return true
			}},
		{name: "reused connection dropped on the next request, POST not retried", second: "POST", body: "x", wantErr: true, wantAccepts: 1,
			answer: func(c net.Conn, _ *http.Request, n int) bool {
				if n == 1 {
					return false
				}
				_, _ = io.WriteString(c, ok)
				return true
			}},
		{name: "connection: close is not reused", second: "GET", wantAccepts: 2,
			answer: func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
				return true // the server would even keep it open
			}},
		{name: "bytes after the body are not read as the next response", second: "GET", wantAccepts: 2,
			answer: func(c net.Conn, _ *http.Request, n int) bool {
				if n == 0 {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Smuggled\r\nContent-Length: 0\r\n\r\n")
					return true
				}
				_, _ = io.WriteString(c, ok)
				return true
			}},
	}
	for _, tc := range rows {
		for _, impl := range []string{"net/http", "lean"} {
			t.Run(tc.name+"/"+impl, func(t *testing.T) {
				s := newRawServer(t, tc.answer)
				var rt http.RoundTripper = newClient()
				if impl == "net/http" {
					rt = newTransport()
				}
				first := roundTrip(t, rt, "GET", s.url(), "", nil)
				if first.err || first.body != "ok" {
					t.Fatalf("first request: %v", first)
				}
				if tc.waitIdleShut {
					// Give the server's FIN time to arrive (bounded).
					time.Sleep(50 * time.Millisecond)
				}
				second := roundTrip(t, rt, tc.second, s.url(), tc.body, nil)
				if second.err != tc.wantErr {
					t.Fatalf("second request: %v, want err=%v", second, tc.wantErr)
				}
				if !tc.wantErr && (second.status != 200 || second.body != "ok") {
					t.Fatalf("second request: %v", second)
				}
				if n := s.accepts.Load(); n != tc.wantAccepts {
					t.Fatalf("%d connections, want %d", n, tc.wantAccepts)
				}
			})
		}
	}
}

// TestResponseHeaderTimeout: a backend that never answers fails the
// request after ResponseHeaderTimeout, and a canceled context ends the
// wait at once, with the context's cause.
func TestResponseHeaderTimeout(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	s := newRawServer(t, func(net.Conn, *http.Request, int) bool { <-hang; return false })
	c := &Client{ResponseHeaderTimeout: 100 * time.Millisecond}
	req, _ := http.NewRequest("GET", s.url(), nil)
	if _, err := c.RoundTrip(req); err == nil {
		t.Fatal("no error from a backend that never answers")
	}
	tr := &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("net/http: no error")
	}

	cause := errors.New("the gateway's reason")
	ctx, cancel := context.WithCancelCause(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", s.url(), nil)
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	if _, err := (&Client{}).RoundTrip(req); !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the context's cause", err)
	}
}

// TestMaxConnsPerHost: requests over the cap wait for a connection
// instead of opening one.
func TestMaxConnsPerHost(t *testing.T) {
	var cur, peak atomic.Int64
	s := newRawServer(t, func(c net.Conn, _ *http.Request, _ int) bool {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		cur.Add(-1)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	c := &Client{MaxConnsPerHost: 2}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o := roundTrip(t, c, "GET", s.url(), "", nil); o.err || o.body != "ok" {
				t.Errorf("request: %v", o)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d requests at once on the backend, cap 2", p)
	}
	if n := s.accepts.Load(); n > 2 {
		t.Fatalf("%d connections, cap 2", n)
	}
}

// TestRequestHead: the head is written from the request's own header map
// with Forwarding applied, hop-by-hop fields dropped, and values that
// could split the head refused before anything is sent.
func TestRequestHead(t *testing.T) {
	got := make(chan *http.Request, 1)
	s := newRawServer(t, func(c net.Conn, r *http.Request, _ int) bool {
		got <- r
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		return true
	})
	in := http.Header{
		"Authorization":    {"Bearer caller"},
		"Cookie":           {"a=b"},
		"X-Forwarded-For":  {"spoofed"},
		"Keep-Alive":       {"timeout=5"},
		"Proxy-Connection": {"keep-alive"},
		"Upgrade":          {"websocket"},
		"Accept":           {"application/json", "text/event-stream"},
		"User-Agent":       {"agent/1"},
	}
	req, _ := http.NewRequest("POST", s.url()+"/p%2Fq?x=1", strings.NewReader("{}"))
	req.Header = in
	f := &Forwarding{Omit: []string{"Authorization", "Cookie"}, Set: []Field{{"X-Forwarded-For", "10.0.0.1"}}}
	res, err := (&Client{}).Do(req, f)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	r := <-got
	if r.URL.RawPath != "/p%2Fq" || r.URL.RawQuery != "x=1" || r.ContentLength != 2 {
		t.Fatalf("request line: %q %q, length %d", r.URL.RawPath, r.URL.RawQuery, r.ContentLength)
	}
	for _, k := range []string{"Authorization", "Cookie", "Keep-Alive", "Proxy-Connection", "Upgrade"} {
		if v, ok := r.Header[k]; ok {
			t.Errorf("%s forwarded: %q", k, v)
		}
	}
	if v := r.Header["X-Forwarded-For"]; len(v) != 1 || v[0] != "10.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", v)
	}
	if v := r.Header["Accept"]; len(v) != 2 || r.Header.Get("User-Agent") != "agent/1" {
		t.Errorf("Accept = %q, User-Agent %q", v, r.Header.Get("User-Agent"))
	}
	if len(in) != 8 || in.Get("Authorization") == "" {
		t.Errorf("the inbound header map was changed: %v", in)
	}

	for _, bad := range []http.Header{
		{"X-A": {"a\r\nX-Injected: 1"}},
		{"X-A": {"a\nb"}},
		{"X-A\r\nB": {"v"}},
	} {
		req, _ := http.NewRequest("GET", s.url(), nil)
		req.Header = bad
		if _, err := (&Client{}).RoundTrip(req); err == nil {
			t.Errorf("header %q was sent", bad)
		}
	}
	if _, err := (&Client{}).Do(req, &Forwarding{Set: []Field{{"X-B", "v\r\nX-Injected: 1"}}}); err == nil {
		t.Error("a Forwarding value with CRLF was sent")
	}
	select {
	case r := <-got:
		t.Fatalf("a refused request reached the backend: %v", r.Header)
	default:
	}
}

// TestStreamedBody: a chunked body is handed over as it arrives (an SSE
// backend's events one by one), not when the response ends.
func TestStreamedBody(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, "data: e\n\n")
			w.(http.Flusher).Flush()
			<-next
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	res, err := (&Client{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 64)
	for i := 0; i < 3; i++ {
		n, err := res.Body.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("data: e\n\n")) {
			t.Fatalf("event %d: %q, %v", i, buf[:n], err)
		}
		next <- struct{}{}
	}
}
