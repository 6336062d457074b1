package e2e

// End-to-end tests of jwt-authn against a real Kubernetes API server
// (test/kubeenv: kube-apiserver v1.37.2 and etcd v3.6.5 on loopback, built
// by `make kube`): real ServiceAccount tokens from the TokenRequest API,
// verified by the real gateway binary through the real /openid/v1/jwks and
// the real TokenReview API, in front of a real go-sdk MCP server.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/test/kubeenv"
)

const (
	ktNS       = "agent-core-infra"
	ktAgent    = "ekspoc-v6-kagent-agent-sa"
	ktGatewayN = "agent-gateway" // the gateway's namespace and ServiceAccount
)

// ktBackend is a go-sdk MCP server whose "whoami" tool reports the identity
// headers it received; hits counts every HTTP request that reached it.
type ktBackend struct {
	URL  string
	hits atomic.Int64
}

type ktWhoami struct {
	Identity []string `json:"identity"` // every x-agent-identity value
	Auth     bool     `json:"auth"`     // an Authorization header arrived
}

func ktStartBackend(t *testing.T) *ktBackend {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "kube-e2e-backend", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "reports the caller identity headers"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			var w ktWhoami
			if req.Extra != nil {
				w.Identity = req.Extra.Header.Values("X-Agent-Identity")
				w.Auth = req.Extra.Header.Get("Authorization") != ""
			}
			b, _ := json.Marshal(w)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	b := &ktBackend{}
	b.URL = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	return b
}

// ktEnv is the cluster, the gateway's ServiceAccount token (bound to the
// chart's ClusterRole only) and the MCP backend.
type ktEnv struct {
	c       *kubeenv.Cluster
	gwToken string // path of the gateway's token file
	backend *ktBackend
}

// ktPolicy renders a jwt-authn policy item. validation is jwks,
// tokenreview or both; apiServer is where TokenReviews go.
func (e *ktEnv) policy(validation, apiServer, tokenFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "              - type: jwt-authn\n                jwt:\n")
	fmt.Fprintf(&b, "                  issuer: %s\n                  audiences: [%s]\n", kubeenv.DefaultIssuer, kubeenv.DefaultAudience)
	fmt.Fprintf(&b, "                  claimToHeaders:\n                    - claim: sub\n                      header: x-agent-identity\n")
	fmt.Fprintf(&b, "                  validation: %s\n", validation)
	if validation != "tokenreview" {
		fmt.Fprintf(&b, "                  jwksUri: %s/openid/v1/jwks\n", e.c.URL)
		fmt.Fprintf(&b, "                  jwks:\n                    caFile: %s\n                    bearerTokenFile: %s\n", e.c.CAFile, e.gwToken)
	}
	if validation != "jwks" {
		fmt.Fprintf(&b, "                  tokenReview:\n                    apiServer: %s\n                    caFile: %s\n                    tokenFile: %s\n",
			apiServer, e.c.CAFile, tokenFile)
		fmt.Fprintf(&b, "                    cacheTTL: 1s\n                    failureTTL: 1s\n                    timeout: 2s\n")
	}
	return b.String()
}

func (e *ktEnv) gatewayConfig(t *testing.T, policies string) GatewayConfig {
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("tools", "/mcp", e.backend.URL, "/mcp", "http", policies)
	return cfg
}

func (e *ktEnv) startGateway(t *testing.T, policies string) *Gateway {
	t.Helper()
	return StartGateway(t, e.gatewayConfig(t, policies))
}

// agentToken creates ServiceAccount ktNS/name (if needed) and returns a token
// for it with audiences.
func (e *ktEnv) agentToken(t *testing.T, name string, audiences ...string) string {
	t.Helper()
	if len(audiences) == 0 {
		audiences = []string{kubeenv.DefaultAudience}
	}
	return e.c.Token(t, ktNS, name, audiences, 3600)
}

// ktBearer adds a bearer token to every request of a go-sdk client.
type ktBearer struct {
	tok   string
	extra http.Header // added to every request (spoofing attempts)
	base  http.RoundTripper
}

func (b ktBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	for k, vs := range b.extra {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return b.base.RoundTrip(r)
}

// ktWhoamiCall connects a go-sdk MCP client through the gateway with tok
// (and extra headers) and calls whoami.
func ktWhoamiCall(t *testing.T, g *Gateway, tok string, extra ...string) ktWhoami {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := mcp.NewClient(&mcp.Implementation{Name: "kube-e2e-agent", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   g.URL("/mcp"),
		HTTPClient: &http.Client{Transport: ktBearer{tok: tok, extra: ktHeader(extra...), base: tr}},
	}, nil)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("whoami result: %+v", res)
	}
	var w ktWhoami
	if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func ktHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1]) // not canonicalised: any case
	}
	return h
}

