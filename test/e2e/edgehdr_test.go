package e2e

// Regression tests for issue #14, findings 5 (identity headers spoofed
// through "_" variants and trailers) and 10 (DNS rebinding, and the Host
// header reflected into URLs the gateway hands out).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// wsgiApp is a WSGI application on Python's wsgiref server: it answers
// every request with the HTTP_* variables of its environ, which is what a
// WSGI (or CGI, or PHP) application reads as headers. wsgiref maps "-" to
// "_" in header names, so X-Caller and X_Caller are the same variable
// (joined with ",").
const wsgiApp = `
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        environ["wsgi.input"].read(n)
    body = json.dumps({k: v for k, v in environ.items() if k.startswith("HTTP_")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

srv = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(srv.server_port, flush=True)
srv.serve_forever()
`

// startWSGI runs wsgiApp and returns its base URL.
func startWSGI(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		testbin.Missing(t, "python3 is not installed; the WSGI backend of this test needs it")
	}
	cmd := exec.Command(py, "-c", wsgiApp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	select {
	case p := <-port:
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("wsgiref server printed %q, want its port", p)
		}
		return "http://127.0.0.1:" + p
	case <-time.After(20 * time.Second):
		t.Fatal("wsgiref server did not start")
		return ""
	}
}

// TestIdentityHeadersUnderscoreVariants: a client's X_Caller,
// X_Source_Agent and X_Target_Agent must not reach a WSGI application as
// the identity the gateway verified (issue #14 finding 5).
func TestIdentityHeadersUnderscoreVariants(t *testing.T) {
	wsgi := startWSGI(t)
	iss := rlStartIssuer(t)
	const caller = "system:serviceaccount:ns:real-caller"
	listeners := fmt.Sprintf(`      - name: l
        routes:
          - name: agents
            match:
              path:
                prefix: /agents
            policies:
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: X-Caller
            backends:
              - name: wsgi
                address: %s
                agents: [wsgi-agent]
`, rlIssuer, rlAudience, iss.JWKSURL, wsgi)
	send := func(t *testing.T, g *Gateway, extra http.Header) (int, map[string]string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, g.URL("/agents/wsgi-agent"), strings.NewReader(a2aSend))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iss.token(t, caller))
		for k, v := range extra {
			req.Header[k] = v // as written: Go's client sends non-canonical keys unchanged
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		env := map[string]string{}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("backend answer %q: %v", b, err)
		}
		return resp.StatusCode, env
	}
	spoof := http.Header{
		"X_Caller":         {"system:serviceaccount:ns:attacker"},
		"x_caller":         {"lower-case-attacker"},
		"X_Source_Agent":   {"evil-source"},
		"X_Target_Agent":   {"billing-agent"},
		"X_Agent_Identity": {"system:serviceaccount:ns:attacker"},
		"x-agent_IDENTITY": {"mixed-attacker"},
		"X_Custom":         {"benign"},
	}
	// The identity variables the application must read: exactly what the
	// gateway verified and injected, nothing a client wrote.
	wantIdentity := func(t *testing.T, env map[string]string) {
		t.Helper()
		for k, want := range map[string]string{
			"HTTP_X_CALLER":         caller,
			"HTTP_X_TARGET_AGENT":   "wsgi-agent",
			"HTTP_X_SOURCE_AGENT":   caller,
			"HTTP_X_AGENT_IDENTITY": "",
		} {
			if got := env[k]; got != want {
				t.Errorf("the WSGI application read %s = %q, want %q", k, got, want)
			}
		}
	}

	for _, tc := range []struct {
		mode       string // server.headersWithUnderscores, "" = default
		wantStatus int
		wantCustom string
	}{
		{"", http.StatusOK, ""},
		{"drop", http.StatusOK, ""},
		{"allow", http.StatusOK, "benign"},
		{"reject", http.StatusBadRequest, ""},
	} {
		t.Run("headersWithUnderscores="+tc.mode, func(t *testing.T) {
			cfg := NewPorts(t)
			cfg.Listeners = listeners
			if tc.mode != "" {
				cfg.Extra = "server:\n  headersWithUnderscores: " + tc.mode + "\n"
			}
			g := StartGateway(t, cfg)
			// Without spoofed headers the application reads the verified
			// identity: the check below is not vacuous.
			status, env := send(t, g, nil)
			if status != http.StatusOK {
				t.Fatalf("plain request: status %d", status)
			}
			wantIdentity(t, env)

			status, env = send(t, g, spoof)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if status != http.StatusOK {
				return
			}
			wantIdentity(t, env)
			if got := env["HTTP_X_CUSTOM"]; got != tc.wantCustom {
				t.Errorf("HTTP_X_CUSTOM = %q, want %q", got, tc.wantCustom)
			}
		})
	}
}

