package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWaitData reads a stream the way the gateway's copy loop does
// (WaitData, then Read) while the backend sends it in pieces, each only
// after the client has started waiting: the body gives its read buffer
// back while it waits and takes one again, and no byte, chunk boundary
// or trailer may be lost on the way. A clean end still pools the
// connection.
func TestWaitData(t *testing.T) {
	cases := []struct {
		name  string
		head  string
		parts []string // written one at a time
		want  string
		reuse bool
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]string{"8\r\n: open\n\n\r\n", "b\r\ndata: one\n\n\r", "\n4\r\ndata\r\n", "9\r\n: two\n\nx\n\r\n0\r\nX-T: 1\r\n\r\n"},
			": open\n\ndata: one\n\ndata: two\n\nx\n", true},
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", []string{"abc", "defgh", "ijkl"}, "abcdefghijkl", true},
		{"close-delimited", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", []string{"data: a\n\n", "data: b\n\n"}, "data: a\n\ndata: b\n\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := make(chan struct{})
			srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.WriteString(c, tc.head)
				for _, p := range tc.parts {
					<-next
					_, _ = io.WriteString(c, p)
				}
				return tc.reuse
			})
			c := &Client{}
			defer c.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url()+"/s", nil)
			res, err := c.Do(req, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := res.Body.(*body)
			var got strings.Builder
			buf := make([]byte, 64)
			sent := 0
			for {
				if sent < len(tc.parts) {
					// The next piece is sent while the client waits (or
					// is about to: the wait returns either way once the
					// bytes are there). Every piece carries body bytes,
					// so each Read returns after at most one more.
					go func() { next <- struct{}{} }()
					sent++
				}
				b.WaitData()
				n, err := b.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %q: %v", got.String(), err)
				}
			}
			if got.String() != tc.want {
				t.Fatalf("body %q, want %q", got.String(), tc.want)
			}
			if tc.name == "chunked" && res.Trailer.Get("X-T") != "1" {
				t.Errorf("trailer %v", res.Trailer)
			}
			p := c.pool(req.URL.Host)
			p.mu.Lock()
			idle := len(p.idle)
			p.mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.reuse]; idle != want {
				t.Errorf("%d idle connections after the body, want %d", idle, want)
			}
		})
	}
}

// TestWaitDataCancel: a context ending while the body waits wakes the
// wait, and the read after it reports the context's cause.
func TestWaitDataCancel(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n: open\n\n\r\n")
		_, _ = c.Read(make([]byte, 1)) // until the client closes
		return false
	})
	c := &Client{}
	defer c.CloseIdleConnections()
	cause := errors.New("the gateway's idle timeout")
	ctx, cancel := context.WithCancelCause(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url()+"/s", nil)
	res, err := c.Do(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b := res.Body.(*body)
	buf := make([]byte, 64)
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != ": open\n\n" {
		t.Fatalf("%q, %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() {
		b.WaitData()
		_, err := b.Read(buf)
		done <- err
	}()
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("read after the wait: %v, want the cause", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not end with the context")
	}
}
