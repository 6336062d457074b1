//lint:file-ignore SA1019 roots, sampling and logging are deprecated from 2026-07-28 (SEP-2577) but still served on sessions, which this test pins and exercises

package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// methodServer is a go-sdk server with a prompt, a resource template, a
// completion handler and tools that log, ask for the client's roots and
// wait to be cancelled: the routed and fanned-out methods
// TestFederationEndToEnd does not cover.
func methodServer(t *testing.T, name string, cancelled chan<- string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{
				Values: []string{name + ":" + req.Params.Ref.Type + ":" + req.Params.Ref.Name + req.Params.Ref.URI + ":" + req.Params.Argument.Value}}}, nil
		},
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user",
			Content: &mcp.TextContent{Text: name + " greets " + req.Params.Arguments["who"]}}}}, nil
	})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "mem://{key}", Name: "mem"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: name + " has " + strings.TrimPrefix(req.Params.URI, "mem://")}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "log"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoArgs) (*mcp.CallToolResult, any, error) {
		// Sent only when the client's logging/setLevel reached this
		// backend: go-sdk drops messages before the first setLevel.
		err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: name + " logged"})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(err)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoArgs) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " roots " + strings.Join(uris, ",")}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "wait"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoArgs) (*mcp.CallToolResult, any, error) {
		select {
		case <-ctx.Done():
			cancelled <- name
		case <-time.After(20 * time.Second):
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

const fedMethodsConfig = `
binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: l
        routes:
          - name: fed
            match:
              path:
                prefix: /mcp
            backends:
              - name: alpha
                type: mcp-http
                address: %s
              - name: beta
                type: mcp-http
                address: %s
`

// TestFederationRoutedMethods: prompts, resource templates, completions,
// logging/setLevel (fanned out, then the backend's log messages relayed),
// a backend's roots/list answered by the client, and a client's
// cancellation reaching the backend that runs the call.
func TestFederationRoutedMethods(t *testing.T) {
	cancelled := make(chan string, 2)
	_, gw := startGateway(t, fedMethodsConfig, methodServer(t, "alpha", cancelled), methodServer(t, "beta", cancelled))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	logs := make(chan string, 4)
	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			logs <- fmt.Sprint(req.Params.Data)
		},
	})
	c.AddRoots(&mcp.Root{URI: "file:///work", Name: "work"})
	// Pinned to a sessionful revision: logging levels and roots/list live in
	// a session (a 2026-07-28 client without sampling or elicitation would
	// be served sessionless; docs/federation.md).
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })

	// Prompts: merged and prefixed, got through the prefix.
	var prompts []string
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p.Name)
	}
	slices.Sort(prompts)
	if want := []string{"alpha_greet", "beta_greet"}; !slices.Equal(prompts, want) {
		t.Fatalf("prompts = %v, want %v", prompts, want)
	}
	gp, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "beta_greet", Arguments: map[string]string{"who": "ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := gp.Messages[0].Content.(*mcp.TextContent).Text; got != "beta greets ada" {
		t.Fatalf("prompt = %q", got)
	}

	// Resource templates: the URI template carries the prefix; a URI of
	// it is read from its backend and comes back prefixed.
	var templates []string
	for rt, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, rt.URITemplate)
	}
	slices.Sort(templates)
	if want := []string{"alpha_mem://{key}", "beta_mem://{key}"}; !slices.Equal(templates, want) {
		t.Fatalf("resource templates = %v, want %v", templates, want)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "alpha_mem://k1"})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Contents[0].Text != "alpha has k1" || rr.Contents[0].URI != "alpha_mem://k1" {
		t.Fatalf("templated resource = %+v", rr.Contents[0])
	}

	// Completions are routed by their reference, the prefix removed.
	comp, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "beta_greet"},
		Argument: mcp.CompleteParamsArgument{Name: "who", Value: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := comp.Completion.Values; len(got) != 1 || got[0] != "beta:ref/prompt:greet:a" {
		t.Fatalf("prompt completion = %v", got)
	}
	comp, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "alpha_mem://{key}"},
		Argument: mcp.CompleteParamsArgument{Name: "key", Value: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := comp.Completion.Values; len(got) != 1 || got[0] != "alpha:ref/resource:mem://{key}:k" {
		t.Fatalf("resource completion = %v", got)
	}

	// logging/setLevel fans out: afterwards both backends' log messages
	// reach the client.
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"alpha_log", "beta_log"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "x"}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != "<nil>" {
			t.Fatalf("%s: %v %+v %s", tool, err, res, res.Content[0].(*mcp.TextContent).Text)
		}
	}
	var got []string
	for len(got) < 2 {
		select {
		case l := <-logs:
			got = append(got, l)
		case <-ctx.Done():
			t.Fatalf("log messages relayed: %v, want one from each backend", got)
		}
	}
	slices.Sort(got)
	if want := []string{"alpha logged", "beta logged"}; !slices.Equal(got, want) {
		t.Fatalf("log messages = %v, want %v", got, want)
	}

	// A backend's roots/list reaches the client, whose answer goes back
	// to the backend that asked.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "beta_roots", Arguments: map[string]any{"text": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "beta roots file:///work" {
		t.Fatalf("roots call = %q", got)
	}

	// The client gives up on a call: the backend running it sees its
	// request cancelled (go-sdk sends notifications/cancelled with the
	// gateway's id, and the gateway ends the backend exchange).
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "alpha_wait", Arguments: map[string]any{"text": "x"}})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the call reach the backend; a late cancel still must arrive
	ccancel()
	select {
	case name := <-cancelled:
		if name != "alpha" {
			t.Fatalf("cancelled on %s, want alpha", name)
		}
	case <-ctx.Done():
		t.Fatal("the backend never saw the cancellation")
	}
	<-done
	if err := cs.Ping(ctx, nil); err != nil {
		t.Fatalf("session after a cancelled call: %v", err)
	}
}