// ktInit posts an MCP initialize with tok ("" = no Authorization).
func ktInit(t *testing.T, g *Gateway, tok string) (*http.Response, string) {
	t.Helper()
	hdr := map[string]string{}
	if tok != "" {
		hdr["Authorization"] = "Bearer " + tok
	}
	return postJSON(t, g.URL("/mcp"), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, hdr)
}

// ktWantStatus checks the status of an initialize with tok, and that a
// refused request never reached the backend.
func (e *ktEnv) wantStatus(t *testing.T, g *Gateway, tok string, status int) *http.Response {
	t.Helper()
	before := e.backend.hits.Load()
	resp, body := ktInit(t, g, tok)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if status != http.StatusOK {
		if n := e.backend.hits.Load() - before; n != 0 {
			t.Fatalf("a refused request reached the backend (%d hits)", n)
		}
		if tok != "" && strings.Contains(body+fmt.Sprint(resp.Header), tok[len(tok)/2:len(tok)/2+16]) {
			t.Fatal("the response echoes the token")
		}
	}
	return resp
}

func ktWant401(t *testing.T, e *ktEnv, g *Gateway, tok string) {
	t.Helper()
	resp := e.wantStatus(t, g, tok, http.StatusUnauthorized)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q", ch)
	}
}

// ktWaitRejected retries until tok is refused with 401 (cacheTTL is 1s).
func ktWaitRejected(t *testing.T, e *ktEnv, g *Gateway, tok string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		before := e.backend.hits.Load()
		resp, body := ktInit(t, g, tok)
		if resp.StatusCode == http.StatusUnauthorized {
			if e.backend.hits.Load() != before {
				t.Fatal("a refused request reached the backend")
			}
			return
		}
		if resp.StatusCode != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("status %d, want 401 within 20s: %s", resp.StatusCode, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestKube(t *testing.T) {
	c := kubeenv.Start(t, kubeenv.Options{})
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's ServiceAccount, bound to the chart's ClusterRole and
	// nothing else.
	c.CreateNamespace(t, ktGatewayN)
	c.CreateServiceAccount(t, ktGatewayN, ktGatewayN)
	c.ApplyManifest(t, filepath.Join(root, "deploy/rbac/clusterrole.yaml"))
	c.ApplyManifest(t, filepath.Join(root, "deploy/rbac/clusterrolebinding.yaml"))
	gwUser := "system:serviceaccount:" + ktGatewayN + ":" + ktGatewayN
	c.WaitAllowed(t, gwUser, "create", "authentication.k8s.io", "tokenreviews")
	c.CreateNamespace(t, ktNS)
	c.CreateServiceAccount(t, ktNS, ktAgent)
	e := &ktEnv{
		c:       c,
		gwToken: kubeenv.TokenFile(t, c.Token(t, ktGatewayN, ktGatewayN, []string{kubeenv.DefaultAudience}, 3600)),
		backend: ktStartBackend(t),
	}
	defer func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (tail):\n%s", c.Logs(30))
		}
	}()
	agentUser := "system:serviceaccount:" + ktNS + ":" + ktAgent

	t.Run("JWKS from the real /openid/v1/jwks", func(t *testing.T) {
		g := e.startGateway(t, e.policy("jwks", "", ""))
		tok := e.agentToken(t, ktAgent)
		w := ktWhoamiCall(t, g, tok)
		if len(w.Identity) != 1 || w.Identity[0] != agentUser || w.Auth {
			t.Errorf("backend saw %+v, want exactly one x-agent-identity %q and no Authorization", w, agentUser)
		}
		// The JWKS endpoint needs authentication: the gateway used its
		// token file (and the cluster CA).
		if st, _, err := c.Do(context.Background(), http.MethodGet, "/openid/v1/jwks", "", nil); err != nil || st != http.StatusForbidden && st != http.StatusUnauthorized {
			t.Errorf("anonymous GET /openid/v1/jwks: %d %v, want 401 or 403", st, err)
		}

		t.Run("no token", func(t *testing.T) { ktWant401(t, e, g, "") })
		t.Run("wrong audience", func(t *testing.T) {
			c.CreateServiceAccount(t, ktNS, "jwks-wrong-aud")
			ktWant401(t, e, g, e.agentToken(t, "jwks-wrong-aud", "some-other-service"))
		})
		t.Run("tampered payload", func(t *testing.T) {
			parts := strings.Split(tok, ".")
			p := []byte(parts[1])
			p[len(p)/2] ^= 1
			ktWant401(t, e, g, parts[0]+"."+string(p)+"."+parts[2])
		})
		t.Run("spoofed identity headers are replaced", func(t *testing.T) {
			w := ktWhoamiCall(t, g, tok, "X-Agent-Identity", "system:serviceaccount:kube-system:admin",
				"x-agent-identity", "spoof-2", "X-AGENT-IDENTITY", "spoof-3")
			if len(w.Identity) != 1 || w.Identity[0] != agentUser {
				t.Errorf("backend saw x-agent-identity %q, want only %q", w.Identity, agentUser)
			}
		})
		t.Run("deleted ServiceAccount is still accepted (JWKS cannot know)", func(t *testing.T) {
			c.CreateServiceAccount(t, ktNS, "jwks-deleted")
			tok := e.agentToken(t, "jwks-deleted")
			c.DeleteServiceAccount(t, ktNS, "jwks-deleted")
			e.wantStatus(t, g, tok, http.StatusOK)
		})
	})

	t.Run("TokenReview", func(t *testing.T) {
		g := e.startGateway(t, e.policy("tokenreview", c.URL, e.gwToken))
		if w := ktWhoamiCall(t, g, e.agentToken(t, ktAgent)); len(w.Identity) != 1 || w.Identity[0] != agentUser || w.Auth {
			t.Errorf("backend saw %+v", w)
		}
		t.Run("deleted ServiceAccount is refused", func(t *testing.T) {
			c.CreateServiceAccount(t, ktNS, "tr-deleted")
			tok := e.agentToken(t, "tr-deleted")
			e.wantStatus(t, g, tok, http.StatusOK)
			c.DeleteServiceAccount(t, ktNS, "tr-deleted")
			ktWaitRejected(t, e, g, tok)
		})
		t.Run("wrong audience", func(t *testing.T) {
			c.CreateServiceAccount(t, ktNS, "tr-wrong-aud")
			ktWant401(t, e, g, e.agentToken(t, "tr-wrong-aud", "some-other-service"))
		})
		t.Run("no token", func(t *testing.T) { ktWant401(t, e, g, "") })
		t.Run("not a token", func(t *testing.T) { ktWant401(t, e, g, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.") })
	})

	t.Run("both: JWKS, then TokenReview", func(t *testing.T) {
		g := e.startGateway(t, e.policy("both", c.URL, e.gwToken))
		if w := ktWhoamiCall(t, g, e.agentToken(t, ktAgent)); len(w.Identity) != 1 || w.Identity[0] != agentUser {
			t.Errorf("backend saw %+v", w)
		}
		c.CreateServiceAccount(t, ktNS, "both-deleted")
		tok := e.agentToken(t, "both-deleted")
		e.wantStatus(t, g, tok, http.StatusOK)
		c.DeleteServiceAccount(t, ktNS, "both-deleted")
		ktWaitRejected(t, e, g, tok)
		ktWant401(t, e, g, e.agentToken(t, ktAgent, "some-other-service"))
	})

	t.Run("API server unavailable: 503 with Retry-After, then recovery", func(t *testing.T) {
		proxy := c.NewProxy(t)
		g := e.startGateway(t, e.policy("tokenreview", proxy.URL, e.gwToken))
		tok := e.agentToken(t, ktAgent)
		e.wantStatus(t, g, tok, http.StatusOK)
		proxy.Down()
		time.Sleep(1100 * time.Millisecond) // past cacheTTL
		resp := e.wantStatus(t, g, tok, http.StatusServiceUnavailable)
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		if err := proxy.Up(); err != nil {
			t.Fatal(err)
		}
		e.wantStatus(t, g, tok, http.StatusOK)
	})

	t.Run("RBAC", func(t *testing.T) {
		// deploy/rbac grants TokenReview creation and nothing else: the
		// gateway never reads ServiceAccounts (the seed's ClusterRole also
		// granted get/list on them).
		c.WaitAllowed(t, gwUser, "create", "authentication.k8s.io", "tokenreviews")
		for _, verb := range []string{"get", "list"} {
			if ok, _ := c.Allowed(t, gwUser, verb, "", "serviceaccounts"); ok {
				t.Errorf("deploy/rbac lets the gateway %s serviceaccounts", verb)
			}
		}
		// Without it, TokenReview is forbidden and the gateway refuses to
		// start rather than refuse every caller.
		c.CreateServiceAccount(t, ktGatewayN, "no-rbac")
		file := kubeenv.TokenFile(t, c.Token(t, ktGatewayN, "no-rbac", []string{kubeenv.DefaultAudience}, 3600))
		out, err := ktRunExpectFailure(t, e.gatewayConfig(t, e.policy("tokenreview", c.URL, file)))
		if err == nil || !strings.Contains(out, "may not create tokenreviews") {
			t.Fatalf("gateway with an unbound ServiceAccount: err=%v\n%s", err, out)
		}
	})
}

// ktRunExpectFailure runs the gateway on cfg and returns its output once it
// exits (at most 30 s; a gateway still running after that fails the test).
func ktRunExpectFailure(t *testing.T, cfg GatewayConfig) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg.YAML()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "run", "--config", path)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the gateway did not exit:\n%s", out)
	}
	return string(out), err
}
