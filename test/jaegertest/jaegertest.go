// Package jaegertest runs a real Jaeger on loopback for tests: the `jaeger`
// binary (Jaeger v2) of github.com/jaegertracing/jaeger v1.76.0, built
// from the Go module proxy by scripts/jaeger-bin.sh into
// .cache/jaeger/bin/jaeger (run by `make deps`), with in-memory storage.
//
//	j := jaegertest.Start(t)
//	// export spans to j.OTLPGRPC (host:port) or j.OTLPHTTP (http://host:port)
//	traces := j.Traces(t, "agent-gateway")
//
// Every listener binds 127.0.0.1 on a free port: OTLP gRPC and HTTP
// receivers, and the query service (HTTP API and UI at QueryURL, gRPC).
// Jaeger stops when the test ends.
//
// When the binary is missing the test is skipped, except in CI (CI=true),
// where it fails.
package jaegertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// Bounds. Jaeger answers its query API within a second or two of starting
// on 2 cores; the memory store makes an exported span searchable as soon
// as the collector pipeline's batch (100 ms here) is written.
const (
	startTimeout  = 60 * time.Second
	stopTimeout   = 10 * time.Second
	tracesTimeout = 30 * time.Second
	startAttempts = 3
)

// Jaeger is a running Jaeger.
type Jaeger struct {
	// OTLPGRPC is the OTLP/gRPC receiver, host:port (plaintext).
	OTLPGRPC string
	// OTLPHTTP is the OTLP/HTTP receiver, http://host:port (spans go to
	// /v1/traces).
	OTLPHTTP string
	// QueryURL is the query service, http://host:port: the UI and the
	// HTTP API (/api/services, /api/traces).
	QueryURL string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// Bin is the jaeger binary's path: $JAEGER_BIN, else jaeger in
// $JAEGER_BIN_DIR, else .cache/jaeger/bin/jaeger under the main module's
// root.
func Bin() string {
	if b := os.Getenv("JAEGER_BIN"); b != "" {
		return b
	}
	if d := os.Getenv("JAEGER_BIN_DIR"); d != "" {
		return filepath.Join(d, "jaeger")
	}
	rel := filepath.Join(".cache", "jaeger", "bin", "jaeger")
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/agentgateway-go/agentgateway\n")) {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}

// Binary returns Bin() when it is an executable; otherwise it skips the
// test, or fails it in CI.
func Binary(t testing.TB) string {
	t.Helper()
	return testbin.Executable(t, Bin(), "build it with scripts/jaeger-bin.sh (run by `make deps`)")
}

// Start starts Jaeger and waits until its receivers and query API answer.
// It stops Jaeger when the test ends.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	bin := Binary(t)
	var lastErr error
	// A free port found by listening and closing can be taken by someone
	// else before Jaeger binds it: retry with new ports.
	for attempt := 0; attempt < startAttempts; attempt++ {
		j, err := start(t, bin)
		if err == nil {
			return j
		}
		lastErr = err
	}
	t.Fatalf("jaegertest: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Jaeger, error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	grpcPort, httpPort, queryHTTP, queryGRPC, health := ports[0], ports[1], ports[2], ports[3], ports[4]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfg, []byte(config(grpcPort, httpPort, queryHTTP, queryGRPC, health)), 0o600); err != nil {
		return nil, err
	}
	j := &Jaeger{
		OTLPGRPC: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		OTLPHTTP: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		QueryURL: fmt.Sprintf("http://127.0.0.1:%d", queryHTTP),
		logs:     &syncBuffer{},
		done:     make(chan struct{}),
	}
	j.cmd = exec.Command(bin, "--config", cfg)
	j.cmd.Dir = dir
	j.cmd.Stdout = j.logs
	j.cmd.Stderr = j.logs
	// Its own process group, so that stopping it stops nothing else.
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := j.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { _ = j.cmd.Wait(); close(j.done) }()
	if err := j.waitReady(); err != nil {
		j.stop()
		return nil, fmt.Errorf("%w\njaeger output:\n%s", err, j.logs.String())
	}
	t.Cleanup(func() {
		j.stop()
		if t.Failed() {
			t.Logf("jaeger output:\n%s", j.logs.String())
		}
	})
	return j, nil
}

// config is a Jaeger v2 (OpenTelemetry Collector) configuration: the
// all-in-one of cmd/jaeger/internal/all-in-one.yaml reduced to OTLP in,
// memory storage, the query service and a health check, every listener on
// loopback, no internal metrics endpoint (it would bind :8888) and no
// self-tracing (it would export to localhost:4317).
func config(grpcPort, httpPort, queryHTTP, queryGRPC, health int) string {
	return fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:%d
  jaeger_query:
    # Jaeger traces its own queries to localhost:4317 by default.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d

processors:
  batch:
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, health, queryHTTP, queryGRPC, grpcPort, httpPort)
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (j *Jaeger) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	grpcAddr := j.OTLPGRPC
	httpAddr := j.OTLPHTTP[len("http://"):]
	for {
		select {
		case <-j.done:
			return fmt.Errorf("jaeger exited during start-up: %v", j.cmd.ProcessState)
		default:
		}
		if ready(client, j.QueryURL+"/api/services") && dials(grpcAddr) && dials(httpAddr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jaeger not ready after %v", startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(c *http.Client, u string) bool {
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func dials(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// stop sends SIGTERM to Jaeger's process group, then SIGKILL after
// stopTimeout.
func (j *Jaeger) stop() {
	if j.cmd.Process == nil {
		return
	}
	pgid := j.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-j.done
	}
}

// Logs returns what Jaeger wrote so far.
func (j *Jaeger) Logs() string { return j.logs.String() }

// Trace is one trace as the query API returns it.
type Trace struct {
	TraceID string
	Spans   []Span
}

// Span is one span of a Trace.
type Span struct {
	TraceID       string
	SpanID        string
	OperationName string
	// ParentSpanID is the span of the CHILD_OF reference ("" for a root).
	ParentSpanID string
	References   []Reference
	// Tags are the span's attributes, plus span.kind, otel.status_code
	// and the like that Jaeger derives; values are formatted as strings.
	Tags map[string]string
	// ServiceName and ProcessTags are the resource: service.name and the
	// other resource attributes.
	ServiceName string
	ProcessTags map[string]string
	StartTime   time.Time
	Duration    time.Duration
}

// Reference is a span reference: RefType CHILD_OF (the parent) or
// FOLLOWS_FROM (a link).
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Span returns the first span named operation, or nil.
func (tr Trace) Span(operation string) *Span {
	for i := range tr.Spans {
		if tr.Spans[i].OperationName == operation {
			return &tr.Spans[i]
		}
	}
	return nil
}

// Services returns the services Jaeger knows.
func (j *Jaeger) Services(t testing.TB) []string {
	t.Helper()
	var out struct {
		Data []string `json:"data"`
	}
	if err := j.get(context.Background(), "/api/services", &out); err != nil {
		t.Fatalf("jaegertest: %v", err)
	}
	sort.Strings(out.Data)
	return out.Data
}

// Traces polls /api/traces?service=service until at least one trace is
// there, for up to 30 s, and returns them (the test fails otherwise).
func (j *Jaeger) Traces(t testing.TB, service string) []Trace {
	t.Helper()
	return j.TracesWhere(t, service, func(ts []Trace) bool { return len(ts) > 0 })
}

// TracesWhere polls /api/traces?service=service until done accepts the
// traces, for up to 30 s, and returns them. When done never does, the
// test fails with what was found.
func (j *Jaeger) TracesWhere(t testing.TB, service string, done func([]Trace) bool) []Trace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tracesTimeout)
	defer cancel()
	q := url.Values{"service": {service}, "limit": {"1000"}, "lookback": {"1h"}}
	var last []Trace
	var lastErr error
	for {
		ts, err := j.traces(ctx, q)
		if err == nil {
			last = ts
			if done(ts) {
				return ts
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("jaegertest: traces of service %q: condition not met after %v (last error: %v); got %d traces: %s",
				service, tracesTimeout, lastErr, len(last), summary(last))
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TraceByID fetches one trace, polling until it has at least minSpans
// spans (bounded like Traces).
func (j *Jaeger) TraceByID(t testing.TB, traceID string, minSpans int) Trace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tracesTimeout)
	defer cancel()
	var last []Trace
	var lastErr error
	for {
		var resp tracesResponse
		err := j.get(ctx, "/api/traces/"+url.PathEscape(traceID), &resp)
		if err == nil {
			last = resp.convert()
			if len(last) == 1 && len(last[0].Spans) >= minSpans {
				return last[0]
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("jaegertest: trace %s: want %d spans, after %v (last error: %v) got %s",
				traceID, minSpans, tracesTimeout, lastErr, summary(last))
			return Trace{}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func summary(ts []Trace) string {
	var b bytes.Buffer
	for _, tr := range ts {
		fmt.Fprintf(&b, "\n  trace %s:", tr.TraceID)
		for _, s := range tr.Spans {
			fmt.Fprintf(&b, "\n    %s/%s %q parent=%s tags=%v", s.ServiceName, s.SpanID, s.OperationName, s.ParentSpanID, s.Tags)
		}
	}
	return b.String()
}

func (j *Jaeger) traces(ctx context.Context, q url.Values) ([]Trace, error) {
	var resp tracesResponse
	if err := j.get(ctx, "/api/traces?"+q.Encode(), &resp); err != nil {
		return nil, err
	}
	return resp.convert(), nil
}

func (j *Jaeger) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body.Bytes()))
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// The query API's JSON (Jaeger's UI model).
type tracesResponse struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string      `json:"traceID"`
			SpanID        string      `json:"spanID"`
			OperationName string      `json:"operationName"`
			References    []Reference `json:"references"`
			StartTime     int64       `json:"startTime"` // µs
			Duration      int64       `json:"duration"`  // µs
			Tags          []keyValue  `json:"tags"`
			ProcessID     string      `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string     `json:"serviceName"`
			Tags        []keyValue `json:"tags"`
		} `json:"processes"`
	} `json:"data"`
}

type keyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

func tagMap(kvs []keyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		switch v := kv.Value.(type) {
		case string:
			m[kv.Key] = v
		case json.Number:
			m[kv.Key] = v.String()
		case bool:
			m[kv.Key] = strconv.FormatBool(v)
		case nil:
			m[kv.Key] = ""
		default:
			b, _ := json.Marshal(v)
			m[kv.Key] = string(b)
		}
	}
	return m
}

func (r tracesResponse) convert() []Trace {
	out := make([]Trace, 0, len(r.Data))
	for _, d := range r.Data {
		tr := Trace{TraceID: d.TraceID}
		for _, s := range d.Spans {
			p := d.Processes[s.ProcessID]
			sp := Span{
				TraceID:       s.TraceID,
				SpanID:        s.SpanID,
				OperationName: s.OperationName,
				References:    s.References,
				Tags:          tagMap(s.Tags),
				ServiceName:   p.ServiceName,
				ProcessTags:   tagMap(p.Tags),
				StartTime:     time.UnixMicro(s.StartTime),
				Duration:      time.Duration(s.Duration) * time.Microsecond,
			}
			for _, ref := range s.References {
				if ref.RefType == "CHILD_OF" && ref.TraceID == s.TraceID {
					sp.ParentSpanID = ref.SpanID
					break
				}
			}
			tr.Spans = append(tr.Spans, sp)
		}
		sort.Slice(tr.Spans, func(a, b int) bool { return tr.Spans[a].StartTime.Before(tr.Spans[b].StartTime) })
		out = append(out, tr)
	}
	return out
}

// syncBuffer collects Jaeger's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLogBytes = 1 << 20

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < maxLogBytes {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
