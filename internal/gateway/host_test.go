package gateway

import (
	"context"
	"crypto/tls"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

func TestHostPolicy(t *testing.T) {
	loopConn := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	podConn := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}
	tests := []struct {
		name    string
		bind    config.Bind
		local   net.Addr // the connection's local address; nil = unknown
		host    string
		tls     bool
		served  bool
		wantURL string
	}{
		// A loopback bind serves loopback names only, as go-sdk does.
		{"loopback bind, localhost", config.Bind{Address: "127.0.0.1"}, loopConn, "localhost:8080", false, true, "http://localhost:8080"},
		{"loopback bind, LOCALHOST", config.Bind{Address: "127.0.0.1"}, loopConn, "LOCALHOST:8080", false, true, "http://localhost:8080"},
		{"loopback bind, ip", config.Bind{Address: "127.0.0.1"}, loopConn, "127.0.0.1:8080", true, true, "https://127.0.0.1:8080"},
		{"loopback bind, ipv6", config.Bind{Address: "::1"}, nil, "[::1]", false, true, "http://[::1]"},
		{"loopback bind by name", config.Bind{Address: "localhost"}, nil, "localhost", false, true, "http://localhost"},
		{"loopback bind, attacker", config.Bind{Address: "127.0.0.1"}, loopConn, "evil.example", false, false, ""},
		{"loopback bind, attacker, no local addr", config.Bind{Address: "127.0.0.1"}, nil, "evil.example:8080", false, false, ""},
		{"loopback bind, localhost.example", config.Bind{Address: "127.0.0.1"}, loopConn, "localhost.example", false, false, ""},
		{"loopback bind, empty Host", config.Bind{Address: "127.0.0.1"}, loopConn, "", false, false, ""},
		// A wildcard bind reached through loopback: go-sdk's rule.
		{"wildcard bind via loopback, attacker", config.Bind{}, loopConn, "evil.example", false, false, ""},
		{"wildcard bind via loopback, localhost", config.Bind{}, loopConn, "localhost:8080", false, true, "http://localhost:8080"},
		// A wildcard bind reached from the network: served, nothing reflected.
		{"wildcard bind via pod ip", config.Bind{}, podConn, "gw.ns.svc:8080", false, true, ""},
		{"wildcard bind via pod ip, localhost", config.Bind{}, podConn, "localhost", false, true, ""},
		// allowedHosts replaces the defaults.
		{"allowed", config.Bind{AllowedHosts: []string{"gw.example.com"}}, podConn, "GW.Example.com:8443", true, true, "https://gw.example.com:8443"},
		{"allowed, port bound", config.Bind{AllowedHosts: []string{"gw.example.com:8443"}}, podConn, "gw.example.com:9", false, false, ""},
		{"allowed, not listed", config.Bind{AllowedHosts: []string{"gw.example.com"}}, podConn, "evil.example", false, false, ""},
		{"allowed on loopback replaces localhost", config.Bind{Address: "127.0.0.1", AllowedHosts: []string{"gw.example.com"}}, loopConn, "localhost", false, false, ""},
		{"allowed wildcard", config.Bind{AllowedHosts: []string{"*.corp.example"}}, podConn, "a.corp.example", false, true, "http://a.corp.example"},
		{"allowed any", config.Bind{Address: "127.0.0.1", AllowedHosts: []string{"*"}}, loopConn, "Anything.example", false, true, "http://anything.example"},
		{"allowed any, malformed Host", config.Bind{AllowedHosts: []string{"*"}}, podConn, `a"b`, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hp, err := newHostPolicy(&tt.bind)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
			r.Host = tt.host
			if tt.local != nil {
				r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tt.local))
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			served, reflect := hp.check(r)
			base := ""
			if reflect != "" {
				ex := &policy.Exchange{ReflectHost: reflect, TLS: r.TLS != nil}
				base = policy.BaseURL(policy.WithExchange(r.Context(), ex))
			}
			if served != tt.served || base != tt.wantURL {
				t.Errorf("check = %v %q, want %v %q", served, base, tt.served, tt.wantURL)
			}
		})
	}
}

func TestStripClientHeadersUnderscores(t *testing.T) {
	owned := append(append([]string(nil), IdentityHeaders...), "X-Caller")
	in := func() http.Header {
		return http.Header{
			"X-Agent-Identity": {"evil"},
			"X_agent_identity": {"evil"},
			"x_AGENT-identity": {"evil"},
			"X_source_agent":   {"evil"},
			"X_target_agent":   {"evil"},
			"X_caller":         {"evil"},
			"X_custom":         {"kept?"},
			"X-Custom":         {"kept"},
			"Accept":           {"*/*"},
		}
	}
	tests := []struct {
		mode    string
		wantErr bool
		want    []string // remaining names
	}{
		{config.HeadersWithUnderscoresDrop, false, []string{"Accept", "X-Custom"}},
		{config.HeadersWithUnderscoresAllow, false, []string{"Accept", "X-Custom", "X_custom"}},
		{config.HeadersWithUnderscoresReject, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			h := in()
			err := stripClientHeaders(h, owned, tt.mode)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got := slices.Sorted(maps.Keys(h))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("left %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStripClientTrailers(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://x/", nil)
	r.Trailer = http.Header{"X-Agent-Identity": {"evil"}, "X_target_agent": {"evil"}, "X-Ok": {"ok"}, "X_other": {"o"}}
	if err := stripClientTrailers(r, IdentityHeaders, config.HeadersWithUnderscoresAllow); err != nil {
		t.Fatal(err)
	}
	if len(r.Trailer) != 2 || r.Trailer.Get("X-Ok") != "ok" || r.Trailer.Get("X_other") != "o" {
		t.Errorf("trailers left: %v", r.Trailer)
	}
	r.Trailer = http.Header{"X_other": {"o"}}
	if err := stripClientTrailers(r, IdentityHeaders, config.HeadersWithUnderscoresReject); err == nil {
		t.Error("reject: an underscore trailer was accepted")
	}
}

// The Host check costs no allocation for a canonical Host: it runs on
// every request.
func TestHostCheckAllocs(t *testing.T) {
	hp, err := newHostPolicy(&config.Bind{Address: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
	r.Host = "127.0.0.1:8080"
	if n := testing.AllocsPerRun(100, func() {
		if ok, reflect := hp.check(r); !ok || reflect != "127.0.0.1:8080" {
			t.Fatalf("check = %v %q", ok, reflect)
		}
	}); n != 0 {
		t.Errorf("%v allocations per Host check", n)
	}
}
