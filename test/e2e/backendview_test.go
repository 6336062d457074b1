package e2e

// A test that thinks like the backend (issue #14): a backend interprets
// each request the way common frameworks do, and for every request the
// gateway forwards, that interpretation must equal what the gateway
// authorized: the same route, tool, agent and identity.
//
// The backend is one application (a real go-sdk MCP server with an
// allowed and a forbidden tool, mounted at /mcp on a Go ServeMux) behind
// two gateway routes, as in the finding: /mcp with jwt-authn and mcp-authz,
// and / with jwt-authn only. It listens twice, once per route, so it knows
// which route the gateway chose. Besides Go's own reading (the ServeMux
// decodes the path and dispatches), it computes how other frameworks would
// read the same request:
//
//   - paths: Go's percent-decoding; Tomcat/Jetty stripping ";params" from
//     segments before decoding and resolving dot segments; a decoder that
//     runs twice (proxy chains); a case-insensitive router;
//   - headers: WSGI/CGI/PHP folding "_" into "-" and ignoring case, for
//     the identity headers and the method-override headers;
//   - bodies: a framework that reads a body on any method.
//
// Helpers in this file are prefixed "bv".

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	bvSub       = "system:serviceaccount:agent-core-infra:weather-agent-sa"
	bvAllowed   = "get_weather_data"
	bvForbidden = "execute_code"
	bvSeqHeader = "X-Bv-Seq"
)

// bvOwned are the identity headers the gateway owns, lower-case, with
// the values the gateway sets on these MCP routes (none for the agent
// headers).
var bvOwned = map[string][]string{
	"x-agent-identity": {bvSub},
	"x-source-agent":   nil,
	"x-target-agent":   nil,
}

var bvOverrides = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// bvView is what the backend saw of one request, and every disagreement
// between a framework's reading and the gateway's decision.
type bvView struct {
	route      string // the gateway route, from the listener it arrived on
	method     string
	rawPath    string
	violations []string
}

type bvBackend struct {
	mcpURL, rootURL string
	mu              sync.Mutex
	seen            map[string]*bvView
	toolRuns        map[string]*atomic.Int64
}

