package mcp

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	// maxDepth bounds container nesting in strict mode. MCP and A2A
	// payloads are shallow; deep nesting only serves to exhaust the stacks
	// of recursive parsers downstream.
	maxDepth = 64
	// laxMaxDepth bounds the recursion of the lax re-scan, which runs only
	// on rejected bodies to pick the error code. Past it the body stays an
	// Invalid Request even if it is also malformed further in; the bound
	// keeps hostile bodies from growing goroutine stacks.
	laxMaxDepth = 512
	// keySetThreshold is the object size above which duplicate detection
	// switches from a linear scan to a map, keeping small objects
	// allocation-free without making large ones quadratic.
	keySetThreshold = 16
)

// scanner is a single-pass JSON validator over an in-memory body. In strict
// mode it enforces the gateway's extra rules (no duplicate keys, valid UTF-8,
// no lone surrogates in keys, bounded depth); lax mode checks only the JSON
// grammar and is used on the error path to tell -32700 from -32600.
type scanner struct {
	b    []byte
	i    int
	lax  bool
	keys [][]byte // unescaped keys of the open objects, innermost last
}

// span is a half-open byte range of a captured value; ok reports presence.
type span struct {
	s, e int
	ok   bool
}

// capture collects the spans of selected top-level members of one object.
// Captured keys are matched after unescaping, because that is what the
// backend's parser will see.
type capture struct {
	keys  []string
	spans [8]span
	count [8]int
	// sub is applied to the value of keys[subIdx] when that value is an
	// object, so nested members are captured in the same pass.
	sub    *capture
	subIdx int
}

func (c *capture) index(key []byte) int {
	for i, k := range c.keys {
		if string(key) == k {
			return i
		}
	}
	return -1
}

// caseVariant reports whether key is a tracked member name in another
// letter case ("Method", "nAme", "paramſ"). encoding/json, and so Go
// backends such as the MCP Go SDK, match keys case-insensitively with
// Unicode folding, so {"name":"a","nAme":"b"} would be authorized as tool
// "a" and run as tool "b".
func (c *capture) caseVariant(key []byte) bool {
	for _, k := range c.keys {
		if string(key) != k && equalFold(key, k) {
			return true
		}
	}
	return false
}

// strInfo describes a scanned string literal; s and e delimit its contents
// without the quotes.
type strInfo struct {
	s, e int
	esc  bool // contains backslash escapes
	lone bool // contains an unpaired surrogate escape
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) depthLimit() int {
	if s.lax {
		return laxMaxDepth
	}
	return maxDepth
}

// value scans one value at s.i; depth counts the containers enclosing it.
func (s *scanner) value(depth int) *ParseError {
	if s.i >= len(s.b) {
		return errSyntax()
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth+1, nil)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return errSyntax()
}

func (s *scanner) lit(want string) *ParseError {
	if !bytes.HasPrefix(s.b[s.i:], []byte(want)) {
		return errSyntax()
	}
	s.i += len(want)
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) number() *ParseError {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return errSyntax()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return errSyntax()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return errSyntax()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// str scans a string literal starting at the opening quote.
func (s *scanner) str() (strInfo, *ParseError) {
	b := s.b
	i := s.i + 1
	info := strInfo{s: i}
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			info.e = i
			s.i = i + 1
			return info, nil
		case c == '\\':
			info.esc = true
			i++
			if i >= len(b) {
				return info, errSyntax()
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				r, ok := hex4(b, i+1)
				if !ok {
					return info, errSyntax()
				}
				i += 5
				if utf16.IsSurrogate(r) {
					if r < 0xdc00 && i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if r2, ok := hex4(b, i+2); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
							i += 6
							continue
						}
					}
					info.lone = true
				}
			default:
				return info, errSyntax()
			}
		case c < 0x20:
			return info, errSyntax()
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 && !s.lax {
				// Parsers differ on invalid UTF-8 (replace, reject, pass
				// through), so no string containing it can be trusted to
				// mean the same thing to the backend.
				return info, invalid("invalid UTF-8 in string")
			}
			i += n
		}
	}
	return info, errSyntax()
}

// unescape returns the decoded contents of the string described by info.
// Without escapes it aliases b; lone surrogates decode to U+FFFD, so
// callers that need a lossless value must check info.lone first.
func unescape(b []byte, info strInfo) []byte {
	raw := b[info.s:info.e]
	if !info.esc {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw, i+1)
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := surrogateTail(raw, i+1); ok && r < 0xdc00 {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
		i++
	}
	return out
}

// surrogateTail reads a `\uDCxx` low surrogate escape at raw[i:].
func surrogateTail(raw []byte, i int) (rune, bool) {
	if i+1 >= len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	r, ok := hex4(raw, i+2)
	return r, ok && r >= 0xdc00 && r <= 0xdfff
}

// object scans an object at s.i; depth is the object's own nesting level.
func (s *scanner) object(depth int, c *capture) *ParseError {
	if depth > s.depthLimit() {
		return invalid("nesting too deep")
	}
	base := len(s.keys)
	var set map[string]struct{}
	if s.open('}') {
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return errSyntax()
		}
		info, err := s.str()
		if err != nil {
			return err
		}
		var key []byte
		if !s.lax || c != nil {
			key = unescape(s.b, info)
		}
		if !s.lax {
			if info.lone {
				// Lone surrogates all decode to U+FFFD in many parsers,
				// which would make distinct keys collide downstream.
				return invalid("unpaired surrogate in object key")
			}
			if set != nil {
				if _, dup := set[string(key)]; dup {
					return invalid("duplicate object key")
				}
				set[string(key)] = struct{}{}
			} else {
				for _, k := range s.keys[base:] {
					if bytes.Equal(k, key) {
						return invalid("duplicate object key")
					}
				}
				s.keys = append(s.keys, key)
				if len(s.keys)-base > keySetThreshold {
					set = make(map[string]struct{}, 2*keySetThreshold)
					for _, k := range s.keys[base:] {
						set[string(k)] = struct{}{}
					}
					s.keys = s.keys[:base]
				}
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errSyntax()
		}
		s.i++
		s.ws()
		idx := -1
		if c != nil {
			idx = c.index(key)
			if idx < 0 && !s.lax && c.caseVariant(key) {
				return invalid("object key differs from a JSON-RPC member only in letter case")
			}
		}
		start := s.i
		if idx >= 0 && idx == c.subIdx && c.sub != nil && s.i < len(s.b) && s.b[s.i] == '{' {
			err = s.object(depth+1, c.sub)
		} else {
			err = s.value(depth)
		}
		if err != nil {
			return err
		}
		if idx >= 0 {
			c.spans[idx] = span{s: start, e: s.i, ok: true}
			c.count[idx]++
		}
		if more, ok := s.next('}'); !ok {
			return errSyntax()
		} else if !more {
			s.keys = s.keys[:base]
			return nil
		}
	}
}

func (s *scanner) array(depth int) *ParseError {
	if depth > s.depthLimit() {
		return invalid("nesting too deep")
	}
	if s.open(']') {
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		if more, ok := s.next(']'); !ok {
			return errSyntax()
		} else if !more {
			return nil
		}
	}
}

// open consumes the opening byte at s.i and the whitespace after it, and
// reports whether closing follows at once (consuming it too): an empty
// object or array.
func (s *scanner) open(closing byte) (empty bool) {
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true
	}
	return false
}

// next consumes what follows a member or element: whitespace, then either
// ',' and whitespace (more) or the closing byte (not more); ok is false
// for anything else.
func (s *scanner) next(closing byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.ws()
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}
