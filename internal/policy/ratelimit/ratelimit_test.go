package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/timeout" // registers the timeout block TestWarnings decodes
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

const weatherSA = "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"

// loadConfig parses a config whose only route has the given policies and
// optional top-level YAML, defaults and validates it.
func loadConfig(t *testing.T, policies, top string) *config.Config {
	t.Helper()
	src := `binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match:
              path:
                prefix: /mcp
            policies:
` + indent(policies, 14) + `            backends:
              - name: b
                type: mcp-http
                address: http://mcp:8000
` + top
	c, err := config.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// provision builds the rate-limit policy of cfg's only route, wrapping a
// backend that counts what reaches it.
type harness struct {
	t       *testing.T
	pol     *Policy
	h       policy.Handler
	reached int
	// backend is what the edge resolved for the exchange (federated
	// routes); "" elsewhere.
	backend string
}

func provision(t *testing.T, cfg *config.Config) *harness {
	t.Helper()
	rc := &cfg.Binds[0].Listeners[0].Routes[0]
	var pc *config.Policy
	for i := range rc.Policies {
		if rc.Policies[i].Type == Type {
			pc = &rc.Policies[i]
		}
	}
	p, err := New(context.Background(), pc, policy.Env{RouteName: rc.Name, Route: rc, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, pol: p.(*Policy)}
	t.Cleanup(func() { _ = hs.pol.Cleanup() })
	hs.h = p.Wrap(policy.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		hs.reached++
		return nil
	}))
	return hs
}

// do sends body (a JSON-RPC message or batch, or "" for a GET) as subject
// ("" for unauthenticated), with hdr as client headers.
func (hs *harness) do(subject, body string, hdr ...string) error {
	hs.t.Helper()
	method := http.MethodPost
	if body == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, "/mcp", strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	ex := &policy.Exchange{Route: "r", Kind: policy.KindMCP, Method: method, Backend: hs.backend}
	if body != "" {
		b, err := mcp.ParseBody([]byte(body))
		if err != nil {
			hs.t.Fatalf("parse %s: %v", body, err)
		}
		ex.RPC = b
	}
	ctx := policy.WithExchange(r.Context(), ex)
	if subject != "" {
		ctx = identity.With(ctx, &identity.Principal{Subject: subject})
	}
	return hs.h.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
}

func toolCall(id int, tool string) string {
	name, _ := json.Marshal(tool)
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%s,"arguments":{}}}`, id, name)
}

func rpc(id int, method string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{}}`, id, method)
}

// allowedOf counts how many of n calls pass.
func (hs *harness) allowedOf(n int, subject, body string) int {
	hs.t.Helper()
	ok := 0
	for i := 0; i < n; i++ {
		err := hs.do(subject, body)
		switch {
		case err == nil:
			ok++
		case policy.AsError(err).Status != http.StatusTooManyRequests:
			hs.t.Fatalf("call %d: %v", i, err)
		}
	}
	return ok
}

const seedPolicy = `- type: rate-limit
  rateLimit:
    descriptors:
      - key: tool-name
        value: execute_code
        rateLimit:
          requestsPerMinute: 10
`