// trailerBackend records the headers and trailers of every request.
type trailerBackend struct {
	mu   sync.Mutex
	seen []trailerSeen
}

type trailerSeen struct {
	header, trailer http.Header
}

func (b *trailerBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // trailers arrive after the body
	b.mu.Lock()
	b.seen = append(b.seen, trailerSeen{r.Header.Clone(), r.Trailer.Clone()})
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (b *trailerBackend) last(t *testing.T) trailerSeen {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		t.Fatal("the backend saw no request")
	}
	return b.seen[len(b.seen)-1]
}

// TestIdentityHeadersNotAsTrailers: headers the gateway owns never reach a
// backend as request trailers, declared or not (issue #14 finding 5).
func TestIdentityHeadersNotAsTrailers(t *testing.T) {
	be := &trailerBackend{}
	beURL := serve(t, be)
	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: l
        routes:
          - name: plain
            match:
              path:
                prefix: /plain
            backends:
              - name: b
                address: %s
`, beURL)
	g := StartGateway(t, cfg)
	owned := []string{"X-Agent-Identity", "X-Source-Agent", "X-Target-Agent", "X_agent_identity", "X_source_agent"}

	// wantClean checks one request: no owned name (in any spelling) as a
	// header or trailer, and the benign trailer still there, so that the
	// test would see trailers if they were forwarded.
	wantClean := func(t *testing.T, s trailerSeen) {
		t.Helper()
		for _, h := range []http.Header{s.header, s.trailer} {
			for k, v := range h {
				n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
				switch n {
				case "x-agent-identity", "x-source-agent", "x-target-agent":
					t.Errorf("backend received %s: %q", k, v)
				}
			}
		}
		if got := s.trailer.Get("X-Benign"); got != "ok" {
			t.Errorf("benign trailer X-Benign = %q, want it forwarded (trailers: %v)", got, s.trailer)
		}
	}

	t.Run("declared trailers", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, `{"hello":"world"}`)
			_ = pw.Close()
		}()
		req, err := http.NewRequest(http.MethodPost, g.URL("/plain/x"), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Trailer = http.Header{"X-Benign": nil}
		for _, k := range owned {
			req.Trailer[k] = nil
		}
		req.Trailer.Set("X-Benign", "ok")
		for _, k := range owned {
			req.Trailer[k] = []string{"system:serviceaccount:ns:attacker"}
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		wantClean(t, be.last(t))
	})

	t.Run("undeclared trailers", func(t *testing.T) {
		// Go's server keeps trailers the request did not announce in a
		// Trailer header; a raw client sends them.
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		body := `{"a":1}`
		raw := "POST /plain/y HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(body), body) +
			"X-Agent-Identity: system:serviceaccount:ns:attacker\r\nX_Source_Agent: evil\r\nX-Target-Agent: billing-agent\r\nX-Benign: ok\r\n\r\n"
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		wantClean(t, be.last(t))
	})
}

// hostRequest sends method path to the gateway's port with the given Host
// (and Origin, when not ""), and returns status, headers and body.
func hostRequest(t *testing.T, port int, method, path, host, origin, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := mtHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const rebindInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"rebind","version":"1"}}}`

// rebindEnv is a loopback gateway with an MCP route (jwt-authn, for the
// WWW-Authenticate challenge and the RFC 9728 document), an open MCP
// route, and an A2A route whose agent card the gateway rewrites.
type rebindEnv struct {
	g       *Gateway
	iss     *rlIssuerKeys
	backend string // the go-sdk MCP backend, directly
	rec     *mtRecorder
}

func startRebindEnv(t *testing.T, bindExtra, routeExtra string) *rebindEnv {
	t.Helper()
	e := &rebindEnv{iss: rlStartIssuer(t)}
	e.backend, e.rec = mtStartBackend(t, mtNewServer(), nil)
	agentURL, _ := startAgent03(t, "card-agent", &taskExecutor{gate: make(chan struct{})})
	cfg := mtPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: l
        routes:
          - name: secured
            match:
              path:
                prefix: /mcp
            policies:
              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
            backends:
              - name: secured-backend
                type: mcp-http
                address: %s
%s          - name: open
            match:
              path:
                prefix: /open
            backends:
              - name: open-backend
                type: mcp-http
                address: %s
          - name: agents
            match:
              path:
                prefix: /agents
%s            backends:
              - name: cards
                address: %s
                agents: [card-agent]
%s`, rlIssuer, rlAudience, e.iss.JWKSURL, e.backend, routeExtra, e.backend, routeExtra, agentURL, bindExtra)
	e.g = mtStartGatewayCfg(t, cfg)
	return e
}

// TestDNSRebindingLoopbackBind: on a loopback bind, a request whose Host
// and Origin both name the attacker's domain is refused, as the go-sdk
// server refuses it directly (issue #14 finding 10; the conformance
// suite's dns-rebinding-protection scenario).
func TestDNSRebindingLoopbackBind(t *testing.T) {
	e := startRebindEnv(t, "", "")
	gwPort := e.g.Port
	bePort, _ := strconv.Atoi(e.backend[strings.LastIndexByte(e.backend, ':')+1:])
	for _, tc := range []struct {
		name, host string // host without the port; "" = 127.0.0.1
		ok         bool
	}{
		{"attacker", "evil.example.com", false},
		{"attacker with port", "evil.example.com:%d", false},
		{"localhost", "localhost:%d", true},
		{"127.0.0.1", "127.0.0.1:%d", true},
		{"::1", "[::1]:%d", true},
		{"localhost with trailing dot", "localhost.:%d", false},
		{"other loopback", "127.0.0.2:%d", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := func(port int) string {
				if strings.Contains(tc.host, "%d") {
					return fmt.Sprintf(tc.host, port)
				}
				return tc.host
			}
			// Directly against the go-sdk server first: the gateway must
			// give the same verdict.
			direct, _, dbody := hostRequest(t, bePort, http.MethodPost, "/mcp", host(bePort), "http://"+host(bePort), rebindInit, nil)
			if (direct == http.StatusOK) != tc.ok {
				t.Fatalf("go-sdk directly: %d %s (the test's expectation is wrong)", direct, dbody)
			}
			before := e.rec.count()
			status, _, body := hostRequest(t, gwPort, http.MethodPost, "/open", host(gwPort), "http://"+host(gwPort), rebindInit, nil)
			if tc.ok {
				if status != http.StatusOK {
					t.Fatalf("status %d %s, want 200", status, body)
				}
				return
			}
			if status != http.StatusForbidden {
				t.Fatalf("status %d %s, want 403 as go-sdk answers directly (%d)", status, body, direct)
			}
			var m struct {
				Error *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if json.Unmarshal([]byte(body), &m) != nil || m.Error == nil || m.Error.Code != -32003 {
				t.Errorf("body %s, want a JSON-RPC error -32003", body)
			}
			if e.rec.count() != before {
				t.Error("the request reached the backend")
			}
		})
	}
}

// TestHostNotReflected: an attacker-chosen Host never ends up in the
// resource_metadata of a 401, in the RFC 9728 document, in a rewritten
// agent card or in the agent listing (issue #14 finding 10).
func TestHostNotReflected(t *testing.T) {
	e := startRebindEnv(t, "", "")
	port := e.g.Port
	const evil = "evil.example.com"
	good := fmt.Sprintf("localhost:%d", port)
	for _, tc := range []struct {
		name, method, path, body string
		wantGood                 int    // status with a localhost Host
		wantIn                   string // what the good answer must contain
	}{
		{"401 challenge", http.MethodPost, "/mcp", rebindInit, http.StatusUnauthorized,
			`resource_metadata="http://` + good + `/.well-known/oauth-protected-resource/mcp"`},
		{"RFC 9728 document", http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "", http.StatusOK,
			`"resource":"http://` + good + `/mcp"`},
		{"agent card", http.MethodGet, "/agents/card-agent/.well-known/agent-card.json", "", http.StatusOK,
			`"url":"http://` + good + `/agents/card-agent/"`},
		{"agent listing", http.MethodGet, "/agents", "", http.StatusOK,
			`"url":"http://` + good + `/agents/card-agent"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := hostRequest(t, port, tc.method, tc.path, good, "", tc.body, nil)
			all := body + " " + h.Get("WWW-Authenticate")
			if status != tc.wantGood || !strings.Contains(all, tc.wantIn) {
				t.Fatalf("Host %s: %d %s, want %d with %s", good, status, all, tc.wantGood, tc.wantIn)
			}
			for _, host := range []string{evil, evil + ":" + strconv.Itoa(port)} {
				status, h, body = hostRequest(t, port, tc.method, tc.path, host, "", tc.body, nil)
				all = body + " " + strings.Join(h.Values("WWW-Authenticate"), " ")
				if strings.Contains(all, "evil") {
					t.Errorf("Host %s reflected: %d %s", host, status, all)
				}
				if status != http.StatusForbidden {
					t.Errorf("Host %s: status %d %s, want 403", host, status, body)
				}
			}
		})
	}
}

