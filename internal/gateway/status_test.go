package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// statusConfig has an MCP route behind jwt-authn and mcp-authz (alice may
// call echo) and an HTTP route whose backend is down, with a breaker that
// ejects it after one failure. Policies are written out of chain order:
// the page shows the order requests pass them.
const statusConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: status-tools
            match:
              path:
                prefix: /mcp
            policies:
              - type: mcp-authz
                mcp:
                  rules:
                    - principal: alice
                      allowedTools: [echo]
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
            backends:
              - name: status-tools-backend
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
          - name: status-down
            match:
              path:
                prefix: /down
            backends:
              - name: status-down-backend
                address: http://127.0.0.1:%d
                circuitBreaker:
                  consecutiveFailures: 1
                  baseEjectionTime: 60s
`

type statusFixture struct {
	g              *Gateway
	admin          string
	aliceTok, bobT string
}

// startStatusGateway runs the config above and makes an allowed and a
// denied tool call and a call to the dead backend.
func startStatusGateway(t *testing.T) statusFixture {
	t.Helper()
	key, err := devissuer.GenerateKey(devissuer.DefaultAlg)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.Start("127.0.0.1:0", key, devissuer.DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	be := newMCPBackend(t, nil)
	dead := gatewaytest.FreePort(t)
	g, gw := startGateway(t, statusConfig, devissuer.DefaultIssuer, devissuer.DefaultAudience, iss.JWKSURI(), be.URL, dead)
	f := statusFixture{g: g, admin: "http://" + g.AdminAddr().String()}
	for _, p := range []struct {
		sub string
		tok *string
	}{{"alice", &f.aliceTok}, {"bob", &f.bobT}} {
		if *p.tok, err = key.Mint(devissuer.TokenOptions{Subject: p.sub}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call := func(tok string) error {
		hc := &http.Client{Transport: bearer{tok}}
		c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp", HTTPClient: hc}, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error")
		}
		return err
	}
	if err := call(f.aliceTok); err != nil {
		t.Fatalf("alice's call: %v", err)
	}
	if err := call(f.bobT); err == nil {
		t.Fatal("bob's call was allowed")
	}
	res, err := http.Get(gw + "/down/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return f
}

type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestStatusPages checks what the admin listener's status pages and
// config dump show, and that no token reaches them.
func TestStatusPages(t *testing.T) {
	f := startStatusGateway(t)
	pages := []struct {
		path string
		want []string
	}{
		{"/ui", []string{"status-tools", "status-down", "status-tools-backend", "status-down-backend",
			"<li>jwt-authn</li><li>mcp-authz</li>", "breaker <span class=\"brk-open\">open</span>", "connection refused", "JWKS fetches"}},
		{"/ui/decisions", []string{"alice", "bob", "<b>echo</b>", "decision-allow", "decision-deny", "mcp-authz rule 0", "mcp-authz no rule"}},
		{"/ui/config", []string{"status-tools", "jwksUri"}},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			code, h, body := get(t, f.admin+p.path)
			if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("%s: %d %s\n%s", p.path, code, h.Get("Content-Type"), body)
			}
			if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("no restrictive CSP: %q", h.Get("Content-Security-Policy"))
			}
			for _, w := range p.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q\n%s", p.path, w, body)
				}
			}
			for _, tok := range []string{f.aliceTok, f.bobT} {
				if strings.Contains(body, tok) || strings.Contains(body, tok[strings.LastIndex(tok, ".")+1:]) {
					t.Errorf("%s shows a token", p.path)
				}
			}
		})
	}
	code, h, body := get(t, f.admin+"/config")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("/config: %d %s", code, h.Get("Content-Type"))
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatalf("/config is not JSON: %v", err)
	}
	if _, ok := cfg["binds"]; !ok || !strings.Contains(body, `"consecutiveFailures": 1`) {
		t.Errorf("/config lacks the effective config:\n%s", body)
	}
	if code, _, _ := get(t, f.admin+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof served without admin.pprof: %d", code)
	}
}

// TestRedactedConfig: secrets are replaced, paths and names stay.
func TestRedactedConfig(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		hide, keep []string
	}{
		{"redis password", "rateLimiting:\n  redis:\n    address: 127.0.0.1:6379\n    password: hunter2-secret\n",
			[]string{"hunter2-secret"}, []string{`"password": "[REDACTED]"`, "127.0.0.1:6379"}},
		{"url credentials", "observability:\n  opentelemetry:\n    enabled: true\n    endpoint: https://user:s3cr3t-pw@collector.example:4318\n",
			[]string{"s3cr3t-pw"}, []string{"collector.example:4318", "user:REDACTED@"}},
		{"password file stays", "rateLimiting:\n  redis:\n    address: 127.0.0.1:6379\n    passwordFile: /var/run/secrets/redis\n",
			nil, []string{"/var/run/secrets/redis"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match:\n              path:\n                prefix: /\n            backends:\n              - name: b\n                address: http://127.0.0.1:1\n" + tc.yaml
			cfg, err := config.Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			cfg.SetDefaults()
			b, err := json.MarshalIndent(RedactedConfig(cfg), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tc.hide {
				if bytes.Contains(b, []byte(h)) {
					t.Errorf("shows %q:\n%s", h, b)
				}
			}
			for _, k := range tc.keep {
				if !bytes.Contains(b, []byte(k)) {
					t.Errorf("lacks %q:\n%s", k, b)
				}
			}
		})
	}
}

// TestStatusPagesInChromium renders every status page in headless
// Chromium (Debian package chromium): it must load with no network but
// the admin port, draw something (a PNG that is not one colour) and show
// the routes and a decision.
func TestStatusPagesInChromium(t *testing.T) {
	chromium := testbin.Need(t, "chromium", "apt package chromium; scripts/deps.sh installs it")
	f := startStatusGateway(t)
	pages := []struct {
		path string
		want []string
	}{
		{"/ui", []string{"status-tools", "status-down", "status-down-backend", "jwt-authn", "mcp-authz"}},
		{"/ui/decisions", []string{"alice", "echo", "allow", "bob", "deny"}},
		{"/ui/config", []string{"status-tools", "status-down", "consecutiveFailures"}},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			dir := t.TempDir()
			shot := filepath.Join(dir, "page.png")
			url := f.admin + p.path
			run := func(extra ...string) string {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
					"--disable-background-networking", "--disable-component-update", "--disable-sync",
					"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,900"}, extra...)
				args = append(args, url)
				cmd := exec.CommandContext(ctx, chromium, args...)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				cmd.WaitDelay = 5 * time.Second
				if err := cmd.Run(); err != nil {
					t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
				}
				return out.String()
			}
			run("--screenshot=" + shot)
			if d := os.Getenv("UI_SCREENSHOT_DIR"); d != "" {
				b, _ := os.ReadFile(shot)
				_ = os.WriteFile(filepath.Join(d, strings.ReplaceAll(strings.Trim(p.path, "/"), "/", "-")+".png"), b, 0o644)
			}
			checkScreenshot(t, shot)
			dom := run("--dump-dom")
			for _, w := range p.want {
				if !strings.Contains(dom, w) {
					t.Errorf("rendered %s lacks %q:\n%s", p.path, w, dom)
				}
			}
		})
	}
}

// checkScreenshot fails unless path is a PNG with more than one colour.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("screenshot is %v", b)
	}
	first := img.At(b.Min.X, b.Min.Y)
	r0, g0, b0, _ := first.RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bl != b0 {
				return
			}
		}
	}
	t.Fatal("screenshot is blank: one colour")
}

// TestPprofOptIn: /debug/pprof/ is served only with admin.pprof: true.
func TestPprofOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			src := fmt.Sprintf(mcpConfig, gatewaytest.FreePort(t), "http://127.0.0.1:1") +
				fmt.Sprintf("\nadmin:\n  address: 127.0.0.1\n  port: %d\n  pprof: %v\n", gatewaytest.FreePort(t), on)
			g := New(Options{Logger: slog.New(slog.DiscardHandler)})
			gatewaytest.Start(t, g, src)
			code, _, _ := get(t, "http://"+g.AdminAddr().String()+"/debug/pprof/")
			if want := map[bool]int{false: 404, true: 200}[on]; code != want {
				t.Fatalf("pprof %v: status %d, want %d", on, code, want)
			}
		})
	}
}
