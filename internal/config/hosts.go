package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HostPattern is one parsed binds[].allowedHosts entry. Names are kept
// lower-case; IPv6 literals keep their brackets, as they appear in a Host
// header.
type HostPattern struct {
	// Any matches every Host ("*").
	Any bool
	// Host is the exact host ("gateway.example.com", "10.0.0.5",
	// "[::1]"), or with Suffix the domain whose subdomains match
	// (".example.com" for "*.example.com").
	Host   string
	Suffix bool
	// Port restricts the match to one port ("" = any port).
	Port string
}

// ParseHostPattern parses an allowedHosts entry: "*", "name", "name:port",
// "*.domain" or "*.domain:port", where name is a DNS name, an IPv4 address
// or a bracketed IPv6 address. Nothing else is accepted (no scheme, path,
// trailing dot or wildcard elsewhere), so that matching stays a plain
// comparison.
func ParseHostPattern(s string) (HostPattern, error) {
	if s == "*" {
		return HostPattern{Any: true}, nil
	}
	bad := func(why string) (HostPattern, error) {
		return HostPattern{}, fmt.Errorf("allowed host %q %s (want \"name\", \"name:port\", \"*.domain\", an IP address, \"[IPv6]\" or \"*\")", s, why)
	}
	if s == "" {
		return bad("is empty")
	}
	host, port, ok := SplitHostPort(s)
	if !ok {
		return bad("is not host[:port]")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return bad("has an invalid port")
		}
	}
	p := HostPattern{Port: port}
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("is not a valid IPv6 literal")
		}
		p.Host = "[" + a.String() + "]"
		return p, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return bad("must write an IPv6 address in brackets")
		}
		p.Host = a.String()
		return p, nil
	}
	name := strings.ToLower(host)
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		p.Suffix, name = true, rest
	}
	if !validDNSName(name) {
		return bad("is not a valid host name")
	}
	if p.Suffix {
		p.Host = "." + name
	} else {
		p.Host = name
	}
	return p, nil
}

// SplitHostPort splits "host[:port]" as it appears in a Host header or an
// allowedHosts entry: an IPv6 literal keeps its brackets, port is "" when
// absent. ok is false for anything that is not of that form (an empty
// port after ":", an unbracketed IPv6 address, stray brackets).
func SplitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := s[:end+1], s[end+1:]
		if rest == "" {
			return host, "", true
		}
		if rest[0] != ':' || len(rest) == 1 || !allDigits(rest[1:]) {
			return "", "", false
		}
		return host, rest[1:], true
	}
	if strings.ContainsAny(s, "[]") {
		return "", "", false
	}
	host, port, found := strings.Cut(s, ":")
	if !found {
		return s, "", s != ""
	}
	if host == "" || port == "" || !allDigits(port) {
		return "", "", false
	}
	return host, port, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validDNSName accepts labels of letters, digits, hyphens and
// underscores (Docker Compose service names have them), 1-63 characters,
// no leading or trailing hyphen, at most 253 characters, no trailing dot.
func validDNSName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// CanonicalHost splits a Host header value into its canonical host (a
// lower-cased name, an IPv4 address, or a bracketed IPv6 address in its
// shortest form) and port. ok is false when it is none of these.
func CanonicalHost(s string) (host, port string, ok bool) {
	host, port, ok = SplitHostPort(s)
	if !ok {
		return "", "", false
	}
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false
		}
		return "[" + canonicalAddr(a, host[1:len(host)-1]) + "]", port, true
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return "", "", false
		}
		return canonicalAddr(a, host), port, true
	}
	host = strings.ToLower(host)
	if !validDNSName(host) {
		return "", "", false
	}
	return host, port, true
}

// canonicalAddr is a's canonical text, which is s itself (no allocation,
// the common case on every request) when s was canonical already.
func canonicalAddr(a netip.Addr, s string) string {
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == s {
		return s
	}
	return a.String()
}

// Match reports whether the Host header value host (already split into
// its lower-cased host and its port, "" when absent) is allowed by p.
func (p HostPattern) Match(host, port string) bool {
	if p.Any {
		return true
	}
	if p.Port != "" && p.Port != port {
		return false
	}
	if p.Suffix {
		return len(host) > len(p.Host) && strings.HasSuffix(host, p.Host)
	}
	return host == p.Host
}
