package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"
)

// The seed chain benchmark (issue #8): the gateway's handler, built from
// the harness's gateway-seed config (bench/gwconfig, shared with the harness), is
// called in process, without a client socket, for a tools/call that a
// loopback backend answers with a 1 KB JSON-RPC result. The JWT is the
// same on every call, so the verified-token cache hits. "gobare" is a bare
// httputil.ReverseProxy called the same way, the reference of the
// harness's ×go-bare column.
//
//	go test -run '^$' -bench BenchmarkSeedChain -benchmem ./internal/gateway/
//
// Logs go, as JSON, to a file (the harness's gateway logs to a file too),
// so their write system calls count.

const (
	chainCallBody = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather_data","arguments":{"city":"Tampa, FL"}}}`
)

// chainResult is a 1,024-byte JSON-RPC tools/call result.
var chainResult = func() []byte {
	const head = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`
	const tail = `"}],"isError":false}}`
	return []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
}()

func chainBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(chainResult)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// chainKey signs the benchmark's tokens; generated once, so that the
// repeated runs of a sub-benchmark do not profile RSA key generation.
var chainKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// chainToken serves a JWKS and mints the benchmark's token.
func chainToken(b testing.TB) (jwksURL, token string) {
	key, err := chainKey()
	if err != nil {
		b.Fatal(err)
	}
	iss := gatewaytest.StartIssuer(b, &gatewaytest.Key{KID: "bench-k1", Signer: key})
	now := time.Now()
	return iss.URL, iss.Sign(b, jwtlib.MapClaims{
		"iss": gwconfig.Issuer, "aud": []string{gwconfig.Audience}, "sub": gwconfig.SubWeather,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
}

// discardClient drops uploaded spans: the span pipeline runs, OTLP
// encoding included, but no marshalling and no collector costs CPU.
type discardClient struct{}

func (discardClient) Start(context.Context) error                                  { return nil }
func (discardClient) Stop(context.Context) error                                   { return nil }
func (discardClient) UploadTraces(context.Context, []*tracepb.ResourceSpans) error { return nil }

// chainGateway builds the gateway the way `agentgateway run` does
// (RunFile): logger, telemetry, hooks; it returns the bind's handler.
func chainGateway(b testing.TB, src string, dial dialFunc) http.Handler {
	cfg := gatewaytest.Config(b, src)
	f, err := os.Create(filepath.Join(b.TempDir(), "gateway.log"))
	if err != nil {
		b.Fatal(err)
	}
	lw := telemetry.NewLogWriter(f, 0)
	b.Cleanup(func() { _ = lw.Close(); _ = f.Close() })
	log, err := NewRunLogger(lw, cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Tracing is built here with a discarding exporter instead of OTLP.
	var otel *config.OpenTelemetry
	if cfg.Observability != nil {
		otel = cfg.Observability.OpenTelemetry
	}
	topts := telemetry.TracingOptionsFromConfig(otel, "bench")
	if otel != nil {
		otel.Enabled = false
	}
	tel, err := telemetry.NewObserver(context.Background(), cfg, "bench", log)
	if err != nil {
		b.Fatal(err)
	}
	if otel != nil {
		otel.Enabled = true
	}
	if topts.Enabled {
		if tel.Tracing, err = telemetry.NewTracingWithClient(context.Background(), topts, discardClient{}); err != nil {
			b.Fatal(err)
		}
		if tel.Attrs, err = telemetry.CompileAttributes(otel.Tracing.Attributes); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = tel.Tracing.Shutdown(context.Background()) })
	opts := Options{Logger: log, Observer: tel, Dial: dial}
	// As RunFile: tel is also what policies report their decisions to.
	tel.Metrics.CountLogDrops(lw.Dropped)
	g := New(opts)
	if err := g.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Shutdown(time.Second) })
	return &portHandler{g: g, port: cfg.Binds[0].Port}
}

// chainGoBare is the harness's go-bare path: a bare ReverseProxy.
func chainGoBare(b *testing.B, backend string, dial dialFunc) http.Handler {
	u, _ := url.Parse(backend)
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
	}
	b.Cleanup(tr.CloseIdleConnections)
	pool := &sync.Pool{New: func() any { buf := make([]byte, 32<<10); return &buf }}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport:  tr,
		BufferPool: (*chainBufPool)(pool),
	}
}

type chainBufPool sync.Pool

func (p *chainBufPool) Get() []byte  { return *(*sync.Pool)(p).Get().(*[]byte) }
func (p *chainBufPool) Put(b []byte) { (*sync.Pool)(p).Put(&b) }

// chainWriter is a minimal server-side ResponseWriter that discards the
// body.
type chainWriter struct {
	h      http.Header
	status int
}

