package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// holdBackend answers MCP POSTs after release is closed, and holds GETs
// open as SSE streams until the client goes away.
func holdBackend(t *testing.T, release chan struct{}, arrived chan<- string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, ": open\n\n")
			http.NewResponseController(w).Flush()
			arrived <- "GET"
			<-r.Context().Done()
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- "POST"
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const overloadConfig = mcpConfig + `
server:
  maxRequests: 1
  maxStreams: 1
  bodyReadTimeout: 300ms
`

func TestOverloadShedsWithJSONRPC503(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan string, 4)
	be := holdBackend(t, release, arrived)
	g, base := startGateway(t, overloadConfig, be.URL)

	// One request holds the only slot.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived

	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"shed-me","method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), `"id":"shed-me"`) || !strings.Contains(string(body), `"code":-32000`) {
		t.Fatalf("shed: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Health is on the admin listener and never shed.
	hz, err := http.Get(fmt.Sprintf("http://%s/healthz", g.AdminAddr()))
	if err != nil {
		t.Fatal(err)
	}
	hz.Body.Close()
	if hz.StatusCode != 200 {
		t.Fatalf("healthz under overload: %d", hz.StatusCode)
	}
	close(release)
	if st := <-done; st != 200 {
		t.Fatalf("held request: %d", st)
	}
	// The slot is back.
	resp, _ = http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("after release: %v", resp)
	}
	resp.Body.Close()
}

func TestStreamCap(t *testing.T) {
	release := make(chan struct{})
	close(release)
	arrived := make(chan string, 8)
	be := holdBackend(t, release, arrived)
	_, base := startGateway(t, mcpConfig+"\nserver:\n  maxStreams: 1\n", be.URL)

	open := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		return http.DefaultClient.Do(req)
	}
	first, err := open()
	if err != nil || first.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", first, err)
	}
	<-arrived
	second, err := open()
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != 503 {
		t.Fatalf("second stream: %d", second.StatusCode)
	}
	// Unary calls are not streams.
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unary beside a full stream budget: %v %v", resp, err)
	}
	resp.Body.Close()
	first.Body.Close()
	// The slot returns when the stream ends.
	deadline := time.Now().Add(5 * time.Second)
	for {
		third, err := open()
		if err == nil && third.StatusCode == 200 {
			third.Body.Close()
			break
		}
		if third != nil {
			third.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("stream slot not released")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSlowBodyIs408(t *testing.T) {
	release := make(chan struct{})
	close(release)
	be := holdBackend(t, release, make(chan string, 8))
	_, base := startGateway(t, mcpConfig+"\nserver:\n  bodyReadTimeout: 300ms\n", be.URL)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// Announce 100 bytes, send one.
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}
