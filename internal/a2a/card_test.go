package a2a

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRewriteCardFolding: every spelling of a URL-bearing member that a
// client's decoder reads as that member is rewritten, and a card whose
// object has two members that fold to one name is refused
// (docs/a2a.md#card-integrity).
func TestRewriteCardFolding(t *testing.T) {
	const gw = "https://gw/agents/a"
	rewrite := func(u string) (string, bool) { return GatewayURL(u, "", gw) }
	tests := []struct {
		name, card string
		refuse     bool
	}{
		{"long s alone", `{"url":"http://b/","additionalInterfaceſ":[{"url":"http://evil/"}]}`, false},
		{"long s 1.0", `{"supportedInterfaceſ":[{"url":"http://evil/"}]}`, false},
		{"case in an interface url", `{"url":"http://b/","supportedInterfaces":[{"url":"http://b/"}],"additionalInterfaces":[{"uRl":"http://evil/"}]}`, false},
		{"snake case", `{"url":"http://b/","supported_interfaces":[{"url":"http://evil/"}]}`, false},
		{"long s next to the real member", `{"url":"http://b/","additionalInterfaces":[{"url":"http://b/"}],"additionalInterfaceſ":[{"url":"http://evil/"}]}`, true},
		{"long s 1.0 next to the real member", `{"supportedInterfaces":[{"url":"http://b/"}],"supportedInterfaceſ":[{"url":"http://evil/"}]}`, true},
		{"kelvin sign collision", `{"name":"a","Kind":"x","kind":"y"}`, true},
		{"url twice in an interface", `{"supportedInterfaces":[{"url":"http://b/","URL":"http://evil/"}]}`, true},
		{"exact duplicate", `{"url":"http://b/","url":"http://evil/"}`, true},
		{"collision deep inside", `{"url":"http://b/","capabilities":{"extensions":[{"uri":"a","URI":"b"}]}}`, true},
		{"trailing value", `{"url":"http://b/"} {"url":"http://evil/"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteCard([]byte(tt.card), rewrite)
			if tt.refuse {
				if err == nil {
					t.Fatalf("accepted: %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "evil") {
				t.Fatalf("backend URL left: %s", out)
			}
			// What a Go client (encoding/json, folding names) reads.
			var card struct {
				URL  string                 `json:"url"`
				Add  []struct{ URL string } `json:"additionalInterfaces"`
				Supp []struct{ URL string } `json:"supportedInterfaces"`
			}
			if err := json.Unmarshal(out, &card); err != nil {
				t.Fatal(err)
			}
			for _, i := range append(card.Add, card.Supp...) {
				if !strings.HasPrefix(i.URL, gw) {
					t.Errorf("interface %q", i.URL)
				}
			}
		})
	}
	if err := CheckCardKeys([]byte(strings.Repeat("[", 65) + strings.Repeat("]", 65))); err == nil {
		t.Error("deep card accepted")
	}
}

func TestRewriteCardResult(t *testing.T) {
	const gw = "https://gw/agents/a"
	rewrite := func(u string) (string, bool) { return GatewayURL(u, "", gw) }
	tests := []struct {
		name, in string
		refuse   bool
		same     bool
	}{
		{"result", `{"jsonrpc":"2.0","id":1,"result":{"url":"http://evil/","additionalInterfaces":[{"url":"http://evil/x"}]}}`, false, false},
		{"folded result", `{"jsonrpc":"2.0","id":1,"Reſult":{"url":"http://evil/"}}`, false, false},
		{"error", `{"jsonrpc":"2.0","id":1,"error":{"code":-32007,"message":"not configured"}}`, false, true},
		{"two results", `{"jsonrpc":"2.0","id":1,"result":{"url":"http://b/"},"RESULT":{"url":"http://evil/"}}`, true, false},
		{"result not a card", `{"jsonrpc":"2.0","id":1,"result":[1]}`, true, false},
		{"result url grpc", `{"jsonrpc":"2.0","id":1,"result":{"url":"grpc://evil:1"}}`, true, false},
		{"not an object", `[]`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteCardResult([]byte(tt.in), rewrite)
			if tt.refuse {
				if err == nil {
					t.Fatalf("accepted: %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.same && string(out) != tt.in {
				t.Errorf("changed: %s", out)
			}
			if strings.Contains(string(out), "evil") {
				t.Errorf("backend URL left: %s", out)
			}
			if !json.Valid(out) {
				t.Errorf("not JSON: %s", out)
			}
		})
	}
}
