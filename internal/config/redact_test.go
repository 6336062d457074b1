package config

import "testing"

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://user:pw@h:1/p", "http://user:REDACTED@h:1/p"},
		{"https://tok@h/p", "https://REDACTED@h/p"},
		{"https://h/p?access_token=abc&x=1", "https://h/p?access_token=REDACTED&x=1"},
		{"https://h/p?x=1", "https://h/p?x=1"},
		{"http://u:p@h:bad port/", RedactedURL},
		{"/etc/file", "/etc/file"},
		{"redis:6379", "redis:6379"},
	} {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for name, want := range map[string]bool{"password": true, "clientSecret": true, "token": true, "privateKey": true,
		"passwordFile": false, "bearerTokenFile": false, "address": false} {
		if SecretKey(name) != want {
			t.Errorf("SecretKey(%q) = %v", name, !want)
		}
	}
}