func bvStartBackend(t testing.TB) *bvBackend {
	t.Helper()
	b := &bvBackend{seen: map[string]*bvView{}, toolRuns: map[string]*atomic.Int64{bvAllowed: {}, bvForbidden: {}}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "backendview", Version: "1.0.0"}, nil)
	for name, n := range b.toolRuns {
		mcp.AddTool(srv, &mcp.Tool{Name: name}, func(ctx context.Context, req *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, any, error) {
			n.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil, nil
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"backend":"catch-all"}`)
	})
	b.mcpURL = serve(t, b.observe("mcp", mux))
	b.rootURL = serve(t, b.observe("root", mux))
	return b
}

// observe records the backend's readings of a request the gateway sent
// through route, then lets the real application handle it.
func (b *bvBackend) observe(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		v := bvInterpret(route, r, body)
		b.mu.Lock()
		b.seen[r.Header.Get(bvSeqHeader)] = v
		b.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (b *bvBackend) view(seq string) *bvView {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[seq]
}

// bvInterpret compares each framework's reading of r with the decision
// of the gateway route that forwarded it.
func bvInterpret(route string, r *http.Request, body []byte) *bvView {
	raw := r.RequestURI
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	v := &bvView{route: route, method: r.Method, rawPath: raw}
	bad := func(format string, args ...any) { v.violations = append(v.violations, fmt.Sprintf(format, args...)) }

	// Route: every reading of the path must land in the MCP area exactly
	// when the gateway chose the route that authorizes MCP calls.
	authorizedMCP := route == "mcp"
	for name, p := range bvPathViews(r, raw) {
		if bvInMCPArea(p) != authorizedMCP {
			bad("%s reads path %q as %q (MCP area: %v), but the gateway routed it through %q", name, raw, p, bvInMCPArea(p), route)
		}
	}

	// Method: a framework honouring an override header acts on another
	// method than the one the gateway's policies saw.
	for k, vs := range r.Header {
		if n := bvFold(k); bvContains(bvOverrides, n) {
			bad("header %q overrides the method %s with %q", k, r.Method, vs)
		}
	}

	// Body: on the MCP area only a POST body was parsed and authorized;
	// a framework that reads a body on GET or DELETE would act on a
	// message nobody checked.
	if authorizedMCP && r.Method != http.MethodPost && len(body) > 0 {
		bad("%s body of %d bytes reached the MCP area unauthorized: %q", r.Method, len(body), bvTrunc(string(body)))
	}
	// Tool: on the MCP area, the gateway authorized the tool of a POST;
	// only the allowed one may arrive.
	if authorizedMCP && r.Method == http.MethodPost {
		var m struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal(body, &m) == nil && m.Method == "tools/call" && m.Params.Name != bvAllowed {
			bad("tools/call %q arrived, but the identity may call only %q", m.Params.Name, bvAllowed)
		}
	}

	// Identity and agent: a WSGI/CGI application reads every header
	// whose name folds to an owned one; it must read exactly what the
	// gateway set.
	got := map[string][]string{}
	for k, vs := range r.Header {
		if n := bvFold(k); bvHasKey(bvOwned, n) {
			got[n] = append(got[n], vs...)
		}
	}
	for n, want := range bvOwned {
		if strings.Join(got[n], "\x00") != strings.Join(want, "\x00") {
			bad("a WSGI application reads %s = %q, the gateway set %q", n, got[n], want)
		}
	}
	return v
}

// bvPathViews are the paths common frameworks act on for one request.
func bvPathViews(r *http.Request, raw string) map[string]string {
	views := map[string]string{
		// Go's ServeMux (and most routers): one percent-decode, then
		// dispatch on the cleaned path.
		"Go ServeMux": bvClean(r.URL.Path),
	}
	// Tomcat, Jetty, Spring: ";params" are stripped from each segment of
	// the raw path, then it is decoded and dot segments resolved.
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	if d, err := url.PathUnescape(strings.Join(segs, "/")); err == nil {
		views["Tomcat/Jetty"] = bvClean(d)
	}
	// A second decode (a decoding proxy in front of a decoding server).
	if d, err := url.PathUnescape(r.URL.Path); err == nil {
		views["double decoding"] = bvClean(d)
	}
	// A case-insensitive router (ASP.NET, IIS, Spring with
	// setCaseSensitive(false)).
	views["case-insensitive router"] = strings.ToLower(bvClean(r.URL.Path))
	return views
}

func bvClean(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func bvInMCPArea(p string) bool { return p == "/mcp" || strings.HasPrefix(p, "/mcp/") }

// bvFold is a header name as a WSGI/CGI server reads it: HTTP_X_AGENT_IDENTITY
// for both X-Agent-Identity and X_Agent_Identity (here lower-case, with "-").
func bvFold(k string) string { return strings.ReplaceAll(strings.ToLower(k), "_", "-") }

func bvContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func bvHasKey(m map[string][]string, k string) bool { _, ok := m[k]; return ok }

func bvTrunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// bvIssuer serves a JWKS and signs RS256 tokens (testing.TB, so the fuzz
// target can use it too).
type bvIssuer struct {
	*gatewaytest.Issuer
	jwksURL string
}

func bvStartIssuer(t testing.TB) *bvIssuer {
	t.Helper()
	iss := gatewaytest.StartIssuer(t, gatewaytest.NewRSAKey(t, "bv-k1"))
	return &bvIssuer{Issuer: iss, jwksURL: iss.URL}
}

func (k *bvIssuer) token(t testing.TB, sub string) string {
	t.Helper()
	now := time.Now()
	return k.Sign(t, jwtlib.MapClaims{
		"iss": rlIssuer, "aud": []string{rlAudience}, "sub": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
}

type bvEnv struct {
	gw    *Gateway
	be    *bvBackend
	token string
	seq   atomic.Int64
}

// bvStart runs the finding's configuration: route /mcp (jwt-authn +
// mcp-authz) and route / (jwt-authn only) in front of one backend. The
// /mcp route sets caseSensitive: false, which is how an operator whose
// backend routes case-insensitively closes the case gap
// (docs/proxy.md#routing); bvStartCase lets a test choose ("" leaves the
// setting out, so that the regression tests of findings 2 and 8 run on a
// gateway that predates it).
func bvStart(t testing.TB) *bvEnv { return bvStartCase(t, "false") }

func bvStartCase(t testing.TB, caseSensitive string) *bvEnv {
	t.Helper()
	iss := bvStartIssuer(t)
	be := bvStartBackend(t)
	jwt := fmt.Sprintf(`              - type: jwt-authn
                jwt:
                  issuer: %s
                  audiences: [%s]
                  jwksUri: %s
                  claimToHeaders:
                    - claim: sub
                      header: x-agent-identity
`, rlIssuer, rlAudience, iss.jwksURL)
	caseLine := ""
	if caseSensitive != "" {
		caseLine = "\n                caseSensitive: " + caseSensitive
	}
	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: main
        routes:
          - name: mcp
            match:
              path:
                prefix: /mcp%s
            policies:
%s              - type: mcp-authz
                mcp:
                  rules:
                    - principal: %q
                      allowedTools: [%s]
            backends:
              - name: app-mcp
                type: mcp-http
                address: %s
                mcp:
                  endpoint: /mcp
          - name: root
            match:
              path:
                prefix: /
            policies:
%s            backends:
              - name: app
                type: http
                address: %s
`, caseLine, jwt, bvSub, bvAllowed, be.mcpURL, jwt, be.rootURL)
	e := &bvEnv{be: be}
	e.gw = StartGateway(t, cfg)
	e.token = iss.token(t, bvSub)
	return e
}

