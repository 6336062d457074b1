// Package e2e starts the real agentgateway binary in front of real MCP
// servers (github.com/modelcontextprotocol/go-sdk) and A2A agents, and
// drives it with real clients. Everything listens on loopback.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentgateway-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "agentgateway")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/agentgateway-go/agentgateway/cmd/agentgateway")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building agentgateway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago. It picks
// from below the kernel's ephemeral range, so an outgoing connection cannot
// grab the port between this check and the gateway binding it.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		port := 20000 + int(portSeq.Add(1)%12000) + (os.Getpid()%8)*1500
		if port >= 32768 {
			port -= 12000
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

var portSeq atomic.Int64

// Gateway is a running agentgateway process.
type Gateway struct {
	t          testing.TB
	cmd        *exec.Cmd
	ConfigPath string
	Port       int
	AdminPort  int
	logs       *gatewaytest.LogBuffer
	done       chan struct{}
	exitErr    error
}

// URL returns the gateway URL for path.
func (g *Gateway) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", g.Port, path) }

// AdminURL returns the admin URL for path.
func (g *Gateway) AdminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.AdminPort, path)
}

// Logs returns what the gateway has logged so far.
func (g *Gateway) Logs() string { return g.logs.String() }

// GatewayConfig renders a config whose bind and admin ports are filled in.
// body is YAML for the bind's listeners (indented as a list under
// "listeners:"), e.g. produced by mcpRoute.
type GatewayConfig struct {
	Port, AdminPort int
	Listeners       string // YAML under binds[0].listeners, already indented 4 spaces
	Extra           string // extra top-level YAML (e.g. server:)
}

func (c GatewayConfig) YAML() string {
	return fmt.Sprintf("binds:\n  - port: %d\n    address: 127.0.0.1\n    listeners:\n%s\nadmin:\n  address: 127.0.0.1\n  port: %d\nlogging:\n  format: json\n  level: debug\n%s",
		c.Port, c.Listeners, c.AdminPort, c.Extra)
}

// MCPListener returns a listener with one MCP route in front of backendURL
// (scheme://host:port), with extra policies YAML (each item indented for
// the policies list) and backend mcp options.
func MCPListener(route, prefix, backendURL, endpoint, protocol, policies string) string {
	if policies == "" {
		policies = "[]"
	} else {
		policies = "\n" + policies
	}
	return fmt.Sprintf(`      - name: mcp
        routes:
          - name: %s
            match:
              path:
                prefix: %s
            policies: %s
            backends:
              - name: %s-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: %s
                  protocol: %s
`, route, prefix, policies, route, backendURL, endpoint, protocol)
}

// StartGateway writes cfg to a temp file and starts the binary on it,
// waiting until /readyz answers 200.
func StartGateway(t testing.TB, cfg GatewayConfig) *Gateway {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg.YAML()), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{t: t, ConfigPath: path, Port: cfg.Port, AdminPort: cfg.AdminPort, logs: &gatewaytest.LogBuffer{}, done: make(chan struct{})}
	g.cmd = exec.Command(binPath, "run", "--config", path)
	// The race runtime sleeps 1s at exit by default; races still fail the
	// test through the log check below.
	g.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	g.cmd.Stdout = g.logs
	g.cmd.Stderr = g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.exitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.Stop()
		if strings.Contains(g.Logs(), "WARNING: DATA RACE") {
			t.Errorf("data race in the gateway")
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.Logs())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			t.Fatalf("gateway exited early: %v\n%s", g.exitErr, g.Logs())
		default:
		}
		resp, err := http.Get(g.AdminURL("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateway not ready in time\n%s", g.Logs())
	return nil
}

// NewPorts returns a config with fresh ports.
func NewPorts(t testing.TB) GatewayConfig {
	return GatewayConfig{Port: freePort(t), AdminPort: freePort(t)}
}

// Rewrite replaces the config file in place (as an editor would) and
// waits for the gateway to log a reload.
func (g *Gateway) Rewrite(cfg GatewayConfig) {
	g.t.Helper()
	before := strings.Count(g.Logs(), "config reloaded")
	tmp := g.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg.YAML()), 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, g.ConfigPath); err != nil {
		g.t.Fatal(err)
	}
	g.waitLog(func(s string) bool { return strings.Count(s, "config reloaded") > before }, 10*time.Second)
}

func (g *Gateway) waitLog(cond func(string) bool, d time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond(g.Logs()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatalf("log condition not met in %s\n%s", d, g.Logs())
}

// Signal sends sig to the gateway process.
func (g *Gateway) Signal(sig os.Signal) {
	g.t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatal(err)
	}
}

// Wait waits for the process to exit.
func (g *Gateway) Wait(d time.Duration) error {
	select {
	case <-g.done:
		return g.exitErr
	case <-time.After(d):
		return fmt.Errorf("gateway did not exit within %s", d)
	}
}

// Stop terminates the gateway if it is still running.
func (g *Gateway) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// serve starts h on a loopback port and returns its base URL.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return "http://" + ln.Addr().String()
}

// postJSON posts body to url with MCP headers and returns status and body.
func postJSON(t testing.TB, url, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
