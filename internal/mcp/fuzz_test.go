package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func FuzzParseBody(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":"x","result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///\u00e9"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"\ud83c\udf89"}}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"x\ud800"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
		`[]`, `[[[[`, `{"a":`, `"x"`, ` `, `{"jsonrpc":"2.0","id":1,"method":"x"} {}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := ParseBody(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ParseError", err)
			}
			switch pe.Code {
			case CodeParseError, CodeInvalidRequest, CodeInvalidParams:
			default:
				t.Fatalf("unexpected code %d", pe.Code)
			}
			if pe.ID != nil && !json.Valid(pe.ID) {
				t.Fatalf("echoed id %q is not JSON", pe.ID)
			}
			if pe.Code == CodeParseError && json.Valid(b) {
				t.Fatalf("Parse error for valid JSON %q", b)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if len(body.Messages) == 0 {
			t.Fatal("no messages")
		}
		for _, m := range body.Messages {
			if !json.Valid(m.Raw) {
				t.Fatalf("Raw %q is not valid JSON", m.Raw)
			}
			again, err := ParseBody(m.Raw)
			if err != nil {
				t.Fatalf("re-parsing Raw %q: %v", m.Raw, err)
			}
			if again.Batch || len(again.Messages) != 1 {
				t.Fatalf("Raw %q did not re-parse as one message", m.Raw)
			}
			r := again.Messages[0]
			if r.Method != m.Method || !bytes.Equal(r.ID, m.ID) || r.Kind != m.Kind || r.Name != m.Name {
				t.Fatalf("re-parse differs: %+v vs %+v", r, m)
			}
			// What the gateway authorizes on must be what encoding/json
			// (standing in for the backend) reads.
			var std struct {
				Method *string `json:"method"`
				Params *struct {
					Name *string `json:"name"`
					URI  *string `json:"uri"`
				} `json:"params"`
			}
			if err := json.Unmarshal(m.Raw, &std); err == nil && std.Method != nil {
				if *std.Method != m.Method {
					t.Fatalf("method %q, encoding/json reads %q", m.Method, *std.Method)
				}
				if m.Name != "" && std.Params != nil {
					n := std.Params.Name
					if nameParam(m.Method) == pURI {
						n = std.Params.URI
					}
					if n == nil || *n != m.Name {
						t.Fatalf("name %q, encoding/json reads %v", m.Name, n)
					}
				}
			}
		}
	})
}

func FuzzRewriteEvents(f *testing.F) {
	seeds := []string{
		"event: message\ndata: {\"a\":1}\nid: 1\n\n",
		"data: a\r\ndata: b\r\n\r\n: keepalive\r\n\r\n",
		"data: a\rdata: b\r\r",
		"\xef\xbb\xbfretry: 10\n\ndata: partial",
		"event: endpoint\ndata: /mcp/message?sessionId=1\n\n",
		"\r\n\r\r\n\n",
		"id\x00: x\ndata\n\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		// Unchanged events must come out byte for byte, whatever the
		// read sizes.
		var r io.Reader = bytes.NewReader(in)
		if mode&1 != 0 {
			r = iotest.OneByteReader(r)
		}
		if mode&2 != 0 {
			r = iotest.HalfReader(r)
		}
		out, err := io.ReadAll(RewriteEvents(io.NopCloser(r), 0, func(*Event) bool { return false }))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("passthrough changed bytes:\n in  %q\n out %q", in, out)
		}

		// Re-serialising every event must preserve what a client parses.
		var before []Event
		for ev, err := range ParseEvents(bytes.NewReader(in), 0) {
			if err != nil {
				t.Fatal(err)
			}
			before = append(before, *ev)
		}
		out, err = io.ReadAll(RewriteEvents(io.NopCloser(bytes.NewReader(in)), 0, func(*Event) bool { return true }))
		if errors.Is(err, ErrInvalidEvent) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var after []Event
		for ev, err := range ParseEvents(bytes.NewReader(out), 0) {
			if err != nil {
				t.Fatal(err)
			}
			after = append(after, *ev)
		}
		// Blocks holding only unknown fields re-serialise to nothing.
		var want []Event
		for _, ev := range before {
			if ev.HasID || ev.HasData || ev.HasRetry || ev.Event != "" {
				want = append(want, ev)
			}
		}
		if len(after) != len(want) {
			t.Fatalf("events lost: %d -> %d\n in  %q\n out %q", len(want), len(after), in, out)
		}
		for i := range want {
			if after[i] != want[i] {
				t.Fatalf("event %d changed: %+v -> %+v\n in  %q\n out %q", i, want[i], after[i], in, out)
			}
		}

		// Small limits must fail cleanly, never panic.
		_, _ = io.ReadAll(RewriteEvents(io.NopCloser(bytes.NewReader(in)), 8, func(ev *Event) bool {
			ev.Drop = mode&4 != 0
			return true
		}))
	})
}