// bvResult is the gateway's answer and what the backend saw (nil when
// the request was not forwarded).
type bvResult struct {
	status int
	body   string
	view   *bvView
}

// send writes one request on its own connection, byte for byte as given
// (the path and header names are not normalised by a client library),
// and reads the answer.
func (e *bvEnv) send(t testing.TB, method, target string, hdrs [][2]string, body string) bvResult {
	t.Helper()
	seq := strconv.FormatInt(e.seq.Add(1), 10)
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n", method, target, e.gw.Port)
	fmt.Fprintf(&req, "Authorization: Bearer %s\r\n%s: %s\r\n", e.token, bvSeqHeader, seq)
	fmt.Fprintf(&req, "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n")
	for _, h := range hdrs {
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	if body != "" || method == http.MethodPost {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.gw.Port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %q: %v", method, target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return bvResult{status: resp.StatusCode, body: string(b), view: e.be.view(seq)}
}

func bvCall(tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, tool)
}

// bvCase is one trick: a request, the status the gateway must answer,
// and whether the backend may see it.
type bvCase struct {
	name    string
	method  string
	target  string
	hdrs    [][2]string
	body    string
	status  int
	reaches bool
}

func bvCases() []bvCase {
	forbidden, allowed := bvCall(bvForbidden), bvCall(bvAllowed)
	return []bvCase{
		// Baselines: the gateway authorizes on /mcp.
		{name: "allowed tool", method: "POST", target: "/mcp", body: allowed, status: 200, reaches: true},
		{name: "forbidden tool", method: "POST", target: "/mcp", body: forbidden, status: 403},
		{name: "other path through /", method: "POST", target: "/other", body: forbidden, status: 200, reaches: true},

		// Finding 2: paths a backend decodes or normalises into /mcp.
		{name: "encoded letter (Go ServeMux)", method: "POST", target: "/%6Dcp", body: forbidden, status: 400},
		{name: "encoded letter, lower-case hex", method: "POST", target: "/%6dcp", body: forbidden, status: 400},
		{name: "encoded upper-case letter", method: "POST", target: "/m%43p", body: forbidden, status: 400},
		{name: "double encoding", method: "POST", target: "/x/%252e%252e/mcp", body: forbidden, status: 400},
		{name: "double-encoded letter", method: "POST", target: "/%256Dcp", body: forbidden, status: 400},
		{name: "..; (Tomcat)", method: "POST", target: "/x/..;/mcp", body: forbidden, status: 400},
		{name: ";param (Tomcat, Jetty)", method: "POST", target: "/mcp;jsessionid=1", body: forbidden, status: 400},
		{name: "encoded ;", method: "POST", target: "/mcp%3Bx", body: forbidden, status: 400},
		{name: "overlong UTF-8 dots", method: "POST", target: "/x/%C0%AE%C0%AE/mcp", body: forbidden, status: 400},
		{name: "fragment", method: "POST", target: "/mcp#x", body: forbidden, status: 400},
		// Closed by caseSensitive: false on the /mcp route: mcp-authz decides.
		{name: "upper case (case-insensitive server)", method: "POST", target: "/MCP", body: forbidden, status: 403},
		{name: "mixed case", method: "POST", target: "/Mcp", body: forbidden, status: 403},
		{name: "mixed case, allowed tool", method: "POST", target: "/mCP", body: allowed, status: 200, reaches: true},

		// Finding 8: bodies on GET and DELETE, and method overrides.
		{name: "GET with a body", method: "GET", target: "/mcp", body: forbidden, status: 400},
		{name: "DELETE with a body", method: "DELETE", target: "/mcp", body: forbidden, status: 400},
		{name: "GET with a body and an override to POST", method: "GET", target: "/mcp", body: forbidden,
			hdrs: [][2]string{{"X-HTTP-Method-Override", "POST"}}, status: 400},
		{name: "X-HTTP-Method-Override", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"X-HTTP-Method-Override", "DELETE"}}, status: 200, reaches: true},
		{name: "x-http-method", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"x-http-method", "PUT"}}, status: 200, reaches: true},
		{name: "X-Method-Override", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"X-Method-Override", "DELETE"}}, status: 200, reaches: true},
		{name: "X_HTTP_Method_Override (WSGI)", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"X_HTTP_Method_Override", "DELETE"}}, status: 200, reaches: true},
		{name: "override through /", method: "POST", target: "/other", body: allowed,
			hdrs: [][2]string{{"X-Http-Method-Override", "DELETE"}, {"x_method_override", "PATCH"}}, status: 200, reaches: true},

		// Identity headers as WSGI/CGI read them (finding 5).
		{name: "canonical identity header", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"X-Agent-Identity", "system:serviceaccount:evil:admin"}}, status: 200, reaches: true},
		{name: "X_Agent_Identity (WSGI)", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"X_Agent_Identity", "system:serviceaccount:evil:admin"}}, status: 200, reaches: true},
		{name: "X_Source_Agent (WSGI)", method: "POST", target: "/other", body: allowed,
			hdrs: [][2]string{{"X_Source_Agent", "billing-agent"}}, status: 200, reaches: true},
		{name: "x_target_agent (WSGI)", method: "POST", target: "/mcp", body: allowed,
			hdrs: [][2]string{{"x_target_agent", "billing-agent"}}, status: 200, reaches: true},
	}
}

