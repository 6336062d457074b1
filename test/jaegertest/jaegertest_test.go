package jaegertest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A response of Jaeger's /api/traces, trimmed.
const sample = `{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"bbbbbbbbbbbbbbbb","operationName":"tools/call","references":[{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"aaaaaaaaaaaaaaaa"}],"startTime":1700000000000100,"duration":50,"tags":[{"key":"gen_ai.tool.name","type":"string","value":"browser_navigate"}],"processID":"p2"},
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"aaaaaaaaaaaaaaaa","operationName":"POST /mcp","references":[{"refType":"FOLLOWS_FROM","traceID":"00000000000000000000000000000001","spanID":"0000000000000001"}],"startTime":1700000000000000,"duration":1500,"tags":[{"key":"span.kind","type":"string","value":"server"},{"key":"http.response.status_code","type":"int64","value":200},{"key":"ok","type":"bool","value":true},{"key":"ratio","type":"float64","value":0.25}],"processID":"p1"}],
 "processes":{"p1":{"serviceName":"agent-gateway","tags":[{"key":"service.version","type":"string","value":"0.11"}]},"p2":{"serviceName":"mcp-backend","tags":[]}}}]}`

func TestConvert(t *testing.T) {
	var r tracesResponse
	dec := json.NewDecoder(bytes.NewReader([]byte(sample)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	ts := r.convert()
	if len(ts) != 1 || len(ts[0].Spans) != 2 {
		t.Fatalf("%+v", ts)
	}
	srv, be := ts[0].Span("POST /mcp"), ts[0].Span("tools/call")
	if srv == nil || be == nil || &ts[0].Spans[0] != srv {
		t.Fatalf("spans not found or not in start order: %s", summary(ts))
	}
	if srv.ServiceName != "agent-gateway" || srv.ProcessTags["service.version"] != "0.11" || be.ServiceName != "mcp-backend" {
		t.Errorf("processes: %+v %+v", srv, be)
	}
	if srv.ParentSpanID != "" || be.ParentSpanID != srv.SpanID {
		t.Errorf("parents %q %q", srv.ParentSpanID, be.ParentSpanID)
	}
	if len(srv.References) != 1 || srv.References[0].RefType != "FOLLOWS_FROM" {
		t.Errorf("references %+v", srv.References)
	}
	for k, v := range map[string]string{"span.kind": "server", "http.response.status_code": "200", "ok": "true", "ratio": "0.25"} {
		if srv.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, srv.Tags[k], v)
		}
	}
	if srv.Duration != 1500*time.Microsecond || !srv.StartTime.Equal(time.UnixMicro(1700000000000000)) {
		t.Errorf("times %v %v", srv.StartTime, srv.Duration)
	}
}

func TestConfigLoopbackOnly(t *testing.T) {
	c := config(1, 2, 3, 4, 5)
	for _, line := range strings.Split(c, "\n") {
		if strings.Contains(line, "endpoint:") && !strings.Contains(line, "127.0.0.1:") {
			t.Errorf("not loopback: %s", line)
		}
	}
	if !strings.Contains(c, "level: none") {
		t.Error("internal metrics endpoint not disabled")
	}
}

func TestBinEnv(t *testing.T) {
	t.Setenv("JAEGER_BIN", "/x/jaeger")
	if Bin() != "/x/jaeger" {
		t.Error(Bin())
	}
	t.Setenv("JAEGER_BIN", "")
	t.Setenv("JAEGER_BIN_DIR", "/y")
	if Bin() != "/y/jaeger" {
		t.Error(Bin())
	}
	t.Setenv("JAEGER_BIN_DIR", "")
	if !strings.HasSuffix(Bin(), "/.cache/jaeger/bin/jaeger") {
		t.Error(Bin())
	}
}
