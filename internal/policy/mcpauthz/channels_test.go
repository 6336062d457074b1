package mcpauthz

// Unit tests for the channels of issue #14 findings 3, 4 and 11: list
// results filtered by shape on GET streams (standalone, resumed, legacy),
// legacy session endpoints bound when announced and looked up (never
// bound) on POST, and the per-rule budget given back for calls that never
// left the gateway. End-to-end counterparts: test/e2e/authz_channels_test.go.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/identity"
	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate/redistest"
)

// allowKinds allows the named tools, prompts and resource URIs.
func allowKinds(names ...string) func(mcp.List, string) bool {
	set := allowSet(names...)
	return func(_ mcp.List, v string) bool { return set(v) }
}

func TestFilterAnyList(t *testing.T) {
	allow := allowKinds("a", "p", "file:///ok", "file:///ok/{x}")
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{name: "tools", in: `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}`},
		{name: "prompts", in: `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"p"},{"name":"q"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"p"}]}}`},
		{name: "resources", in: `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///ok"},{"uri":"file:///no"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///ok"}]}}`},
		{name: "templates", in: `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///ok/{x}"},{"uriTemplate":"file:///no/{x}"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///ok/{x}"}]}}`},
		{name: "every list in one result", in: `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"b"}],"prompts":[{"name":"q"},{"name":"p"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"prompts":[{"name":"p"}]}}`},
		{name: "cache hints become private", in: `{"jsonrpc":"2.0","id":1,"result":{"ttlMs":5,"cacheScope":"public","tools":[{"name":"a"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"ttlMs":5,"cacheScope":"private","tools":[{"name":"a"}]}}`},
		{name: "batch", in: `[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"b"}]}},{"jsonrpc":"2.0","method":"notifications/progress"}]`,
			want: `[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}},{"jsonrpc":"2.0","method":"notifications/progress"}]`},
		{name: "tool result untouched", in: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"b"}]}}`,
			want: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"b"}]}}`},
		{name: "server request untouched", in: `{"jsonrpc":"2.0","id":"s","method":"roots/list","result":{"tools":[{"name":"b"}]}}`,
			want: `{"jsonrpc":"2.0","id":"s","method":"roots/list","result":{"tools":[{"name":"b"}]}}`},
		{name: "error untouched", in: `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`,
			want: `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`},
		{name: "case-folded list member", in: `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":[{"name":"b"}]}}`, err: true},
		{name: "duplicate result", in: `{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"b"}]}}`, err: true},
		{name: "list not an array", in: `{"jsonrpc":"2.0","id":1,"result":{"prompts":{"name":"q"}}}`, err: true},
		{name: "ambiguous in a batch", in: `[{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"b"}]}}]`, err: true},
		{name: "invalid JSON", in: `{"jsonrpc":"2.0","id":1,"result":{"tools":[`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := filterAnyList([]byte(tt.in), allow)
			if tt.err {
				if !errors.Is(err, errUnfilterable) {
					t.Fatalf("err = %v, want errUnfilterable (out %s)", err, out)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", out, err, tt.want)
			}
		})
	}
}

func sseResponse(stream string) *http.Response {
	res := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(stream))}
	res.Header.Set("Content-Type", "text/event-stream")
	return res
}

func TestStreamFilter(t *testing.T) {
	var bound []string
	f := &listFilter{stream: true, allow: allowKinds("a"), endpoint: func(data string) error {
		bound = append(bound, data)
		return nil
	}}
	stream := "event: endpoint\ndata: /gw/sse?sessionid=1\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"tools\":[],\"TOOLS\":[{\"name\":\"b\"}]}}\n\n"
	res := sseResponse(stream)
	if err := f.hook(res); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "event: endpoint\ndata: /gw/sse?sessionid=1\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"a\"}]}}\n\n"
	if !strings.HasPrefix(string(got), want) {
		t.Fatalf("got:\n%s\nwant prefix:\n%s", got, want)
	}
	// The ambiguous response is replaced by an error answering its id.
	if rest := string(got[len(want):]); strings.Contains(rest, `"b"`) || !strings.Contains(rest, `"id":4`) || !strings.Contains(rest, "-32000") {
		t.Fatalf("unfilterable event became %q", rest)
	}
	if len(bound) != 1 || bound[0] != "/gw/sse?sessionid=1" {
		t.Fatalf("bound %v", bound)
	}

	// An endpoint that cannot be bound ends the stream without it.
	f.endpoint = func(string) error { return errors.New("taken") }
	res = sseResponse(stream)
	if err := f.hook(res); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(res.Body)
	if err == nil || len(got) != 0 {
		t.Fatalf("stream after a failed binding: %q, %v; want nothing and an error", got, err)
	}
}

