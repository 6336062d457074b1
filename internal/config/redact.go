package config

import (
	"net/url"
	"strings"
)

// RedactedURL replaces a whole string that RedactURL could not read.
const RedactedURL = "REDACTED"

// SecretKey reports whether a config field (its yaml name, any case)
// holds a secret itself: names ending in password, secret, token or
// privateKey. Fields naming a file (passwordFile, bearerTokenFile) hold
// paths and are not secrets. Everything that shows a config (validate
// --print, the admin port's /config and /ui) redacts through SecretKey and
// RedactURL, so they agree on what a secret is.
func SecretKey(name string) bool {
	k := strings.ToLower(name)
	for _, s := range []string{"password", "secret", "token", "privatekey"} {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

// RedactURL hides the credentials a URL can carry: the user info's
// password (or a bare user name, often a token), and the values of
// secret-looking query parameters (?access_token=, ?api_key=, ?sig=). A
// string that looks like a URL with credentials but does not parse is
// replaced whole. Anything else is returned as it is.
func RedactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return RedactedURL
		}
		return s
	}
	if u.Host == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED")
		}
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretQuery(k) {
				q[k] = []string{"REDACTED"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// secretQuery reports query parameter names that commonly carry
// credentials.
func secretQuery(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "key", "secret", "password", "passwd", "auth", "sig", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