func (w *chainWriter) Header() http.Header { return w.h }
func (w *chainWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *chainWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *chainWriter) Flush() {}

// The deadlines a server connection supports (http.ResponseController).
func (w *chainWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *chainWriter) SetWriteDeadline(time.Time) error { return nil }

func runChain(b *testing.B, h http.Handler, token string, parallel bool) {
	target, _ := url.Parse("http://127.0.0.1:8080/mcp")
	call := func(w *chainWriter) {
		clear(w.h)
		w.status = 0
		hdr := http.Header{
			"Content-Type":         {"application/json"},
			"Accept":               {"application/json, text/event-stream"},
			"Mcp-Protocol-Version": {"2025-06-18"},
			"User-Agent":           {"wrk"},
		}
		if token != "" {
			hdr["Authorization"] = []string{"Bearer " + token}
		}
		u := *target
		r := (&http.Request{
			Method: http.MethodPost, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: hdr, Body: io.NopCloser(strings.NewReader(chainCallBody)), ContentLength: int64(len(chainCallBody)),
			Host: "127.0.0.1:8080", RemoteAddr: "127.0.0.1:40000", RequestURI: "/mcp",
		}).WithContext(context.Background())
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	call(&chainWriter{h: http.Header{}}) // warm: JWKS fetch, token cache, connections
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			w := &chainWriter{h: http.Header{}}
			for pb.Next() {
				call(w)
			}
		})
	} else {
		w := &chainWriter{h: http.Header{}}
		for range b.N {
			call(w)
		}
	}
	// CPU time of the whole process (gateway, backend, GC) per request:
	// steadier than ns/op when other work shares the cores.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}

// processCPU is the process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSeedChain: gobare, gateway-none, gateway-seed without tracing
// and with spans sampled at 1.0 (exported to a discarding exporter), run
// in parallel against the loopback backend.
func BenchmarkSeedChain(b *testing.B) { benchChain(b, false) }

// BenchmarkSeedChainInMemory is BenchmarkSeedChain with the backend
// answered in memory and one request at a time: what remains is the CPU
// of the gateway's own code, steadier to compare than a run that shares
// the cores with a backend and the kernel's loopback. The backend is
// memBackend behind Options.Dial, so the exchange takes the production
// path (the lean client, writing and parsing HTTP/1.1 over a net.Pipe);
// go-bare's ReverseProxy and http.Transport dial it too.
func BenchmarkSeedChainInMemory(b *testing.B) { benchChain(b, true) }

func benchChain(b *testing.B, inMemory bool) {
	backend := func(b *testing.B) (string, dialFunc) {
		if inMemory {
			return "http://backend.invalid:8000", newMemBackend(b, chainResult).dial
		}
		return chainBackend(b).URL, nil
	}
	b.Run("gobare", func(b *testing.B) {
		u, tr := backend(b)
		runChain(b, chainGoBare(b, u, tr), "", !inMemory)
	})
	b.Run("none", func(b *testing.B) {
		u, tr := backend(b)
		src := gwconfig.YAML(gwconfig.None, gatewaytest.FreePort(b), gatewaytest.FreePort(b), u, "")
		runChain(b, chainGateway(b, src, tr), "", !inMemory)
	})
	for _, tracing := range []bool{false, true} {
		name := "seed-notrace"
		if tracing {
			name = "seed-trace"
		}
		b.Run(name, func(b *testing.B) {
			jwks, token := chainToken(b)
			u, tr := backend(b)
			kind := gwconfig.SeedNoTrace
			if tracing {
				kind = gwconfig.Seed
			}
			src := gwconfig.YAML(kind, gatewaytest.FreePort(b), gatewaytest.FreePort(b), u, jwks)
			runChain(b, chainGateway(b, src, tr), token, !inMemory)
		})
	}
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// memBackend is an in-memory HTTP/1.1 backend: each dial is one end of a
// net.Pipe whose other end a goroutine serves, answering every request
// with the same JSON response. It reads the request head only as far as
// its Content-Length, so that its own CPU stays small next to the
// gateway's.
type memBackend struct {
	resp  []byte
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// newMemBackend's connections are closed when the benchmark ends.
func newMemBackend(b testing.TB, body []byte) *memBackend {
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	m := &memBackend{resp: append([]byte(head), body...)}
	b.Cleanup(func() {
		m.mu.Lock()
		for _, c := range m.conns {
			_ = c.Close()
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return m
}

func (m *memBackend) dial(context.Context, string, string) (net.Conn, error) {
	c, s := net.Pipe()
	m.mu.Lock()
	m.conns = append(m.conns, s)
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.serve(s)
	}()
	return c, nil
}

var contentLength = []byte("content-length:")

func (m *memBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			}
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := c.Write(m.resp); err != nil {
			return
		}
	}
}
