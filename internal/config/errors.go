package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem found while decoding or validating a config.
//
// Line and Col are 1-based positions in File; 0 means unknown (a Config built
// in code, or a YAML syntax error for which the parser reports no column).
// Path is the field path, e.g.
// binds[0].listeners[0].routes[0].policies[3].timeout.request; it is empty
// for problems that concern the file as a whole.
type FieldError struct {
	File string
	Line int
	Col  int
	Path string
	Msg  string
}

// Error formats the error as FILE:LINE:COL: PATH: MESSAGE. Parts that are
// unknown are left out together with their separator, so a syntax error with
// no column reads FILE:LINE: MESSAGE and an error on a Config built in code
// reads PATH: MESSAGE.
func (e *FieldError) Error() string {
	var b strings.Builder
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			loc += ":" + strconv.Itoa(e.Col)
		}
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one pass over a config, sorted by line
// then column. Parse, Load and Validate return a non-empty ErrorList or nil.
type ErrorList []*FieldError

// Error joins the errors with newlines.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sortErrors orders by line then column; errors without a position keep
// their relative order and come first.
func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
}

// err returns l as an error, or nil when it is empty (never a typed nil).
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	return l
}

// Position is a 1-based line and column in a config file.
type Position struct {
	Line int
	Col  int
}

// source is what Parse remembers about where a Config came from.
type source struct {
	file string
	pos  map[string]Position
}

// SourceFile returns the file name the config was parsed from ("" for a
// Config built in code).
func (c *Config) SourceFile() string {
	if c == nil || c.src == nil {
		return ""
	}
	return c.src.file
}

// Position returns the position of the field at path (for example
// "binds[0].listeners[1].routes[0].match.path.prefix"). When the field itself
// was not written in the file it returns the position of its nearest written
// ancestor. ok is false when nothing is known (a Config built in code).
//
// Scalars are positioned at their value, mappings and sequences at their key.
func (c *Config) Position(path string) (pos Position, ok bool) {
	if c == nil || c.src == nil {
		return Position{}, false
	}
	for {
		if p, found := c.src.pos[path]; found {
			return p, true
		}
		if path == "" {
			return Position{}, false
		}
		path = parentPath(path)
	}
}

// Errorf returns a FieldError for path, positioned with Position. Other
// packages use it to report problems in the same format as Validate.
func (c *Config) Errorf(path, format string, args ...any) *FieldError {
	p, _ := c.Position(path)
	return &FieldError{File: c.SourceFile(), Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// parentPath strips the last ".field" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
