package a2a

import (
	"strings"
)

// Directory maps target agent names (the first path segment under an A2A
// route's prefix) to the route's backends.
//
// Two rules, explicit first (docs/a2a.md#routing):
//
//  1. A backend with an `agents` list serves exactly those names, and no
//     derived name.
//  2. A backend without one serves its derived name: the backend name
//     without a trailing "-backend" (weather-agent-backend → weather-agent),
//     and that name followed by a version suffix "-v<digits>[.<digits>…]"
//     (weather-agent-v6, weather-agent-v1.2). The longest derived name
//     wins, so "weather-agent-v6-backend" beats "weather-agent-backend" for
//     weather-agent-v6.
//
// Names compare as exact bytes: /agents/Weather-Agent-v6 is a different,
// unknown agent, never a case-folded match.
type Directory struct {
	explicit map[string]int
	derived  []derivedName // longest first
}

type derivedName struct {
	base string
	idx  int
}

// Backend is what the directory needs of a backend.
type Backend struct {
	Name   string
	Agents []string
}

// NewDirectory indexes backends; a name listed twice keeps its first
// backend (config validation refuses duplicates).
func NewDirectory(backends []Backend) *Directory {
	d := &Directory{explicit: map[string]int{}}
	for i, b := range backends {
		if len(b.Agents) > 0 {
			for _, a := range b.Agents {
				if _, dup := d.explicit[a]; !dup {
					d.explicit[a] = i
				}
			}
			continue
		}
		d.derived = append(d.derived, derivedName{DerivedName(b.Name), i})
	}
	// Longest base first; a stable order keeps the first backend on ties.
	for i := 1; i < len(d.derived); i++ {
		for j := i; j > 0 && len(d.derived[j].base) > len(d.derived[j-1].base); j-- {
			d.derived[j], d.derived[j-1] = d.derived[j-1], d.derived[j]
		}
	}
	return d
}

// DerivedName is the agent name a backend without an agents list serves.
func DerivedName(backend string) string {
	if base, ok := strings.CutSuffix(backend, "-backend"); ok && base != "" {
		return base
	}
	return backend
}

// Lookup returns the index of the backend serving target.
func (d *Directory) Lookup(target string) (int, bool) {
	if !ValidAgentName(target) {
		return 0, false
	}
	if i, ok := d.explicit[target]; ok {
		return i, true
	}
	for _, dn := range d.derived {
		if target == dn.base {
			return dn.idx, true
		}
		if rest, ok := strings.CutPrefix(target, dn.base); ok && versionSuffix(rest) {
			return dn.idx, true
		}
	}
	return 0, false
}

// Names returns the agent names the directory can list for backend i:
// its explicit names, or its derived name plus every extra name in
// candidates (for example a2a-authz rule targets) that routes to it.
func (d *Directory) Names(i int, backends []Backend, candidates []string) []string {
	if len(backends[i].Agents) > 0 {
		return backends[i].Agents
	}
	out := []string{}
	seen := map[string]bool{}
	for _, c := range candidates {
		if j, ok := d.Lookup(c); ok && j == i && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if base := DerivedName(backends[i].Name); len(out) == 0 {
		if j, ok := d.Lookup(base); ok && j == i {
			out = append(out, base)
		}
	}
	return out
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
