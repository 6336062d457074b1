package federation

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKeys(t testing.TB, seeds ...byte) *Keys {
	t.Helper()
	var raw [][]byte
	for _, s := range seeds {
		raw = append(raw, bytes.Repeat([]byte{s}, 32))
	}
	k, err := NewKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleSession(now time.Time) *Session {
	return &Session{
		Principal: PrincipalHash("https://issuer", "system:serviceaccount:ns:sa"),
		Expiry:    now.Add(time.Hour).Truncate(time.Second),
		Version:   "2025-06-18",
		Backends: []BackendSession{
			{ID: "backend-one-session", Version: "2025-06-18"},
			{ID: "", Version: "2025-03-26"},
			{Down: true},
		},
	}
}

func TestSessionSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := sampleSession(now)
	k := testKeys(t, 1)
	id, err := k.Seal("tools", s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Open("tools", id, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Principal != s.Principal || !got.Expiry.Equal(s.Expiry) || got.Version != s.Version || len(got.Backends) != 3 ||
		got.Backends[0] != s.Backends[0] || got.Backends[1] != s.Backends[1] || got.Backends[2] != s.Backends[2] {
		t.Fatalf("round trip: got %+v, want %+v", got, s)
	}

	tests := []struct {
		name string
		keys *Keys
		rt   string
		id   string
		now  time.Time
		want error
	}{
		{"other route", k, "other", id, now, ErrSession},
		{"unknown key", testKeys(t, 2), "tools", id, now, ErrSession},
		{"expired", k, "tools", id, s.Expiry, ErrExpired},
		{"rotated: old key still opens", testKeys(t, 2, 1), "tools", id, now, nil},
		{"tampered", k, "tools", flip(id), now, ErrSession},
		{"empty", k, "tools", "", now, ErrSession},
		{"garbage", k, "tools", strings.Repeat("A", 100), now, ErrSession},
		{"not base64", k, "tools", strings.Repeat("*", 100), now, ErrSession},
		{"too long", k, "tools", strings.Repeat("A", maxSealedLen+1), now, ErrSession},
		// The base64 decoder skips CR and LF: an id of newlines used to
		// decode to nothing and panic, and a valid id with one inside
		// was a second spelling of the same session.
		{"only newlines", k, "tools", strings.Repeat("\n", 100), now, ErrSession},
		{"newline inside", k, "tools", id[:10] + "\n" + id[10:], now, ErrSession},
		{"CRLF at the end", k, "tools", id + "\r\n", now, ErrSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.keys.Open(tt.rt, tt.id, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
}

// flip changes one byte of the ciphertext.
func flip(id string) string {
	b, _ := base64.RawURLEncoding.DecodeString(id)
	b[len(b)-5] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestParseKeys(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	keys, err := ParseKeys(strings.NewReader("# new key first\n"+k2+"\n\n"+k1+"\n"), "keys")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	old, _ := testKeys(t, 1).Seal("r", sampleSession(now))
	if _, err := keys.Open("r", old, now); err != nil {
		t.Fatalf("old key does not open: %v", err)
	}
	sealed, _ := keys.Seal("r", sampleSession(now))
	if _, err := testKeys(t, 2).Open("r", sealed, now); err != nil {
		t.Fatalf("first key does not seal: %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "c2hvcnQ=\n", "not base64!\n"} {
		_, err := ParseKeys(strings.NewReader(bad), "keys")
		if err == nil {
			t.Errorf("ParseKeys(%q): no error", bad)
		} else if strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error echoes the key line: %v", err)
		}
	}
}

func BenchmarkSessionSeal(b *testing.B) {
	k := testKeys(b, 1)
	s := sampleSession(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal("tools", s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionOpen(b *testing.B) {
	k := testKeys(b, 1)
	now := time.Now()
	id, _ := k.Seal("tools", sampleSession(now))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open("tools", id, now); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzSessionOpen(f *testing.F) {
	k := testKeys(f, 1)
	now := time.Unix(1_800_000_000, 0)
	id, _ := k.Seal("tools", sampleSession(now))
	f.Add(id)
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, id string) {
		// Never panics; whatever opens re-seals and opens to the same.
		s, err := k.Open("tools", id, now)
		if err != nil {
			return
		}
		again, err := k.Seal("tools", s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := k.Open("tools", again, now)
		if err != nil || s2.Principal != s.Principal || s2.Version != s.Version || len(s2.Backends) != len(s.Backends) {
			t.Fatalf("re-seal: %v", err)
		}
	})
}

func FuzzSessionDecode(f *testing.F) {
	f.Add(sampleSession(time.Unix(1_800_000_000, 0)).appendBinary(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession(b)
		if err != nil {
			return
		}
		if got := s.appendBinary(nil); !bytes.Equal(got, b) {
			t.Fatalf("decode/encode is not the identity:\n%x\n%x", b, got)
		}
	})
}
