package config

import (
	"strings"
	"testing"
)

func TestParseHostPattern(t *testing.T) {
	tests := []struct {
		in   string
		want HostPattern
		err  string
	}{
		{in: "*", want: HostPattern{Any: true}},
		{in: "Gateway.Example.com", want: HostPattern{Host: "gateway.example.com"}},
		{in: "gw.example.com:8443", want: HostPattern{Host: "gw.example.com", Port: "8443"}},
		{in: "*.example.com", want: HostPattern{Host: ".example.com", Suffix: true}},
		{in: "*.example.com:443", want: HostPattern{Host: ".example.com", Suffix: true, Port: "443"}},
		{in: "10.0.0.5", want: HostPattern{Host: "10.0.0.5"}},
		{in: "[0:0::1]:8080", want: HostPattern{Host: "[::1]", Port: "8080"}},
		{in: "my_service", want: HostPattern{Host: "my_service"}},
		{in: "", err: "is empty"},
		{in: "::1", err: "is not host[:port]"},
		{in: "[::1", err: "is not host[:port]"},
		{in: "[10.0.0.1]", err: "IPv6"},
		{in: "[fe80::1%eth0]", err: "IPv6"},
		{in: "h:", err: "is not host[:port]"},
		{in: "h:65536", err: "invalid port"},
		{in: "h:080", err: "invalid port"},
		{in: "https://h", err: "is not host[:port]"},
		{in: "h/x", err: "host name"},
		{in: "a.*.b", err: "host name"},
		{in: "*", want: HostPattern{Any: true}},
		{in: "**.b", err: "host name"},
		{in: "h.", err: "host name"},
		{in: "-h", err: "host name"},
		{in: "user@h", err: "host name"},
	}
	for _, tt := range tests {
		got, err := ParseHostPattern(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseHostPattern(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHostPattern(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestHostPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"*", "anything:1", true},
		{"gw.example.com", "GW.example.com:8080", true},
		{"gw.example.com", "gw.example.com", true},
		{"gw.example.com", "gw.example.com.", false},
		{"gw.example.com", "xgw.example.com", false},
		{"gw.example.com:8443", "gw.example.com:8443", true},
		{"gw.example.com:8443", "gw.example.com", false},
		{"gw.example.com:8443", "gw.example.com:443", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "evilexample.com", false},
		{"[::1]", "[0::1]:9", true},
		{"127.0.0.1", "127.0.0.1:80", true},
	}
	for _, tt := range tests {
		p, err := ParseHostPattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		host, port, ok := CanonicalHost(tt.host)
		if got := ok && p.Match(host, port); got != tt.want {
			t.Errorf("%q matches Host %q = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

// FuzzCanonicalHost checks that an accepted Host is in canonical form: no
// upper case, nothing that could break out of a URL authority, and stable
// when canonicalised again.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"localhost:8080", "[::1]", "127.0.0.1:1", "GW.example.com", "a_b", "[::ffff:1.2.3.4]:9", "evil.com:80@x", "h:", "[::1]x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, ok := CanonicalHost(s)
		if !ok {
			return
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(".-_[]:", c) >= 0) {
				t.Fatalf("CanonicalHost(%q) host %q has %q", s, host, c)
			}
		}
		if port != "" && !allDigits(port) {
			t.Fatalf("CanonicalHost(%q) port %q", s, port)
		}
		again := host
		if port != "" {
			again += ":" + port
		}
		h2, p2, ok2 := CanonicalHost(again)
		if !ok2 || h2 != host || p2 != port {
			t.Fatalf("CanonicalHost(%q) = %q %q, not stable: %q %q %v", s, host, port, h2, p2, ok2)
		}
		// An exact pattern built from an accepted Host matches it.
		if p, err := ParseHostPattern(again); err == nil && !p.Match(host, port) {
			t.Fatalf("pattern %q does not match its own Host", again)
		}
	})
}

func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"": false, "10.0.0.1": false, "localhost.example": false, "kubernetes.default.svc": false, "::": false,
	} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", h, got)
		}
	}
}