// TestSeedDescriptor: the seed's descriptor: the 11th execute_code call in
// a minute gets 429 with Retry-After; other tools are unaffected.
func TestSeedDescriptor(t *testing.T) {
	hs := provision(t, loadConfig(t, seedPolicy, ""))
	for i := 1; i <= 10; i++ {
		if err := hs.do(weatherSA, toolCall(i, "execute_code")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := hs.do(weatherSA, toolCall(11, "execute_code"))
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("11th call: %v", err)
	}
	if pe.Status != 429 || pe.RPCCode() != policy.CodeRateLimited || pe.Header.Get("Retry-After") != "6" {
		t.Fatalf("11th call: %+v", pe)
	}
	if !strings.Contains(pe.Message, `tool-name="execute_code"`) || !strings.Contains(pe.Message, "retry after 6s") {
		t.Fatalf("message %q", pe.Message)
	}
	if hs.reached != 10 {
		t.Fatalf("backend reached %d times, want 10", hs.reached)
	}
	// Same tool from another principal: the seed's limit is global.
	if err := hs.do("system:serviceaccount:x:y", toolCall(12, "execute_code")); err == nil {
		t.Fatal("the tool-name limit is per principal; want one shared bucket")
	}
	if n := hs.allowedOf(30, weatherSA, toolCall(1, "get_weather_data")); n != 30 {
		t.Fatalf("get_weather_data: %d of 30 allowed", n)
	}
	for _, body := range []string{rpc(1, "tools/list"), rpc(2, "initialize"), rpc(3, "ping"), ""} {
		if err := hs.do(weatherSA, body); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
	}
	// Names are compared as exact bytes.
	for _, tool := range []string{"Execute_code", "execute_code ", "execute_code\x00", "ｅxecute_code"} {
		if err := hs.do(weatherSA, toolCall(1, tool)); err != nil {
			t.Fatalf("%q: %v", tool, err)
		}
	}
}

func TestPerPrincipal(t *testing.T) {
	hs := provision(t, loadConfig(t, `- type: rate-limit
  rateLimit:
    descriptors:
      - key: principal
        value: "*"
        rateLimit: {requestsPerMinute: 3}
`, ""))
	if n := hs.allowedOf(5, "alice", rpc(1, "tools/list")); n != 3 {
		t.Fatalf("alice: %d", n)
	}
	if n := hs.allowedOf(5, "bob", toolCall(1, "anything")); n != 3 {
		t.Fatalf("bob: %d", n)
	}
	// The bucket is the verified identity's: a client header naming
	// another identity changes nothing.
	if err := hs.do("alice", rpc(1, "ping"), "X-Agent-Identity", "carol"); err == nil {
		t.Fatal("alice escaped her limit with a header")
	}
	// Unauthenticated callers share one bucket.
	if n := hs.allowedOf(5, "", rpc(1, "ping")); n != 3 {
		t.Fatalf("anonymous: %d", n)
	}
	// Requests without a JSON-RPC body count too.
	if err := hs.do("dave", ""); err != nil {
		t.Fatal(err)
	}
	if n := hs.allowedOf(3, "dave", rpc(1, "ping")); n != 2 {
		t.Fatalf("dave after a GET: %d", n)
	}
	// Replies to the server's requests are never counted.
	reply := `{"jsonrpc":"2.0","id":"srv-1","result":{}}`
	for i := 0; i < 5; i++ {
		if err := hs.do("alice", reply); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
}

func TestExactPrincipalAndMethod(t *testing.T) {
	hs := provision(t, loadConfig(t, `- type: rate-limit
  rateLimit:
    descriptors:
      - key: principal
        value: `+weatherSA+`
        rateLimit: {requestsPerMinute: 2}
      - key: method
        value: tools/list
        rateLimit: {requestsPerMinute: 4}
`, ""))
	if n := hs.allowedOf(4, weatherSA, rpc(1, "ping")); n != 2 {
		t.Fatalf("weather SA: %d", n)
	}
	if n := hs.allowedOf(4, "other", rpc(1, "ping")); n != 4 {
		t.Fatalf("other principal limited: %d", n)
	}
	if n := hs.allowedOf(4, "", rpc(1, "ping")); n != 4 {
		t.Fatalf("anonymous limited by an exact principal: %d", n)
	}
	if n := hs.allowedOf(6, "other", rpc(1, "tools/list")); n != 4 {
		t.Fatalf("tools/list: %d", n)
	}
	if n := hs.allowedOf(3, "other", rpc(1, "Tools/List")); n != 3 {
		t.Fatalf("method compared with case folding: %d", n)
	}
}

// TestBackendDescriptor: on a federated route a descriptor can limit the
// calls that go to one backend, whichever of its tools they name; calls
// resolved to no backend are not limited by it.
func TestBackendDescriptor(t *testing.T) {
	hs := provision(t, loadConfig(t, `- type: rate-limit
  rateLimit:
    descriptors:
      - match: [{key: backend, value: calendar}, {key: principal}]
        rateLimit: {requestsPerMinute: 2}
`, ""))
	hs.backend = "calendar"
	if n := hs.allowedOf(2, "a", toolCall(1, "calendar_list")) + hs.allowedOf(2, "a", toolCall(1, "calendar_add")); n != 2 {
		t.Fatalf("calendar calls allowed: %d, want 2", n)
	}
	if n := hs.allowedOf(2, "b", toolCall(1, "calendar_list")); n != 2 {
		t.Fatalf("another principal's bucket: %d", n)
	}
	hs.backend = "weather"
	if n := hs.allowedOf(4, "a", toolCall(1, "weather_x")); n != 4 {
		t.Fatalf("weather calls limited: %d", n)
	}
	hs.backend = ""
	if n := hs.allowedOf(4, "a", rpc(1, "tools/list")); n != 4 {
		t.Fatalf("a call with no backend limited: %d", n)
	}
}

// TestMatchCombination: principal × tool buckets, and the key/value form
// equals a one-entry match.
func TestMatchCombination(t *testing.T) {
	hs := provision(t, loadConfig(t, `- type: rate-limit
  rateLimit:
    descriptors:
      - match:
          - {key: tool-name, value: execute_code}
          - {key: principal, value: "*"}
        rateLimit: {requestsPerMinute: 2}
      - match:
          - {key: tool-name}
        rateLimit: {requestsPerMinute: 5, burst: 5}
`, ""))
	if n := hs.allowedOf(3, "alice", toolCall(1, "execute_code")); n != 2 {
		t.Fatalf("alice execute_code: %d", n)
	}
	if n := hs.allowedOf(3, "bob", toolCall(1, "execute_code")); n != 2 {
		t.Fatalf("bob execute_code: %d", n)
	}
	// Per-tool bucket (second descriptor): execute_code used 4 of 5.
	if n := hs.allowedOf(6, "carol", toolCall(1, "get_weather_data")); n != 5 {
		t.Fatalf("get_weather_data: %d", n)
	}
	if n := hs.allowedOf(3, "carol", toolCall(1, "execute_code")); n != 1 {
		t.Fatalf("carol execute_code: %d (per-tool bucket had 1 left)", n)
	}
}

func TestBatchCountsEveryCall(t *testing.T) {
	hs := provision(t, loadConfig(t, seedPolicy, ""))
	batch := "[" + toolCall(1, "execute_code") + "," + toolCall(2, "execute_code") + "," + toolCall(3, "get_weather_data") + "]"
	for i := 0; i < 5; i++ {
		if err := hs.do(weatherSA, batch); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if err := hs.do(weatherSA, batch); err == nil {
		t.Fatal("a batch over the limit passed")
	}
	if hs.reached != 5 {
		t.Fatalf("reached %d", hs.reached)
	}
}

// TestBurstOne: burst 1 paces calls one per interval.
func TestBurstOne(t *testing.T) {
	hs := provision(t, loadConfig(t, `- type: rate-limit
  rateLimit:
    descriptors:
      - key: tool-name
        value: execute_code
        rateLimit: {requestsPerMinute: 10, burst: 1}
`, ""))
	if n := hs.allowedOf(3, "a", toolCall(1, "execute_code")); n != 1 {
		t.Fatalf("%d", n)
	}
}

// TestSharedAcrossRoutesAndReload: routes keep separate buckets; a policy
// re-provisioned from an equal config (a reload) keeps the counts.
func TestSharedAcrossRoutesAndReload(t *testing.T) {
	cfg := loadConfig(t, seedPolicy, "")
	a := provision(t, cfg)
	if n := a.allowedOf(10, "x", toolCall(1, "execute_code")); n != 10 {
		t.Fatal(n)
	}
	// Reload: the new runtime provisions before the old one is cleaned up.
	b := provision(t, loadConfig(t, seedPolicy, ""))
	_ = a.pol.Cleanup()
	if err := b.do("x", toolCall(1, "execute_code")); err == nil {
		t.Fatal("a reload reset the limit")
	}
	other := loadConfig(t, seedPolicy, "")
	other.Binds[0].Listeners[0].Routes[0].Name = "other-route"
	c := provision(t, other)
	if err := c.do("x", toolCall(1, "execute_code")); err != nil {
		t.Fatalf("routes share a bucket: %v", err)
	}
}

func TestRedisBacked(t *testing.T) {
	srv := redistest.Start(t)
	top := fmt.Sprintf("rateLimiting:\n  redis:\n    address: %s\n    keyPrefix: \"test:rl:\"\n", srv.Addr())
	hs := provision(t, loadConfig(t, seedPolicy, top))
	if n := hs.allowedOf(12, weatherSA, toolCall(1, "execute_code")); n != 10 {
		t.Fatalf("%d", n)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
	defer c.Close()
	all, err := c.Keys(context.Background(), "test:rl:*").Result()
	var keys []string
	for _, k := range all {
		if k != "test:rl:health" { // the store's health check, ~2ms TTL
			keys = append(keys, k)
		}
	}
	if err != nil || len(keys) != 1 || len(keys[0]) != len("test:rl:")+32 {
		t.Fatalf("keys %q, %v", all, err)
	}
	var found bool
	for _, s := range sharedstate.Stores() {
		found = found || s.Redis == srv.Addr() && s.State == sharedstate.StateRedis
	}
	if !found {
		t.Fatalf("store not listed: %+v", sharedstate.Stores())
	}
	_ = hs.pol.Cleanup()
	_ = hs.pol.Cleanup()
	for _, s := range sharedstate.Stores() {
		if s.Redis == srv.Addr() {
			t.Fatalf("store not released: %+v", s)
		}
	}
}

func TestFailureModes(t *testing.T) {
	srv := redistest.Start(t)
	top := func(mode string) string {
		return fmt.Sprintf("rateLimiting:\n  failureMode: %s\n  redis:\n    address: %s\n", mode, srv.Addr())
	}
	open := provision(t, loadConfig(t, seedPolicy, top("open")))
	closed := provision(t, loadConfig(t, seedPolicy, top("closed")))
	srv.Kill()
	if n := open.allowedOf(12, "a", toolCall(1, "execute_code")); n != 10 {
		t.Fatalf("fail-open: %d allowed, want the local 10", n)
	}
	err := closed.do("a", toolCall(1, "execute_code"))
	pe := policy.AsError(err)
	if pe.Status != http.StatusServiceUnavailable || pe.Header.Get("Retry-After") == "" || !errors.Is(err, sharedstate.ErrUnavailable) {
		t.Fatalf("fail-closed: %v", err)
	}
	// Calls no descriptor matches need no store.
	if err := closed.do("a", toolCall(1, "get_weather_data")); err != nil {
		t.Fatalf("fail-closed, unlimited tool: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	parse := func(policies, top string) string {
		src := "binds:\n  - port: 8080\n    listeners:\n      - name: l\n        routes:\n          - name: r\n            match: {path: {prefix: /mcp}}\n            policies:\n" +
			indent(policies, 14) + "            backends:\n              - {name: b, type: mcp-http, address: \"http://mcp:8000\"}\n" + top
		c, err := config.Parse("t.yaml", []byte(src))
		if err == nil {
			c.SetDefaults()
			err = c.Validate()
		}
		if err == nil {
			return ""
		}
		return err.Error()
	}
	rl := func(desc string) string {
		return "- type: rate-limit\n  rateLimit:\n    descriptors:\n" + indent(desc, 6)
	}
	for _, tt := range []struct {
		name, policies, top string
		want                []string
	}{
		{"seed form", rl("- {key: tool-name, value: execute_code, rateLimit: {requestsPerMinute: 10}}"), "", nil},
		{"omitted value means each", rl("- {key: principal, rateLimit: {requestsPerMinute: 1}}\n- {key: principal, value: \"*\", rateLimit: {requestsPerMinute: 2}}"), "",
			[]string{`t.yaml:13:23: binds[0].listeners[0].routes[0].policies[0].rateLimit.descriptors[1]: descriptor principal="*" is already limited by descriptors[0]`}},
		{"unknown key", rl("- {key: tool, value: x, rateLimit: {requestsPerMinute: 1}}"), "",
			[]string{`descriptors[0].key: unknown descriptor key "tool" (valid: tool-name, principal, method, backend)`}},
		{"both forms", rl("- key: method\n  value: ping\n  match: [{key: principal}]\n  rateLimit: {requestsPerMinute: 1}"), "",
			[]string{"descriptors[0].match: use either key/value or match, not both"}},
		{"match problems", rl("- match: [{key: principal}, {key: principal, value: a}, {value: x}, {key: nope}]\n  rateLimit: {requestsPerMinute: 1}"), "",
			[]string{`match[1].key: key "principal" already appears in match[0]`, "match[2].key: key is required", `match[3].key: unknown descriptor key "nope"`}},
		{"order-independent duplicate", rl("- match: [{key: principal}, {key: method, value: ping}]\n  rateLimit: {requestsPerMinute: 1}\n- match: [{key: method, value: ping}, {key: principal, value: \"*\"}]\n  rateLimit: {requestsPerMinute: 1}"), "",
			[]string{`descriptors[1]: descriptor method="ping",principal="*" is already limited by descriptors[0]`}},
		{"rates", rl("- {key: method, value: a, rateLimit: {requestsPerMinute: 0, burst: -1}}\n- {key: method, value: b, rateLimit: {requestsPerMinute: 1000001, burst: 1000001}}"), "",
			[]string{"descriptors[0].rateLimit.requestsPerMinute: must be greater than 0", "descriptors[0].rateLimit.burst: burst -1 is out of range", "descriptors[1].rateLimit.requestsPerMinute: 1000001 is more than the maximum 1000000", "descriptors[1].rateLimit.burst: burst 1000001 is out of range"}},
		{"redis ok", rl("- {key: principal, rateLimit: {requestsPerMinute: 1}}"),
			"rateLimiting:\n  failureMode: closed\n  replicas: 2\n  redis:\n    address: redis.agent-gateway.svc:6379\n    username: agw\n    passwordFile: /etc/redis/password\n    db: 2\n    tls: {enabled: true, caFile: /etc/redis/ca.crt}\n    timeout: 250ms\n", nil},
		{"redis problems", rl("- {key: principal, rateLimit: {requestsPerMinute: 1}}"),
			"rateLimiting:\n  failureMode: half-open\n  replicas: -1\n  redis:\n    address: redis\n    password: a\n    passwordFile: /p\n    db: -1\n    tls: {caFile: /ca}\n    timeout: 10s\n",
			[]string{`rateLimiting.failureMode: unknown failure mode "half-open" (valid: open, closed)`, "rateLimiting.replicas: must not be negative",
				`rateLimiting.redis.address: "redis" is not host:port`, "rateLimiting.redis.password", "rateLimiting.redis.db: must not be negative",
				"rateLimiting.redis.tls", "rateLimiting.redis.timeout: timeout 10s is out of range 1ms-5s"}},
		{"redis typo", rl("- {key: principal, rateLimit: {requestsPerMinute: 1}}"), "rateLimiting:\n  redis:\n    adress: x:1\n",
			[]string{`rateLimiting.redis.adress: unknown field "adress" (did you mean "address"?)`}},
		{"bad port", rl("- {key: principal, rateLimit: {requestsPerMinute: 1}}"), "rateLimiting:\n  redis:\n    address: redis:0\n",
			[]string{`rateLimiting.redis.address: "redis:0" has an invalid port`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(tt.policies, tt.top)
			lines := []string{}
			if got != "" {
				lines = strings.Split(got, "\n")
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tt.want), got)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d:\n got  %s\n want …%s…", i, lines[i], w)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	local := loadConfig(t, seedPolicy, "")
	w := local.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "t.yaml:11:17: binds[0].listeners[0].routes[0].policies[0]: rate limits are kept in this process's memory") {
		t.Fatalf("local: %v", w)
	}
	replicas := loadConfig(t, seedPolicy, "rateLimiting:\n  replicas: 2\n")
	w = replicas.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "rateLimiting.replicas: rate limits are local to each replica (no rateLimiting.redis): with 2 replicas up to 2 times") {
		t.Fatalf("replicas: %v", w)
	}
	shared := loadConfig(t, seedPolicy, "rateLimiting:\n  replicas: 2\n  redis: {address: \"redis:6379\"}\n")
	if w := shared.Warnings(); len(w) != 0 {
		t.Fatalf("redis: %v", w)
	}
	none := loadConfig(t, "- {type: timeout, timeout: {request: 1s}}", "rateLimiting:\n  replicas: 3\n")
	if w := none.Warnings(); len(w) != 0 {
		t.Fatalf("no limits: %v", w)
	}
}

func BenchmarkPolicyLocal(b *testing.B) {
	cfg, err := config.Parse("b.yaml", []byte(`binds:
  - port: 8080
    listeners:
      - name: l
        routes:
          - name: r
            match: {path: {prefix: /mcp}}
            policies:
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - match: [{key: tool-name, value: execute_code}, {key: principal}]
                      rateLimit: {requestsPerMinute: 1000000}
                    - {key: principal, value: "*", rateLimit: {requestsPerMinute: 1000000}}
            backends:
              - {name: b, type: mcp-http, address: "http://mcp:8000"}
`))
	if err != nil {
		b.Fatal(err)
	}
	cfg.SetDefaults()
	rc := &cfg.Binds[0].Listeners[0].Routes[0]
	p, err := New(context.Background(), &rc.Policies[0], policy.Env{RouteName: "r", Route: rc, Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer p.(*Policy).Cleanup()
	h := p.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	body, _ := mcp.ParseBody([]byte(toolCall(1, "execute_code")))
	// Per-principal buckets over many principals, so that no bucket runs
	// dry however many iterations (and -count runs) the benchmark makes.
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		ctx := policy.WithExchange(r.Context(), &policy.Exchange{Kind: policy.KindMCP, RPC: body})
		ctx = identity.With(ctx, &identity.Principal{Subject: fmt.Sprintf("%s-%d", weatherSA, i)})
		reqs[i] = r.WithContext(ctx)
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.ServeHTTP(w, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestErrors(t *testing.T) {
	e := Exceeded(`method="ping"`, gcra.Limit{PerMinute: 600}, gcra.Result{RetryAfter: 200 * time.Millisecond})
	if e.Status != 429 || e.Header.Get("Retry-After") != "1" || !strings.Contains(e.Message, "retry after 1s") {
		t.Fatalf("%+v", e)
	}
	if e := Exceeded("x", gcra.Limit{PerMinute: 1}, gcra.Result{RetryAfter: 59*time.Second + time.Millisecond}); e.Header.Get("Retry-After") != "60" {
		t.Fatalf("rounding: %+v", e)
	}
	timedOut, cancel := context.WithTimeoutCause(context.Background(), 0, policy.ErrRequestTimeout)
	defer cancel()
	<-timedOut.Done()
	gone, cancel2 := context.WithCancel(context.Background())
	cancel2()
	draining, cancel3 := context.WithCancelCause(context.Background())
	cancel3(policy.ErrDraining)
	other := errors.New("boom")
	for _, tt := range []struct {
		ctx    context.Context
		err    error
		status int
	}{
		{context.Background(), sharedstate.ErrUnavailable, 503},
		{timedOut, context.DeadlineExceeded, 504},
		{gone, context.Canceled, 499},
		{draining, context.Canceled, 503},
		{context.Background(), other, 503},
	} {
		if got := StoreFailed(tt.ctx, "x", tt.err); got.Status != tt.status || !errors.Is(got, tt.err) {
			t.Errorf("%v: %+v, want %d", tt.err, got, tt.status)
		}
	}
}

// A refusal is an audit record of its own (decision rate_limited), so the
// audit stream never shows only the earlier "authz allow" for a call that
// never ran; allowed calls add nothing.
func TestRefusalIsAudited(t *testing.T) {
	cfg := loadConfig(t, seedPolicy, "")
	rc := &cfg.Binds[0].Listeners[0].Routes[0]
	var pc *config.Policy
	for i := range rc.Policies {
		if rc.Policies[i].Type == Type {
			pc = &rc.Policies[i]
		}
	}
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	p, err := New(context.Background(), pc, policy.Env{RouteName: rc.Name, Route: rc, Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.(*Policy).Cleanup() })
	hs := &harness{t: t, pol: p.(*Policy)}
	hs.h = p.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	for i := 1; i <= 10; i++ {
		if err := hs.do(weatherSA, toolCall(i, "execute_code")); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logs.String(), `"audit":true`) {
		t.Fatalf("allowed calls were audited by rate-limit: %s", logs.String())
	}
	logs.Reset()
	if err := hs.do(weatherSA, toolCall(11, "execute_code"), "X-Request-Id", "req-11"); err == nil {
		t.Fatal("11th call allowed")
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &rec); err != nil {
		t.Fatalf("one audit record expected: %v\n%s", err, logs.String())
	}
	for k, want := range map[string]any{"audit": true, "policy": "rate-limit", "decision": "rate_limited", "principal": weatherSA,
		"method": "tools/call", "tool": "execute_code", "status": float64(429), "request_id": "req-11", "level": "INFO", "msg": "rate limit exceeded"} {
		if rec[k] != want {
			t.Errorf("audit record %s = %v, want %v (%s)", k, rec[k], want, logs.String())
		}
	}
}
