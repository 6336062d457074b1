package federation

import (
	"encoding/json"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

func TestStripMeta(t *testing.T) {
	body, err := mcp.ParseBody([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"c"},"progressToken":"p"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := body.Messages[0]
	if !sessionless(m) {
		t.Fatal("a 2026-07-28 request is not sessionless")
	}
	out, info, err := stripMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(info) != `{"name":"c"}` || out.Name != "a_t" || string(out.Params) != `{"_meta":{"progressToken":"p"},"name":"a_t"}` {
		t.Fatalf("stripped %s, client info %s", out.Params, info)
	}
}

// FuzzResultType: whatever a backend answers, adding resultType keeps a
// JSON object a JSON object with resultType "complete", and leaves
// anything else unchanged.
func FuzzResultType(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"tools":[]}`))
	f.Add([]byte(` { "a" : 1 } `))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil {
			return
		}
		out := withResultType(b)
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q became invalid: %q", b, out)
		}
		if _, had := obj["resultType"]; !had && string(got["resultType"]) != `"complete"` {
			t.Fatalf("%q: resultType %s", out, got["resultType"])
		}
	})
}