// TestBackendView drives the table of tricks through the gateway: every
// request the backend receives is read the way the gateway authorized it,
// by every framework the backend imitates, and the forbidden tool never
// runs.
func TestBackendView(t *testing.T) {
	e := bvStart(t)
	for _, tc := range bvCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(t, tc.method, tc.target, tc.hdrs, tc.body)
			if r.status != tc.status {
				t.Errorf("%s %s: status %d %s, want %d", tc.method, tc.target, r.status, bvTrunc(r.body), tc.status)
			}
			if (r.view != nil) != tc.reaches {
				t.Errorf("%s %s: reached the backend: %v, want %v", tc.method, tc.target, r.view != nil, tc.reaches)
			}
			if r.view != nil {
				for _, v := range r.view.violations {
					t.Errorf("%s %s: %s", tc.method, tc.target, v)
				}
			}
		})
	}
	if n := e.be.toolRuns[bvForbidden].Load(); n != 0 {
		t.Errorf("the forbidden tool %s ran %d times", bvForbidden, n)
	}
}

// TestPathTricksRefused is the regression test of issue #14 finding 2
// in the finding's own terms: the forbidden tool never runs, whatever
// spelling of /mcp reaches the backend, and the client is told why.
func TestPathTricksRefused(t *testing.T) {
	e := bvStartCase(t, "")
	for _, tc := range []struct{ target, msg string }{
		{"/%6Dcp", "percent-encoded unreserved character"},
		{"/x/%252e%252e/mcp", "double encoding"},
		{"/x/..;/mcp", "Tomcat and Jetty strip"},
		{"/mcp;jsessionid=1", "Tomcat and Jetty strip"},
	} {
		r := e.send(t, "POST", tc.target, nil, bvCall(bvForbidden))
		// The path is refused before any route is chosen, so the error is
		// the plain JSON one, not a route's JSON-RPC error.
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, tc.msg) {
			t.Errorf("POST %s: %d %s, want 400 saying %q", tc.target, r.status, r.body, tc.msg)
		}
		if r.view != nil {
			t.Errorf("POST %s reached the backend as %s %q through route %s", tc.target, r.view.method, r.view.rawPath, r.view.route)
		}
	}
	if n := e.be.toolRuns[bvForbidden].Load(); n != 0 {
		t.Errorf("the forbidden tool ran %d times", n)
	}
}

