package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
)

// The A2A agents behind the gateway in the A2A end-to-end tests: a real
// a2a-go v0.3 agent that runs tasks (send, stream, get, cancel), and a
// small A2A 1.0 agent written from the 1.0 specification, since a2a-go
// v0.3.3 speaks 0.3 only.

// a2aSeen records what reached an agent.
type a2aSeen struct {
	mu   sync.Mutex
	reqs []a2aSeenReq
}

type a2aSeenReq struct {
	Method, Path string
	Header       http.Header
	Body         string
}

func (s *a2aSeen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		s.mu.Lock()
		s.reqs = append(s.reqs, a2aSeenReq{r.Method, r.URL.RequestURI(), r.Header.Clone(), string(b)})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *a2aSeen) all() []a2aSeenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]a2aSeenReq(nil), s.reqs...)
}

func (s *a2aSeen) count() int { return len(s.all()) }

func (s *a2aSeen) last(t *testing.T) a2aSeenReq {
	t.Helper()
	all := s.all()
	if len(all) == 0 {
		t.Fatal("nothing reached the agent")
	}
	return all[len(all)-1]
}

// taskExecutor is a 0.3 agent that creates a task per message. The text
// of the message selects the behaviour:
//
//   - "stream": emits a working update, then waits until the test says the
//     client has received it (gate), then an artifact and the final
//     status: proof that the gateway forwards events one by one;
//   - "wait": stays working until cancelled (or 20 s);
//   - anything else: completes with an artifact.
type taskExecutor struct {
	gate     chan struct{}
	canceled atomic.Int64
}

func textOf(m *a2a.Message) string {
	if m == nil {
		return ""
	}
	var out []string
	for _, p := range m.Parts {
		switch v := p.(type) {
		case a2a.TextPart:
			out = append(out, v.Text)
		case *a2a.TextPart:
			out = append(out, v.Text)
		}
	}
	return strings.Join(out, " ")
}

func (e *taskExecutor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	if rc.StoredTask == nil {
		if err := q.Write(ctx, a2a.NewSubmittedTask(rc, rc.Message)); err != nil {
			return err
		}
	}
	if err := q.Write(ctx, a2a.NewStatusUpdateEvent(rc, a2a.TaskStateWorking, nil)); err != nil {
		return err
	}
	switch textOf(rc.Message) {
	case "stream":
		select {
		case <-e.gate:
		case <-time.After(20 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	case "wait":
		select {
		case <-time.After(20 * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	if err := q.Write(ctx, a2a.NewArtifactEvent(rc, a2a.TextPart{Text: "forecast: sunny"})); err != nil {
		return err
	}
	final := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCompleted, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "done"}))
	final.Final = true
	return q.Write(ctx, final)
}

func (e *taskExecutor) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	e.canceled.Add(1)
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// startAgent03 starts the a2a-go agent named name; its card advertises its
// own address, which the gateway must rewrite.
func startAgent03(t *testing.T, name string, exec *taskExecutor) (string, *a2aSeen) {
	t.Helper()
	seen := &a2aSeen{}
	mux := http.NewServeMux()
	var self string
	card := func() *a2a.AgentCard {
		return &a2a.AgentCard{
			Name: name, Description: name + " (a2a-go 0.3 test agent)", Version: "0.3-test",
			URL: self + "/", PreferredTransport: a2a.TransportProtocolJSONRPC, ProtocolVersion: "0.3.0",
			AdditionalInterfaces: []a2a.AgentInterface{{URL: self + "/", Transport: a2a.TransportProtocolJSONRPC}, {URL: "127.0.0.1:1", Transport: a2a.TransportProtocolGRPC}},
			Capabilities:         a2a.AgentCapabilities{Streaming: true},
			DefaultInputModes:    []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
			Skills: []a2a.AgentSkill{{ID: "s", Name: "s", Description: "s", Tags: []string{"t"}}},
		}
	}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec))
	mux.HandleFunc("GET /.well-known/agent-card.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(card())
	})
	mux.HandleFunc("GET /.well-known/agent.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(card())
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		var probe struct {
			JSONRPC *string `json:"jsonrpc"`
		}
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &probe) == nil && probe.JSONRPC == nil {
			// The seed's {"task": ...}: echo what arrived.
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"agent": name, "body": string(b)})
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		w.Header().Set("Content-Type", "application/json")
		rpc.ServeHTTP(w, r)
	})
	self = serve(t, seen.wrap(mux))
	return self, seen
}

