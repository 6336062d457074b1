package mcp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBodyValid(t *testing.T) {
	type msg struct {
		kind   MessageKind
		id     string // "-" means absent
		method string
		name   string
		params string
	}
	tests := []struct {
		name  string
		body  string
		batch bool
		want  []msg
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false,
			[]msg{{KindRequest, "1", "tools/list", "", ""}}},
		{"string id", `{"jsonrpc":"2.0","id":"abc","method":"ping"}`, false,
			[]msg{{KindRequest, `"abc"`, "ping", "", ""}}},
		{"null id kept", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, false,
			[]msg{{KindRequest, "null", "ping", "", ""}}},
		{"big number id kept verbatim", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}`, false,
			[]msg{{KindRequest, "123456789012345678901234567890", "ping", "", ""}}},
		{"fraction/exponent id", `{"jsonrpc":"2.0","id":-1.5e+300,"method":"ping"}`, false,
			[]msg{{KindRequest, "-1.5e+300", "ping", "", ""}}},
		{"escaped string id kept raw", `{"jsonrpc":"2.0","id":"a\"b\u00e9","method":"ping"}`, false,
			[]msg{{KindRequest, `"a\"b\u00e9"`, "ping", "", ""}}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, false,
			[]msg{{KindNotification, "-", "notifications/initialized", "", ""}}},
		{"result response", `{"jsonrpc":"2.0","id":7,"result":{}}`, false,
			[]msg{{KindResponse, "7", "", "", ""}}},
		{"error response null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}`, false,
			[]msg{{KindResponse, "null", "", "", ""}}},
		{"result null", `{"jsonrpc":"2.0","id":7,"result":null}`, false,
			[]msg{{KindResponse, "7", "", "", ""}}},
		{"tools/call name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"name":"not this"}}}`, false,
			[]msg{{KindRequest, "1", "tools/call", "add", `{"name":"add","arguments":{"name":"not this"}}`}}},
		{"params before method", `{"params":{"arguments":{},"name":"add"},"method":"tools/call","id":1,"jsonrpc":"2.0"}`, false,
			[]msg{{KindRequest, "1", "tools/call", "add", `{"arguments":{},"name":"add"}`}}},
		{"escaped name unescaped", `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"n\u0061me":"a\u0064d"}}`, false,
			[]msg{{KindRequest, "1", "tools/call", "add", `{"n\u0061me":"a\u0064d"}`}}},
		{"prompts/get name", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, false,
			[]msg{{KindRequest, "1", "prompts/get", "greet", `{"name":"greet"}`}}},
		{"resources/read uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b"}}`, false,
			[]msg{{KindRequest, "1", "resources/read", "file:///a b", `{"uri":"file:///a b"}`}}},
		{"resources/subscribe uri", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"x://y"}}`, false,
			[]msg{{KindRequest, "1", "resources/subscribe", "x://y", `{"uri":"x://y"}`}}},
		{"name ignored for other methods", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":5}}`, false,
			[]msg{{KindRequest, "1", "tools/list", "", `{"name":5}`}}},
		{"array params", `{"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]}`, false,
			[]msg{{KindRequest, "1", "x", "", `[1,2]`}}},
		{"unicode method and name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"héllo-🎉\ud83c\udf89"}}`, false,
			[]msg{{KindRequest, "1", "tools/call", "héllo-🎉🎉", `{"name":"héllo-🎉\ud83c\udf89"}`}}},
		{"method case preserved", `{"jsonrpc":"2.0","id":1,"method":"Tools/Call","params":{"name":5}}`, false,
			[]msg{{KindRequest, "1", "Tools/Call", "", `{"name":5}`}}},
		{"lone surrogate allowed outside key/method/name", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":"\ud800"}}`, false,
			[]msg{{KindRequest, "1", "x", "", `{"a":"\ud800"}`}}},
		{"same key in different objects", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":{"a":1},"b":{"a":2}}}`, false,
			[]msg{{KindRequest, "1", "x", "", `{"a":{"a":1},"b":{"a":2}}`}}},
		{"extra members allowed", `{"jsonrpc":"2.0","id":1,"method":"x","_meta":{}}`, false,
			[]msg{{KindRequest, "1", "x", "", ""}}},
		{"whitespace", " \r\n\t{ \"jsonrpc\" : \"2.0\" , \"method\" : \"x\" } \n", false,
			[]msg{{KindNotification, "-", "x", "", ""}}},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"a"}, {"jsonrpc":"2.0","method":"b"} ,{"jsonrpc":"2.0","id":"r","result":1}]`, true,
			[]msg{{KindRequest, "1", "a", "", ""}, {KindNotification, "-", "b", "", ""}, {KindResponse, `"r"`, "", "", ""}}},
		{"batch of one", `[{"jsonrpc":"2.0","id":1,"method":"a"}]`, true,
			[]msg{{KindRequest, "1", "a", "", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := ParseBody([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			if body.Batch != tt.batch {
				t.Errorf("Batch = %v, want %v", body.Batch, tt.batch)
			}
			if len(body.Messages) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(body.Messages), len(tt.want))
			}
			for i, w := range tt.want {
				m := body.Messages[i]
				gotID := "-"
				if m.ID != nil {
					gotID = string(m.ID)
				}
				if m.Kind != w.kind || gotID != w.id || m.Method != w.method || m.Name != w.name || string(m.Params) != w.params {
					t.Errorf("message %d = {%v %s %q %q %s}, want {%v %s %q %q %s}",
						i, m.Kind, gotID, m.Method, m.Name, m.Params, w.kind, w.id, w.method, w.name, w.params)
				}
				if !strings.Contains(tt.body, string(m.Raw)) || m.Raw[0] != '{' || m.Raw[len(m.Raw)-1] != '}' {
					t.Errorf("message %d Raw = %s, not a verbatim object of the body", i, m.Raw)
				}
			}
		})
	}
}

func TestParseBodyInvalid(t *testing.T) {
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)
	tests := []struct {
		name string
		body string
		code int
		id   string // "" means no id echoed
	}{
		{"empty", ``, CodeParseError, ""},
		{"whitespace only", " \n", CodeParseError, ""},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"x"`, CodeParseError, ""},
		{"bad literal", `{"jsonrpc":"2.0","id":tru,"method":"x"}`, CodeParseError, ""},
		{"single quotes", `{'jsonrpc':"2.0"}`, CodeParseError, ""},
		{"trailing comma", `{"jsonrpc":"2.0","id":1,"method":"x",}`, CodeParseError, ""},
		{"leading zero", `{"jsonrpc":"2.0","id":01,"method":"x"}`, CodeParseError, ""},
		{"control char in string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\x01\"}", CodeParseError, ""},
		{"bad escape", `{"jsonrpc":"2.0","id":1,"method":"\x"}`, CodeParseError, ""},
		{"syntax error wins over dup key", `{"id":1,"id":1,"jsonrpc":"2.0"`, CodeParseError, ""},
		{"syntax error wins over bad utf8", "{\"id\":1,\"method\":\"\xff\",", CodeParseError, ""},

		{"missing jsonrpc", `{"id":1,"method":"x"}`, CodeInvalidRequest, "1"},
		// Go's encoding/json (the MCP Go SDK) matches keys case-insensitively,
		// with Unicode folding: these would run a tool other than the one
		// authorized, or a method other than the one routed.
		{"name in another case", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","nAme":"b"}}`, CodeInvalidRequest, "1"},
		{"case variant before name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"b","name":"a"}}`, CodeInvalidRequest, "1"},
		{"uri in another case", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a","Uri":"file:///etc/passwd"}}`, CodeInvalidRequest, "1"},
		{"method in another case", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, CodeInvalidRequest, "1"},
		{"params with long s", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"},\"param\u017f\":{\"name\":\"b\"}}", CodeInvalidRequest, "1"},
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":"a","method":"x"}`, CodeInvalidRequest, `"a"`},
		{"numeric jsonrpc", `{"jsonrpc":2.0,"id":1,"method":"x"}`, CodeInvalidRequest, "1"},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, CodeInvalidRequest, "1"},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, CodeInvalidRequest, "1"},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"x"}`, CodeInvalidRequest, ""},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"x"}`, CodeInvalidRequest, ""},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"x","params":"a"}`, CodeInvalidRequest, "1"},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"x","params":null}`, CodeInvalidRequest, "1"},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"x","result":1}`, CodeInvalidRequest, "1"},
		{"no method result or error", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest, "1"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":1,"error":{}}`, CodeInvalidRequest, "1"},
		{"response without id", `{"jsonrpc":"2.0","result":1}`, CodeInvalidRequest, ""},
		{"error not object", `{"jsonrpc":"2.0","id":1,"error":"x"}`, CodeInvalidRequest, "1"},
		{"top-level string", `"x"`, CodeInvalidRequest, ""},
		{"top-level number", `1`, CodeInvalidRequest, ""},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"x"} {}`, CodeInvalidRequest, "1"},
		{"trailing garbage", `{"jsonrpc":"2.0","id":"z","method":"x"}garbage`, CodeInvalidRequest, `"z"`},
		{"empty batch", `[]`, CodeInvalidRequest, ""},
		{"empty batch ws", ` [ ] `, CodeInvalidRequest, ""},
		{"batch element not object", `[{"jsonrpc":"2.0","id":1,"method":"x"},1]`, CodeInvalidRequest, ""},
		{"batch element invalid", `[{"jsonrpc":"2.0","id":1,"method":"x"},{"jsonrpc":"2.0","id":2}]`, CodeInvalidRequest, ""},
		{"nested batch", `[[{"jsonrpc":"2.0","id":1,"method":"x"}]]`, CodeInvalidRequest, ""},

		{"dup top-level key", `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, CodeInvalidRequest, "1"},
		{"dup key via escape", `{"jsonrpc":"2.0","id":1,"method":"a","m\u0065thod":"b"}`, CodeInvalidRequest, "1"},
		{"dup id is ambiguous, not echoed", `{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`, CodeInvalidRequest, ""},
		{"dup params.name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe","name":"evil"}}`, CodeInvalidRequest, "1"},
		{"dup deeply nested", `{"id":9,"jsonrpc":"2.0","method":"x","params":{"a":[{"b":{"c":1,"c":2}}]}}`, CodeInvalidRequest, "9"},
		{"dup before id still echoes id", `{"params":{"a":1,"a":2},"id":"q","jsonrpc":"2.0","method":"x"}`, CodeInvalidRequest, `"q"`},
		{"dup in large object", `{"jsonrpc":"2.0","id":1,"method":"x","params":{` + manyKeys(40) + `,"k7":0}}`, CodeInvalidRequest, "1"},
		{"dup in batch element", `[{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"a":1}}]`, CodeInvalidRequest, ""},

		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"x","params":` + deep + `}`, CodeInvalidRequest, "1"},
		{"too deep top level", deep, CodeInvalidRequest, ""},
		{"too deep and truncated", strings.Repeat("[", 100), CodeParseError, ""},
		{"far too deep to classify", strings.Repeat("[", 5000), CodeInvalidRequest, ""},

		{"invalid utf8 in method", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\xff\"}", CodeInvalidRequest, "1"},
		{"invalid utf8 in name", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xc3\"}}", CodeInvalidRequest, "1"},
		{"invalid utf8 elsewhere", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xed\xa0\x80\"}}", CodeInvalidRequest, "1"},
		{"overlong utf8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xc0\xaf\"}}", CodeInvalidRequest, "1"},
		{"lone surrogate in method", `{"jsonrpc":"2.0","id":1,"method":"tools/call\ud800"}`, CodeInvalidRequest, "1"},
		{"lone low surrogate in name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\udc00x"}}`, CodeInvalidRequest, "1"},
		{"reversed surrogates in uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"\udc00\ud800"}}`, CodeInvalidRequest, "1"},
		{"lone surrogate in key", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"\ud800":1}}`, CodeInvalidRequest, "1"},

		{"name missing", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, CodeInvalidParams, "1"},
		{"name number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}`, CodeInvalidParams, "1"},
		{"name null", `{"jsonrpc":"2.0","id":"x","method":"prompts/get","params":{"name":null}}`, CodeInvalidParams, `"x"`},
		{"name array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["a"]}}`, CodeInvalidParams, "1"},
		{"params absent", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, CodeInvalidParams, "1"},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["add"]}`, CodeInvalidParams, "1"},
		{"uri number", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":1}}`, CodeInvalidParams, "1"},
		{"name in notification", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":1}}`, CodeInvalidParams, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := ParseBody([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseBody succeeded: %+v", body)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ParseError", err)
			}
			if pe.Code != tt.code {
				t.Errorf("Code = %d (%s), want %d", pe.Code, pe.Message, tt.code)
			}
			if string(pe.ID) != tt.id {
				t.Errorf("ID = %q, want %q", pe.ID, tt.id)
			}
			if pe.Message == "" {
				t.Error("empty Message")
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + itoa(i) + `":0`)
	}
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestParseBodyLargeObjectNoDup(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"method":"x","params":{` + manyKeys(1000) + `,"nested":{` + manyKeys(30) + `}}}`
	if _, err := ParseBody([]byte(body)); err != nil {
		t.Fatal(err)
	}
}

func TestParseBodyDepthBoundary(t *testing.T) {
	// The message object is depth 1, so params may nest 62 more levels.
	mk := func(n int) string {
		return `{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	if _, err := ParseBody([]byte(mk(maxDepth - 1))); err != nil {
		t.Errorf("depth %d rejected: %v", maxDepth, err)
	}
	if _, err := ParseBody([]byte(mk(maxDepth))); err == nil {
		t.Errorf("depth %d accepted", maxDepth+1)
	}
}

func TestParseBodyAllocs(t *testing.T) {
	b := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":[1,2,{"c":"d"}]}}}`)
	n := testing.AllocsPerRun(100, func() {
		if _, err := ParseBody(b); err != nil {
			t.Fatal(err)
		}
	})
	// Body, its slice, the Message and the two strings.
	if n > 6 {
		t.Errorf("ParseBody allocates %v times per call", n)
	}
}

func BenchmarkParseBody(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"text":"` +
		strings.Repeat("lorem ipsum ", 1000) + `","n":[1,2,3]}}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
