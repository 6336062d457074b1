package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// PushPolicy decides which push-notification URLs a caller may hand an
// agent (docs/a2a.md#push-notification-urls). An agent POSTs task updates
// to the URL it is given, from inside the cluster: without a check, any
// caller allowed to reach an agent could make it call the cloud metadata
// service or a cluster-internal address.
//
// The zero value is the default policy: http and https only, IP literals
// in loopback, link-local, private, shared (CGNAT), unspecified, multicast
// and reserved ranges refused, host names allowed unless they are
// obviously internal. The gateway does not resolve names (it could not
// stop the agent's own resolver from answering differently: DNS
// rebinding); operators who need strictness set AllowedHosts.
type PushPolicy struct {
	// Off disables the check.
	Off bool
	// Schemes are the allowed URL schemes, lower case; empty means http
	// and https.
	Schemes []string
	// AllowedHosts lists host names ("hooks.example.com"), wildcard
	// subdomains ("*.example.com": any name below example.com, not
	// example.com itself) and IP literals. When set, only these hosts (and
	// IPs in AllowedCIDRs) are accepted. Entries must be in canonical form
	// (CanonicalPushHost).
	AllowedHosts []string
	// AllowedCIDRs are IP ranges accepted even inside the refused ranges
	// (a webhook receiver at 10.0.5.7).
	AllowedCIDRs []netip.Prefix
	// AllowInternalNames accepts names such as localhost, *.svc or
	// single-label names when AllowedHosts is empty.
	AllowInternalNames bool
}

// PushURLError refuses a push-notification URL; Reason is safe to show to
// the caller.
type PushURLError struct {
	URL    string
	Reason string
}

func (e *PushURLError) Error() string {
	return fmt.Sprintf("push notification url %q refused: %s", e.URL, e.Reason)
}

// Check reports why raw may not be used as a push-notification URL, or
// nil.
func (p *PushPolicy) Check(raw string) error {
	if p == nil || p.Off {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return &PushURLError{URL: raw, Reason: fmt.Sprintf(format, args...)}
	}
	u, host, err := ParsePushURL(raw)
	if err != nil {
		return refuse("%v", err)
	}
	schemes := p.Schemes
	if len(schemes) == 0 {
		schemes = []string{"http", "https"}
	}
	if !contains(schemes, u.Scheme) {
		return refuse("scheme %q is not allowed (allowed: %s)", u.Scheme, strings.Join(schemes, ", "))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if contains(p.AllowedHosts, host) {
			return nil
		}
		for _, c := range p.AllowedCIDRs {
			if c.Contains(ip) {
				return nil
			}
		}
		if what := deniedAddr(ip); what != "" {
			return refuse("%s is a %s address", host, what)
		}
		if len(p.AllowedHosts) > 0 {
			return refuse("host %s is not in allowedHosts", host)
		}
		return nil
	}
	if hostAllowed(p.AllowedHosts, host) {
		return nil
	}
	if len(p.AllowedHosts) > 0 {
		return refuse("host %s is not in allowedHosts", host)
	}
	if !p.AllowInternalNames {
		if what := internalName(host); what != "" {
			return refuse("host %s is %s", host, what)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hostAllowed(allowed []string, host string) bool {
	for _, a := range allowed {
		if suffix, ok := strings.CutPrefix(a, "*"); ok {
			// "*.example.com": a name below example.com.
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if a == host {
			return true
		}
	}
	return false
}

// ParsePushURL parses a push-notification URL into its URL and its
// canonical host (CanonicalPushHost). Everything URL parsers disagree on
// is refused rather than guessed: userinfo ("http://a@b"), backslashes,
// whitespace and control characters, non-ASCII, percent-encoding or a zone
// in the host, an empty or non-numeric port, and a relative or opaque URL.
func ParsePushURL(raw string) (*url.URL, string, error) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return nil, "", errors.New("the url has whitespace, a control character, a backslash or non-ASCII")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", errors.New("not a valid URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return nil, "", errors.New("not an absolute URL with a host")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, "", errors.New("user information in the url is not allowed")
	}
	if strings.Contains(u.Host, "%") {
		return nil, "", errors.New("percent-encoding or a zone in the host is not allowed")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, "", errors.New("invalid port")
		}
	}
	host, err := CanonicalPushHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if err != nil {
		return nil, "", err
	}
	return u, host, nil
}

// CanonicalPushHost returns the canonical form of a URL host: an IP
// literal in any form a resolver or URL parser accepts (dotted decimal,
// a single decimal number, octal and hex parts, shortened forms such as
// 127.1, IPv4-mapped IPv6) becomes its netip string (IPv4 for a mapped
// address), a name becomes lower case without a trailing dot. bracketed
// says the host was written in brackets (an IPv6 literal). A host that
// cannot be made canonical is refused.
func CanonicalPushHost(h string, bracketed bool) (string, error) {
	if bracketed {
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", errors.New("invalid IPv6 literal")
		}
		return ip.Unmap().String(), nil
	}
	h = strings.ToLower(h)
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", errors.New("invalid host")
	}
	labels := strings.Split(h, ".")
	if numericLabel(labels[len(labels)-1]) {
		// As the WHATWG URL parser (and inet_aton, which many HTTP
		// clients' resolvers end up in) decide: a host whose last label
		// is a number is an IPv4 address, or nothing.
		ip, ok := parseIPv4Any(labels)
		if !ok {
			return "", errors.New("host looks like an IPv4 address but is not one")
		}
		return ip.String(), nil
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", errors.New("invalid host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", errors.New("invalid host name")
			}
		}
	}
	return h, nil
}

