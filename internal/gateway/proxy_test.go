package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

const httpConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /api
            backends:
              - name: b
                address: %s
`

func TestSSEIsFlushedEventByEvent(t *testing.T) {
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "id: 2\ndata: second\n\n")
	}))
	defer be.Close()
	defer close(release)
	_, gw := startGateway(t, httpConfig, be.URL)

	resp, err := http.Get(gw + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("X-Accel-Buffering"); got != "no" {
		t.Fatalf("X-Accel-Buffering = %q", got)
	}
	// The first event must arrive while the backend still holds the second.
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "id: 1" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first SSE event was buffered")
	}
}

func TestForwardedAndStrippedHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	gotPath := make(chan string, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		gotPath <- r.URL.RequestURI()
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		_, _ = io.WriteString(w, "ok")
	}))
	defer be.Close()
	_, gw := startGateway(t, httpConfig, be.URL+"/base")

	req, _ := http.NewRequest("GET", gw+"/api/x/y?q=1", nil)
	req.Header.Set("X-Agent-Identity", "system:serviceaccount:evil:sa")
	req.Header.Set("X-Source-Agent", "spoof")
	req.Header.Set("X-Target-Agent", "spoof")
	req.Header.Set("Authorization", "Bearer secret-token")
	req.Header.Set("Cookie", "session=1")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Connection", "X-Custom-Hop")
	req.Header.Set("X-Custom-Hop", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Hop") != "" {
		t.Errorf("hop-by-hop response header leaked")
	}
	h := <-got
	for _, k := range []string{"X-Agent-Identity", "X-Source-Agent", "X-Target-Agent", "Authorization", "Cookie", "X-Custom-Hop"} {
		if v := h.Get(k); v != "" {
			t.Errorf("%s reached the backend: %q", k, v)
		}
	}
	if xff := h.Get("X-Forwarded-For"); xff != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", xff)
	}
	if h.Get("X-Forwarded-Proto") != "http" || !strings.HasPrefix(h.Get("X-Forwarded-Host"), "127.0.0.1:") {
		t.Errorf("X-Forwarded-Proto/Host = %q/%q", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"))
	}
	if p := <-gotPath; p != "/base/x/y?q=1" {
		t.Errorf("backend path = %q", p)
	}
}

func TestForwardAuthorizationOptIn(t *testing.T) {
	got := make(chan string, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer be.Close()
	_, gw := startGateway(t, httpConfig+"            forwardAuthorization: true\n", be.URL)
	req, _ := http.NewRequest("GET", gw+"/api", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a := <-got; a != "Bearer t" {
		t.Fatalf("Authorization = %q", a)
	}
}

func TestHeaderLimitIs431(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer be.Close()
	_, gw := startGateway(t, httpConfig, be.URL)
	req, _ := http.NewRequest("GET", gw+"/api", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// A reload that cannot bind its port leaves the old config serving.
func TestApplyFailureKeepsOldConfig(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "old") }))
	defer be.Close()
	g, gw := startGateway(t, httpConfig, be.URL)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	src := fmt.Sprintf(httpConfig, port, be.URL) + "admin:\n  port: 1\n"
	cfg, err := config.Parse("new.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := g.Apply(context.Background(), cfg); err == nil {
		t.Fatal("apply on a busy port succeeded")
	}
	resp, err := http.Get(gw + "/api")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "old" {
		t.Fatalf("old config not serving: %q", b)
	}
}