// A tools/call counted by the rule's rateLimit is refunded when the
// chain after mcp-authz refuses it, and stays counted once it went
// upstream.
func TestRefusedCallIsRefunded(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer upstream.Close()
	p := &Policy{
		route:    "r",
		rules:    compileRules([]Rule{{Principal: "alice", AllowedTools: []string{"*"}, RateLimit: &config.RateValue{RequestsPerMinute: 2}}}),
		log:      slog.New(slog.DiscardHandler),
		sessions: sharedstate.NewMemorySessions(10, 10, time.Hour),
		limiter:  sharedstate.NewLocalStore(gcra.NewLocal(0)),
	}
	refuse := p.Wrap(policy.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		return &policy.Error{Status: http.StatusTooManyRequests, Message: "refused by a later policy"}
	}))
	forward := p.Wrap(policy.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		// What the gateway's proxy does when it starts an upstream attempt.
		policy.ExchangeFrom(r.Context()).SentUpstream.Store(true)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.URL, nil)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			res.Body.Close()
		}
		return err
	}))
	serve := func(h policy.Handler) error {
		body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`)
		rpc, err := mcp.ParseBody(body)
		if err != nil {
			t.Fatal(err)
		}
		ex := &policy.Exchange{Method: http.MethodPost, Body: body, RPC: rpc}
		ctx := identity.With(policy.WithExchange(context.Background(), ex), &identity.Principal{Subject: "alice"})
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(string(body))).WithContext(ctx)
		r.Header.Set("Content-Type", "application/json")
		return h.ServeHTTP(httptest.NewRecorder(), r)
	}
	for i := 0; i < 5; i++ {
		if err := serve(refuse); err == nil || !strings.Contains(err.Error(), "later policy") {
			t.Fatalf("refused call %d: %v", i, err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := serve(forward); err != nil {
			t.Fatalf("forwarded call %d after refused ones: %v (refused calls were counted)", i, err)
		}
	}
	var pe *policy.Error
	if err := serve(forward); !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests || pe.Code != policy.CodeRateLimited {
		t.Fatalf("third forwarded call: %v, want mcp-authz's 429", err)
	}
}

// Through Redis (two replicas, one count): a refund gives the call back
// to every replica, and a lookup sees another replica's binding without
// ever creating one.
func TestSharedRefundAndLookup(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := redisStore(t, srv.Addr(), sharedstate.FailOpen), redisStore(t, srv.Addr(), sharedstate.FailOpen)
	lim := gcra.Limit{PerMinute: 2}
	for _, l := range []*sharedstate.Store{a, b} {
		if r, err := l.Allow(ctx, "k", lim); !r.Allowed || err != nil {
			t.Fatalf("burst refused: %v", err)
		}
	}
	if r, _ := a.Allow(ctx, "k", lim); r.Allowed {
		t.Fatal("third call allowed")
	}
	if err := a.Refund(ctx, "k", lim); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Allow(ctx, "k", lim); !r.Allowed || err != nil {
		t.Fatalf("refunded call not available on the other replica: %v", err)
	}
	if r, _ := b.Allow(ctx, "k", lim); r.Allowed {
		t.Fatal("a refund gave back more than one call")
	}

	sa, sb := newShared(t, srv.Addr(), sharedstate.FailOpen), newShared(t, srv.Addr(), sharedstate.FailOpen)
	if got, err := sb.Lookup(ctx, "legacy-1", "mallory"); err != nil || got != "" {
		t.Fatalf("Lookup of an unbound id = %q, %v", got, err)
	}
	if got, _ := sa.Claim(ctx, "legacy-1", "alice"); got != "alice" {
		t.Fatalf("Claim after a Lookup = %q: the lookup bound the id", got)
	}
	if got, err := sb.Lookup(ctx, "legacy-1", "mallory"); err != nil || got != "alice" {
		t.Fatalf("Lookup on the other replica = %q, %v; want alice", got, err)
	}
}