func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		for i := 0; i < len(rest); i++ {
			if !isHex(rest[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// parseIPv4Any parses the inet_aton forms of an IPv4 address: one to four
// parts, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes.
func parseIPv4Any(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v = v<<8 | n
			continue
		}
		rem := 4 - i // bytes the last part fills
		if n >= 1<<(8*rem) {
			return netip.Addr{}, false
		}
		v = v<<(8*rem) | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Part(p string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(p, "0x"):
		p, base = p[2:], 16
		if p == "" {
			return 0, false
		}
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	if p == "" || len(p) > 32 {
		return 0, false
	}
	n, err := strconv.ParseUint(p, base, 32)
	return n, err == nil
}

type deniedRange struct {
	p    netip.Prefix
	what string
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// deniedRanges are the address ranges a push URL may not name unless
// allowedCIDRs or allowedHosts lists them.
var deniedRanges = []deniedRange{
	{mustPrefix("0.0.0.0/8"), "unspecified (this-network)"},
	{mustPrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{mustPrefix("100.64.0.0/10"), "shared (CGNAT, RFC 6598)"},
	{mustPrefix("127.0.0.0/8"), "loopback"},
	{mustPrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{mustPrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{mustPrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{mustPrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{mustPrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{mustPrefix("224.0.0.0/4"), "multicast"},
	{mustPrefix("240.0.0.0/4"), "reserved"},
	{mustPrefix("::/128"), "unspecified"},
	{mustPrefix("::1/128"), "loopback"},
	{mustPrefix("::/96"), "reserved (IPv4-compatible)"},
	{mustPrefix("64:ff9b:1::/48"), "private (local-use NAT64)"},
	{mustPrefix("100::/64"), "reserved (discard)"},
	{mustPrefix("2001::/32"), "reserved (Teredo)"},
	{mustPrefix("fc00::/7"), "private (unique local, RFC 4193)"},
	{mustPrefix("fe80::/10"), "link-local"},
	{mustPrefix("fec0::/10"), "private (site-local)"},
	{mustPrefix("ff00::/8"), "multicast"},
}

var (
	nat64     = mustPrefix("64:ff9b::/96")
	sixToFour = mustPrefix("2002::/16")
)

// deniedAddr names the refused range ip is in, or "". An IPv6 address
// that embeds an IPv4 address a translator would reach (NAT64
// 64:ff9b::/96, 6to4 2002::/16) is judged by that IPv4 address too.
func deniedAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, r := range deniedRanges {
		if r.p.Contains(ip) {
			return r.what
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 [4]byte
		switch {
		case nat64.Contains(ip):
			copy(v4[:], b[12:16])
		case sixToFour.Contains(ip):
			copy(v4[:], b[2:6])
		default:
			return ""
		}
		if what := deniedAddr(netip.AddrFrom4(v4)); what != "" {
			return what + " (embedded in IPv6)"
		}
	}
	return ""
}

// internalName says why a host name is obviously internal, or "".
func internalName(h string) string {
	if !strings.Contains(h, ".") {
		return "a single-label name (resolved by the agent's search domains)"
	}
	for _, s := range []string{"localhost", "local", "internal", "svc", "lan", "localdomain", "home.arpa", "intranet", "corp"} {
		if h == s || strings.HasSuffix(h, "."+s) {
			return "an internal name (." + s + ")"
		}
	}
	return ""
}

// PushURLs returns every push-notification URL an A2A request hands the
// agent: for a push-config create (canonical MethodPushSet) every url
// member at any depth of its parameters, for message/send and
// message/stream every url member inside their configuration (where
// pushNotificationConfig lives). rpc says body is a JSON-RPC request
// whose parameters are its params member; otherwise body is an HTTP+JSON
// request body. Member names match in any spelling a decoder accepts
// (Unicode case folding, snake_case; cardKey), so no spelling of a URL
// escapes the check. A url member that is not a string or null is
// refused. body has passed mcp.CheckJSON.
func PushURLs(method string, rpc bool, body []byte) ([]string, error) {
	if method != MethodPushSet && method != MethodSend && method != MethodStream {
		return nil, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var root any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&root); err != nil {
		return nil, err
	}
	var roots []any
	if rpc {
		if m, ok := root.(map[string]any); ok {
			for k, v := range m {
				if cardKey(k) == keyParams {
					roots = append(roots, v)
				}
			}
		}
	} else {
		roots = []any{root}
	}
	var urls []string
	var bad error
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if cardKey(k) == keyURL {
					switch s := x.(type) {
					case string:
						urls = append(urls, s)
					case nil:
					default:
						bad = errors.New("a push notification url is not a string")
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, r := range roots {
		if method == MethodPushSet {
			walk(r)
			continue
		}
		if m, ok := r.(map[string]any); ok {
			for k, v := range m {
				if cardKey(k) == keyConfiguration {
					walk(v)
				}
			}
		}
	}
	return urls, bad
}

var (
	keyParams        = foldKey("params")
	keyConfiguration = foldKey("configuration")
)
