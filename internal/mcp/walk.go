package mcp

import (
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// This file reads into JSON values with the same scanner ParseBody uses,
// so the gateway has one reading of JSON: what policies look up in a
// request's params and what list filters and telemetry read in a
// backend's response is found by the code that validated the body.
//
// The walkers check the grammar of what they pass over (lax mode: no
// UTF-8 or duplicate-key rules, nesting bounded at laxMaxDepth) and never
// panic on malformed input; they report ErrMalformed instead. Responses
// come from backends, which are not held to ParseBody's rules, so the
// reads that decide something (Lookup, ReadList) refuse the ambiguities
// that matter for the members they read rather than the whole body.

// ErrMalformed is returned by the walkers for input that is not JSON.
var ErrMalformed = errors.New("malformed JSON")

// Member is one member of a JSON object: its unescaped key (aliasing the
// buffer when the key has no escapes) and the half-open span [Start, End)
// of its value in the buffer walked. Start is -1 for a member Lookup did
// not find.
type Member struct {
	Key        []byte
	Start, End int
}

// Present reports whether Lookup found the member.
func (m Member) Present() bool { return m.Start >= 0 }

// ValidJSON reports whether b is exactly one JSON value, surrounding
// whitespace aside: the grammar only, with nesting bounded at 512 (a
// deeper response is refused rather than walked). It accepts a subset of
// what encoding/json's Valid accepts.
func ValidJSON(b []byte) bool {
	s := scanner{b: b, lax: true}
	s.ws()
	if s.value(0) != nil {
		return false
	}
	s.ws()
	return s.i == len(b)
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	s := scanner{b: b, i: i}
	s.ws()
	return s.i
}

// Members calls fn for every member of the object starting at b[i]
// (after whitespace), in order, until fn returns false.
func Members(b []byte, i int, fn func(Member) bool) error {
	s := scanner{b: b, i: i, lax: true}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return ErrMalformed
	}
	if s.open('}') {
		return nil
	}
	for {
		if s.i >= len(b) || b[s.i] != '"' {
			return ErrMalformed
		}
		info, err := s.str()
		if err != nil {
			return ErrMalformed
		}
		key := unescape(b, info)
		s.ws()
		if s.i >= len(b) || b[s.i] != ':' {
			return ErrMalformed
		}
		s.i++
		s.ws()
		start := s.i
		if s.value(0) != nil {
			return ErrMalformed
		}
		if !fn(Member{Key: key, Start: start, End: s.i}) {
			return nil
		}
		if more, ok := s.next('}'); !ok {
			return ErrMalformed
		} else if !more {
			return nil
		}
	}
}

// Elements calls fn with the span of every element of the array starting
// at b[i] (after whitespace), in order, until fn returns false.
func Elements(b []byte, i int, fn func(start, end int) bool) error {
	s := scanner{b: b, i: i, lax: true}
	s.ws()
	if s.i >= len(b) || b[s.i] != '[' {
		return ErrMalformed
	}
	if s.open(']') {
		return nil
	}
	for {
		start := s.i
		if s.value(0) != nil {
			return ErrMalformed
		}
		if !fn(start, s.i) {
			return nil
		}
		if more, ok := s.next(']'); !ok {
			return ErrMalformed
		} else if !more {
			return nil
		}
	}
}

// AmbiguousError reports an object in which a member the gateway reads is
// present twice, or under a spelling that a case-insensitive decoder takes
// for it: encoding/json, and so Go backends and clients such as the MCP Go
// SDK, match member names to fields with Unicode case folding, so "Name",
// "NAME" and "nam\u212a"-style spellings all fill the field name, and the
// last one wins.
type AmbiguousError struct {
	Key  string // the member as spelled
	Want string // the member the gateway reads
}

func (e *AmbiguousError) Error() string {
	if e.Key == e.Want {
		return "member " + QuoteName(e.Want) + " appears more than once"
	}
	return "member " + QuoteName(e.Key) + " is ambiguous with " + QuoteName(e.Want) + " (member names are case-sensitive)"
}

// MaxLookup is the most members one Lookup can find.
const MaxLookup = 6

// Found holds the members a Lookup found, in the order asked for.
type Found [MaxLookup]Member

// Lookup finds the members named in want (exact bytes) in the object at
// b[i]. A wanted name present twice, or any member whose name equals a
// wanted name under Unicode case folding without being byte-identical, is
// an *AmbiguousError: the gateway and the reader of the same bytes could
// otherwise see different values.
//
// On objects inside a body ParseBody accepted, duplicates cannot occur
// (ParseBody refuses them at any depth), nor case variants of the members
// it captures (see Message); Lookup then adds the case-folding check for
// the members a policy reads deeper in params.
func Lookup(b []byte, i int, want ...string) (Found, error) {
	var f Found
	if len(want) > MaxLookup {
		panic("mcp: Lookup of too many members")
	}
	for k := range f {
		f[k].Start = -1
	}
	var amb *AmbiguousError
	err := Members(b, i, func(m Member) bool {
		for k, w := range want {
			if string(m.Key) == w {
				if f[k].Start >= 0 {
					amb = &AmbiguousError{w, w}
					return false
				}
				f[k] = m
			} else if equalFold(m.Key, w) {
				amb = &AmbiguousError{string(m.Key), w}
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

// String returns the decoded string at b[m.Start:m.End], or ok=false when
// the value is absent, not a string, or holds invalid UTF-8: decoders
// differ on such bytes (encoding/json replaces them with U+FFFD, others
// pass them through or refuse), so no decision can rest on them. Unpaired
// surrogate escapes decode to U+FFFD, as encoding/json decodes them.
func String(b []byte, m Member) (string, bool) {
	if m.Start < 0 || m.Start >= len(b) || b[m.Start] != '"' {
		return "", false
	}
	s := scanner{b: b, i: m.Start}
	info, err := s.str()
	if err != nil || s.i != m.End {
		return "", false
	}
	return string(unescape(b, info)), true
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

// QuoteName quotes a name read off the wire (a method, tool, URI or
// member) for error messages and logs, truncated to a readable length.
// Every non-ASCII character is escaped (\u0430, \u200b), so look-alike,
// zero-width and full-width names stay distinguishable from the names they
// imitate.
func QuoteName(s string) string {
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
