package a2a

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPushPolicyDefault(t *testing.T) {
	var p PushPolicy
	tests := []struct {
		url  string
		ok   bool
		want string // part of the reason when refused
	}{
		{"https://hooks.example.com/a2a/push?x=1", true, ""},
		{"http://hooks.example.com:8443/p", true, ""},
		{"HTTPS://Hooks.Example.COM./p", true, ""},
		{"https://93.184.215.14/p", true, ""},
		{"https://[2606:4700::1111]/p", true, ""},
		// Metadata, in every spelling of 169.254.169.254.
		{"http://169.254.169.254/latest/meta-data/", false, "link-local"},
		{"http://2852039166/", false, "link-local"},
		{"http://0xa9fea9fe/", false, "link-local"},
		{"http://0251.0376.0251.0376/", false, "link-local"},
		{"http://0xa9.0xfe.0xa9.0xfe/", false, "link-local"},
		{"http://169.254.43518/", false, "link-local"},
		{"http://169.16689662/", false, "link-local"},
		{"http://[::ffff:169.254.169.254]/", false, "link-local"},
		{"http://[::ffff:a9fe:a9fe]/", false, "link-local"},
		{"http://[64:ff9b::a9fe:a9fe]/", false, "link-local"},
		{"http://[2002:a9fe:a9fe::1]/", false, "link-local"},
		{"http://[fe80::1]/", false, "link-local"},
		// Loopback, private, CGNAT, unspecified.
		{"http://127.0.0.1:8080/", false, "loopback"},
		{"http://127.1/", false, "loopback"},
		{"http://0x7f000001/", false, "loopback"},
		{"http://017700000001/", false, "loopback"},
		{"http://[::1]/", false, "loopback"},
		{"http://10.0.0.7/", false, "private"},
		{"http://172.16.3.4/", false, "private"},
		{"http://192.168.1.1/", false, "private"},
		{"http://[fd00::1]/", false, "private"},
		{"http://100.64.0.1/", false, "CGNAT"},
		{"http://0.0.0.0/", false, "unspecified"},
		{"http://0/", false, "unspecified"},
		{"http://[::]/", false, "unspecified"},
		{"http://224.0.0.1/", false, "multicast"},
		{"http://255.255.255.255/", false, "reserved"},
		// Names that are obviously internal.
		{"http://localhost/", false, "single-label"},
		{"http://LOCALHOST./", false, "single-label"},
		{"http://app.localhost/", false, "internal"},
		{"http://metadata/", false, "single-label"},
		{"http://metadata.google.internal/", false, "internal"},
		{"http://redis.default.svc/", false, "internal"},
		{"http://redis.default.svc.cluster.local/", false, "internal"},
		{"http://printer.local/", false, "internal"},
		// Not canonical: refused.
		{"http://256.1.1.1/", false, "IPv4"},
		{"http://1.2.3.4.5/", false, "IPv4"},
		{"http://09.1.1.1/", false, "IPv4"},
		{"http://example.0x/", false, "IPv4"},
		{"http://1.2.3.0x1g/", true, ""}, // a name: its last label is no number
		{"http://user@hooks.example.com/", false, "user"},
		{"http://hooks.example.com@169.254.169.254/", false, "user"},
		{`http://hooks.example.com\@169.254.169.254/`, false, "backslash"},
		{"http://hooks.example.com /", false, "whitespace"},
		{"http://[fe80::1%25eth0]/", false, "zone"},
		{"http://%31%32%37.0.0.1/", false, "valid URL"},
		{"http://%6c%6f%63%61%6c%68%6f%73%74/", false, "valid URL"},
		{"http://hooks.example.com:0/", false, "port"},
		{"http://hooks.example.com:/", false, "port"},
		{"http://hooks.example.com:99999/", false, "port"},
		{"http://hoöks.example.com/", false, "non-ASCII"},
		{"http://hooks_x.example.com/", false, "host name"},
		{"http://a..b/", false, "host name"},
		{"/relative", false, "absolute"},
		{"mailto:a@example.com", false, "absolute"},
		{"", false, "absolute"},
		// Schemes.
		{"ftp://hooks.example.com/", false, "scheme"},
		{"file:///etc/passwd", false, "absolute"},
		{"gopher://hooks.example.com/", false, "scheme"},
	}
	for _, tt := range tests {
		err := p.Check(tt.url)
		if tt.ok {
			if err != nil {
				t.Errorf("Check(%q) = %v, want allowed", tt.url, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Check(%q) allowed", tt.url)
		} else if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%q) = %v, want a reason with %q", tt.url, err, tt.want)
		}
	}
}

