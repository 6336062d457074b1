package config

import (
	"strings"
	"testing"
)

// backendHTTP gives base's backend the address addr and, unless
// version is empty, an http block.
func backendHTTP(addr, version string) string {
	s := strings.Replace(base, "address: http://mcp:8000\n", "address: "+addr+"\n", 1)
	if version != "" {
		s += "                http:\n                  version: " + version + "\n"
	}
	return s
}

func TestBackendHTTPVersion(t *testing.T) {
	for _, tc := range []struct {
		name, addr, version string
		want                string // the defaulted version; "" with problem
		problem             string
	}{
		{name: "http default", addr: "http://mcp:8000", want: HTTPVersion1},
		{name: "https default", addr: "https://mcp", want: HTTPVersionAuto},
		{name: "https default upper-case scheme", addr: "HTTPS://mcp", want: HTTPVersionAuto},
		{name: "h2c", addr: "http://mcp:8000", version: "http2", want: HTTPVersion2},
		{name: "h2 over tls", addr: "https://mcp", version: "http2", want: HTTPVersion2},
		{name: "http1 over tls", addr: "https://mcp", version: "http1", want: HTTPVersion1},
		{name: "auto over tls", addr: "https://mcp", version: "auto", want: HTTPVersionAuto},
		{name: "auto over cleartext", addr: "http://mcp:8000", version: "auto",
			problem: `t.yaml:15:28: binds[0].listeners[0].routes[0].backends[0].http.version: auto negotiates the version in the TLS handshake (ALPN) and "http://mcp:8000" is cleartext: use http1, or http2 for cleartext HTTP/2 (h2c) with prior knowledge`},
		{name: "unknown", addr: "http://mcp:8000", version: "h2c",
			problem: `t.yaml:15:28: binds[0].listeners[0].routes[0].backends[0].http.version: unknown HTTP version "h2c" (valid: http1, http2, auto)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := backendHTTP(tc.addr, tc.version)
			got := problems("t.yaml", src)
			if tc.problem != "" {
				if len(got) != 1 || got[0] != tc.problem {
					t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.problem)
				}
				return
			}
			if len(got) > 0 {
				t.Fatalf("problems: %s", strings.Join(got, "\n"))
			}
			c, err := Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDefaults()
			be := c.Binds[0].Listeners[0].Routes[0].Backends[0]
			if be.HTTP == nil || be.HTTP.Version != tc.want {
				t.Fatalf("http = %+v, want version %q", be.HTTP, tc.want)
			}
		})
	}
}
