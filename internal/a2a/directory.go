package a2a

import (
	"sort"
	"strings"
)

// Directory maps target agent names (the first path segment under an A2A
// route's prefix) to the route's backends, and each name to its canonical
// agent name.
//
// Two rules, explicit first (docs/a2a.md#routing):
//
//  1. A backend with an `agents` list serves exactly those names, and no
//     derived name. Each listed name is its own canonical agent: the
//     backend is told which one was called (x-target-agent).
//  2. A backend without one serves its derived name: the backend name
//     without a trailing "-backend" (weather-agent-backend → weather-agent),
//     and that name followed by a version suffix "-v<digits>[.<digits>…]"
//     (weather-agent-v6, weather-agent-v1.2). The longest derived name
//     wins, so "weather-agent-v6-backend" beats "weather-agent-backend" for
//     weather-agent-v6. All these names reach one backend, so they are one
//     agent. Its canonical name is the one name the route's a2a-authz rules
//     use for it (the seed's weather-agent-v6), or else the derived name
//     (weather-agent); every other name is an alias.
//
// Authorization, the listing, metrics, the audit log and x-target-agent
// all use the canonical name, so a rule about an agent covers every name
// that reaches its backend.
//
// Names compare as exact bytes: /agents/Weather-Agent-v6 is a different,
// unknown agent, never a case-folded match.
type Directory struct {
	explicit map[string]int
	derived  []derivedName // longest base first
}

type derivedName struct {
	base      string
	canonical string
	idx       int
}

// Backend is what the directory needs of a backend.
type Backend struct {
	Name   string
	Agents []string
}

// NewDirectory indexes backends. ruleTargets are the targets of the
// route's a2a-authz rules: an exact one that reaches a derived backend
// names that agent, when it is the only name the rules use for it.
//
// Config validation refuses a name served twice (listed twice, derived
// twice, or derived by one backend and listed by another); should one get
// here, the first backend keeps it and the other derived backend serves
// nothing, so every canonical name still resolves to exactly one backend.
func NewDirectory(backends []Backend, ruleTargets []string) *Directory {
	d := &Directory{explicit: map[string]int{}}
	for i, b := range backends {
		for _, a := range b.Agents {
			if _, dup := d.explicit[a]; !dup {
				d.explicit[a] = i
			}
		}
	}
	seen := map[string]bool{}
	for i, b := range backends {
		if len(b.Agents) > 0 {
			continue
		}
		base := DerivedName(b.Name)
		if _, taken := d.explicit[base]; taken || seen[base] {
			continue
		}
		seen[base] = true
		d.derived = append(d.derived, derivedName{base: base, canonical: base, idx: i})
	}
	// Longest base first; a stable order keeps the first backend on ties.
	for i := 1; i < len(d.derived); i++ {
		for j := i; j > 0 && len(d.derived[j].base) > len(d.derived[j-1].base); j-- {
			d.derived[j], d.derived[j-1] = d.derived[j-1], d.derived[j]
		}
	}
	named := make([]map[string]bool, len(d.derived))
	for _, t := range ruleTargets {
		if strings.Contains(t, "*") {
			continue
		}
		if k, ok := d.derivedOf(t); ok {
			if named[k] == nil {
				named[k] = map[string]bool{}
			}
			named[k][t] = true
		}
	}
	for k, names := range named {
		if len(names) == 1 {
			for n := range names {
				d.derived[k].canonical = n
			}
		}
	}
	return d
}

// derivedOf returns the derived entry serving target, when no explicit
// name does.
func (d *Directory) derivedOf(target string) (int, bool) {
	if !ValidAgentName(target) {
		return 0, false
	}
	if _, ok := d.explicit[target]; ok {
		return 0, false
	}
	for k, dn := range d.derived {
		if target == dn.base {
			return k, true
		}
		if rest, ok := strings.CutPrefix(target, dn.base); ok && versionSuffix(rest) {
			return k, true
		}
	}
	return 0, false
}

// DerivedName is the agent name a backend without an agents list serves.
func DerivedName(backend string) string {
	if base, ok := strings.CutSuffix(backend, "-backend"); ok && base != "" {
		return base
	}
	return backend
}