func TestPushPolicyAllowList(t *testing.T) {
	p := PushPolicy{
		Schemes:      []string{"https"},
		AllowedHosts: []string{"hooks.example.com", "*.push.example.org", "10.0.5.7"},
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
	}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/x", true},
		{"https://HOOKS.example.com./x", true},
		{"https://a.push.example.org/x", true},
		{"https://a.b.push.example.org/x", true},
		{"https://push.example.org/x", false}, // *.domain is below the domain only
		{"https://evilpush.example.org/x", false},
		{"https://other.example.com/x", false},
		{"https://93.184.215.14/x", false},    // public, but not listed
		{"https://10.0.5.7/x", true},          // listed IP, though private
		{"https://012.0.5.7/x", true},         // same IP, octal first part
		{"https://10.0.5.8/x", false},         // private and not listed
		{"https://192.168.10.9/x", true},      // allowedCIDRs
		{"https://192.168.11.9/x", false},     // outside
		{"http://hooks.example.com/x", false}, // scheme
		{"https://localhost/x", false},
	}
	for _, tt := range tests {
		if err := p.Check(tt.url); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
	internal := PushPolicy{AllowInternalNames: true}
	if err := internal.Check("http://hooks.default.svc.cluster.local/x"); err != nil {
		t.Errorf("allowInternalNames: %v", err)
	}
	if err := internal.Check("http://127.0.0.1/x"); err == nil {
		t.Error("allowInternalNames let a loopback IP through")
	}
	off := PushPolicy{Off: true}
	if err := off.Check("http://169.254.169.254/"); err != nil {
		t.Errorf("off: %v", err)
	}
}

func TestPushURLs(t *testing.T) {
	tests := []struct {
		name, method string
		rpc          bool
		body         string
		want         []string
		bad          bool
	}{
		{"0.3 set", MethodPushSet, true, `{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/set","params":{"taskId":"t","pushNotificationConfig":{"url":"http://a/"}}}`, []string{"http://a/"}, false},
		{"1.0 create", MethodPushSet, true, `{"jsonrpc":"2.0","id":1,"method":"CreateTaskPushNotificationConfig","params":{"taskId":"t","config":{"pushNotificationConfig":{"url":"http://b/"}}}}`, []string{"http://b/"}, false},
		{"1.0 flat", MethodPushSet, true, `{"jsonrpc":"2.0","id":1,"method":"CreateTaskPushNotificationConfig","params":{"task_id":"t","url":"http://c/"}}`, []string{"http://c/"}, false},
		{"folded names", MethodPushSet, true, `{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/set","Paramſ":{"PUSHNOTIFICATIONCONFIG":{"URL":"http://d/","uRl":"http://e/"}}}`, []string{"http://d/", "http://e/"}, false},
		{"rest set", MethodPushSet, false, `{"pushNotificationConfig":{"url":"http://f/"}}`, []string{"http://f/"}, false},
		{"send", MethodSend, true, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"parts":[{"kind":"data","data":{"url":"http://in-the-message/"}}]},"configuration":{"pushNotificationConfig":{"url":"http://g/"}}}}`, []string{"http://g/"}, false},
		{"send snake", MethodStream, true, `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"configuration":{"push_notification_config":{"url":"http://h/"}}}}`, []string{"http://h/"}, false},
		{"rest send", MethodSend, false, `{"message":{},"configuration":{"pushNotificationConfig":{"url":"http://i/"}}}`, []string{"http://i/"}, false},
		{"send without push", MethodSend, true, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"parts":[{"kind":"file","file":{"url":"http://x/"}}]}}}`, nil, false},
		{"not a string", MethodPushSet, true, `{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/set","params":{"pushNotificationConfig":{"url":["http://j/"]}}}`, nil, true},
		{"other method", MethodTasksGet, true, `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"url":"http://k/"}}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PushURLs(tt.method, tt.rpc, []byte(tt.body))
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("PushURLs = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzPushURL checks the push-URL canonicalizer: an accepted URL has a
// canonical host that is stable (canonicalizing it again changes
// nothing), and an IP host the default policy accepts is in no refused
// range whichever way it was spelled.
func FuzzPushURL(f *testing.F) {
	for _, s := range []string{
		"http://169.254.169.254/", "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/",
		"http://[::ffff:169.254.169.254]/", "https://hooks.example.com:8443/p?q=1",
		"http://127.1/", "http://a@b/", "http://[fe80::1%25x]/", "http://1.2.3.4.5/",
	} {
		f.Add(s)
	}
	var p PushPolicy
	f.Fuzz(func(t *testing.T, raw string) {
		u, host, err := ParsePushURL(raw)
		if err != nil {
			return
		}
		again, err := CanonicalPushHost(host, strings.Contains(host, ":"))
		if err != nil || again != host {
			t.Fatalf("canonical host %q of %q re-canonicalizes to %q, %v", host, raw, again, err)
		}
		if p.Check(raw) != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("scheme %q accepted", u.Scheme)
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if deniedAddr(ip) != "" || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
				t.Fatalf("%q (%s) accepted", raw, ip)
			}
		} else if internalName(host) != "" {
			t.Fatalf("internal name %q accepted", host)
		}
	})
}
