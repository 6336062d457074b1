package jwt

import (
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:4000", "127.0.0.1"},
		{"10.1.2.3:1", "10.1.2.3"},
		// One IPv6 host usually holds a whole /64: it is one client.
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[::1]:80", "::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := clientKey(tt.addr); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestClientBudget(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newClientBudget(60, 3, 4) // one a second, burst 3, 4 clients
	for i := 0; i < 3; i++ {
		if d := b.take("a", now); d != 0 {
			t.Fatalf("review %d of the burst refused (%v)", i+1, d)
		}
	}
	d := b.take("a", now)
	if d <= 0 || d > time.Second {
		t.Fatalf("past the burst: wait %v, want (0, 1s]", d)
	}
	// Another client is not affected by a's spending.
	if d := b.take("b", now); d != 0 {
		t.Fatalf("another client refused (%v)", d)
	}
	// A refused review costs nothing: a second later a has one again.
	if d := b.take("a", now.Add(time.Second)); d != 0 {
		t.Fatalf("after refill: wait %v", d)
	}
	// Bounded: many clients never grow the map past max.
	for i := 0; i < 100; i++ {
		b.take(string(rune('c'+i)), now)
	}
	if n := len(b.m); n > 4 {
		t.Fatalf("%d clients remembered, max 4", n)
	}
}