// TestCaseInsensitiveRoute: with caseSensitive: false on /mcp, "/MCP"
// is authorized by /mcp's policies, and forwarded to the backend's
// /mcp endpoint; with the default, it takes the / route unchanged (the
// documented limit: a case-insensitive backend needs the setting).
func TestCaseInsensitiveRoute(t *testing.T) {
	e := bvStart(t)
	r := e.send(t, "POST", "/MCP", nil, bvCall(bvForbidden))
	if r.status != http.StatusForbidden || r.view != nil {
		t.Errorf("POST /MCP, caseSensitive: false: %d %s (reached backend: %v), want 403 from mcp-authz", r.status, r.body, r.view != nil)
	}
	r = e.send(t, "POST", "/Mcp", nil, bvCall(bvAllowed))
	if r.status != http.StatusOK || r.view == nil || r.view.route != "mcp" || r.view.rawPath != "/mcp" {
		t.Errorf("POST /Mcp allowed tool: %d %s, view %+v; want 200 through route mcp to the backend's /mcp", r.status, r.body, r.view)
	}

	d := bvStartCase(t, "")
	r = d.send(t, "POST", "/MCP", nil, bvCall(bvForbidden))
	if r.view == nil || r.view.route != "root" || r.view.rawPath != "/MCP" {
		t.Errorf("POST /MCP, caseSensitive: true: view %+v; want it forwarded unchanged through route root", r.view)
	}
}

// TestMCPBodyOnGetDelete is the regression test of issue #14 finding 8:
// a body on an MCP GET or DELETE is refused (no policy reads one), and
// method-override headers never reach the backend.
func TestMCPBodyOnGetDelete(t *testing.T) {
	e := bvStartCase(t, "")
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := e.send(t, m, "/mcp", nil, bvCall(bvForbidden))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "a request body is not allowed on an MCP "+m) {
			t.Errorf("%s /mcp with a body: %d %s, want 400 saying a body is not allowed", m, r.status, r.body)
		}
		if r.view != nil {
			t.Errorf("%s /mcp with a body reached the backend", m)
		}
	}
	// Without a body, GET and DELETE pass (the stateless backend answers
	// them itself).
	if r := e.send(t, http.MethodDelete, "/mcp", nil, ""); r.view == nil {
		t.Errorf("DELETE /mcp without a body: %d %s, did not reach the backend", r.status, r.body)
	}
	for _, name := range []string{"X-HTTP-Method-Override", "X-Http-Method", "x-method-override", "X_HTTP_METHOD_OVERRIDE", "x_http_method"} {
		r := e.send(t, http.MethodPost, "/mcp", [][2]string{{name, "DELETE"}}, bvCall(bvAllowed))
		if r.status != http.StatusOK || r.view == nil {
			t.Fatalf("POST with %s: %d %s, want 200 through to the backend", name, r.status, r.body)
		}
		for _, v := range r.view.violations {
			t.Errorf("POST with %s: %s", name, v)
		}
	}
}

// FuzzBackendView sends fuzzed paths, methods and header names through
// the gateway (the header carries a forged identity, the body a forbidden
// tools/call) and checks, for every request the backend receives, that
// every framework reading agrees with the gateway's decision.
func FuzzBackendView(f *testing.F) {
	for _, c := range bvCases() {
		name := "X-Request-Id"
		if len(c.hdrs) > 0 {
			name = c.hdrs[0][0]
		}
		f.Add(c.method, c.target, name)
	}
	e := bvStart(f)
	f.Fuzz(func(t *testing.T, method, target, hdr string) {
		// Keep the request framing under the test's control: the fuzzer
		// varies what one request says, not how many there are.
		if method == "" || len(method) > 10 || len(target) == 0 || len(target) > 512 || hdr == "" || len(hdr) > 64 ||
			!bvToken(method) || !bvToken(hdr) || strings.ContainsAny(target, " \r\n\x00") ||
			strings.EqualFold(hdr, bvSeqHeader) || bvFold(hdr) == "content-length" || bvFold(hdr) == "transfer-encoding" ||
			bvFold(hdr) == "host" || bvFold(hdr) == "connection" || bvFold(hdr) == "authorization" {
			return // an input outside what this target varies, not a missing dependency
		}
		r := e.send(t, method, target, [][2]string{{hdr, "system:serviceaccount:evil:admin"}}, bvCall(bvForbidden))
		if r.view == nil {
			return
		}
		for _, v := range r.view.violations {
			t.Errorf("%s %q with header %q: %s", method, target, hdr, v)
		}
		if n := e.be.toolRuns[bvForbidden].Load(); n != 0 {
			t.Fatalf("the forbidden tool ran (%s %q, header %q)", method, target, hdr)
		}
	})
}

// bvToken reports whether s is an RFC 9110 token (a valid method or
// header name).
func bvToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
