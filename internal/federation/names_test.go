package federation

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNamesResolve(t *testing.T) {
	n := NewNames("_", []string{"weather", "cal", ""})
	tests := []struct {
		name  string
		i     int
		inner string
		ok    bool
	}{
		{"weather_get_forecast", 0, "get_forecast", true},
		{"cal_list", 1, "list", true},
		{"calendar_x", 2, "calendar_x", true}, // "cal" + "_" does not start it
		{"plain", 2, "plain", true},
		{"weather_", 0, "", true},
	}
	for _, tt := range tests {
		i, inner, ok := n.Resolve(tt.name)
		if i != tt.i || inner != tt.inner || ok != tt.ok {
			t.Errorf("Resolve(%q) = %d, %q, %v; want %d, %q, %v", tt.name, i, inner, ok, tt.i, tt.inner, tt.ok)
		}
	}
	if _, _, ok := NewNames("_", []string{"a", "b"}).Resolve("c_x"); ok {
		t.Error("a name no prefix claims resolved without an empty-prefix backend")
	}
	if n.Owns(2, "weather_x") {
		t.Error("the empty-prefix backend owns a name another prefix claims")
	}
	if !n.Owns(0, "cal_x") {
		t.Error("a prefixed backend does not own its own name")
	}
}

// validPrefixes mirrors config.Validate's rule: no prefix, with the
// separator, starts another; at most one empty prefix.
func validPrefixes(sep string, ps []string) bool {
	empty := 0
	for i, p := range ps {
		if p == "" {
			empty++
			continue
		}
		for j, q := range ps {
			if i != j && q != "" && strings.HasPrefix(q+sep, p+sep) {
				return false
			}
		}
	}
	return empty <= 1 && sep != ""
}

func FuzzNames(f *testing.F) {
	f.Add("_", "weather,cal,", "get_forecast", 0)
	f.Add("_", "a,a_b", "b_x", 0)
	f.Add(".", "x,", "x.y", 1)
	f.Fuzz(func(t *testing.T, sep, prefixes, name string, i int) {
		ps := strings.Split(prefixes, ",")
		if len(ps) > 8 || !validPrefixes(sep, ps) || i < 0 {
			return
		}
		i %= len(ps)
		n := NewNames(sep, ps)
		mapped := n.Map(i, name)
		j, inner, ok := n.Resolve(mapped)
		if !n.Owns(i, name) {
			// Only the empty-prefix backend can list a name another
			// prefix claims; lists drop it.
			if ps[i] != "" {
				t.Fatalf("prefixed backend %d does not own %q", i, name)
			}
			return
		}
		if !ok || j != i || inner != name {
			t.Fatalf("Map(%d, %q) = %q resolves to %d, %q, %v", i, name, mapped, j, inner, ok)
		}
		// No two backends' names collide.
		for k := range ps {
			if k != i && n.Owns(k, name) && n.Map(k, name) == mapped {
				t.Fatalf("backends %d and %d both map %q to %q", i, k, name, mapped)
			}
		}
	})
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor([]cursorEntry{{0, "a"}, {2, "next"}}), 3)
	f.Add("", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 64 {
			return
		}
		es, err := decodeCursor(s, n)
		if err != nil {
			return
		}
		again, err := decodeCursor(encodeCursor(es), n)
		if err != nil || len(again) != len(es) {
			t.Fatalf("round trip: %v", err)
		}
		for k := range es {
			if es[k] != again[k] {
				t.Fatalf("round trip: %v != %v", es, again)
			}
		}
	})
}

func FuzzServerID(f *testing.F) {
	f.Add([]byte(`7`), 3)
	f.Add([]byte(`"abc"`), 1)
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		if n <= 0 || n > 256 {
			return
		}
		if _, _, ok := decodeServerID(raw, n); ok && !json.Valid(raw) {
			t.Fatalf("decoded an invalid id %q", raw)
		}
		if !validRawID(raw) {
			return
		}
		i, got, ok := decodeServerID(encodeServerID(n-1, raw), n)
		if !ok || i != n-1 || string(got) != string(raw) {
			t.Fatalf("round trip of %q: %d %q %v", raw, i, got, ok)
		}
	})
}
