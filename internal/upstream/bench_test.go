package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoundTrip: a POST with a small JSON body and a 1 KB answer
// from a loopback net/http backend, through this client and through
// net/http's Transport. The backend's own cost is in both.
func BenchmarkRoundTrip(b *testing.B) {
	answer := []byte(strings.Repeat("x", 1024))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`
	hdr := http.Header{
		"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"},
		"Mcp-Protocol-Version": {"2025-06-18"}, "User-Agent": {"bench"}, "Authorization": {"Bearer x"},
	}
	f := &Forwarding{Omit: []string{"Authorization", "Cookie"}, Set: []Field{{"X-Forwarded-For", "127.0.0.1"}, {"X-Forwarded-Proto", "http"}}}
	for _, impl := range []string{"lean", "transport"} {
		b.Run(impl, func(b *testing.B) {
			c := &Client{}
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			buf := make([]byte, 8<<10)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", srv.URL+"/mcp", strings.NewReader(body))
				var res *http.Response
				var err error
				if impl == "lean" {
					req.Header = hdr
					res, err = c.Do(req, f)
				} else {
					// What ReverseProxy does per request: clone the header.
					req.Header = hdr.Clone()
					req.Header.Del("Authorization")
					req.Header.Set("X-Forwarded-For", "127.0.0.1")
					req.Header.Set("X-Forwarded-Proto", "http")
					res, err = tr.RoundTrip(req)
				}
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := res.Body.Read(buf); err != nil {
						break
					}
				}
				res.Body.Close()
			}
		})
	}
}
