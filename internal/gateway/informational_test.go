package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawBackend answers every request on its connections with resp.
func rawBackend(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for range 10 {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// TestInformationalResponses: a backend's 103 Early Hints reach the
// client on the lean path, filtered like a final response (and more);
// its 100 Continue does not; the final response keeps its own headers.
func TestInformationalResponses(t *testing.T) {
	be := rawBackend(t, "HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"+
		"X-Agent-Identity: spoofed\r\nMcp-Session-Id: raw\r\nContent-Length: 7\r\n\r\n"+
		"HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok")
	_, gw := startGateway(t, versionConfig, be, "")

	type info struct {
		code int
		h    http.Header
	}
	var got []info
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, info{code, http.Header(h).Clone()})
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", gw+"/plain/page", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "ok" || res.Header.Get("X-Final") != "yes" || res.Header.Get("Link") != "" {
		t.Fatalf("final: %d %q %v", res.StatusCode, body, res.Header)
	}
	if len(got) != 2 {
		t.Fatalf("client saw %d 1xx responses, want the two 103s: %+v", len(got), got)
	}
	for i, want := range []string{"</a.css>; rel=preload", "</b.js>; rel=preload"} {
		g := got[i]
		if g.code != http.StatusEarlyHints || g.h.Get("Link") != want {
			t.Fatalf("1xx %d: %d %v", i, g.code, g.h)
		}
		for k := range g.h {
			switch k {
			case "Link", "Date":
			default:
				t.Errorf("1xx %d carries %s: %v", i, k, g.h)
			}
		}
	}
}

// TestInformationalResponsesH2C: over HTTP/2 the transport path
// (ReverseProxy) forwards 103s too, filtered the same way.
func TestInformationalResponsesH2C(t *testing.T) {
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
			return
		}
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.Header().Set("X-Agent-Identity", "spoofed")
		w.Header().Set("Mcp-Session-Id", "raw")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Del("X-Agent-Identity")
		w.Header().Del("Mcp-Session-Id")
		_, _ = io.WriteString(w, "ok")
	}))
	be.Config.Protocols = new(http.Protocols)
	be.Config.Protocols.SetUnencryptedHTTP2(true)
	be.Start()
	t.Cleanup(be.Close)
	_, gw := startGateway(t, versionConfig, be.URL, "                http: {version: http2}")
	var links []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			links = append(links, h.Get("Link"))
			for k := range h {
				if k != "Link" && k != "Date" {
					t.Errorf("1xx carries %s", k)
				}
			}
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", gw+"/plain/page", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || strings.Join(links, ",") != "</a.css>; rel=preload" {
		t.Fatalf("status %d, 103 links %q", res.StatusCode, links)
	}
}
