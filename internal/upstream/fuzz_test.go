package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzReadResponse feeds arbitrary bytes to the response parser as a
// backend's answer to a GET. It must not panic, must never accept a
// field net/http's own parser would not let through (CR, LF or NUL in a
// value, a name that is not a token), and must be at most as permissive
// as http.ReadResponse: whatever head it accepts, net/http accepts with
// the same status, and a body it reads to a clean end, net/http reads
// to the same bytes.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, _ := http.NewRequest("GET", "http://backend/", nil)
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		var info fuzzInformer
		res, h, err := readResponse(br, req, 4<<10, &info)
		if info.n > max1xx {
			t.Fatalf("%d informational responses passed on, limit %d", info.n, max1xx)
		}
		for _, h := range info.heads {
			for k, vv := range h {
				if !validName(k) {
					t.Fatalf("1xx: accepted header name %q", k)
				}
				for _, v := range vv {
					if !validValue(v) {
						t.Fatalf("1xx: accepted value %q of %q", v, k)
					}
				}
			}
		}
		if err != nil {
			return
		}
		if res.StatusCode < 200 {
			t.Fatalf("final status %d", res.StatusCode)
		}
		for k, vv := range res.Header {
			if !validName(k) {
				t.Fatalf("accepted header name %q", k)
			}
			for _, v := range vv {
				if !validValue(v) {
					t.Fatalf("accepted value %q of %q", v, k)
				}
			}
		}
		got, gotErr := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if bytes.HasPrefix(data, []byte("HTTP/1.1 1")) || bytes.HasPrefix(data, []byte("HTTP/1.0 1")) {
			// net/http's ReadResponse returns the 1xx itself; the
			// client skips it.
			return
		}
		ref, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
		if err != nil {
			t.Fatalf("accepted a head net/http refuses (%v): %q", err, data)
		}
		if ref.StatusCode != res.StatusCode {
			t.Fatalf("status %d, net/http %d", res.StatusCode, ref.StatusCode)
		}
		want, wantErr := io.ReadAll(ref.Body)
		if gotErr == nil && (wantErr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("body %q, net/http %q (%v); framing %+v", got, want, wantErr, h)
		}
	})
}

// fuzzInformer records the informational responses passed on.
type fuzzInformer struct {
	n     int
	heads []http.Header
}

func (f *fuzzInformer) Got1xx(code int, h http.Header) error {
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		panic("not an informational status")
	}
	f.n++
	f.heads = append(f.heads, h)
	return nil
}
