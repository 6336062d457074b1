package main

// The two helper roles the harness runs as subprocesses of itself, so that
// each has its own /proc entry for CPU and memory accounting:
//
//   - backend: an MCP-style server (JSON and SSE tools/call results of a
//     fixed size, an A2A message/send result, and idle SSE GET streams);
//   - gobare: a bare httputil.ReverseProxy with a BufferPool in front of
//     the backend, to separate Go's proxying cost from the gateway's.

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Response variants, chosen with the query string ?r=<variant> (the
// gateway, nginx and the bare proxy all forward the query unchanged).
const (
	varJSON1K  = "json1k"
	varSSE1K   = "sse1k"
	varJSON16K = "json16k"
	varA2A     = "a2a"
)

// jsonRPCResult returns a JSON-RPC tools/call result of exactly size bytes.
func jsonRPCResult(size int) []byte {
	const head = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`
	const tail = `"}],"isError":false}}`
	return padded(head, tail, size)
}

// a2aResult returns an A2A message/send result (a Message) of size bytes.
func a2aResult(size int) []byte {
	const head = `{"jsonrpc":"2.0","id":1,"result":{"kind":"message","messageId":"bench-reply","role":"agent","parts":[{"kind":"text","text":"`
	const tail = `"}]}}`
	return padded(head, tail, size)
}

func padded(head, tail string, size int) []byte {
	n := size - len(head) - len(tail)
	if n < 0 {
		n = 0
	}
	return []byte(head + strings.Repeat("x", n) + tail)
}

// sseEvent wraps a JSON-RPC message as one SSE "message" event.
func sseEvent(msg []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: message\ndata: ")
	b.Write(msg)
	b.WriteString("\n\n")
	return b.Bytes()
}

// Bodies the load generators send.
const (
	mcpCallBody = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"city":"Tampa, FL"}}}`
	a2aSendBody = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"bench-1","role":"user","parts":[{"kind":"text","text":"Get weather forecast for Tampa, FL"}]}}}`
)

func runBackend(addr string) error {
	json1k := jsonRPCResult(1024)
	json16k := jsonRPCResult(16 * 1024)
	sse1k := sseEvent(jsonRPCResult(1024 - len("event: message\ndata: \n\n")))
	a2a1k := a2aResult(1024)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.Method == http.MethodGet {
			// An idle server-to-client stream: headers and one comment,
			// then nothing until the client goes away.
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, ": open\n\n")
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			<-r.Context().Done()
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		var body []byte
		ct := "application/json"
		switch strings.TrimPrefix(r.URL.RawQuery, "r=") {
		case varJSON16K:
			body = json16k
		case varSSE1K:
			body, ct = sse1k, "text/event-stream"
		case varA2A:
			body = a2a1k
		default:
			body = json1k
		}
		w.Header().Set("Content-Type", ct)
		if ct == "application/json" {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		}
		_, _ = w.Write(body)
	})
	return serveRole(addr, h)
}

type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufPool) Put(p []byte) { b.p.Put(&p) }

func runGoBare(addr, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	pool := &bufPool{p: sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		BufferPool: pool,
		ErrorLog:   log.New(io.Discard, "", 0),
	}
	return serveRole(addr, rp)
}

func serveRole(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	return srv.Serve(ln)
}