// TestAllowedHosts: binds[].allowedHosts replaces the loopback default;
// URLs are built from an allowed Host, or from the route's externalUrl.
func TestAllowedHosts(t *testing.T) {
	e := startRebindEnv(t, "    allowedHosts: [gw.example.com, \"*.corp.example\"]\n", "")
	port := e.g.Port
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"gw.example.com", true},
		{fmt.Sprintf("GW.example.com:%d", port), true},
		{"a.corp.example", true},
		{"corp.example", false},
		{fmt.Sprintf("localhost:%d", port), false},
		{"evil.example.com", false},
	} {
		status, h, body := hostRequest(t, port, http.MethodPost, "/mcp", tc.host, "", rebindInit, nil)
		if !tc.ok {
			if status != http.StatusForbidden {
				t.Errorf("Host %s: %d %s, want 403", tc.host, status, body)
			}
			continue
		}
		want := `resource_metadata="http://` + strings.ToLower(tc.host) + `/.well-known/oauth-protected-resource/mcp"`
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), want) {
			t.Errorf("Host %s: %d %q, want 401 with %s", tc.host, status, h.Get("WWW-Authenticate"), want)
		}
	}

	t.Run("externalUrl", func(t *testing.T) {
		e := startRebindEnv(t, "", "            externalUrl: https://public.example.com\n")
		port := e.g.Port
		// Even from an allowed Host, the URLs name externalUrl.
		host := fmt.Sprintf("localhost:%d", port)
		for _, c := range []struct{ method, path, body, want string }{
			{http.MethodPost, "/mcp", rebindInit, `resource_metadata="https://public.example.com/.well-known/oauth-protected-resource/mcp"`},
			{http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "", `"resource":"https://public.example.com/mcp"`},
			{http.MethodGet, "/agents/card-agent/.well-known/agent-card.json", "", `"url":"https://public.example.com/agents/card-agent/"`},
		} {
			_, h, body := hostRequest(t, port, c.method, c.path, host, "", c.body, nil)
			if all := body + " " + h.Get("WWW-Authenticate"); !strings.Contains(all, c.want) || strings.Contains(all, "localhost") {
				t.Errorf("%s %s: %s, want %s", c.method, c.path, all, c.want)
			}
		}
	})
}
