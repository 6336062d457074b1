package mcpauthz

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The helpers in this file walk JSON that is already known to be valid
// (mcp.ParseBody validated request bodies; response bodies are checked with
// json.Valid first). They never allocate for keys without escapes and
// never panic on malformed input: they report errMalformed instead.

var errMalformed = errors.New("malformed JSON")

// member is one member of a JSON object: its unescaped key (aliasing the
// buffer when the key has no escapes) and the span of its value in the
// object's enclosing buffer.
type member struct {
	key        []byte
	start, end int
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string literal starting at
// b[i] == '"', and whether it contains escapes.
func skipString(b []byte, i int) (int, bool, error) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc, nil
		}
	}
	return 0, false, errMalformed
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		e, _, err := skipString(b, i)
		return e, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, _, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errMalformed
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, errMalformed
				}
				return j, nil
			}
			j++
		}
		if j == i {
			return 0, errMalformed
		}
		return j, nil
	}
}

// unquote returns the contents of the string literal lit; without escapes
// the result aliases lit.
func unquote(lit []byte, esc bool) ([]byte, error) {
	if len(lit) < 2 || lit[0] != '"' {
		return nil, errMalformed
	}
	if !esc {
		return lit[1 : len(lit)-1], nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, errMalformed
	}
	return []byte(s), nil
}

// forEachMember calls fn for every member of the object starting at b[i]
// (after whitespace), in order. fn returning false stops the walk.
func forEachMember(b []byte, i int, fn func(m member) bool) error {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return errMalformed
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errMalformed
		}
		ke, esc, err := skipString(b, i)
		if err != nil {
			return err
		}
		key, err := unquote(b[i:ke], esc)
		if err != nil {
			return err
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return errMalformed
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return err
		}
		if !fn(member{key: key, start: vs, end: ve}) {
			return nil
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return errMalformed
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] != ',' {
			return errMalformed
		}
		i = skipWS(b, i+1)
	}
}

// forEachElement calls fn with the span of every element of the array
// starting at b[i] (after whitespace).
func forEachElement(b []byte, i int, fn func(start, end int) bool) error {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '[' {
		return errMalformed
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		e, err := skipValue(b, i)
		if err != nil {
			return err
		}
		if !fn(i, e) {
			return nil
		}
		i = skipWS(b, e)
		if i >= len(b) {
			return errMalformed
		}
		if b[i] == ']' {
			return nil
		}
		if b[i] != ',' {
			return errMalformed
		}
		i = skipWS(b, i+1)
	}
}

// errAmbiguous reports an object in which a member the gateway reads is
// present twice, or is present under a spelling that a case-insensitive
// decoder (Go's encoding/json folds case and Unicode, so "Name", "NAME" and
// "paramſ" match the fields name and params) would take for it.
type errAmbiguous struct{ key, want string }

func (e *errAmbiguous) Error() string {
	if e.key == e.want {
		return "member " + quoteTrunc(e.want) + " appears more than once"
	}
	return "member " + quoteTrunc(e.key) + " is ambiguous with " + quoteTrunc(e.want) + " (member names are case-sensitive)"
}

// maxLookup is the most members one lookup can find.
const maxLookup = 6

// found holds the members a lookup found, in the order asked for; start
// is -1 for a member that is absent.
type found [maxLookup]member

// lookup finds the members named in want (exact bytes) in the object at
// b[i]. Any member whose name equals a wanted name under Unicode case
// folding without being byte-identical, or a wanted name present twice, is
// an *errAmbiguous.
func lookup(b []byte, i int, want ...string) (found, error) {
	var f found
	if len(want) > maxLookup {
		panic("mcpauthz: lookup of too many members")
	}
	for k := range f {
		f[k].start = -1
	}
	var amb *errAmbiguous
	err := forEachMember(b, i, func(m member) bool {
		for k, w := range want {
			if string(m.key) == w {
				if f[k].start >= 0 {
					amb = &errAmbiguous{w, w}
					return false
				}
				f[k] = m
			} else if equalFold(m.key, w) {
				amb = &errAmbiguous{string(m.key), w}
				return false
			}
		}
		return true
	})
	if err != nil {
		return f, err
	}
	if amb != nil {
		return f, amb
	}
	return f, nil
}

// equalFold is strings.EqualFold(string(b), s) without converting b: equal
// under simple Unicode case folding, the rule encoding/json uses to match
// member names to struct fields.
func equalFold(b []byte, s string) bool {
	// ASCII-only names of different lengths never fold together; only
	// non-ASCII letters (K, ſ) change the byte length.
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for i := 0; ascii && i < len(s); i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii && len(b) != len(s) {
		return false
	}
	for len(b) > 0 && len(s) > 0 {
		r1, n1 := utf8.DecodeRune(b)
		r2, n2 := utf8.DecodeRuneInString(s)
		b, s = b[n1:], s[n2:]
		if r1 == r2 {
			continue
		}
		if r2 < r1 {
			r1, r2 = r2, r1
		}
		r := unicode.SimpleFold(r1)
		for r != r1 && r < r2 {
			r = unicode.SimpleFold(r)
		}
		if r != r2 {
			return false
		}
	}
	return len(b) == len(s)
}

// stringValue returns the string at b[m.start:m.end], or ok=false when the
// value is not a string.
func stringValue(b []byte, m member) (string, bool) {
	if m.start < 0 || m.start >= len(b) || b[m.start] != '"' {
		return "", false
	}
	_, esc, err := skipString(b, m.start)
	if err != nil {
		return "", false
	}
	s, err := unquote(b[m.start:m.end], esc)
	return string(s), err == nil
}

// quoteTrunc quotes s for messages and logs, truncated to a readable
// length. Every non-ASCII character is escaped (\u0430, \u200b), so
// look-alike, zero-width and full-width names stay distinguishable from the
// names they imitate.
func quoteTrunc(s string) string {
	const max = 128
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut--
		}
		return strconv.QuoteToASCII(s[:cut]) + "…"
	}
	return strconv.QuoteToASCII(s)
}
