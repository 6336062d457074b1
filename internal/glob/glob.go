// Package glob matches identities, tool names and URIs against the
// authorization rules' patterns (docs/authz.md#globs). mcp-authz and
// a2a-authz share it so a pattern means the same thing in both.
package glob

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Separators of the glob "*" per field (docs/authz.md#globs). Tools and
// prompts have none: "*" matches any characters there.
const (
	SepPrincipal byte = ':'
	SepResource  byte = '/'
	SepNone      byte = 0
)

// Matcher is a compiled list of patterns of one field of a rule.
//
// Pattern syntax, compared as exact bytes (no case folding, no Unicode
// normalisation, no trimming):
//
//   - every character other than '*' matches itself;
//   - "*" matches zero or more characters other than the field's
//     separator (':' in principals, '/' in resource URIs; tools and prompts
//     have no separator, so there "*" matches anything);
//   - "**" matches zero or more of any characters, separators included;
//   - there is no escape, and '?', '[' and ']' are literals.
//
// Runs of three or more '*' are refused by config validation.
type Matcher struct {
	exact map[string]struct{}
	all   bool // a pattern that matches every value
	// prefixes are patterns with one trailing wildcard ("ns:*", "get_*",
	// "file:///docs/**"), the common case, matched without a regexp.
	prefixes []prefixGlob
	res      []*regexp.Regexp
	sep      byte
}

type prefixGlob struct {
	prefix string
	any    bool // "**", or no separator: the rest may hold anything
}

// MustCompile compiles patterns that config validation already accepted
// (UTF-8, no run of three '*'); it panics on others.
func MustCompile(patterns []string, sep byte) *Matcher {
	m, err := Compile(patterns, sep)
	if err != nil {
		panic(err)
	}
	return m
}

// Compile compiles patterns, refusing invalid UTF-8.
func Compile(patterns []string, sep byte) (*Matcher, error) {
	m := &Matcher{exact: map[string]struct{}{}, sep: sep}
	for _, p := range patterns {
		star := strings.IndexByte(p, '*')
		switch {
		case star < 0:
			m.exact[p] = struct{}{}
		case p == "**" || (sep == SepNone && strings.Trim(p, "*") == ""):
			m.all = true
		case strings.Trim(p[star:], "*") == "" && len(p)-star <= 2:
			m.prefixes = append(m.prefixes, prefixGlob{prefix: p[:star], any: len(p)-star == 2 || sep == SepNone})
		default:
			re, err := regexp.Compile(Regexp(p, sep))
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			m.res = append(m.res, re)
		}
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("pattern %q is not valid UTF-8", p)
		}
	}
	return m, nil
}

// Regexp translates a validated glob to an anchored RE2 expression,
// which matches in time linear in the input whatever the pattern.
func Regexp(p string, sep byte) string {
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	for p != "" {
		i := strings.IndexByte(p, '*')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(p))
			break
		}
		b.WriteString(regexp.QuoteMeta(p[:i]))
		p = p[i:]
		n := len(p) - len(strings.TrimLeft(p, "*"))
		p = p[n:]
		if n >= 2 || sep == SepNone {
			b.WriteString(`.*`)
		} else {
			b.WriteString(`[^` + regexp.QuoteMeta(string(rune(sep))) + `]*`)
		}
	}
	b.WriteString(`)\z`)
	return b.String()
}

// Match reports whether v matches any pattern.
func (m *Matcher) Match(v string) bool {
	if m == nil {
		return false
	}
	if m.all {
		return true
	}
	if _, ok := m.exact[v]; ok {
		return true
	}
	for _, pg := range m.prefixes {
		if strings.HasPrefix(v, pg.prefix) && (pg.any || strings.IndexByte(v[len(pg.prefix):], m.sep) < 0) {
			return true
		}
	}
	for _, re := range m.res {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// Empty reports whether the matcher has no pattern at all.
func (m *Matcher) Empty() bool {
	return m == nil || (!m.all && len(m.exact) == 0 && len(m.prefixes) == 0 && len(m.res) == 0)
}