// Resolve returns the backend serving target and target's canonical agent
// name. Resolving a canonical name gives the same backend and name back.
func (d *Directory) Resolve(target string) (idx int, canonical string, ok bool) {
	if !ValidAgentName(target) {
		return 0, "", false
	}
	if i, ok := d.explicit[target]; ok {
		return i, target, true
	}
	if k, ok := d.derivedOf(target); ok {
		return d.derived[k].idx, d.derived[k].canonical, true
	}
	return 0, "", false
}

// Names returns the canonical agent names of backend i, the names the
// agent listing shows: its explicit names, or its one canonical name.
func (d *Directory) Names(i int) []string {
	out := []string{}
	for name, j := range d.explicit {
		if j == i {
			out = append(out, name)
		}
	}
	for _, dn := range d.derived {
		if dn.idx == i {
			out = append(out, dn.canonical)
		}
	}
	sort.Strings(out)
	return out
}

// AliasOnlyMatch reports a target glob that matches a name of a derived
// agent (its derived name or a version alias) but not the agent's
// canonical name, and that agent. Rules are matched against canonical
// names, so such a pattern (a deny of "billing-agent-v*" meant to close
// the aliases) would silently match nothing; config validation refuses it
// instead. pattern uses the target glob syntax: '*' (and "**") matches any
// run of characters; match is its compiled matcher.
func (d *Directory) AliasOnlyMatch(pattern string, match func(string) bool) (agent string, bad bool) {
	if !strings.Contains(pattern, "*") {
		return "", false
	}
	for _, dn := range d.derived {
		if match(dn.canonical) {
			continue
		}
		if match(dn.base) || globMatchesAlias(pattern, dn.base) {
			return dn.canonical, true
		}
	}
	return "", false
}

// globMatchesAlias reports whether pattern matches some string
// base + "-v" + D, D = digits("." digits)*: a product of the pattern (a
// sequence of literals and stars) with that language's automaton, searched
// breadth first. Alias states: 0..len(base) read base; then '-', 'v';
// then a digit group is required (digitReq), in progress (inDigits,
// accepting) or required after a dot.
func globMatchesAlias(pattern, base string) bool {
	nb := len(base)
	aDash, aV, aDigitReq, aInDigits := nb, nb+1, nb+2, nb+3
	// next returns the alias state after reading c in state a, or -1.
	next := func(a int, c byte) int {
		switch {
		case a < nb:
			if base[a] == c {
				return a + 1
			}
		case a == aDash:
			if c == '-' {
				return aV
			}
		case a == aV:
			if c == 'v' {
				return aDigitReq
			}
		case a == aDigitReq:
			if c >= '0' && c <= '9' {
				return aInDigits
			}
		case a == aInDigits:
			if c >= '0' && c <= '9' {
				return aInDigits
			}
			if c == '.' {
				return aDigitReq
			}
		}
		return -1
	}
	// chars returns the characters state a can read: one representative
	// per class, since all digits behave alike.
	chars := func(a int) []byte {
		switch {
		case a < nb:
			return []byte{base[a]}
		case a == aDash:
			return []byte{'-'}
		case a == aV:
			return []byte{'v'}
		case a == aDigitReq:
			return []byte{'0'}
		default:
			return []byte{'0', '.'}
		}
	}
	type st struct{ p, a int }
	seen := map[st]bool{}
	queue := []st{{0, 0}}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if seen[s] {
			continue
		}
		seen[s] = true
		if s.p == len(pattern) {
			if s.a == aInDigits {
				return true
			}
			continue
		}
		if c := pattern[s.p]; c == '*' {
			queue = append(queue, st{s.p + 1, s.a}) // the star matches nothing more
			for _, ch := range chars(s.a) {
				if n := next(s.a, ch); n >= 0 {
					queue = append(queue, st{s.p, n})
				}
			}
		} else if n := next(s.a, c); n >= 0 {
			queue = append(queue, st{s.p + 1, n})
		}
	}
	return false
}

// versionSuffix reports whether s is "-v" followed by dot-separated digit
// groups.
func versionSuffix(s string) bool {
	v, ok := strings.CutPrefix(s, "-v")
	if !ok || v == "" {
		return false
	}
	for _, part := range strings.Split(v, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// ValidAgentName reports whether s can name an agent: 1 to 253 of
// [A-Za-z0-9._-], starting with a letter or digit. This keeps names out of
// percent-encoding, dot segments and anything a backend might decode.
func ValidAgentName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '.' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