// agent10 is an A2A 1.0 agent (JSON-RPC binding) written from the 1.0
// specification: PascalCase methods, SCREAMING_SNAKE_CASE states,
// member-discriminated stream events, supportedInterfaces in its card.
type agent10 struct {
	mu    sync.Mutex
	tasks map[string]map[string]any
	n     int
	self  string
}

func (a *agent10) card() map[string]any {
	return map[string]any{
		"name":        "GeoSpatial Route Planner Agent",
		"description": "Provides advanced route planning, traffic analysis, and custom map generation services.",
		"version":     "1.2.0",
		"supportedInterfaces": []any{
			map[string]any{"url": a.self + "/a2a/v1", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
			map[string]any{"url": a.self + "/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
			map[string]any{"url": "127.0.0.1:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
		},
		"capabilities":       map[string]any{"streaming": true},
		"defaultInputModes":  []string{"text/plain"},
		"defaultOutputModes": []string{"text/plain"},
		"skills":             []any{map[string]any{"id": "route-optimizer-traffic", "name": "Traffic-Aware Route Optimizer", "description": "Calculates the optimal driving route.", "tags": []string{"maps"}}},
	}
}

func (a *agent10) newTask(state string) map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	id := fmt.Sprintf("task-%d", a.n)
	task := map[string]any{"id": id, "contextId": "ctx-1", "status": map[string]any{"state": state, "timestamp": "2026-11-26T10:00:00.000Z"}}
	a.tasks[id] = task
	return task
}

func (a *agent10) handler() http.Handler {
	a.tasks = map[string]map[string]any{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/agent-card.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.card())
	})
	mux.HandleFunc("POST /a2a/v1", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				ID string `json:"id"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		reply := func(result any) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
		}
		switch req.Method {
		case "SendMessage":
			reply(map[string]any{"task": a.newTask("TASK_STATE_COMPLETED")})
		case "GetTask":
			a.mu.Lock()
			task := a.tasks[req.Params.ID]
			a.mu.Unlock()
			reply(task)
		case "CancelTask":
			a.mu.Lock()
			task := a.tasks[req.Params.ID]
			if task != nil {
				task["status"] = map[string]any{"state": "TASK_STATE_CANCELED"}
			}
			a.mu.Unlock()
			reply(task)
		case "SendStreamingMessage":
			task := a.newTask("TASK_STATE_WORKING")
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			fl := http.NewResponseController(w)
			for _, ev := range []any{
				map[string]any{"task": task},
				map[string]any{"statusUpdate": map[string]any{"taskId": task["id"], "contextId": "ctx-1", "status": map[string]any{"state": "TASK_STATE_WORKING"}}},
				map[string]any{"artifactUpdate": map[string]any{"taskId": task["id"], "contextId": "ctx-1", "artifact": map[string]any{"artifactId": "a1", "parts": []any{map[string]any{"text": "route ok"}}}}},
				map[string]any{"statusUpdate": map[string]any{"taskId": task["id"], "contextId": "ctx-1", "status": map[string]any{"state": "TASK_STATE_COMPLETED"}}},
			} {
				b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": ev})
				fmt.Fprintf(w, "data: %s\n\n", b)
				_ = fl.Flush()
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{"code": -32601, "message": "Method not found"}})
		}
	})
	return mux
}

func startAgent10(t *testing.T) (string, *a2aSeen) {
	t.Helper()
	a := &agent10{}
	seen := &a2aSeen{}
	h := a.handler()
	var once sync.Once
	url := serve(t, seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) })))
	once.Do(func() { a.self = url })
	return url, seen
}

// sseEvents reads the data lines of an SSE body, calling each as it
// arrives.
func sseEvents(t *testing.T, body io.Reader, each func(data string)) {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			each(d)
		}
	}
}
