package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

// writeAtomic mimics the kubelet's ConfigMap update: the data lives in a
// timestamped directory, "..data" is a symlink to it, and the visible file
// is a symlink through "..data". An update swaps "..data" atomically.
func writeAtomic(t *testing.T, dir, gen, content string) {
	t.Helper()
	ts := filepath.Join(dir, "..gen"+gen)
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "gateway.yaml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink("..gen"+gen, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "gateway.yaml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloadOnConfigMapSymlinkSwap(t *testing.T) {
	oldBE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "old") }))
	defer oldBE.Close()
	newBE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "new") }))
	defer newBE.Close()

	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	render := func(be string) string {
		return fmt.Sprintf(httpConfig, port, be) + fmt.Sprintf("admin:\n  address: 127.0.0.1\n  port: %d\n", admin)
	}
	dir := t.TempDir()
	writeAtomic(t, dir, "1", render(oldBE.URL))
	path := filepath.Join(dir, "gateway.yaml")

	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs gatewaytest.LogBuffer
	g := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := g.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(time.Second)
	r := &Reloader{G: g, Path: path, Load: LoadConfig}
	r.MarkLoaded()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx)
	time.Sleep(100 * time.Millisecond) // let the watcher start

	get := func() string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api", port))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(); got != "old" {
		t.Fatalf("got %q", got)
	}

	// An invalid update is rejected and the old config keeps serving.
	writeAtomic(t, dir, "2", "binds: [{port: nope}]\n")
	waitFor(t, func() bool { return strings.Contains(logs.String(), "config reload rejected") })
	if got := get(); got != "old" {
		t.Fatalf("after bad reload got %q", got)
	}

	writeAtomic(t, dir, "3", render(newBE.URL))
	waitFor(t, func() bool { return get() == "new" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

// run reports a file's decode and semantic problems in one pass, as
// validate does: a type error does not hide a semantic one further down.
func TestLoadConfigOnePass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	src := `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: mcp}}
            policies:
              - type: timeout
                timeout: {request: "5 minutes"}
            backends:
              - {name: b, type: mcp-http, address: "http://127.0.0.1:1"}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil {
		t.Fatal("an invalid config loaded")
	}
	for _, want := range []string{`invalid duration "5 minutes"`, `must start with "/"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LoadConfig error lacks %q:\n%v", want, err)
		}
	}
}
